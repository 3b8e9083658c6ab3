/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: device leases (see lease.h for what they promise).
 *
 * This file owns the lease object's codec and the protocol around it:
 * take (with the probe that finds out whether the store honours
 * conditional PUTs), check, renew and drop.  It knows the store and the
 * volume's meta key and nothing of the cache: lib/cache calls it before
 * it changes the store for a device.
 *
 * A held lease is confirmed by reading it back: the generation, cache
 * instance and pid must still be ours.  Its ETag (every write has a
 * fresh nonce, so every write has a new one) is what the conditional
 * PUTs of a renewal or release name.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "byteorder.h"
#include "cleanup.h"

#include "lease.h"
#include "log.h"
#include "store/objstore.h"

#define LEASE_MAGIC "ZFSL"
#define LEASE_VERSION 1
#define LEASE_HEADER_LEN 20
/* The payload's fields (lease.h). */
#define P_GENERATION 0
#define P_INSTANCE 8
#define P_SINCE 24
#define P_RENEWED 32
#define P_FLOOR 40
#define P_INHERITED_FLOOR 48
#define P_INHERITED_GENERATION 56
#define P_PID 64
#define P_FLAGS 68
#define P_HOSTLEN 69
#define LEASE_PAYLOAD_FIXED 70     /* generation .. host length */
#define LEASE_AAD_WORD "lease"
#define LEASE_AAD_MAX \
  (LEASE_HEADER_LEN + 16 + sizeof LEASE_AAD_WORD - 1 + ZDEVICE_NAME_MAX)

static size_t
lease_aad (uint8_t *aad, const uint8_t *header, const struct zvolume *vol,
           const char *name)
{
  size_t n = 0, namelen = strlen (name);

  memcpy (aad, header, LEASE_HEADER_LEN);
  n += LEASE_HEADER_LEN;
  memcpy (aad + n, vol->uuid, 16);
  n += 16;
  memcpy (aad + n, LEASE_AAD_WORD, sizeof LEASE_AAD_WORD - 1);
  n += sizeof LEASE_AAD_WORD - 1;
  memcpy (aad + n, name, namelen);
  return n + namelen;
}

int
zlease_encode (const struct zvolume *vol, const char *name,
               const struct zlease_info *info, uint8_t *obj, size_t *len)
{
  uint8_t payload[LEASE_PAYLOAD_FIXED + ZLEASE_HOST_MAX];
  uint8_t aad[LEASE_AAD_MAX];
  size_t hostlen = strlen (info->host), plen, aadlen;

  if (hostlen == 0 || hostlen > ZLEASE_HOST_MAX) {
    zerror ("lease of device %s: host name of %zu bytes", name, hostlen);
    errno = EINVAL;
    return -1;
  }
  memcpy (obj, LEASE_MAGIC, 4);
  obj[4] = LEASE_VERSION;
  obj[5] = obj[6] = obj[7] = 0;
  if (crypto_random (obj + 8, CRYPTO_NONCE_LEN) == -1)
    return -1;

  put_be64 (payload + P_GENERATION, info->generation);
  memcpy (payload + P_INSTANCE, info->instance, 16);
  put_be64 (payload + P_SINCE, info->since);
  put_be64 (payload + P_RENEWED, info->renewed);
  put_be64 (payload + P_FLOOR, info->journal_floor);
  put_be64 (payload + P_INHERITED_FLOOR, info->inherited_floor);
  put_be64 (payload + P_INHERITED_GENERATION, info->inherited_generation);
  put_be32 (payload + P_PID, info->pid);
  payload[P_FLAGS] = info->released ? 1 : 0;
  payload[P_HOSTLEN] = hostlen;
  memcpy (payload + LEASE_PAYLOAD_FIXED, info->host, hostlen);
  plen = LEASE_PAYLOAD_FIXED + hostlen;

  aadlen = lease_aad (aad, obj, vol, name);
  if (crypto_seal (vol->meta_key, obj + 8, aad, aadlen, payload, plen,
                   obj + LEASE_HEADER_LEN) == -1)
    return -1;
  *len = LEASE_HEADER_LEN + plen + CRYPTO_TAG_LEN;
  return 0;
}

static int
bad_lease (const char *key, const struct zvolume *vol, const char *why)
{
  /* It holds no data of the device: deleting it is the way out, once
   * nobody writes the device.
   */
  zerror ("lease %s in %s %s: the device cannot be written or recovered "
          "while it is there; if no server writes the device, take it over "
          "with force=true (zerofs-dev: --force), or delete that object "
          "(it holds none of the device's data)", key,
          vol->store->description, why);
  errno = EBADMSG;
  return -1;
}

int
zlease_decode (const struct zvolume *vol, const char *name,
               const uint8_t *obj, size_t len, struct zlease_info *info)
{
  uint8_t payload[LEASE_PAYLOAD_FIXED + ZLEASE_HOST_MAX];
  uint8_t aad[LEASE_AAD_MAX];
  char key[OBJSTORE_KEY_MAX];
  size_t plen, aadlen;

  zkey_lease (key, name);
  if (len < 5 || memcmp (obj, LEASE_MAGIC, 4) != 0)
    return bad_lease (key, vol, "is not a zerofs lease object (bad magic)");
  /* The version before the length: a newer format may be longer.  Its
   * writer is a newer zerofs, which this one cannot fence: such a lease
   * is not replaced, even by force.
   */
  if (obj[4] > LEASE_VERSION) {
    zerror ("lease %s in %s has format version %u, this zerofs reads "
            "version %d: the device was written by a newer zerofs; use "
            "that version (force does not replace this lease)",
            key, vol->store->description, obj[4], LEASE_VERSION);
    errno = EPROTONOSUPPORT;
    return -1;
  }
  if (obj[4] != LEASE_VERSION)
    return bad_lease (key, vol, "has format version 0, which no zerofs "
                      "writes");
  if (len < LEASE_HEADER_LEN + LEASE_PAYLOAD_FIXED + 1 + CRYPTO_TAG_LEN ||
      len > LEASE_HEADER_LEN + LEASE_PAYLOAD_FIXED + ZLEASE_HOST_MAX +
      CRYPTO_TAG_LEN)
    return bad_lease (key, vol, "has an impossible length");
  if (obj[5] != 0 || obj[6] != 0 || obj[7] != 0)
    return bad_lease (key, vol, "has non-zero reserved bytes");

  plen = len - LEASE_HEADER_LEN - CRYPTO_TAG_LEN;
  aadlen = lease_aad (aad, obj, vol, name);
  if (crypto_unseal (vol->meta_key, obj + 8, aad, aadlen,
                     obj + LEASE_HEADER_LEN, plen + CRYPTO_TAG_LEN,
                     payload) == -1) {
    if (errno == EBADMSG)
      return bad_lease (key, vol, "failed authentication");
    return -1;
  }
  /* Authenticated: these hold unless the writer was broken. */
  if (payload[P_HOSTLEN] == 0 ||
      payload[P_HOSTLEN] != plen - LEASE_PAYLOAD_FIXED ||
      (payload[P_FLAGS] & ~1) != 0 ||
      memchr (payload + LEASE_PAYLOAD_FIXED, 0, payload[P_HOSTLEN]) != NULL)
    return bad_lease (key, vol, "has a malformed payload");

  memset (info, 0, sizeof *info);
  info->generation = get_be64 (payload + P_GENERATION);
  memcpy (info->instance, payload + P_INSTANCE, 16);
  info->since = get_be64 (payload + P_SINCE);
  info->renewed = get_be64 (payload + P_RENEWED);
  info->journal_floor = get_be64 (payload + P_FLOOR);
  info->inherited_floor = get_be64 (payload + P_INHERITED_FLOOR);
  info->inherited_generation = get_be64 (payload + P_INHERITED_GENERATION);
  info->pid = get_be32 (payload + P_PID);
  info->released = payload[P_FLAGS] & 1;
  memcpy (info->host, payload + LEASE_PAYLOAD_FIXED, payload[P_HOSTLEN]);
  return 0;
}

int
zlease_read (struct zvolume *vol, const char *name,
             struct zlease_info *info, char *etag)
{
  struct objstore_info oi;
  CLEANUP_FREE void *data = NULL;
  char key[OBJSTORE_KEY_MAX];
  size_t len;

  zkey_lease (key, name);
  if (vol->store->ops->get (vol->store, key, 0, 0, &data, &len, &oi) == -1) {
    if (errno == ENOENT)
      return 1;
    zerror ("%s", objstore_last_error ());
    /* The store failed (an answer it could not parse is EBADMSG too):
     * not a lease that cannot be read, which force replaces and a
     * holder takes as lost (zlease_unreadable).
     */
    if (zlease_unreadable (errno))
      errno = EIO;
    return -1;
  }
  /* Also for one that does not open: a forced take replaces it. */
  if (etag)
    memcpy (etag, oi.etag, OBJSTORE_ETAG_MAX);
  return zlease_decode (vol, name, data, len, info);
}

void
zlease_describe (const struct zlease_info *info, char *buf, size_t size)
{
  char instance[37], since[32], renewed[48];
  uint64_t now = time (NULL);
  time_t t = (time_t) info->since;
  struct tm tm;

  zuuid_format (info->instance, instance);
  /* The times come from the store: any value at all. */
  if (info->since > (uint64_t) INT32_MAX * 64 || gmtime_r (&t, &tm) == NULL ||
      strftime (since, sizeof since, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
    snprintf (since, sizeof since, "%" PRIu64, info->since);
  if (info->renewed <= now)
    snprintf (renewed, sizeof renewed, "last renewed %" PRIu64 " s ago",
              now - info->renewed);
  else
    snprintf (renewed, sizeof renewed, "renewed in the future (%" PRIu64
              ")", info->renewed);
  snprintf (buf, size, "host %s pid %" PRIu32 " (cache instance %s, "
            "lease generation %" PRIu64 "), since %s, %s",
            info->host, info->pid, instance, info->generation, since,
            renewed);
}

/* A lease held by this process. */
struct zlease {
  struct zvolume *vol;
  char name[ZDEVICE_NAME_MAX + 1];
  char key[OBJSTORE_KEY_MAX];
  bool atomic;                     /* the store honours conditional PUT */
  bool tool;                       /* ZLEASE_TOOL: held by zerofs-dev */
  pthread_mutex_t lock;            /* one check or renewal at a time */
  struct zlease_info info;         /* [lock] what we last wrote */
  bool had_previous;               /* PREVIOUS is the lease we took over */
  struct zlease_info previous;
  char etag[OBJSTORE_ETAG_MAX];    /* [lock] its ETag */
  struct timespec confirmed;       /* [lock] last seen to be ours */
  uint64_t want_floor;             /* [lock] the floor to record, or
                                      ZLEASE_FLOOR_UNKNOWN */
  struct timespec retaken;         /* a take of our own lease after a
                                      crash: no change to the store for
                                      ZLEASE_MARGIN_MS (zlease_wait_quiet) */
  atomic_bool lost;
};

static int64_t
ms_since (const struct timespec *t)
{
  struct timespec now;

  clock_gettime (CLOCK_MONOTONIC, &now);
  return (int64_t) (now.tv_sec - t->tv_sec) * 1000 +
    (now.tv_nsec - t->tv_nsec) / 1000000;
}

/* Does the store honour If-None-Match and If-Match on PUT?  1 yes, 0
 * no (*WHY says how it fails), -1 error.  Found out on a key of the
 * device's own, devices/NAME/lease.probe, so that it cannot touch a
 * lease: three PUTs, the first unconditional.
 */
static int
store_is_atomic (struct zvolume *vol, const char *name, const char **why)
{
  struct objstore *s = vol->store;
  const struct objstore_cond absent = { .if_none_match = true };
  const struct objstore_cond wrong = { .if_match = "\"zerofs-probe\"" };
  char key[OBJSTORE_KEY_MAX];
  int r = -1;

  snprintf (key, sizeof key, "devices/%s/lease.probe", name);
  if (s->ops->put (s, key, "probe", 5, NULL, NULL) == -1)
    goto out;
  if (s->ops->put (s, key, "probe", 5, &absent, NULL) == 0) {
    *why = "it ignores If-None-Match";
    r = 0;
  }
  else if (errno == ENOTSUP) {
    *why = "it refuses conditional requests";
    r = 0;
  }
  else if (errno != EEXIST)
    goto out;
  else if (s->ops->put (s, key, "probe", 5, &wrong, NULL) == 0) {
    *why = "it ignores If-Match";
    r = 0;
  }
  else if (errno == ENOTSUP) {
    *why = "it refuses conditional requests";
    r = 0;
  }
  else if (errno == EEXIST)
    r = 1;
 out:
  if (r == -1)
    zerror ("device %s: finding out whether %s honours conditional PUT: "
            "%s", name, s->description, objstore_last_error ());
  else if (zerofs_debug_lease)
    zdebug ("lease: %s %s conditional PUT", s->description,
            r ? "honours" : "does not honour");
  /* The probe object stays (5 bytes; zerofs-dev rm deletes it): the
   * next probe overwrites it, and a DELETE would cost a request.
   */
  return r;
}

static int
host_name (char *buf)
{
  if (gethostname (buf, ZLEASE_HOST_MAX + 1) == -1) {
    zerror ("gethostname: %m");
    return -1;
  }
  buf[ZLEASE_HOST_MAX] = '\0';
  if (buf[0] == '\0')
    strcpy (buf, "unknown");
  return 0;
}

/* Write L->info with COND; on success remember the ETag.  -1 with errno
 * EEXIST when the condition failed.
 */
static int
write_lease (struct zlease *l, const struct objstore_cond *cond)
{
  uint8_t obj[ZLEASE_OBJECT_MAX];
  struct objstore_info oi = { .etag = "" };
  size_t len;

  struct timespec start;

  if (zlease_encode (l->vol, l->name, &l->info, obj, &len) == -1)
    return -1;
  clock_gettime (CLOCK_MONOTONIC, &start);
  if (l->vol->store->ops->put (l->vol->store, l->key, obj, len, cond,
                               &oi) == -1)
    return -1;
  memcpy (l->etag, oi.etag, OBJSTORE_ETAG_MAX);
  /* Ours when the request began, at least: the lease may have been
   * taken only after that.
   */
  l->confirmed = start;
  return 0;
}

/* Is INFO (read back from the store) the lease we hold? */
static bool
is_ours (const struct zlease *l, const struct zlease_info *info)
{
  return info->generation == l->info.generation &&
    memcmp (info->instance, l->info.instance, 16) == 0 &&
    info->pid == l->info.pid && !info->released;
}

static void
free_lease (struct zlease *l)
{
  if (l == NULL)
    return;
  pthread_mutex_destroy (&l->lock);
  free (l);
}
DEFINE_CLEANUP_POINTER (free_lease, struct zlease *, free_lease);

int
zlease_look (struct zvolume *vol, const char *name,
             const uint8_t instance[16], struct zlease_seen *seen)
{
  int r;

  memset (seen, 0, sizeof *seen);
  r = zlease_read (vol, name, &seen->info, NULL);
  if (r == -1)
    return -1;
  seen->exists = r == 0;
  seen->held_by_other = seen->exists && zlease_is_live (&seen->info) &&
    memcmp (seen->info.instance, instance, 16) != 0;
  return 0;
}

int
zlease_refuse (const char *name, const struct zlease_info *info)
{
  char holder[512];

  zlease_describe (info, holder, sizeof holder);
  zerror ("device %s is in use by another server: %s.  If that server is "
          "gone for good, open the device with force=true (zerofs-dev: "
          "--force) to take it over", name, holder);
  errno = EBUSY;
  return -1;
}

/* Is the lease (CUR, or none if R is 1) as SEEN says? */
static bool
seen_unchanged (const struct zlease_seen *seen, int r,
                const struct zlease_info *cur)
{
  if (seen->held_by_other)
    return false;
  if (!seen->exists)
    return r == 1;
  return r == 0 && cur->generation == seen->info.generation &&
    memcmp (cur->instance, seen->info.instance, 16) == 0;
}

static struct zlease *
refuse_changed (const char *name, const struct zlease_seen *seen, int r,
                const struct zlease_info *cur)
{
  char holder[512];

  if (seen->held_by_other) {
    zlease_describe (&seen->info, holder, sizeof holder);
    zerror ("device %s was in use by another server when this server "
            "first opened it (%s): what this server read of it since may "
            "be older than the store's, so it does not write the device; "
            "restart it to write", name, holder);
  }
  else if (r == 1)
    zerror ("device %s: its lease object is gone since this server first "
            "opened the device (was the device removed?): this server "
            "does not write it", name);
  else {
    zlease_describe (cur, holder, sizeof holder);
    zerror ("device %s was written by another server since this server "
            "first opened it (the lease is now %s %s): what this server "
            "holds of it may be older than the store's, so it does not "
            "write the device; restart it to write", name,
            cur->released ? "released by" : "held by", holder);
  }
  errno = ESTALE;
  return NULL;
}

bool
zlease_seen_unchanged (const struct zlease_seen *seen,
                       const struct zlease_seen *now)
{
  return seen_unchanged (seen, now->exists ? 0 : 1, &now->info);
}

int
zlease_refuse_changed (const char *name, const struct zlease_seen *seen,
                       const struct zlease_seen *now)
{
  refuse_changed (name, seen, now->exists ? 0 : 1, &now->info);
  return -1;
}

/* Who holds L, and what losing it means, for messages. */
static const char *
holder_word (bool tool)
{
  return tool ? "zerofs-dev" : "this server";
}

static const char *
loss_effect (bool tool)
{
  return tool ? "the command fails" :
    "writes and flushes of the device fail from now on";
}

/* The generation of a lease that replaces one nobody can read.  It
 * must not equal one that lease had, or one a cache recorded from it
 * (the index keeps 31 bits of it: ZINDEX_LEASE_MARK), or the next
 * replacement's: the time in microseconds, far past any generation
 * counted one take at a time, and in 31 bits as good as random.
 */
static uint64_t
replacement_generation (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_REALTIME, &ts);
  return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000 + 1;
}

/* zlease_take, and zlease_take_seen when SEEN. */
static struct zlease *
take (struct zvolume *vol, const char *name, const uint8_t instance[16],
      unsigned flags, const struct zlease_seen *seen)
{
  bool force = flags & ZLEASE_FORCE;
  CLEANUP (free_lease) struct zlease *l = NULL;
  struct zlease *ret;
  struct zlease_info cur, back;
  char etag[OBJSTORE_ETAG_MAX], holder[512];
  const char *why = NULL;
  bool forced = false;
  int attempt, r;

  l = calloc (1, sizeof *l);
  if (l == NULL) {
    zerror ("calloc: %m");
    return NULL;
  }
  pthread_mutex_init (&l->lock, NULL);
  l->vol = vol;
  l->want_floor = ZLEASE_FLOOR_UNKNOWN;
  snprintf (l->name, sizeof l->name, "%s", name);
  zkey_lease (l->key, name);
  l->tool = flags & ZLEASE_TOOL;
  switch (store_is_atomic (vol, name, &why)) {
  case -1: return NULL;
  case 1: l->atomic = true; break;
  default: l->atomic = false;
  }
  if (!l->atomic)
    zwarning ("device %s: the store %s does not honour conditional PUT "
              "(%s): its lease is taken by writing it and reading it "
              "back, so two servers opening it at the same moment may "
              "both be let in", name, vol->store->description, why);

  for (attempt = 0; attempt < 3; attempt++) {
    struct objstore_cond cond = { .if_none_match = false };

    forced = false;
    r = zlease_read (vol, name, &cur, etag);
    /* One that is not a genuine lease of this device, or of a format
     * this zerofs does not read (said): force replaces it, as it would
     * a live holder's.  Nothing is known of the previous holder, not
     * even its generation (replacement_generation), and no journal
     * object is judged stale by it.
     */
    if (r == -1 && errno == EBADMSG && force && !seen) {
      zwarning ("device %s: replacing its lease object, which cannot be "
                "read (%s)", name, l->tool ? "--force" : "force=true");
      r = 2;
      snprintf (holder, sizeof holder, "whoever held it (its lease object "
                "could not be read)");
      forced = true;
    }
    if (r == -1)
      return NULL;
    /* Our own earlier attempt (its answer lost): not a previous holder. */
    if (r == 0 && attempt > 0 && is_ours (l, &cur))
      goto taken;
    if (r == 0 && (flags & ZLEASE_ONLY_OURS) &&
        memcmp (cur.instance, instance, 16) != 0) {
      zlease_describe (&cur, holder, sizeof holder);
      zerror ("device %s was written by another server since this cache "
              "last held its lease (the lease is now %s): what this cache "
              "holds of it is older than the store's, and is not used",
              name, holder);
      errno = ESTALE;
      return NULL;
    }
    if (seen && !seen_unchanged (seen, r, &cur))
      return refuse_changed (name, seen, r, &cur);
    if (r == 0 && zlease_is_live (&cur) &&
        memcmp (cur.instance, instance, 16) != 0) {
      if (!force) {
        zlease_refuse (name, &cur);
        return NULL;
      }
      zlease_describe (&cur, holder, sizeof holder);
      forced = true;
    }
    memset (&l->info, 0, sizeof l->info);
    l->info.generation = r == 0 ? cur.generation + 1 :
      r == 2 ? replacement_generation () : 1;
    l->info.journal_floor = ZLEASE_FLOOR_UNKNOWN;
    l->had_previous = r == 0;
    if (r == 0)
      l->previous = cur;
    /* Until this holder knows its journal floor, the previous one's
     * stands (see "Stale journal objects" in lease.h).
     */
    if (r == 0 && cur.journal_floor != ZLEASE_FLOOR_UNKNOWN) {
      l->info.inherited_floor = cur.journal_floor;
      l->info.inherited_generation = cur.generation;
    }
    else if (r == 0) {
      l->info.inherited_floor = cur.inherited_floor;
      l->info.inherited_generation = cur.inherited_generation;
    }
    else
      l->info.inherited_floor = ZLEASE_FLOOR_UNKNOWN;
    memcpy (l->info.instance, instance, 16);
    l->info.since = l->info.renewed = time (NULL);
    l->info.pid = getpid ();
    if (host_name (l->info.host) == -1)
      return NULL;
    if (l->atomic) {
      if (r == 1)
        cond.if_none_match = true;
      else
        cond.if_match = etag;
    }
    if (write_lease (l, &cond) == -1) {
      if (errno == EEXIST)
        continue;                       /* someone else moved: again */
      zerror ("taking the lease of device %s: %s", name,
              objstore_last_error ());
      return NULL;
    }
    if (!l->atomic) {
      /* Checked take: another writer that took it meanwhile shows. */
      if (zlease_read (vol, name, &back, l->etag) != 0)
        return NULL;
      if (!is_ours (l, &back))
        continue;
    }
  taken:
    if (forced)
      zwarning ("device %s: took its lease over from %s (force=true); "
                "that server's writes and flushes fail from now on; "
                "waiting %.1f s for its requests under way to end "
                "(write-timeout + 3 s)", name, holder,
                zlease_force_wait_ms (vol) / 1000.0);
    else if (r == 0 && !cur.released && !is_ours (l, &cur)) {
      /* The process that held it died with requests under way: the
       * store may still apply one whose body it had whole, a moment
       * later, over what this one sends (lease.h, "Restarts").
       */
      clock_gettime (CLOCK_MONOTONIC, &l->retaken);
      zdebug ("lease: device %s: took this cache's own lease back "
              "(it was not released: unclean shutdown); its objects are "
              "left alone for %.1f s", name, ZLEASE_MARGIN_MS / 1000.0);
    }
    if (zerofs_debug_lease)
      zdebug ("lease: device %s: taken, generation %" PRIu64, name,
              l->info.generation);
    if (forced) {
      /* Let the old holder notice (it checks every ZLEASE_CHECK_MS),
       * and its requests under way end, before this one reads or writes
       * anything (lease.h, "Fencing").
       */
      unsigned ms = zlease_force_wait_ms (vol);
      struct timespec ts = { ms / 1000, ms % 1000 * 1000000 };

      if (zerofs_debug_lease)
        zdebug ("lease: device %s: waiting %u ms for the old holder's "
                "requests to end", name, ms);
      while (nanosleep (&ts, &ts) == -1 && errno == EINTR)
        ;
    }
    ret = l;
    l = NULL;
    return ret;
  }
  zerror ("device %s: its lease kept changing while %s tried to take it: "
          "another server is opening it", name, holder_word (l->tool));
  errno = EBUSY;
  return NULL;
}

struct zlease *
zlease_take (struct zvolume *vol, const char *name,
             const uint8_t instance[16], unsigned flags)
{
  return take (vol, name, instance, flags, NULL);
}

struct zlease *
zlease_take_seen (struct zvolume *vol, const char *name,
                  const uint8_t instance[16], unsigned flags,
                  const struct zlease_seen *seen)
{
  return take (vol, name, instance, flags, seen);
}

/* Under l->lock: the lease is someone else's now. */
static int
lost_locked (struct zlease *l, const struct zlease_info *now_holder)
{
  char holder[512];

  if (!atomic_exchange (&l->lost, true)) {
    if (now_holder) {
      zlease_describe (now_holder, holder, sizeof holder);
      zerror ("device %s: %s lost its lease to %s: %s, and nothing more "
              "is written to the store for it", l->name,
              holder_word (l->tool), holder, loss_effect (l->tool));
    }
    else
      zerror ("device %s: its lease object was deleted or replaced by one "
              "that cannot be read: %s", l->name, loss_effect (l->tool));
  }
  errno = EIO;
  return -1;
}

/* Under l->lock: read the lease and compare.  A GET, not a HEAD: a
 * refusal then has a body that says why (ExpiredToken makes the S3
 * layer refresh temporary credentials and try again), and the object is
 * about 100 bytes.
 */
static int
confirm_locked (struct zlease *l)
{
  struct zlease_info cur;
  char etag[OBJSTORE_ETAG_MAX];
  struct timespec start;
  int r;

  clock_gettime (CLOCK_MONOTONIC, &start);
  r = zlease_read (l->vol, l->name, &cur, etag);
  /* Ours always opens: one that does not was put there by someone else
   * (a newer zerofs, or a forced take by whoever could not read it).
   */
  if (r == -1 && zlease_unreadable (errno))
    return lost_locked (l, NULL);
  if (r == -1) {
    zerror ("device %s: checking its lease failed (see above)", l->name);
    return -1;
  }
  if (r == 1)
    return lost_locked (l, NULL);
  if (!is_ours (l, &cur))
    return lost_locked (l, &cur);
  memcpy (l->etag, etag, sizeof etag);
  l->confirmed = start;
  return 0;
}

int
zlease_check (struct zlease *l)
{
  return zlease_confirm_within (l, ZLEASE_CHECK_MS);
}

void
zlease_wait_quiet (struct zlease *l)
{
  /* Never retaken: a zero time, long past. */
  int64_t quiet = ZLEASE_MARGIN_MS - ms_since (&l->retaken);
  struct timespec ts;

  if (quiet <= 0)
    return;
  if (zerofs_debug_lease)
    zdebug ("lease: device %s: waiting %" PRId64 " ms before changing "
            "the store", l->name, quiet);
  ts.tv_sec = quiet / 1000;
  ts.tv_nsec = quiet % 1000 * 1000000;
  while (nanosleep (&ts, &ts) == -1 && errno == EINTR)
    ;
}

int
zlease_confirm_within (struct zlease *l, unsigned ms)
{
  if (atomic_load (&l->lost)) {
    errno = EIO;
    return -1;
  }
  LOCK_FOR_SCOPE (&l->lock);
  if (atomic_load (&l->lost)) {
    errno = EIO;
    return -1;
  }
  if (ms_since (&l->confirmed) < ms)
    return 0;
  return confirm_locked (l);
}

/* Under l->lock: write NEXT as the lease (If-Match our ETag where the
 * store honours it; else after confirming that it is still ours).  On
 * failure L->info is unchanged; -1 with errno EEXIST when the condition
 * failed (the caller says what that means), else the store's error,
 * reported with WHAT.
 */
static int
rewrite_locked (struct zlease *l, const struct zlease_info *next,
                const char *what)
{
  struct objstore_cond cond = { .if_match = l->etag };
  struct zlease_info old;
  int err;

  if (!l->atomic && confirm_locked (l) == -1)
    return -1;
  old = l->info;
  l->info = *next;
  if (write_lease (l, l->atomic ? &cond : NULL) == 0)
    return 0;
  err = errno;
  l->info = old;
  if (err != EEXIST)
    zerror ("device %s: %s its lease: %s", l->name, what,
            objstore_last_error ());
  errno = err;
  return -1;
}

int
zlease_renew (struct zlease *l)
{
  struct zlease_info next;

  LOCK_FOR_SCOPE (&l->lock);
  if (atomic_load (&l->lost)) {
    errno = EIO;
    return -1;
  }
  if ((uint64_t) time (NULL) < l->info.renewed + ZLEASE_RENEW_S)
    return 0;
  next = l->info;
  next.renewed = time (NULL);
  if (rewrite_locked (l, &next, "renewing") == -1)
    return errno == EEXIST ? confirm_locked (l) : -1;  /* who has it */
  if (zerofs_debug_lease)
    zdebug ("lease: device %s: renewed", l->name);
  return 0;
}

bool
zlease_previous (const struct zlease *l, struct zlease_info *info)
{
  if (l->had_previous)
    *info = l->previous;
  return l->had_previous;
}

/* Under l->lock: record FLOOR. */
static int
record_floor_locked (struct zlease *l, uint64_t floor)
{
  struct zlease_info next;

  if (atomic_load (&l->lost)) {
    errno = EIO;
    return -1;
  }
  if (l->info.journal_floor == floor)
    return 0;
  next = l->info;
  next.journal_floor = floor;
  if (rewrite_locked (l, &next, "writing") == -1) {
    if (errno == EEXIST) {
      confirm_locked (l);               /* says who holds it now */
      errno = EIO;
    }
    return -1;
  }
  if (zerofs_debug_lease)
    zdebug ("lease: device %s: journal floor %016" PRIx64, l->name, floor);
  return 0;
}

int
zlease_set_journal_floor (struct zlease *l, uint64_t floor)
{
  LOCK_FOR_SCOPE (&l->lock);
  l->want_floor = floor;
  return record_floor_locked (l, floor);
}

int
zlease_ensure_journal_floor (struct zlease *l)
{
  LOCK_FOR_SCOPE (&l->lock);
  if (l->want_floor == ZLEASE_FLOOR_UNKNOWN ||
      l->info.journal_floor != ZLEASE_FLOOR_UNKNOWN) {
    if (atomic_load (&l->lost)) {
      errno = EIO;
      return -1;
    }
    return 0;
  }
  return record_floor_locked (l, l->want_floor);
}

bool
zlease_lost (const struct zlease *l)
{
  return atomic_load (&l->lost);
}

uint64_t
zlease_generation (const struct zlease *l)
{
  return l->info.generation;
}

void
zlease_drop (struct zlease *l, bool release)
{
  struct objstore_cond cond;

  if (l == NULL)
    return;
  if (release && !atomic_load (&l->lost)) {
    pthread_mutex_lock (&l->lock);
    /* Without conditional PUT, a release written blindly would undo the
     * take of whoever holds the lease now: look first.
     */
    if (!l->atomic && confirm_locked (l) == -1) {
      pthread_mutex_unlock (&l->lock);
      free_lease (l);
      return;
    }
    cond = (struct objstore_cond) { .if_match = l->etag };
    l->info.released = true;
    l->info.renewed = time (NULL);
    if (write_lease (l, l->atomic ? &cond : NULL) == -1)
      zerror ("device %s: releasing its lease: %s", l->name,
              errno == EEXIST ? "it is someone else's now"
              : objstore_last_error ());
    else if (zerofs_debug_lease)
      zdebug ("lease: device %s: released", l->name);
    pthread_mutex_unlock (&l->lock);
  }
  free_lease (l);
}

unsigned
zlease_force_wait_ms (const struct zvolume *vol)
{
  return ZLEASE_CHECK_MS + vol->store->write_bound_ms + ZLEASE_MARGIN_MS;
}
