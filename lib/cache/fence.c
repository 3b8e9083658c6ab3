/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs cache: the cache's side of device leases (lib/lease.h).
 *
 * The cache is what writes a device's objects, so it is where one
 * writer per device is enforced:
 *
 *  - A device opened for writing takes its lease at open
 *    (cache_device_take_lease, from zcache_device), before its journal
 *    is replayed, so a second writer is refused before it serves.
 *  - Everything that changes a device's objects (chunk uploads and
 *    deletes in writeback.c, journal objects and their retirement in
 *    journal.c) calls cache_device_guard first.  A device that has dirty
 *    data but was not opened for writing (recovered after a crash, or
 *    opened read-only since) takes its lease there, so that recovery
 *    never writes over another server's device.
 *  - Write-back takes the lease only if no other cache instance held it
 *    since this one (ZLEASE_ONLY_OURS, never with force): data this
 *    cache recovered is older than what another server wrote since.
 *  - A device opened for the first time in this cache's life takes the
 *    lease first and, if it was taken over from another cache instance,
 *    imports the store's listing again (what the index knew may be
 *    stale).  A device this server has in memory already (recovered, or
 *    opened read-only before) is refused for writing in that case.
 *  - A lease found lost fences the device: writes and flushes fail with
 *    EIO, write-back leaves its chunks alone, and they stay dirty in
 *    this cache.  The lease is then not released at close.
 *  - The write-back thread renews held leases (cache_renew_leases) and
 *    close releases them (cache_drop_leases), unless the device still
 *    has dirty data: only this cache instance can upload that, and it
 *    takes its own lease back when it restarts.
 *
 * d->lease is written once, under d->lease_lock, and read without it
 * (atomic loads): a lease object lives until the cache closes.  The
 * lock is the device's own because a forced take holds it for
 * ZLEASE_FORCE_WAIT_MS.
 *
 * A refusal at write-back (ESTALE: another instance held the lease
 * since) is kept (d->lease_refused) until a client opens the device
 * again: it does not go away by itself, and asking again would cost a
 * request per upload attempt.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "cleanup.h"

#include "internal.h"
#include "lease.h"
#include "log.h"

static struct zlease *
lease_of (const struct cache_device *d)
{
  return __atomic_load_n (&d->lease, __ATOMIC_ACQUIRE);
}

/* The newest journal object D knows of, 0 if none. */
static uint64_t
journal_newest (struct cache_device *d)
{
  LOCK_FOR_SCOPE (&d->c->lock);
  return d->journal.len ? d->journal.items[d->journal.len - 1].seq : 0;
}

int
cache_device_set_journal_floor (struct cache_device *d)
{
  struct zlease *l = lease_of (d);

  return l ? zlease_set_journal_floor (l, journal_newest (d)) : 0;
}

uint16_t
cache_device_epoch (struct cache_device *d)
{
  struct zlease *l = lease_of (d);

  return l ? zlease_epoch (zlease_generation (l)) : 0;
}

/* Under d->lease_lock: take D's lease if not held yet.  JOURNAL_KNOWN:
 * D's journal is loaded, record its floor now (else the opening does,
 * once it is).  FLAGS as for zlease_take.
 */
static int
take_locked (struct cache_device *d, bool journal_known, unsigned flags)
{
  struct zcache *c = d->c;
  struct zlease *l;

  if (lease_of (d))
    return 0;
  if (d->lease_refused) {
    errno = EBUSY;
    return -1;
  }
  l = zlease_take (c->vol, d->name, c->instance, flags);
  if (l == NULL) {
    if (errno == EBUSY || errno == ESTALE)
      d->lease_refused = true;
    return -1;
  }
  __atomic_store_n (&d->lease, l, __ATOMIC_RELEASE);
  if (journal_known)
    return cache_device_set_journal_floor (d);
  return 0;
}

int
cache_device_take_lease (struct cache_device *d, bool journal_known,
                         unsigned flags)
{
  int r;

  pthread_mutex_lock (&d->lease_lock);
  /* An open is a new request: a refusal at write-back is retried. */
  d->lease_refused = false;
  r = take_locked (d, journal_known, flags);
  pthread_mutex_unlock (&d->lease_lock);
  return r;
}

int
cache_device_guard (struct cache_device *d)
{
  struct zlease *l = lease_of (d);

  if (l == NULL) {
    int r;

    /* Write-back of data this cache holds (recovered after a crash, or
     * of a device opened read-only since): never with force, and only
     * if no other server wrote the device since this cache held it, or
     * the data would go over newer data.
     */
    pthread_mutex_lock (&d->lease_lock);
    r = take_locked (d, true, ZLEASE_ONLY_OURS);
    pthread_mutex_unlock (&d->lease_lock);
    if (r == -1)
      return -1;
    l = lease_of (d);
  }
  return zlease_check (l);
}

int
cache_device_confirm_flush (struct cache_device *d)
{
  struct zlease *l = lease_of (d);

  if (l == NULL)
    return 0;
  return zlease_confirm_within (l, ZLEASE_FORCE_WAIT_MS - ZLEASE_CHECK_MS);
}

bool
cache_device_fenced (struct cache_device *d)
{
  struct zlease *l = lease_of (d);

  return l ? zlease_lost (l) : __atomic_load_n (&d->lease_refused,
                                                __ATOMIC_RELAXED);
}

int
cache_fenced_error (struct cache_device *d)
{
  zerror ("device %s: this server does not hold the device's lease (see "
          "the first error): writes and flushes fail", d->name);
  errno = EIO;
  return -1;
}

void
cache_renew_leases (struct zcache *c)
{
  struct cache_device *d;
  struct zlease *l;

  /* Devices are never unlinked before the cache closes. */
  pthread_mutex_lock (&c->lock);
  d = c->devices;
  pthread_mutex_unlock (&c->lock);
  while (d) {
    l = lease_of (d);
    if (l && !zlease_lost (l))
      zlease_renew (l);                 /* errors are logged */
    pthread_mutex_lock (&c->lock);
    d = d->next;
    pthread_mutex_unlock (&c->lock);
  }
}

void
cache_drop_leases (struct zcache *c)
{
  struct cache_device *d;
  struct centry *e;
  uint64_t ndirty;

  for (d = c->devices; d; d = d->next) {
    if (d->lease == NULL)
      continue;
    ndirty = 0;
    pthread_mutex_lock (&c->lock);
    for (e = c->dirty_head; e; e = e->dnext)
      if (e->dev == d)
        ndirty++;
    pthread_mutex_unlock (&c->lock);
    if (ndirty > 0 && !zlease_lost (d->lease))
      zerror ("device %s keeps its lease: %" PRIu64 " dirty chunks could "
              "not be uploaded; start the server again with the same "
              "cache-dir to upload them", d->name, ndirty);
    zlease_drop (d->lease, ndirty == 0);
    d->lease = NULL;
  }
}
