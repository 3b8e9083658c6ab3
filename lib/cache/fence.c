/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs cache: the cache's side of device leases (lib/lease.h).
 *
 * The cache is what writes a device's objects, so it is where one
 * writer per device is enforced:
 *
 *  - A client opening a device for writing looks at the lease
 *    (zlease_look, from zcache_device) before anything of the device is
 *    read: a live holder elsewhere refuses the open at once
 *    (cache_device_open_writer).  The lease itself is taken at the
 *    first write or discard (cache_device_writable), so that a client
 *    that only reads, or lists the exports (nbdkit opens every device
 *    read-write to answer NBD_OPT_INFO), holds nothing and keeps no
 *    other server out.  That take is let in only if the lease is as the
 *    first open saw it (zlease_take_seen): if another server took it
 *    in between, what this cache read meanwhile may be older than the
 *    store.  force=true takes it at the open, before anything is read
 *    (the old holder still writes until fenced), and so does an open
 *    that must replay the journal (the replay writes).
 *  - Everything that changes a device's objects (chunk uploads and
 *    deletes in writeback.c, journal objects and their retirement in
 *    journal.c) calls cache_device_guard first, and sends its requests
 *    fenced by it (cache_device_put, ...): the guard runs again before
 *    every retry, so that a request that kept failing while the lease
 *    was taken over is not sent again.  The guard also records the
 *    lease's journal floor if the open could not (lib/lease.h).  A device that has dirty
 *    data but was not opened for writing (recovered after a crash, or
 *    opened read-only since) takes its lease there, so that recovery
 *    never writes over another server's device.
 *  - Whoever takes it, the take is let in only if nobody took the lease
 *    since this cache's view of the device was current: the lease seen
 *    at the first open, or for a device recovered at start the lease
 *    its index record names (d->lease_seen), never with force.  Data
 *    this cache holds is older than what another server wrote since.
 *    (A device whose lease could not be read when a read-only open
 *    found it: ZLEASE_ONLY_OURS, no other cache instance held it.)
 *    The device's meta is read again first (device_unchanged): a lease
 *    absent then and absent now may be that of a device removed since.
 *  - Each commit records in the device's index record which lease the
 *    records are current with (cache_device_lease_mark).  A device
 *    opened for the first time in this cache's life whose lease was
 *    taken since imports the store's listing again, and one recovered at
 *    start forgets what it cached (cache.c: it may be stale).
 *  - A lease found lost fences the device: writes and flushes fail with
 *    EIO, write-back leaves its chunks alone, and they stay dirty in
 *    this cache, set aside (cache_device_set_aside_locked): they no
 *    longer count against max-dirty, or the other devices' writers
 *    would wait for room that never comes.  The lease is then not
 *    released at close.
 *  - A device recovered with unflushed chunks that must not be uploaded
 *    (another server wrote it since, or its lease cannot be read: cache.c,
 *    taken_over) is held: fenced from the start, its lease never taken,
 *    never served, so that the rest of the cache goes on.
 *  - The write-back thread renews held leases (cache_renew_leases) and
 *    close releases them (cache_drop_leases), unless the device still
 *    has dirty data: only this cache instance can upload that, and it
 *    takes its own lease back when it restarts.
 *
 * d->lease is written once, under d->lease_lock, and read without it
 * (atomic loads): a lease object lives until the cache closes.  The
 * lock is the device's own because a forced take holds it for
 * zlease_force_wait_ms.
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
#include <string.h>

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

/* Is D still the device this server opened (same uuid and meta
 * generation)?  A lease that was absent when D was first opened and is
 * absent again does not say so: zerofs-dev rm takes the lease, deletes
 * the device and then the lease.  0, or -1 (ESTALE, said; or the
 * store's error).
 */
static int
device_unchanged (struct cache_device *d)
{
  struct device_meta meta;
  int r;

  r = zvolume_find_device (d->c->vol, d->name, &meta);
  if (r == -1)
    return -1;
  if (r == 0 && memcmp (meta.uuid, d->uuid, 16) == 0 &&
      meta.generation == d->generation)
    return 0;
  zerror ("device %s was %s since this server first opened it: this "
          "server does not write it%s", d->name,
          r == 1 ? "removed" : "removed and created again, or resized",
          r == 1 ? "" : "; restart it to write");
  errno = ESTALE;
  return -1;
}

/* Under d->lease_lock: take D's lease if not held yet.  JOURNAL_KNOWN:
 * D's journal is loaded, record its floor now (else the opening does,
 * once it is).  FLAGS as for zlease_take.  Unless FRESH, the rule for a
 * device a client opened is that nobody took the lease since
 * (zlease_take_seen), or ZLEASE_ONLY_OURS when that was not seen.
 */
static int
take_locked (struct cache_device *d, bool journal_known, unsigned flags,
             bool fresh)
{
  struct zcache *c = d->c;
  struct zlease *l;
  int r;

  if (lease_of (d))
    return 0;
  if (d->lease_refused || d->held) {
    errno = EBUSY;
    return -1;
  }
  if (!fresh && device_unchanged (d) == -1) {
    if (errno == ESTALE)
      d->lease_refused = true;
    return -1;
  }
  if (fresh)
    l = zlease_take (c->vol, d->name, c->instance, flags);
  else if (d->lease_seen_valid)
    l = zlease_take_seen (c->vol, d->name, c->instance, flags,
                          &d->lease_seen);
  else
    l = zlease_take (c->vol, d->name, c->instance, flags | ZLEASE_ONLY_OURS);
  if (l == NULL) {
    if (errno == EBUSY || errno == ESTALE || errno == EPROTONOSUPPORT)
      d->lease_refused = true;
    return -1;
  }
  __atomic_store_n (&d->lease, l, __ATOMIC_RELEASE);
  r = journal_known ? cache_device_set_journal_floor (d) : 0;
  /* The index record names the lease it is current with: this one now,
   * as soon as can be.  Not needed for the take (cache_lease_unchanged
   * allows for one take of ours that was not recorded), so a failure is
   * only said: the next commit records it.
   */
  if (zcache_commit (c) == -1)
    zerror ("device %s: recording its new lease in the index failed; the "
            "next commit records it", d->name);
  return r;
}

bool
cache_lease_unchanged (struct zcache *c, uint32_t mark,
                       const struct zlease_seen *seen)
{
  uint64_t gen = seen->exists ? seen->info.generation : 0;
  bool ours = seen->exists &&
    memcmp (seen->info.instance, c->instance, 16) == 0;

  if (mark == 0)
    return !seen->exists || ours;
  /* A take of this cache's own that was not recorded yet (a crash came
   * first) was of the lease the record names.
   */
  return mark == ZINDEX_LEASE_MARK (gen) ||
    (ours && gen > 0 && mark == ZINDEX_LEASE_MARK (gen - 1));
}

uint32_t
cache_device_lease_mark (const struct cache_device *d)
{
  struct zlease *l = lease_of (d);

  if (l)
    return zlease_lost (l) ? ZINDEX_LEASE_NONE :
      ZINDEX_LEASE_MARK (zlease_generation (l));
  if (!d->lease_seen_valid || d->lease_seen.held_by_other)
    return ZINDEX_LEASE_NONE;
  return ZINDEX_LEASE_MARK (d->lease_seen.exists ?
                            d->lease_seen.info.generation : 0);
}

int
cache_device_take_lease (struct cache_device *d, bool journal_known,
                         unsigned flags, bool fresh)
{
  LOCK_FOR_SCOPE (&d->lease_lock);
  return take_locked (d, journal_known, flags, fresh);
}

int
cache_device_open_writer (struct cache_device *d, bool first_open)
{
  struct zcache *c = d->c;
  struct zlease_seen now;

  LOCK_FOR_SCOPE (&d->lease_lock);
  /* An open is a new request: a refusal at write-back is tried again
   * (at the next write).
   */
  d->lease_refused = false;
  if (lease_of (d))
    return 0;
  if (first_open)
    now = d->lease_seen;
  else if (zlease_look (c->vol, d->name, c->instance, &now) == -1) {
    /* force=true replaces an unreadable lease only before anything of
     * the device is read (cache.c, add_device).
     */
    if (errno == EBADMSG && cache_device_forced (d))
      zerror ("device %s: this server has read it already, and with its "
              "lease unreadable what it read may be stale: restart the "
              "server to replace the lease (force=true)", d->name);
    return -1;
  }
  /* A device this server has in memory (read, listed, recovered) that
   * another server took since: what it holds may be stale, and a reader
   * opening it to write would be served that.  Refused (a restart
   * forgets it; a connection open already goes on reading it).
   */
  if (!first_open && d->lease_seen_valid &&
      !zlease_seen_unchanged (&d->lease_seen, &now)) {
    d->lease_refused = true;
    return zlease_refuse_changed (d->name, &d->lease_seen, &now);
  }
  if (!now.held_by_other)
    return 0;                           /* taken at the first write */
  if (!cache_device_forced (d))
    return zlease_refuse (d->name, &now.info);
  /* Before anything of D is read (FIRST_OPEN), force takes it as it is;
   * a device this cache read before goes by the rule of take_locked.
   */
  return take_locked (d, !first_open, ZLEASE_FORCE, first_open);
}

bool
cache_device_forced (const struct cache_device *d)
{
  const struct zconf *conf = d->c->conf;

  /* force=true is for the device of export= when there is one: not for
   * every device a listing of the exports opens.
   */
  return conf->force &&
    (conf->export_name == NULL || strcmp (conf->export_name, d->name) == 0);
}

int
zcache_device_reopen (struct cache_device *d, bool readonly)
{
  return readonly ? 0 : cache_device_open_writer (d, false);
}

int
cache_device_writable (struct cache_device *d)
{
  int r;

  if (lease_of (d) == NULL) {
    /* A write this server could never upload is not accepted: refused
     * (said by the take, and kept), or the store did not let the lease
     * be written (said; the next write tries again).
     */
    pthread_mutex_lock (&d->lease_lock);
    r = take_locked (d, true, 0, false);
    pthread_mutex_unlock (&d->lease_lock);
    if (r == -1 && errno != EBUSY && errno != ESTALE) {
      zerror ("device %s: the write fails: this server could not take "
              "the device's lease (see the error before)", d->name);
      errno = EIO;
      return -1;
    }
  }
  if (cache_device_fenced (d))
    return cache_fenced_error (d);
  return 0;
}

int
cache_device_guard (struct cache_device *d)
{
  struct zlease *l = lease_of (d);

  if (l == NULL) {
    int r;

    /* Write-back of data this cache recovered after a crash, or a
     * journal retirement: never with force, and only if no other server
     * wrote the device since this cache looked, or the data would go
     * over newer data (take_locked).
     */
    pthread_mutex_lock (&d->lease_lock);
    r = take_locked (d, true, 0, false);
    pthread_mutex_unlock (&d->lease_lock);
    if (r == -1)
      return -1;
    l = lease_of (d);
  }
  /* A restart after a crash: nothing until the dead server's requests
   * have landed (lease.h, "Restarts").
   */
  zlease_wait_quiet (l);
  /* Nothing of this holder's before its journal floor is recorded. */
  if (zlease_check (l) == -1)
    return -1;
  return zlease_ensure_journal_floor (l);
}

int
cache_device_confirm_flush (struct cache_device *d)
{
  struct zlease *l = lease_of (d);

  if (l == NULL)
    return 0;
  return zlease_confirm_within (l, ZLEASE_MARGIN_MS);
}

bool
cache_device_fenced (struct cache_device *d)
{
  struct zlease *l = lease_of (d);

  if (d->held)
    return true;
  return l ? zlease_lost (l) : __atomic_load_n (&d->lease_refused,
                                                __ATOMIC_RELAXED);
}

void
cache_device_set_aside_locked (struct cache_device *d)
{
  struct zlease *l = lease_of (d);
  struct zcache *c = d->c;

  if (d->dirty_aside || l == NULL || !zlease_lost (l))
    return;
  d->dirty_aside = true;
  c->nheld += d->stats.dirty_chunks;
  if (d->stats.dirty_chunks > 0)
    zerror ("device %s: its %" PRIu64 " dirty chunks stay in the cache, "
            "not uploaded (this server lost the device's lease); they no "
            "longer count against max-dirty", d->name,
            d->stats.dirty_chunks);
  pthread_cond_broadcast (&c->cond);
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
    /* Once a round, every device: not from the write-back's scan of
     * dirty chunks, which may not reach a fenced device's for a while.
     */
    cache_device_set_aside_locked (d);
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

/* The fence of D's own requests. */
static int
guard_fence (void *opaque)
{
  return cache_device_guard (opaque);
}

int
cache_device_put (struct cache_device *d, const char *key,
                  const void *data, size_t len)
{
  const struct objstore_fence f = { guard_fence, d };

  return objstore_put_fenced (d->c->store, key, data, len, &f);
}

int
cache_device_delete (struct cache_device *d, const char *key)
{
  const struct objstore_fence f = { guard_fence, d };

  return objstore_delete_fenced (d->c->store, key, &f);
}

int
cache_device_delete_many (struct cache_device *d, const char *const *keys,
                          size_t n)
{
  const struct objstore_fence f = { guard_fence, d };

  return objstore_delete_many_fenced (d->c->store, keys, n, &f);
}

int
cache_fence_set_check (void *opaque)
{
  const struct cache_fence_set *set = opaque;
  size_t i;

  for (i = 0; i < set->n; i++)
    if ((i == 0 || set->devs[i] != set->devs[i - 1]) &&
        cache_device_guard (set->devs[i]) == -1)
      return -1;
  return 0;
}
