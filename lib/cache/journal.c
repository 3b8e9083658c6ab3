/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: the flush journal, the cache engine's side (the object codec
 * is lib/journal.c; the layout is in zerofs-format(5)).
 *
 * A FLUSH must make every completed write durable in the store.  Done
 * by uploading chunks, 256 scattered 4 KiB writes cost 256 PUTs of
 * 1 MiB.  So a flush (writeback.c) uploads only the chunks that are
 * mostly rewritten, and writes the sectors changed in the others into
 * one journal object, devices/NAME/journal/<16 hex>, PUT in parallel
 * with those uploads.  The chunks stay dirty and the write-back uploads
 * them later, once for many flushes.
 *
 * What the store lacks.  Each entry keeps "unsaved" state: the sectors
 * written since the store last got them (struct centry).  A write sets
 * it; an upload, a delete or a journal record captures it, under the
 * stripe lock that orders it with writes, and gives it back if the
 * request fails.  A flush takes the entries that are unsaved since
 * before it began; a chunk that is dirty but wholly journaled is
 * already durable and costs the flush nothing.
 *
 * Sequences.  A record carries the write sequence of its chunk when it
 * was captured; the object is named by a sequence taken after all its
 * captures, so names are larger than the records they hold, and for
 * any one chunk, records in later objects are newer (a chunk is in one
 * round at a time: it is busy).  A chunk object carries the sequence it
 * includes (chunk.h), so a record is needed only while the chunk object
 * is older than it.
 *
 * Retirement.  An entry's journal_first is the oldest object holding
 * records of it that no upload has covered yet; an upload at sequence S
 * covers them if S >= journal_seq, the newest it journaled.  Objects
 * older than every dirty entry's journal_first are no longer needed and
 * are deleted (DeleteObjects), oldest first.
 *
 * Trims.  A replay applies a record when the chunk object is older
 * than it, and an absent object is older than everything.  So a chunk
 * whose object is deleted (trimmed, or found all zeros) while the
 * device has journal objects, some of which may hold old records of
 * it, first gets a trim record in a journal object of its own: replay
 * applies the old records and then the trim.  That object must outlive
 * the older ones, hence: objects are deleted in sequence order, batch
 * after batch, and an object holding trims is only ever the first of
 * its batch (a batch cut short by a crash leaves a suffix of it, and
 * every trim older than that suffix is gone with the records it undid).
 *
 * Bounds.  A device's journal is bounded (journal-max-bytes, -objects).
 * Past three quarters of either, the write-back uploads the chunks that
 * hold the older half of it; at the bound, flushes upload whole chunks.
 *
 * Replay.  When a cache first opens a device (cache.c: no cached state,
 * or none that it trusts) its journal may hold flushed writes that no
 * chunk object has: the server that wrote them crashed with its cache,
 * or runs elsewhere now.  Before the device serves a request, every
 * record newer than its chunk's object is applied, in order, as a write
 * with the record's own sequence.  The records of one capture share a
 * sequence, so a record applies if it is newer than the chunk object
 * and not older than the last record applied to the chunk.  Nothing of
 * a device is uploaded before its replay is complete (an upload between
 * two records of one capture would carry their sequence, and a second
 * replay would skip the rest); a crash meanwhile starts the replay again
 * from nothing (the device is not "listed" until it is done).
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "internal.h"
#include "lease.h"
#include "journal.h"
#include "log.h"
#include "progress.h"
#include "vector.h"

bool
journal_on (struct zcache *c, struct cache_device *d)
{
  return c->journal_max_bytes > 0 && d->listed;
}

/* Under c->lock: D's journal is at its bound. */
bool
journal_full (struct zcache *c, struct cache_device *d)
{
  return d->journal_bytes >= c->journal_max_bytes ||
    d->journal.len >= c->journal_max_objects;
}

/* Under c->lock: D's journal is past 3/4 of its bound. */
bool
journal_pressed (struct zcache *c, struct cache_device *d)
{
  return d->journal_bytes >= c->journal_max_bytes / 4 * 3 ||
    d->journal.len >= c->journal_max_objects / 4 * 3;
}

/* Under c->lock: the newest object of the older half of D's journal. */
uint64_t
journal_cut (struct cache_device *d)
{
  return d->journal.len ? d->journal.items[d->journal.len / 2].seq : 0;
}

static uint32_t
count_bits (const uint64_t map[4])
{
  return __builtin_popcountll (map[0]) + __builtin_popcountll (map[1]) +
    __builtin_popcountll (map[2]) + __builtin_popcountll (map[3]);
}

/* Under c->lock: has E been rewritten whole since the store last got
 * it (a sequential write)?
 */
bool
centry_rewritten (const struct centry *e)
{
  uint32_t nsec = chunk_sectors (e);

  return e->unsaved && e->slot != ZSLOT_NONE &&
    count_bits (e->unsaved_map) >= nsec;
}

/* Under c->lock: should a flush journal E's changes rather than upload
 * E?  Yes when it has a slot, less than half of it changed, the journal
 * has room, and the sequence of E's object is known.  A replay applies a
 * record only if it is newer than the object, and an object another
 * server (or this one, before its cache was lost) wrote may carry a
 * sequence ahead of this device's: so such a chunk is uploaded, which
 * fetches the object and moves the device's sequence past it
 * (chunk-io.c), and from then on this server's own upload sets it.
 */
bool
journal_wanted (struct zcache *c, const struct centry *e)
{
  uint32_t nsec = chunk_sectors (e);
  uint32_t changed = count_bits (e->unsaved_map);

  return journal_on (c, e->dev) && !journal_full (c, e->dev) &&
    e->slot != ZSLOT_NONE && e->unsaved && changed > 0 && changed * 2 < nsec &&
    (!e->remote || e->stored_seq != 0);
}

/* Seal B as a journal object of D and PUT it.  The entries V[N] (their
 * captured sequences SEQS) have their records in it: they point at it
 * before the PUT, so that it is not retired under them.
 */
static int
put_object (struct zcache *c, struct cache_device *d,
            const struct zjournal_builder *b, bool has_trim,
            struct centry **v, const uint64_t *seqs, size_t n)
{
  struct journal_object jo = { .has_trim = has_trim, .in_flight = true };
  char key[OBJSTORE_KEY_MAX];
  CLEANUP_FREE void *obj = NULL;
  size_t objlen = 0, i;
  bool sealed;
  int r;

  {
    LOCK_FOR_SCOPE (&c->lock);
    jo.seq = zcache_next_seq (d);
    if (journal_object_vector_append (&d->journal, jo) == -1) {
      zerror ("realloc: %m");
      return -1;
    }
    for (i = 0; i < n; i++) {
      if (v[i] == NULL)
        continue;
      if (v[i]->journal_first == 0)
        v[i]->journal_first = jo.seq;
      if (seqs[i] > v[i]->journal_seq)
        v[i]->journal_seq = seqs[i];
    }
  }
  /* Commit first, for two reasons.  A restart with this cache replays
   * nothing: it uploads its dirty slots, so every change in this object
   * must be in the committed index and on disk (else a crash after the
   * PUT could leave a change that was never flushed in the journal but
   * not in the cache: gone after the restart, back after a later loss of
   * the cache).  And the object's name must stay larger than any
   * sequence used after a restart (the commit takes a reservation).
   */
  if (zcache_commit (c) == -1)
    return -1;

  zkey_journal (key, d->name, jo.seq);
  sealed = zjournal_seal (&d->codec, jo.seq, b, &obj, &objlen) == 0;
  r = sealed ? cache_device_put (d, key, obj, objlen) : -1;

  LOCK_FOR_SCOPE (&c->lock);
  for (i = d->journal.len; i-- > 0; )
    if (d->journal.items[i].seq == jo.seq) {
      /* A failed PUT may have stored it or not: keep it, to be deleted
       * in turn.  One never sent is forgotten.
       */
      d->journal.items[i].in_flight = false;
      d->journal.items[i].bytes = objlen;
      if (!sealed) {
        memmove (&d->journal.items[i], &d->journal.items[i + 1],
                 (d->journal.len - i - 1) * sizeof *d->journal.items);
        d->journal.len--;
      }
      break;
    }
  d->journal_bytes += objlen;
  if (r == 0) {
    c->stats.journal_puts++;
    c->stats.journal_bytes += objlen;
  }
  if (zerofs_debug_flush)
    zdebug ("flush: %s %s (%" PRIu32 " records, %zu bytes)",
            r == 0 ? "journaled" : "failed to journal", key, b->nrecords,
            objlen);
  return r;
}

/* The records of E's captured sectors MAP, read from its slot (stripe
 * held): runs of data, or of zeros when they read as zeros.
 */
static int
add_records (struct zcache *c, struct centry *e, const uint64_t map[4],
             uint64_t seq, void *scratch, struct zjournal_builder *b)
{
  uint32_t nsec = chunk_sectors (e);
  uint32_t i, run;
  struct zjournal_record rec = { .chunk = e->index, .seq = seq };

  for (i = 0; i < nsec; i += run) {
    run = 1;
    if (!bit_test (map, i))
      continue;
    while (i + run < nsec && bit_test (map, i + run))
      run++;
    if (centry_read_sectors (c, e, i, run, NULL, scratch) == -1)
      return -1;
    rec.offset = i * ZSECTOR_SIZE;
    rec.length = run * ZSECTOR_SIZE;
    if (zis_zero (scratch, rec.length)) {
      rec.type = ZJOURNAL_ZERO;
      rec.data = NULL;
    }
    else {
      rec.type = ZJOURNAL_DATA;
      rec.data = scratch;
    }
    if (zjournal_add (b, &rec) == -1)
      return -1;
  }
  return 0;
}

/* Upper bound of the payload E's map adds. */
static size_t
records_size (const uint64_t map[4], uint32_t nsec)
{
  size_t size = 0;
  uint32_t i;

  for (i = 0; i < nsec; i++)
    if (bit_test (map, i)) {
      size += ZSECTOR_SIZE;
      if (i == 0 || !bit_test (map, i - 1))
        size += ZJOURNAL_RECORD_HEADER_LEN;
    }
  return size;
}

struct journal_round {
  struct zcache *c;
  struct cache_device *d;
  struct centry **v;
  size_t n;
  struct capture *caps;
  uint64_t *seqs;
  bool *taken;
  void *scratch;
};

/* Put the records of entries FIRST..LAST-1 (those taken) in one object. */
static int
flush_object (struct journal_round *jr, struct zjournal_builder *b,
              size_t first, size_t last)
{
  CLEANUP_FREE struct centry **v = NULL;
  size_t i;
  int r;

  if (b->nrecords == 0)
    return 0;
  v = calloc (last - first, sizeof *v);
  if (v == NULL) {
    zerror ("calloc: %m");
    return -1;
  }
  for (i = first; i < last; i++)
    v[i - first] = jr->taken[i] ? jr->v[i] : NULL;
  r = put_object (jr->c, jr->d, b, false, v, jr->seqs + first, last - first);
  zjournal_builder_reset (b);
  return r;
}

/* Capture the busy, referenced entries V[N] of D and write their
 * changed sectors to the journal, in as few objects as the size bound
 * allows.  An entry that can no longer be journaled (trimmed since it
 * was picked) is left unsaved, for the caller's next round.  The
 * caller releases the entries.  -1 if a PUT failed: what it would have
 * saved is unsaved again.
 */
int
journal_write (struct zcache *c, struct cache_device *d,
               struct centry **v, size_t n)
{
  CLEANUP_FREE struct capture *caps = calloc (n, sizeof *caps);
  CLEANUP_FREE uint64_t *seqs = calloc (n, sizeof *seqs);
  CLEANUP_FREE bool *taken = calloc (n, sizeof *taken);
  CLEANUP_FREE void *scratch = malloc (ZCHUNK_SIZE);
  struct journal_round jr = { c, d, v, n, caps, seqs, taken, scratch };
  struct zjournal_builder b = { .nrecords = 0 };
  size_t i, start = 0, need;
  int r = 0;

  if (caps == NULL || seqs == NULL || taken == NULL || scratch == NULL) {
    zerror ("malloc: %m");
    return -1;
  }
  /* Only the lease holder writes the device's objects (fence.c). */
  if (cache_device_guard (d) == -1)
    return -1;
  b.epoch = cache_device_epoch (d);
  for (i = 0; i < n && r == 0; i++) {
    struct centry *e = v[i];
    pthread_rwlock_t *stripe = centry_stripe (c, d, e->index);
    uint32_t nsec = chunk_sectors (e);

    pthread_rwlock_rdlock (stripe);
    pthread_mutex_lock (&c->lock);
    taken[i] = e->slot != ZSLOT_NONE && e->unsaved &&
      count_bits (e->unsaved_map) > 0;
    need = taken[i] ? records_size (e->unsaved_map, nsec) : 0;
    pthread_mutex_unlock (&c->lock);
    if (taken[i] && b.payload.len + need > ZJOURNAL_PAYLOAD_MAX) {
      /* Split: seal what is there first (no stripe held for the PUT). */
      pthread_rwlock_unlock (stripe);
      r = flush_object (&jr, &b, start, i);
      start = i;
      pthread_rwlock_rdlock (stripe);
      pthread_mutex_lock (&c->lock);
      taken[i] = e->slot != ZSLOT_NONE && e->unsaved &&
        count_bits (e->unsaved_map) > 0;
      pthread_mutex_unlock (&c->lock);
    }
    if (taken[i] && r == 0) {
      pthread_mutex_lock (&c->lock);
      centry_capture_locked (e, &caps[i]);
      seqs[i] = e->seq;
      pthread_mutex_unlock (&c->lock);
      if (zerofs_debug_flush)
        zdebug ("journal: chunk %" PRIu64 " at seq %" PRIx64 ": %u sectors",
                e->index, seqs[i], count_bits (caps[i].map));
      r = add_records (c, e, caps[i].map, seqs[i], scratch, &b);
    }
    pthread_rwlock_unlock (stripe);
  }
  if (r == 0)
    r = flush_object (&jr, &b, start, n);
  zjournal_builder_reset (&b);
  if (r == 0) {
    LOCK_FOR_SCOPE (&c->lock);
    for (i = 0; i < n; i++)
      if (taken[i])
        v[i]->saving = false;
    return 0;
  }
  {
    /* Conservative: every capture is given back, also those of objects
     * that made it (they are then journaled again, or uploaded).
     */
    LOCK_FOR_SCOPE (&c->lock);
    for (i = 0; i < n; i++)
      if (taken[i])
        centry_uncapture_locked (v[i], &caps[i]);
    return -1;
  }
}

/* The busy entries V[N] are about to lose their chunk objects (all
 * zeros) as of sequences SEQS[N].  For each device with journal
 * objects, write one with a trim record for each of its entries first
 * (see "Trims" above).
 */
int
journal_trims (struct zcache *c, struct centry **v, const uint64_t *seqs,
               size_t n)
{
  CLEANUP_FREE bool *done = calloc (n ? n : 1, sizeof *done);
  CLEANUP_FREE struct centry **none = calloc (n ? n : 1, sizeof *none);
  struct zjournal_builder b = { .nrecords = 0 };
  struct zjournal_record rec = { .type = ZJOURNAL_TRIM };
  struct cache_device *d;
  size_t i, j;
  bool wanted;
  int r = 0;

  if (done == NULL || none == NULL) {
    zerror ("calloc: %m");
    return -1;
  }
  for (i = 0; i < n && r == 0; i++) {
    if (done[i])
      continue;
    d = v[i]->dev;
    b.epoch = cache_device_epoch (d);
    pthread_mutex_lock (&c->lock);
    wanted = d->journal.len > 0;
    pthread_mutex_unlock (&c->lock);
    for (j = i; j < n && r == 0; j++) {
      if (done[j] || v[j]->dev != d)
        continue;
      done[j] = true;
      if (!wanted)
        continue;
      rec.chunk = v[j]->index;
      rec.offset = 0;
      rec.length = (cache_device_chunk_len (d, v[j]->index) +
                    ZSECTOR_SIZE - 1) / ZSECTOR_SIZE * ZSECTOR_SIZE;
      rec.seq = seqs[j];
      r = zjournal_add (&b, &rec);
    }
    /* Trim records are 32 bytes: a thousand chunks fit many times over. */
    if (r == 0 && b.nrecords > 0)
      r = put_object (c, d, &b, true, none, seqs, 0);
    zjournal_builder_reset (&b);
  }
  return r;
}

/* Under c->lock: how many of D's oldest objects may go, at most MAX and
 * with a trim-holding one only first (see "Trims").
 */
static size_t
retirable_locked (struct zcache *c, struct cache_device *d, size_t max)
{
  uint64_t low = UINT64_MAX;
  struct centry *e;
  size_t k;

  for (e = c->dirty_head; e; e = e->dnext)
    if (e->dev == d && e->journal_first && e->journal_first < low)
      low = e->journal_first;
  for (k = 0; k < d->journal.len && k < max; k++) {
    const struct journal_object *jo = &d->journal.items[k];

    if (jo->in_flight || jo->seq >= low || (k > 0 && jo->has_trim))
      break;
  }
  return k;
}

/* Delete the journal objects no longer needed, of every device. */
void
journal_retire (struct zcache *c)
{
  /* On the heap (see delete_batch), once there is something to delete. */
  CLEANUP_FREE char (*keybuf)[OBJSTORE_KEY_MAX] = NULL;
  const char *keys[OBJSTORE_DELETE_BATCH];
  struct cache_device *d;
  uint64_t bytes;
  size_t k, i;

  pthread_mutex_lock (&c->lock);
  for (d = c->devices; d; d = d->next) {
    while (d->listed &&
           (k = retirable_locked (c, d, OBJSTORE_DELETE_BATCH)) > 0) {
      if (keybuf == NULL &&
          (keybuf = malloc (OBJSTORE_DELETE_BATCH * sizeof *keybuf)) == NULL) {
        zerror ("journal: malloc: %m");
        break;
      }
      for (i = 0; i < k; i++) {
        zkey_journal (keybuf[i], d->name, d->journal.items[i].seq);
        keys[i] = keybuf[i];
      }
      /* Only this thread removes objects, from the front; flushes
       * append at the back.
       */
      pthread_mutex_unlock (&c->lock);
      if (cache_device_guard (d) == -1) {
        pthread_mutex_lock (&c->lock);
        break;
      }
      if (cache_device_delete_many (d, keys, k) == -1) {
        zerror ("journal: deleting %zu objects of %s from %s: %s (tried "
                "again later)", k, d->name, keys[0], objstore_last_error ());
        pthread_mutex_lock (&c->lock);
        break;
      }
      if (zerofs_debug_flush)
        zdebug ("journal: retired %zu objects of %s, %s first", k, d->name,
                keys[0]);
      pthread_mutex_lock (&c->lock);
      for (bytes = 0, i = 0; i < k; i++)
        bytes += d->journal.items[i].bytes;
      memmove (d->journal.items, d->journal.items + k,
               (d->journal.len - k) * sizeof *d->journal.items);
      d->journal.len -= k;
      d->journal_bytes -= bytes < d->journal_bytes ? bytes : d->journal_bytes;
      c->stats.journal_deletes += k;
    }
  }
  pthread_mutex_unlock (&c->lock);
}

static int
compare_objects (const void *av, const void *bv)
{
  const struct journal_object *a = av, *b = bv;

  return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static int
list_object (void *opaque, const char *key, uint64_t size, bool is_prefix)
{
  struct cache_device *d = opaque;
  /* Whether it holds trims is not known: as if it did (see "Trims"). */
  struct journal_object jo = { .bytes = size, .has_trim = true };

  if (is_prefix || zkey_parse_journal (key, &jo.seq) == -1) {
    zerror ("device %s: ignoring %s, which is not a journal object",
            d->name, key);
    return 0;
  }
  if (journal_object_vector_append (&d->journal, jo) == -1) {
    zerror ("realloc: %m");
    return -1;
  }
  d->journal_bytes += size;
  return 0;
}

/* List D's journal objects into d->journal (D not linked yet, or being
 * recovered: no other thread looks at it).  Dirty entries of D the
 * cache recovered may have records in any of them: they hold them all
 * until uploaded.
 */
int
journal_load (struct zcache *c, struct cache_device *d)
{
  char prefix[OBJSTORE_KEY_MAX];
  struct centry *e;

  d->journal.len = 0;
  d->journal_bytes = 0;
  zkey_journal_prefix (prefix, d->name);
  if (objstore_list (c->store, prefix, NULL, list_object, d) == -1)
    return -1;
  journal_object_vector_sort (&d->journal, compare_objects);
  if (d->journal.len == 0)
    return 0;
  if (zerofs_debug_flush)
    zdebug ("journal: %s has %zu objects (%" PRIu64 " bytes)",
            d->name, d->journal.len, d->journal_bytes);
  LOCK_FOR_SCOPE (&c->lock);
  for (e = d->entries; e; e = e->vnext)
    if (e->dirty) {
      e->journal_first = d->journal.items[0].seq;
      e->journal_seq = e->seq;
    }
  return 0;
}

/* What the replay knows of one chunk (a slot of its hash table). */
struct replay_chunk {
  uint64_t index;              /* UINT64_MAX: an empty slot */
  uint64_t stored;             /* its object's sequence (0: none) */
  uint64_t last;               /* the last capture applied (0: none) */
};
DEFINE_VECTOR_TYPE (replay_chunk_vector, struct replay_chunk);

/* A record waiting with the rest of its capture, its bytes in DATA. */
struct pending_record {
  struct zjournal_record rec;
  size_t data_offset;
};
DEFINE_VECTOR_TYPE (pending_record_vector, struct pending_record);

struct replay {
  struct zcache *c;
  struct cache_device *d;
  const char *key;
  bool stale;                  /* the object being read: ignore it */
  replay_chunk_vector chunks;  /* open addressing, power-of-2 size */
  size_t nchunks;
  pending_record_vector group; /* one capture's records */
  byte_vector data;
  uint64_t applied, skipped;
};

static size_t
chunk_slot (const replay_chunk_vector *t, uint64_t index)
{
  size_t mask = t->len - 1, i = (index * UINT64_C (0x9E3779B97F4A7C15)) >> 20;

  for (i &= mask; t->items[i].index != UINT64_MAX &&
         t->items[i].index != index; i = (i + 1) & mask)
    ;
  return i;
}

/* The table's entry for chunk INDEX, added (with STORED 0) if new:
 * *FOUND says which.
 */
static struct replay_chunk *
chunk_entry (struct replay *rp, uint64_t index, bool *found)
{
  replay_chunk_vector *t = &rp->chunks;
  size_t i;

  if (2 * (rp->nchunks + 1) > t->len) {
    replay_chunk_vector bigger = EMPTY_VECTOR;
    size_t want = t->len ? 2 * t->len : 256;

    if (replay_chunk_vector_reserve (&bigger, want) == -1) {
      zerror ("realloc: %m");
      return NULL;
    }
    bigger.len = want;
    for (i = 0; i < want; i++)
      bigger.items[i].index = UINT64_MAX;
    for (i = 0; i < t->len; i++)
      if (t->items[i].index != UINT64_MAX)
        bigger.items[chunk_slot (&bigger, t->items[i].index)] = t->items[i];
    replay_chunk_vector_reset (t);
    *t = bigger;
  }
  i = chunk_slot (t, index);
  *found = t->items[i].index == index;
  if (!*found) {
    t->items[i] = (struct replay_chunk) { .index = index };
    rp->nchunks++;
  }
  return &t->items[i];
}

/* The sequence of chunk INDEX's object (0: it has none), read without
 * putting it in the cache: the replay must not need more slots than the
 * chunks it changes.
 */
static int
object_seq (struct replay *rp, uint64_t index, uint64_t *seq)
{
  struct cache_device *d = rp->d;
  char key[OBJSTORE_KEY_MAX];
  CLEANUP_FREE void *obj = NULL;
  CLEANUP_FREE void *buf = NULL;
  struct centry *e;
  size_t objlen;
  bool remote;

  *seq = 0;
  e = centry_get (rp->c, d, index);
  if (e == NULL)
    return -1;
  pthread_mutex_lock (&rp->c->lock);
  remote = e->remote;
  pthread_mutex_unlock (&rp->c->lock);
  centry_put (rp->c, e);
  if (!remote)
    return 0;
  zkey_chunk (key, d->name, index);
  if (objstore_get (rp->c->store, key, &obj, &objlen) == -1) {
    if (errno == ENOENT)
      return 0;
    zerror ("device %s: replaying its journal: reading %s: %s", d->name,
            key, objstore_last_error ());
    return -1;
  }
  buf = malloc (ZCHUNK_SIZE);
  if (buf == NULL) {
    zerror ("malloc: %m");
    return -1;
  }
  return zchunk_decode (&d->codec, index, obj, objlen, buf,
                        cache_device_chunk_len (d, index), seq, key);
}

/* Apply the records in rp->group, one capture of one chunk, if they are
 * newer than what the chunk has.  The entry is busy meanwhile, so that
 * the write-back uploads it only between captures: an upload carries
 * the sequence of what it holds, and a second replay skips that.
 */
static int
apply_group (struct replay *rp)
{
  struct zcache *c = rp->c;
  struct cache_device *d = rp->d;
  const struct zjournal_record *first;
  struct replay_chunk *rc;
  struct centry *e;
  uint64_t stored;
  uint32_t len;
  bool found, apply;
  size_t i;
  int r = 0;

  if (rp->group.len == 0)
    return 0;
  first = &rp->group.items[0].rec;
  rc = chunk_entry (rp, first->chunk, &found);
  if (rc == NULL)
    return -1;
  if (!found) {
    if (object_seq (rp, first->chunk, &stored) == -1)
      return -1;
    rc->stored = stored;
  }
  apply = first->seq > rc->stored && first->seq >= rc->last;
  if (zerofs_debug_flush)
    zdebug ("replay: %s: chunk %" PRIu64 ", %zu records at %" PRIx64
            " (object at %" PRIx64 ", replayed %" PRIx64 "): %s",
            rp->key, first->chunk, rp->group.len, first->seq, rc->stored,
            rc->last, apply ? "applied" : "skipped");
  if (!apply) {
    rp->skipped += rp->group.len;
    rp->group.len = 0;
    rp->data.len = 0;
    return 0;
  }
  rc->last = first->seq;

  e = centry_get (c, d, first->chunk);
  if (e == NULL)
    return -1;
  pthread_mutex_lock (&c->lock);
  while (e->busy)
    pthread_cond_wait (&c->cond, &c->lock);
  e->busy = true;
  pthread_mutex_unlock (&c->lock);

  len = cache_device_chunk_len (d, first->chunk);
  for (i = 0; i < rp->group.len && r == 0; i++) {
    const struct zjournal_record *rec = &rp->group.items[i].rec;
    uint32_t n = rec->offset + rec->length > len ? len - rec->offset :
      rec->length;

    if (rec->type == ZJOURNAL_TRIM && rec->offset == 0 && n == len)
      r = centry_discard (d, rec->chunk, rec->seq);
    else
      r = centry_write (d, rec->chunk, rec->offset, n,
                        rec->type == ZJOURNAL_DATA ?
                        rp->data.items + rp->group.items[i].data_offset :
                        NULL, rec->seq);
  }

  pthread_mutex_lock (&c->lock);
  e->busy = false;
  pthread_cond_broadcast (&c->cond);
  centry_put_locked (c, e);
  pthread_mutex_unlock (&c->lock);
  rp->applied += rp->group.len;
  rp->group.len = 0;
  rp->data.len = 0;
  return r;
}

/* A record of the object being replayed: gather it with the others of
 * its capture (consecutive, same chunk and sequence).
 */
static int
gather_record (void *opaque, const struct zjournal_record *rec)
{
  struct replay *rp = opaque;
  struct cache_device *d = rp->d;
  struct pending_record pr = { .rec = *rec, .data_offset = rp->data.len };

  if (rp->stale) {
    rp->skipped++;
    return 0;
  }
  /* Past the end: written before the device was shrunk (zerofs-dev
   * resize), and gone with it.  The record is genuine (authenticated).
   */
  if (rec->chunk >= d->nchunks ||
      rec->offset >= cache_device_chunk_len (d, rec->chunk)) {
    if (zerofs_debug_flush)
      zdebug ("replay: %s: chunk %" PRIu64 " bytes %" PRIu32 "+%" PRIu32
              " is past the end of %s: skipped", rp->key, rec->chunk,
              rec->offset, rec->length, d->name);
    rp->skipped++;
    return 0;
  }
  if (rp->group.len > 0 &&
      (rp->group.items[0].rec.chunk != rec->chunk ||
       rp->group.items[0].rec.seq != rec->seq) &&
      apply_group (rp) == -1)
    return -1;
  pr.data_offset = rp->data.len;
  pr.rec.data = NULL;
  if ((rec->type == ZJOURNAL_DATA &&
       byte_vector_append_array (&rp->data, rec->data, rec->length) == -1) ||
      pending_record_vector_append (&rp->group, pr) == -1) {
    zerror ("realloc: %m");
    return -1;
  }
  return 0;
}

/* Apply D's journal (loaded by journal_load) to the cache.  D is not
 * linked: no request uses it.  The objects stay, to be retired once the
 * write-back has uploaded what they hold.
 */
/* Is journal object SEQ of epoch EPOCH stale: written by a server that
 * had lost the lease after D's holder before this one took it over?
 * (lib/lease.h, "Stale journal objects".)
 */
static bool
stale_object (struct cache_device *d, uint64_t seq, uint16_t epoch)
{
  struct zlease_info prev;
  uint64_t floor, generation;

  if (d->lease == NULL || !zlease_previous (d->lease, &prev))
    return false;
  if (prev.journal_floor != ZLEASE_FLOOR_UNKNOWN) {
    floor = prev.journal_floor;
    generation = prev.generation;
  }
  else if (prev.inherited_floor != ZLEASE_FLOOR_UNKNOWN) {
    floor = prev.inherited_floor;
    generation = prev.inherited_generation;
  }
  else
    return false;
  /* PREVIOUS's own objects are never stale: a holder that could not
   * record its floor (its lease PUT failed) still served, and its
   * journal objects, newer than the floor it inherited, are its
   * acknowledged flushes.
   */
  return seq > floor && epoch != zlease_epoch (generation) &&
    epoch != zlease_epoch (prev.generation);
}

int
journal_replay (struct zcache *c, struct cache_device *d)
{
  struct replay rp = { .c = c, .d = d };
  char key[OBJSTORE_KEY_MAX];
  CLEANUP_FREE uint64_t *seqs = NULL;
  struct zprogress progress = { 0 };
  uint64_t start_ms = zcache_now_ms (), ms;
  struct centry *e;
  size_t i, n;
  int r = 0;

  /* Trim objects of replayed chunks the write-back finds all zeros may
   * be added meanwhile: replay the listed ones.
   */
  {
    LOCK_FOR_SCOPE (&c->lock);
    n = d->journal.len;
    seqs = malloc ((n ? n : 1) * sizeof *seqs);
    if (seqs == NULL) {
      zerror ("malloc: %m");
      return -1;
    }
    for (i = 0; i < n; i++)
      seqs[i] = d->journal.items[i].seq;
  }
  for (i = 0; i < n && r == 0; i++) {
    CLEANUP_FREE void *obj = NULL;
    size_t objlen;

    zprogress_draw (&progress, i == 0, "%s: replaying its flush journal: "
                    "%zu of %zu objects", d->name, i, n);
    zkey_journal (key, d->name, seqs[i]);
    rp.key = key;
    r = objstore_get (c->store, key, &obj, &objlen);
    if (r == -1)
      zerror ("device %s: reading journal object %s: %s", d->name, key,
              objstore_last_error ());
    else {
      /* Decided on the header, which zjournal_open then authenticates
       * (a forged one fails it, and the replay with it).
       */
      rp.stale = stale_object (d, seqs[i], zjournal_epoch (obj, objlen));
      r = zjournal_open (&d->codec, seqs[i], obj, objlen, key,
                         gather_record, &rp);
      if (r == 0 && rp.stale) {
        zwarning ("device %s: journal object %s was written by a server "
                  "that had lost the device's lease (writer epoch %u) "
                  "after it was taken over: not applied, deleted", d->name,
                  key, (unsigned) zjournal_epoch (obj, objlen));
        /* Before this holder's floor covers it (lease.h). */
        if (cache_device_delete (d, key) == -1)
          r = -1;
      }
    }
    if (r == 0)
      r = apply_group (&rp);
  }
  zprogress_clear (&progress);
  replay_chunk_vector_reset (&rp.chunks);
  pending_record_vector_reset (&rp.group);
  byte_vector_reset (&rp.data);
  if (r == -1) {
    zerror ("device %s: its journal could not be replayed; the journal "
            "objects are kept, and the device cannot be opened until the "
            "server is restarted and the replay succeeds", d->name);
    return -1;
  }
  /* The replayed changes are in the journal already: dirty (to be
   * uploaded), but saved; and they hold the journal until uploaded.
   */
  {
    LOCK_FOR_SCOPE (&c->lock);
    for (e = d->entries; e; e = e->vnext)
      if (e->dirty) {
        e->unsaved = false;
        memset (e->unsaved_map, 0, sizeof e->unsaved_map);
        e->journal_first = seqs[0];
        e->journal_seq = e->seq;
      }
  }
  ms = zcache_now_ms () - start_ms;
  if (n > 0)
    zdebug ("device %s: replayed %zu journal objects (%" PRIu64 " records "
            "applied, %" PRIu64 " already in their chunks) in %" PRIu64
            ".%01" PRIu64 " s", d->name, n, rp.applied, rp.skipped,
            ms / 1000, ms % 1000 / 100);
  return zcache_commit (c);
}
