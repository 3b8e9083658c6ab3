/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: per-chunk operations of the cache: read, write, discard,
 * prefetch, and the entry table and slot allocation they share.
 *
 * Locking (see also cache.c).  Each chunk maps to one of ZCACHE_STRIPES
 * rwlocks.  Reading a chunk's bytes takes its stripe for reading; anything
 * that changes its bytes or its [S] fields takes it for writing, and also
 * c->lock for the short moment of changing the fields.  The lock order is
 * stripe -> commit_lock -> c->lock; nothing takes a stripe lock while
 * holding c->lock.  A thread holding a reference (users > 0) keeps the
 * entry alive and its slot attached: eviction only takes slots of entries
 * nobody is using, so it needs no stripe lock.
 *
 * The content of a chunk is, sector by sector: the slot's bytes where the
 * bitmap says valid; else the store's object if base_remote; else zeros.
 * A write to a chunk that is not cached therefore needs no GET: it
 * attaches a slot, writes its sectors and marks them valid.  Only a read
 * of an invalid sector (or an upload of a partial chunk, or an unaligned
 * write's edge sector) fetches the object, once, and fills every invalid
 * sector from it.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "internal.h"
#include "log.h"
#include "vector.h"

static uint64_t
hash_of (uint32_t dev_id, uint64_t index)
{
  uint64_t h = index * UINT64_C (0x9E3779B97F4A7C15);

  h ^= (uint64_t) dev_id * UINT64_C (0xC2B2AE3D27D4EB4F);
  h ^= h >> 29;
  h *= UINT64_C (0xBF58476D1CE4E5B9);
  h ^= h >> 32;
  return h;
}

pthread_rwlock_t *
centry_stripe (struct zcache *c, struct cache_device *d, uint64_t index)
{
  return &c->stripes[(hash_of (d->id, index) >> 20) % ZCACHE_STRIPES];
}

struct centry *
centry_find (struct zcache *c, struct cache_device *d, uint64_t index)
{
  struct centry *e;

  for (e = c->buckets[hash_of (d->id, index) & (c->nbuckets - 1)];
       e; e = e->hnext)
    if (e->dev == d && e->index == index)
      return e;
  return NULL;
}

void
centry_insert (struct zcache *c, struct centry *e)
{
  size_t b = hash_of (e->dev->id, e->index) & (c->nbuckets - 1);

  e->hnext = c->buckets[b];
  c->buckets[b] = e;
  c->nentries++;
  e->vprev = NULL;
  e->vnext = e->dev->entries;
  if (e->vnext)
    e->vnext->vprev = e;
  e->dev->entries = e;
}

static void
centry_remove (struct zcache *c, struct centry *e)
{
  struct centry **pp = &c->buckets[hash_of (e->dev->id, e->index) &
                                   (c->nbuckets - 1)];

  while (*pp != e)
    pp = &(*pp)->hnext;
  *pp = e->hnext;
  c->nentries--;
  if (e->vprev)
    e->vprev->vnext = e->vnext;
  else
    e->dev->entries = e->vnext;
  if (e->vnext)
    e->vnext->vprev = e->vprev;
}

/* Find or create the entry (from the index if it has a record), with a
 * reference.  Records of chunks that are cached or dirty are always in
 * memory (loaded at open, created here), so a record found in the index
 * describes a chunk that is only in the store.  No record: absent, or,
 * while the device's survey runs and nothing here knows better, a guess
 * that it may exist ("maybe": survey.c).
 */
static struct centry *
centry_get_locked (struct zcache *c, struct cache_device *d, uint64_t index)
{
  struct zindex_chunk rec;
  struct centry *e;
  int r;

  e = centry_find (c, d, index);
  if (e == NULL) {
    r = zindex_get_chunk (c->ix, d->uuid, index, &rec);
    if (r == -1)
      return NULL;
    if (r == 0 && (rec.slot != ZSLOT_NONE || (rec.flags & ZREC_DIRTY))) {
      zerror ("cache index: chunk %" PRIu64 " of %s is cached but was not "
              "loaded: the index is inconsistent", index, d->name);
      errno = EIO;
      return NULL;
    }
    e = calloc (1, sizeof *e);
    if (e == NULL) {
      zerror ("calloc: %m");
      return NULL;
    }
    e->dev = d;
    e->index = index;
    e->slot = ZSLOT_NONE;
    if (r == 0) {
      e->remote = (rec.flags & ZREC_REMOTE) != 0;
      e->base_remote = (rec.flags & ZREC_BASE_REMOTE) != 0;
      e->maybe = e->remote && (rec.flags & ZREC_MAYBE) != 0;
      e->seq = rec.seq;
      e->stored_seq = rec.seq;    /* not dirty: the object's sequence */
    }
    else if (d->surveying && !survey_known_locked (d, index))
      e->remote = e->base_remote = e->maybe = true;
    centry_insert (c, e);
  }
  e->users++;
  return e;
}

struct centry *
centry_get (struct zcache *c, struct cache_device *d, uint64_t index)
{
  LOCK_FOR_SCOPE (&c->lock);
  return centry_get_locked (c, d, index);
}

/* Free an entry that says nothing the index does not already say. */
void
centry_maybe_free (struct zcache *c, struct centry *e)
{
  if (e->users == 0 && !e->busy && !e->dirty && !e->on_index &&
      e->slot == ZSLOT_NONE) {
    centry_remove (c, e);
    free (e);
  }
}

void
centry_put_locked (struct zcache *c, struct centry *e)
{
  e->users--;
  centry_maybe_free (c, e);
}

void
centry_put (struct zcache *c, struct centry *e)
{
  LOCK_FOR_SCOPE (&c->lock);
  centry_put_locked (c, e);
}

/* Under c->lock: the entry's record must be written at the next commit. */
void
centry_index_touch (struct zcache *c, struct centry *e)
{
  e->change++;
  if (!e->on_index) {
    e->iprev = NULL;
    e->inext = c->index_head;
    if (c->index_head)
      c->index_head->iprev = e;
    c->index_head = e;
    e->on_index = true;
  }
}

void
centry_set_dirty (struct zcache *c, struct centry *e)
{
  if (e->dirty)
    return;
  e->dirty = true;
  e->dirty_since = e->seq;
  e->dirty_time = zcache_now ();
  e->dprev = NULL;
  e->dnext = c->dirty_head;
  if (c->dirty_head)
    c->dirty_head->dprev = e;
  c->dirty_head = e;
  c->ndirty++;
  if (e->dev->dirty_aside)
    c->nheld++;
  e->dev->stats.dirty_chunks++;
  e->dev->stats.dirty_bytes += cache_device_chunk_len (e->dev, e->index);
}

void
centry_clear_dirty (struct zcache *c, struct centry *e)
{
  if (!e->dirty)
    return;
  e->dirty = false;
  if (e->dprev)
    e->dprev->dnext = e->dnext;
  else
    c->dirty_head = e->dnext;
  if (e->dnext)
    e->dnext->dprev = e->dprev;
  e->dprev = e->dnext = NULL;
  c->ndirty--;
  if (e->dev->dirty_aside)
    c->nheld--;
  if (e->recovered) {
    e->recovered = false;
    c->recover_done++;
  }
  e->dev->stats.dirty_chunks--;
  e->dev->stats.dirty_bytes -= cache_device_chunk_len (e->dev, e->index);
  pthread_cond_broadcast (&c->cond);
}

/* Under c->lock: the store is about to get E's content as it is now
 * (an upload, a delete, or journal records of CAP's sectors): take what
 * was unsaved into CAP.
 */
void
centry_capture_locked (struct centry *e, struct capture *cap)
{
  cap->unsaved = e->unsaved;
  cap->since = e->unsaved_since;
  memcpy (cap->map, e->unsaved_map, sizeof cap->map);
  if (e->unsaved) {
    e->saving = true;
    e->saving_since = e->unsaved_since;
  }
  e->unsaved = false;
  memset (e->unsaved_map, 0, sizeof e->unsaved_map);
}

/* Under c->lock: that failed; what it took is unsaved again, with what
 * was written meanwhile.
 */
void
centry_uncapture_locked (struct centry *e, const struct capture *cap)
{
  size_t i;

  if (!cap->unsaved)
    return;
  e->saving = false;
  if (!e->unsaved || cap->since < e->unsaved_since)
    e->unsaved_since = cap->since;
  e->unsaved = true;
  for (i = 0; i < 4; i++)
    e->unsaved_map[i] |= cap->map[i];
}

/* Under c->lock: the store holds E's chunk object (or its absence) as
 * of sequence SEQ: the capture is done, and journal records up to SEQ
 * are no longer needed for it.
 */
void
centry_saved_locked (struct centry *e, uint64_t seq)
{
  e->saving = false;
  if (e->journal_first && seq >= e->journal_seq)
    e->journal_first = 0;
}

/* Under c->lock: E changed at E->seq. */
static void
set_unsaved_locked (struct centry *e)
{
  if (!e->unsaved) {
    e->unsaved = true;
    e->unsaved_since = e->seq;
  }
  e->dev->last_write = zcache_now ();
}

bool
centry_full (const struct centry *e)
{
  uint32_t i, n = chunk_sectors (e);

  if (e->slot == ZSLOT_NONE)
    return false;
  for (i = 0; i < n; i++)
    if (!bit_test (e->bitmap, i))
      return false;
  return true;
}

/* Is any sector of E's slot valid? */
static bool
range_valid_any (const struct centry *e)
{
  return e->slot != ZSLOT_NONE &&
    (e->bitmap[0] | e->bitmap[1] | e->bitmap[2] | e->bitmap[3]) != 0;
}

static bool
range_valid (const struct centry *e, uint32_t first, uint32_t last)
{
  uint32_t i;

  if (e->slot == ZSLOT_NONE)
    return false;
  for (i = first; i <= last; i++)
    if (!bit_test (e->bitmap, i))
      return false;
  return true;
}

/* Take up to ZEVICT_BATCH clean slots nobody is using (clock order).
 * Their slots go to the pending list: reusable once the commit that
 * records the detachment is durable.  Under c->lock.
 */
static uint32_t
evict_some (struct zcache *c, uint64_t *swept)
{
  uint64_t steps, max_steps = (uint64_t) 2 * c->nslots;
  uint32_t evicted = 0, s;
  struct centry *e;

  if (max_steps > ZEVICT_SCAN_MAX)
    max_steps = ZEVICT_SCAN_MAX;
  *swept += max_steps;
  for (steps = 0; steps < max_steps && evicted < ZEVICT_BATCH; steps++) {
    s = c->clock_hand;
    c->clock_hand = (c->clock_hand + 1) % c->nslots;
    e = c->slot_owner[s];
    if (e == NULL || e->dirty || e->busy || e->users > 0)
      continue;
    if (e->referenced) {
      e->referenced = false;
      continue;
    }
    ra_copy_drop_locked (c, e);     /* nobody uses it */
    c->slot_owner[s] = NULL;
    c->pending_slots[c->npending++] = s;
    e->slot = ZSLOT_NONE;
    memset (e->bitmap, 0, sizeof e->bitmap);
    e->base_remote = e->remote;
    centry_index_touch (c, e);
    evicted++;
    c->stats.evictions++;
  }
  if (evicted && zerofs_debug_cache)
    zdebug ("cache: evicted %u clean chunks", evicted);
  return evicted;
}

/* Give E (stripe held for writing, referenced) a slot.  -1 with errno
 * EAGAIN when every slot is dirty or in use: the caller drops its locks,
 * waits (zcache_wait_for_space) and tries again.
 */
static int
slot_attach (struct zcache *c, struct centry *e)
{
  uint64_t swept = 0;
  uint32_t s;

  pthread_mutex_lock (&c->lock);
  for (;;) {
    if (c->nfree > 0) {
      s = c->free_slots[--c->nfree];
      c->slot_owner[s] = e;
      e->slot = s;
      memset (e->bitmap, 0, sizeof e->bitmap);
      pthread_mutex_unlock (&c->lock);
      return 0;
    }
    if (c->npending == 0)
      evict_some (c, &swept);
    if (c->npending == 0) {
      pthread_mutex_unlock (&c->lock);
      /* Not a whole sweep yet (two turns of the clock): go on, letting
       * other threads at c->lock in between.
       */
      if (swept < (uint64_t) 2 * c->nslots) {
        pthread_mutex_lock (&c->lock);
        continue;
      }
      errno = EAGAIN;
      return -1;
    }
    pthread_mutex_unlock (&c->lock);
    if (zcache_commit (c) == -1)
      return -1;
    pthread_mutex_lock (&c->lock);
  }
}

/* Under E's stripe (for writing): detach its slot, if any. */
static void
slot_detach_locked (struct zcache *c, struct centry *e)
{
  if (e->slot == ZSLOT_NONE)
    return;
  ra_copy_drop_locked (c, e);
  c->slot_owner[e->slot] = NULL;
  c->pending_slots[c->npending++] = e->slot;
  e->slot = ZSLOT_NONE;
}

/* GET and decode E's object into INTO (the chunk's length), or when
 * INTO is NULL into a malloc'd buffer of ZCHUNK_SIZE; *PLAIN gets the
 * one it used.  GEN and STORED_SEQ are E's base_gen and stored_seq from
 * before the GET (it runs with no lock held).  An object that is gone, or older
 * than this cache last wrote, is an error only if E still needs that
 * same object: if an upload, a delete or a trim came in meanwhile
 * (base_gen moved) this returns 0 with *PLAIN NULL, and the caller
 * looks at E again.  An object that is gone while E only guessed it
 * might exist (maybe: survey.c) is an answer: 0 with *ABSENT set.
 */
static int
centry_fetch (struct zcache *c, struct centry *e, uint32_t gen,
              uint64_t stored_seq, void *into, void **plain, bool *absent)
{
  struct cache_device *d = e->dev;
  char key[OBJSTORE_KEY_MAX];
  CLEANUP_FREE void *obj = NULL;
  CLEANUP_FREE void *buf = NULL;
  void *dst = into;
  uint64_t seq;
  size_t objlen;
  bool changed, ahead;

  *plain = NULL;
  zkey_chunk (key, d->name, e->index);
  if (objstore_get (c->store, key, &obj, &objlen) == -1) {
    if (errno != ENOENT)
      return -1;
    pthread_mutex_lock (&c->lock);
    changed = e->base_gen != gen || !e->base_remote;
    *absent = e->maybe;
    pthread_mutex_unlock (&c->lock);
    if (changed || *absent)
      return 0;
    /* The store is not what the index expected (the object was
     * deleted behind our back, or the store lost it).  Only this chunk
     * suffers: the sectors that must come from the object fail, and so
     * do flushes that need them, until the chunk is written whole or
     * trimmed, or the object comes back.
     */
    zerror ("chunk object %s is missing from the store, but the cache "
            "needs it for the parts of chunk %" PRIu64 " of %s not "
            "written since (bytes %" PRIu64 "-%" PRIu64 " of the "
            "device): reads of them and flushes fail until that range "
            "is written whole or trimmed, or the object is restored",
            key, e->index, d->name, e->index * ZCHUNK_SIZE,
            e->index * ZCHUNK_SIZE +
            cache_device_chunk_len (d, e->index) - 1);
    errno = EIO;
    return -1;
  }
  if (dst == NULL && (dst = buf = malloc (ZCHUNK_SIZE)) == NULL) {
    zerror ("malloc: %m");
    return -1;
  }
  if (zchunk_decode (&d->codec, e->index, obj, objlen, dst,
                     cache_device_chunk_len (d, e->index), &seq, key) == -1) {
    errno = EIO;
    return -1;
  }
  pthread_mutex_lock (&c->lock);
  c->stats.gets++;
  changed = e->base_gen != gen;
  /* An object written by another server (or before a cache was lost)
   * may carry a sequence ahead of this device's: later changes must
   * have larger ones, or a journal replay would take them for older.
   */
  ahead = seq >= d->seq;
  if (ahead) {
    d->seq = seq;
    zcache_next_seq (d);
  }
  if (!changed && seq > e->stored_seq)
    e->stored_seq = seq;
  if (!changed && e->maybe) {
    /* The guess was right; the next commit records it (survey.c). */
    centry_resolved_locked (e);
    centry_index_touch (c, e);
  }
  else if (!changed)
    survey_note_locked (d, e->index);
  pthread_mutex_unlock (&c->lock);
  /* Sequences are used only once reserved (cache.c rule 5). */
  if (ahead && zcache_commit (c) == -1)
    return -1;
  if (changed)
    return 0;                   /* an upload meanwhile: look again */
  if (seq < stored_seq) {
    /* Genuine, but older than what this cache put there: returning it
     * would silently undo acknowledged writes.
     */
    zerror ("chunk object %s holds write sequence %" PRIu64 ", older than "
            "the %" PRIu64 " this cache last wrote there: the store "
            "returned an old version of it (a rollback, or a stale "
            "replica); refusing it", key, seq, stored_seq);
    errno = EIO;
    return -1;
  }
  *plain = dst;
  buf = NULL;                   /* the caller's now, if it was ours */
  return 0;
}

/* Write PLAIN's sectors into E's slot wherever the slot is not valid and
 * mark the whole chunk valid.  Stripe held for writing; attaches a slot
 * if needed (which can fail with EAGAIN).
 */
static int
centry_install (struct zcache *c, struct centry *e, const void *plain)
{
  uint32_t n = chunk_sectors (e), i, run;
  const uint8_t *p = plain;

  if (e->slot == ZSLOT_NONE && slot_attach (c, e) == -1)
    return -1;
  for (i = 0; i < n; i += run) {
    run = 1;
    if (bit_test (e->bitmap, i))
      continue;
    while (i + run < n && !bit_test (e->bitmap, i + run))
      run++;
    if (zslots_write (c->slots, e->slot, i * ZSECTOR_SIZE,
                      run * ZSECTOR_SIZE, p + (size_t) i * ZSECTOR_SIZE) == -1)
      return -1;
  }
  pthread_mutex_lock (&c->lock);
  for (i = 0; i < n; i++)
    bit_set (e->bitmap, i);
  centry_index_touch (c, e);
  pthread_mutex_unlock (&c->lock);
  return 0;
}

/* Content of sectors FIRST .. FIRST+NSEC-1 into DST: valid sectors from
 * the slot, the others from PLAIN (the store's copy; it may be DST
 * itself, when FIRST is 0) or, when PLAIN is NULL, zeros (the caller
 * has checked that base_remote is off or that they are all valid).
 * Stripe held (either way).
 */
int
centry_read_sectors (struct zcache *c, struct centry *e,
                     uint32_t first, uint32_t nsec,
                     const void *plain, void *dst)
{
  uint8_t *out = dst;
  const uint8_t *p = plain;
  uint32_t i, run;
  bool valid;

  for (i = first; i < first + nsec; i += run) {
    valid = e->slot != ZSLOT_NONE && bit_test (e->bitmap, i);
    run = 1;
    while (i + run < first + nsec &&
           (e->slot != ZSLOT_NONE && bit_test (e->bitmap, i + run)) == valid)
      run++;
    if (valid) {
      if (zslots_read (c->slots, e->slot, i * ZSECTOR_SIZE,
                       run * ZSECTOR_SIZE,
                       out + (size_t) (i - first) * ZSECTOR_SIZE) == -1)
        return -1;
    }
    else if (p) {
      if (out + (size_t) (i - first) * ZSECTOR_SIZE !=
          p + (size_t) i * ZSECTOR_SIZE) /* not already there */
        memcpy (out + (size_t) (i - first) * ZSECTOR_SIZE,
                p + (size_t) i * ZSECTOR_SIZE, (size_t) run * ZSECTOR_SIZE);
    }
    else
      memset (out + (size_t) (i - first) * ZSECTOR_SIZE, 0,
              (size_t) run * ZSECTOR_SIZE);
  }
  return 0;
}

/* Sector-aligned bounce buffer for unaligned requests. */
static void *
bounce_alloc (uint32_t nsec)
{
  void *p = malloc ((size_t) nsec * ZSECTOR_SIZE);

  if (p == NULL)
    zerror ("malloc: %m");
  return p;
}

static int read_locked (struct zcache *c, struct centry *e, uint32_t offset,
                        uint32_t len, void *buf, const void *plain);

/* Under E's stripe (for writing), before the copy PLAIN is installed:
 * answer the reads waiting for it and SERVE (may be NULL) from it, with
 * what they would read from the slot right after the install (the
 * slot's valid sectors, PLAIN's elsewhere).
 */
static void
serve_from_copy (struct zcache *c, struct centry *e, const void *plain,
                 struct fetch_serve *serve)
{
  struct fetch_serve *w;

  pthread_mutex_lock (&c->lock);
  w = e->serving;
  e->serving = NULL;
  pthread_mutex_unlock (&c->lock);
  /* They wait until e->fetching is off: W stays valid. */
  for (; w; w = w->next)
    w->result = read_locked (c, e, w->offset, w->len, w->buf, plain);
  if (serve)
    serve->result = read_locked (c, e, serve->offset, serve->len,
                                 serve->buf, plain);
}

/* Bring in the store's copy of E (referenced; no lock held): at most
 * one GET per entry at a time, and never under a lock that cached I/O
 * needs.  If another thread is fetching E already, wait for it and
 * return 0 with *PLAIN NULL: the caller looks at E again.  Otherwise GET
 * and decode with no lock held, then take the stripe for writing just
 * long enough to install the sectors that are still invalid (a write
 * that came in meanwhile wins; a trim meanwhile makes the copy
 * irrelevant).  *PLAIN keeps the decoded chunk, so that the caller can
 * serve from it even when it could not be installed (no free slot, or
 * the cache disk failed), for as long as it holds its reference on E:
 * without one, E may be evicted and its sectors come to need a newer
 * object than this copy.
 *
 * A read (SERVE, not NULL) is answered here, from the decoded copy,
 * rather than by reading the slot afterwards (struct fetch_serve): the
 * one that fetches, just before the install, and those that find the
 * GET under way, which wait for it on E's serving list.  SERVE->result
 * says whether it was (1: not, and the caller looks at E again: the
 * GET failed, found nothing, or lost a race with an upload or trim).
 * A read of the whole chunk has the copy decoded straight into its
 * buffer (then *PLAIN stays NULL).
 */
int
centry_fetch_shared (struct zcache *c, struct centry *e, void **plain,
                     struct fetch_serve *serve, struct fetch_into *scratch)
{
  pthread_rwlock_t *stripe = centry_stripe (c, e->dev, e->index);
  void *copy = NULL, *into = scratch ? scratch->buf : NULL;
  uint64_t stored_seq;
  uint32_t gen;
  bool absent = false, whole;
  int r;

  if (scratch)
    scratch->whole = false;

  free (*plain);
  *plain = NULL;
  if (serve)
    serve->result = 1;
  pthread_mutex_lock (&c->lock);
  if (e->fetching) {
    if (serve) {
      serve->next = e->serving;
      e->serving = serve;
    }
    while (e->fetching)
      pthread_cond_wait (&c->cond, &c->lock);
    pthread_mutex_unlock (&c->lock);
    return 0;
  }
  e->fetching = true;
  gen = e->base_gen;
  stored_seq = e->stored_seq;
  pthread_mutex_unlock (&c->lock);

  if (serve && serve->offset == 0 &&
      serve->len == cache_device_chunk_len (e->dev, e->index))
    into = serve->buf;
  r = centry_fetch (c, e, gen, stored_seq, into, &copy, &absent);
  if (r == 0 && copy && copy != into)
    *plain = copy;
  if (r == 0 && absent) {
    /* No object: E's sectors from the store are zeros, remembered (and
     * recorded) so that the next read asks nothing.  An upload under
     * way will make the object exist: then remote stays, as rule 7
     * (cache.c) wants it before the PUT.
     */
    pthread_rwlock_wrlock (stripe);
    pthread_mutex_lock (&c->lock);
    if (e->base_gen == gen && e->maybe && e->base_remote) {
      e->base_remote = false;
      if (!e->busy)
        e->remote = false;
      e->base_gen++;
      centry_resolved_locked (e);
      centry_index_touch (c, e);
    }
    pthread_mutex_unlock (&c->lock);
    pthread_rwlock_unlock (stripe);
  }
  if (r == 0 && copy) {
    pthread_rwlock_wrlock (stripe);
    /* Answered first: installing reads nothing back (the reads of a
     * whole chunk changed in COPY only sectors the install skips).
     */
    if (e->base_remote)
      serve_from_copy (c, e, copy, serve);
    whole = e->base_remote && !range_valid_any (e);
    if (e->base_remote && centry_install (c, e, copy) == -1) {
      whole = false;
      if (errno != EAGAIN)
        zerror ("cache: chunk %" PRIu64 " of %s could not be kept in the "
                "cache (served from the fetched copy): %m",
                e->index, e->dev->name);
    }
    /* A clean entry's sequence is its object's: now it is known, and the
     * index keeps it (journal.c needs it to journal the chunk).
     */
    pthread_mutex_lock (&c->lock);
    if (!e->dirty && e->seq < e->stored_seq) {
      e->seq = e->stored_seq;
      centry_index_touch (c, e);
    }
    if (scratch && whole && copy == scratch->buf) {
      scratch->whole = true;
      scratch->seq = e->seq;
    }
    pthread_mutex_unlock (&c->lock);
    pthread_rwlock_unlock (stripe);
  }

  pthread_mutex_lock (&c->lock);
  e->serving = NULL;            /* those not answered look again */
  e->fetching = false;
  if (r == 0 && copy)
    e->fetched = true;
  pthread_cond_broadcast (&c->cond);
  pthread_mutex_unlock (&c->lock);
  return r;
}

/* Do sectors FIRST..LAST of E need the store's copy?  Stripe held. */
static bool
needs_base (const struct centry *e, uint32_t first, uint32_t last)
{
  return e->base_remote && !range_valid (e, first, last);
}

/* zcache_read with a reference on E and its stripe held (either way).
 * PLAIN is the store's copy when the caller fetched it (or NULL); 1 when
 * the range needs the store's copy and PLAIN is NULL.
 */
static int
read_locked (struct zcache *c, struct centry *e,
             uint32_t offset, uint32_t len, void *buf, const void *plain)
{
  uint32_t first = offset / ZSECTOR_SIZE;
  uint32_t last = (offset + len - 1) / ZSECTOR_SIZE;
  uint32_t nsec = last - first + 1;
  CLEANUP_FREE void *bounce = NULL;

  /* A readahead copy is the slot's plaintext: no read, no decryption. */
  if (e->ra_copy) {
    memcpy (buf, (const uint8_t *) e->ra_copy + offset, len);
    return 0;
  }
  if (!needs_base (e, first, last))
    plain = NULL;
  else if (plain == NULL)
    return 1;
  if (offset % ZSECTOR_SIZE == 0 && len % ZSECTOR_SIZE == 0)
    return centry_read_sectors (c, e, first, nsec, plain, buf);
  bounce = bounce_alloc (nsec);
  if (bounce == NULL ||
      centry_read_sectors (c, e, first, nsec, plain, bounce) == -1)
    return -1;
  memcpy (buf, (uint8_t *) bounce + offset % ZSECTOR_SIZE, len);
  return 0;
}

int
zcache_read (struct cache_device *d, uint64_t index,
             uint32_t offset, uint32_t len, void *buf)
{
  struct zcache *c = d->c;
  pthread_rwlock_t *stripe = centry_stripe (c, d, index);
  CLEANUP_FREE void *plain = NULL;
  struct centry *e;
  int r;

  if (len == 0)
    return 0;
  e = centry_get (c, d, index);
  if (e == NULL)
    return -1;

  /* Sectors that must come from the store are fetched with no lock
   * held, and the read answered from the fetched copy
   * (centry_fetch_shared); when it could not be, look again: another
   * thread may have filled them, or written over them, meanwhile.
   */
  for (;;) {
    struct fetch_serve serve = { .offset = offset, .len = len, .buf = buf };

    pthread_rwlock_rdlock (stripe);
    r = read_locked (c, e, offset, len, buf, plain);
    pthread_rwlock_unlock (stripe);
    if (r != 1)
      break;
    if (centry_fetch_shared (c, e, &plain, &serve, NULL) == -1) {
      r = -1;
      break;
    }
    if (serve.result != 1) {
      r = serve.result;
      break;
    }
  }
  pthread_mutex_lock (&c->lock);
  e->referenced = true;
  /* The reader is done with the chunk's readahead copy when it has read
   * its end (and may drop it when nobody else uses the entry).
   */
  if (e->ra_copy && e->users == 1 &&
      offset + len == cache_device_chunk_len (d, index))
    ra_copy_drop_locked (c, e);
  if (r == 0 && e->fetched)
    d->stats.misses++;
  else if (r == 0)
    d->stats.hits++;
  e->fetched = false;
  centry_put_locked (c, e);
  pthread_mutex_unlock (&c->lock);
  return r;
}

/* Writers wait while too much is dirty: the write-back thread must catch
 * up first.  This bounds dirty slots and pending deletes alike.  A
 * writer waits as long as the write-back makes progress; if the store
 * takes nothing for retry-time (or, with retry-time=0, which retries
 * nothing, for timeout) the wait ends with EIO, like any request the
 * store cannot serve.  *WAIT (zeroed at first) remembers since when
 * this request has seen no progress.
 */
struct space_wait {
  time_t since;
  uint64_t progress;
};

/* Under c->lock. */
static int
space_deadline_passed (struct zcache *c, struct space_wait *w)
{
  time_t now = zcache_now ();
  uint64_t progress = c->stats.uploads + c->stats.deletes;
  unsigned limit = c->conf->retry_time ? c->conf->retry_time
    : c->conf->timeout ? c->conf->timeout : 1;

  if (w->since == 0 || progress != w->progress) {
    w->since = now;
    w->progress = progress;
  }
  if (now - w->since > (time_t) limit) {
    zerror ("the cache is full of data not yet written to the store, and "
            "the store has not taken any for %u seconds (%s)",
            limit, c->conf->retry_time ? "retry-time" : "timeout");
    errno = EIO;
    return 1;
  }
  return 0;
}

/* Wait while too much is dirty, then centry_get: one hold of c->lock
 * for both, as every write and discard starts so.  NULL on failure.
 */
static struct centry *
throttle_get (struct zcache *c, struct space_wait *space,
              struct cache_device *d, uint64_t index)
{
  LOCK_FOR_SCOPE (&c->lock);

  while (cache_ndirty (c) >= cache_dirty_limit (c) && !c->stop) {
    if (space_deadline_passed (c, space))
      return NULL;
    zcache_wait_for_space_locked (c);
  }
  return centry_get_locked (c, d, index);
}

/* A write found no slot to attach (EAGAIN): wait for one, or fail once
 * *SPACE says it has waited too long.
 */
static int
wait_for_slot (struct zcache *c, struct space_wait *space)
{
  LOCK_FOR_SCOPE (&c->lock);

  if (space_deadline_passed (c, space))
    return -1;
  zcache_wait_for_space_locked (c);
  return 0;
}

static const uint8_t zero_sectors[16 * ZSECTOR_SIZE];

static int
write_zero_sectors (struct zcache *c, uint32_t slot, uint32_t first,
                    uint32_t nsec)
{
  uint32_t done, piece, max = sizeof zero_sectors / ZSECTOR_SIZE;

  for (done = 0; done < nsec; done += piece) {
    piece = nsec - done < max ? nsec - done : max;
    if (zslots_write (c->slots, slot, (first + done) * ZSECTOR_SIZE,
                      piece * ZSECTOR_SIZE, zero_sectors) == -1)
      return -1;
  }
  return 0;
}

/* Do the edge sectors of an unaligned write need the store's copy? */
static bool
edges_need_base (const struct centry *e, uint32_t offset, uint32_t len)
{
  uint32_t first = offset / ZSECTOR_SIZE;
  uint32_t last = (offset + len - 1) / ZSECTOR_SIZE;

  return (offset % ZSECTOR_SIZE != 0 && needs_base (e, first, first)) ||
    ((offset + len) % ZSECTOR_SIZE != 0 && needs_base (e, last, last));
}

/* Read-modify-write of the edge sectors of an unaligned write (BUF NULL:
 * zeros).  E has a slot; stripe held for writing; PLAIN is the store's
 * copy if the edges need it (the caller fetched it).
 */
static int
write_unaligned (struct zcache *c, struct centry *e,
                 uint32_t offset, uint32_t len, const void *buf,
                 const void *plain)
{
  uint32_t first = offset / ZSECTOR_SIZE;
  uint32_t last = (offset + len - 1) / ZSECTOR_SIZE;
  uint32_t nsec = last - first + 1;
  bool head = offset % ZSECTOR_SIZE != 0;
  bool tail = (offset + len) % ZSECTOR_SIZE != 0;
  CLEANUP_FREE void *bounce = NULL;

  if (!e->base_remote)
    plain = NULL;
  bounce = bounce_alloc (nsec);
  if (bounce == NULL)
    return -1;
  if (head && centry_read_sectors (c, e, first, 1, plain, bounce) == -1)
    return -1;
  if (tail && (nsec > 1 || !head) &&
      centry_read_sectors (c, e, last, 1, plain,
                           (uint8_t *) bounce +
                           (size_t) (nsec - 1) * ZSECTOR_SIZE) == -1)
    return -1;
  if (buf)
    memcpy ((uint8_t *) bounce + offset % ZSECTOR_SIZE, buf, len);
  else
    memset ((uint8_t *) bounce + offset % ZSECTOR_SIZE, 0, len);
  return zslots_write (c->slots, e->slot, first * ZSECTOR_SIZE,
                       nsec * ZSECTOR_SIZE, bounce);
}

/* zcache_write with a reference on E and its stripe held for writing.
 * 1 (errno EAGAIN) when no slot could be had: the caller drops its
 * locks, waits for space and tries again.  2 when the edges of an
 * unaligned write need the store's copy and PLAIN is NULL: the caller
 * drops its locks, fetches it and tries again.  0 when written: then
 * *PUT says whether the reference was given back already (with the
 * change, under the same hold of c->lock; E is dirty then, so it stays).
 */
static int
write_locked (struct zcache *c, struct centry *e,
              uint32_t offset, uint32_t len, const void *buf,
              const void *plain, uint64_t seq, bool *put)
{
  bool unaligned =
    offset % ZSECTOR_SIZE != 0 || (offset + len) % ZSECTOR_SIZE != 0;
  uint32_t first = offset / ZSECTOR_SIZE;
  uint32_t last = (offset + len - 1) / ZSECTOR_SIZE;
  uint32_t nsec = last - first + 1, i;
  bool was_rewritten;
  int r;

  /* Zeros over a chunk that is known zeros (absent or trimmed): nothing
   * to write, nothing to upload.
   */
  if (buf == NULL && e->slot == ZSLOT_NONE && !e->base_remote)
    return 0;
  if (unaligned && plain == NULL && edges_need_base (e, offset, len))
    return 2;
  if (e->slot == ZSLOT_NONE && slot_attach (c, e) == -1)
    return errno == EAGAIN ? 1 : -1;
  if (e->ra_copy) {
    pthread_mutex_lock (&c->lock);
    ra_copy_drop_locked (c, e);
    pthread_mutex_unlock (&c->lock);
  }

  if (unaligned)
    r = write_unaligned (c, e, offset, len, buf, plain);
  else if (buf)
    r = zslots_write (c->slots, e->slot, offset, len, buf);
  else
    r = write_zero_sectors (c, e->slot, first, nsec);
  if (r == -1)
    return -1;

  pthread_mutex_lock (&c->lock);
  was_rewritten = centry_rewritten (e);
  for (i = first; i <= last; i++) {
    bit_set (e->bitmap, i);
    bit_set (e->unsaved_map, i);
  }
  e->seq = seq ? seq : zcache_next_seq (e->dev);
  set_unsaved_locked (e);
  centry_set_dirty (c, e);
  centry_index_touch (c, e);
  e->referenced = true;
  writeback_note_write_locked (c, e, was_rewritten);
  centry_put_locked (c, e);
  *put = true;
  pthread_mutex_unlock (&c->lock);
  return 0;
}

int
zcache_write (struct cache_device *d, uint64_t index,
              uint32_t offset, uint32_t len, const void *buf)
{
  if (cache_device_writable (d) == -1)
    return -1;
  return centry_write (d, index, offset, len, buf, 0);
}

int
centry_write (struct cache_device *d, uint64_t index,
              uint32_t offset, uint32_t len, const void *buf, uint64_t seq)
{
  struct zcache *c = d->c;
  pthread_rwlock_t *stripe = centry_stripe (c, d, index);
  CLEANUP_FREE void *plain = NULL;
  struct space_wait space = { 0 };
  struct centry *e;
  bool put = false;
  int r;

  if (len == 0)
    return 0;
  for (;;) {
    e = throttle_get (c, &space, d, index);
    if (e == NULL)
      return -1;
    for (;;) {
      pthread_rwlock_wrlock (stripe);
      r = write_locked (c, e, offset, len, buf, plain, seq, &put);
      pthread_rwlock_unlock (stripe);
      if (r != 2)
        break;
      /* The edges need the store's copy: fetch it with no lock held,
       * keeping the reference so that it stays E's copy.
       */
      if (centry_fetch_shared (c, e, &plain, NULL, NULL) == -1) {
        r = -1;
        break;
      }
    }
    if (!put)
      centry_put (c, e);
    /* Without the reference the copy may no longer be E's. */
    free (plain);
    plain = NULL;
    if (r != 1)
      return r;
    if (wait_for_slot (c, &space) == -1)
      return -1;
  }
}

int
zcache_discard (struct cache_device *d, uint64_t index)
{
  if (cache_device_writable (d) == -1)
    return -1;
  return centry_discard (d, index, 0);
}

int
centry_discard (struct cache_device *d, uint64_t index, uint64_t seq)
{
  struct zcache *c = d->c;
  pthread_rwlock_t *stripe = centry_stripe (c, d, index);
  struct space_wait space = { 0 };
  struct centry *e;

  e = throttle_get (c, &space, d, index);
  if (e == NULL)
    return -1;
  WRLOCK_FOR_SCOPE (stripe);
  LOCK_FOR_SCOPE (&c->lock);
  /* Already known zeros with nothing in the store and nothing pending:
   * nothing to do (and nothing to remember: trimming a huge empty range
   * must not fill memory).
   */
  if (!(e->slot == ZSLOT_NONE && !e->base_remote && !e->remote &&
        !e->dirty && !e->busy)) {
    slot_detach_locked (c, e);
    memset (e->bitmap, 0, sizeof e->bitmap);
    e->base_remote = false;
    e->base_gen++;
    e->seq = seq ? seq : zcache_next_seq (d);
    /* The whole chunk changed (to zeros): a journal record of some of
     * its sectors would not say so.
     */
    memset (e->unsaved_map, 0xff, sizeof e->unsaved_map);
    if (e->remote || e->busy || d->journal.len > 0) {
      /* A busy entry's upload may be creating an object right now: stay
       * dirty so that it is deleted afterwards.  And while the device
       * has journal objects, some may hold records of this chunk: the
       * trim must reach the journal too (journal.c), or a replay would
       * bring them back.
       */
      set_unsaved_locked (e);
      centry_set_dirty (c, e);
    }
    else {
      e->unsaved = false;
      memset (e->unsaved_map, 0, sizeof e->unsaved_map);
      centry_clear_dirty (c, e);
    }
    centry_index_touch (c, e);
  }
  centry_put_locked (c, e);
  return 0;
}

int
zcache_prefetch (struct cache_device *d, uint64_t index)
{
  struct zcache *c = d->c;
  pthread_rwlock_t *stripe = centry_stripe (c, d, index);
  CLEANUP_FREE void *plain = NULL;
  struct centry *e;
  int ret = 0;

  bool wanted;

  e = centry_get (c, d, index);
  if (e == NULL)
    return -1;
  /* No free slot: a prefetch is only a hint, so that is not an error. */
  pthread_rwlock_rdlock (stripe);
  wanted = e->base_remote && !centry_full (e);
  pthread_rwlock_unlock (stripe);
  if (wanted && centry_fetch_shared (c, e, &plain, NULL, NULL) == -1)
    ret = -1;
  centry_put (c, e);
  return ret;
}

/* zcache_prefetch_range: workers that take the next chunk of the range
 * and prefetch it, until none is left.
 */
struct prefetch_batch {
  struct cache_device *d;
  uint64_t next, last;          /* under lock */
  unsigned failed;              /* under lock */
  pthread_mutex_t lock;
};

static void *
prefetch_worker (void *arg)
{
  struct prefetch_batch *b = arg;
  uint64_t index;

  for (;;) {
    pthread_mutex_lock (&b->lock);
    if (b->next > b->last) {
      pthread_mutex_unlock (&b->lock);
      return NULL;
    }
    index = b->next++;
    pthread_mutex_unlock (&b->lock);
    if (zcache_prefetch (b->d, index) == -1) {
      pthread_mutex_lock (&b->lock);
      b->failed++;
      pthread_mutex_unlock (&b->lock);
    }
  }
}

/* How many chunks of FIRST..LAST may need a GET (all but those known
 * not to: whole in a slot, or with nothing in the store); *FIRST_COLD
 * gets the first of them.
 */
static uint64_t
cold_chunks (struct cache_device *d, uint64_t first, uint64_t last,
             uint64_t *first_cold)
{
  struct zcache *c = d->c;
  struct centry *e;
  uint64_t i, n = 0;
  LOCK_FOR_SCOPE (&c->lock);

  for (i = first; i <= last; i++) {
    e = centry_find (c, d, i);
    if (e && !(e->base_remote && !centry_full (e)))
      continue;                 /* nothing of it comes from the store */
    if (n++ == 0)
      *first_cold = i;
  }
  return n;
}

int
zcache_prefetch_range (struct cache_device *d, uint64_t first, uint64_t last)
{
  struct prefetch_batch b = { .d = d, .next = first, .last = last };
  pthread_t threads[ZPREFETCH_THREADS];
  uint64_t n = last - first + 1;
  unsigned i, nthreads = 0, want;

  if (n == 1)
    return zcache_prefetch (d, first);
  /* Warm reads must not pay for threads: if at most one chunk of the
   * range may need a GET (not whole in the cache), fetch it here.
   */
  n = cold_chunks (d, first, last, &b.next);
  if (n == 0)
    return 0;
  if (n == 1)
    return zcache_prefetch (d, b.next);
  want = n < d->c->upload_threads ? n : d->c->upload_threads;
  if (want > ZPREFETCH_THREADS)
    want = ZPREFETCH_THREADS;
  pthread_mutex_init (&b.lock, NULL);
  /* This thread is a worker too: a failure to start others only makes
   * it slower.
   */
  for (i = 0; i + 1 < want; i++) {
    if (pthread_create (&threads[i], NULL, prefetch_worker, &b) != 0)
      break;
    nthreads++;
  }
  prefetch_worker (&b);
  for (i = 0; i < nthreads; i++)
    pthread_join (threads[i], NULL);
  pthread_mutex_destroy (&b.lock);
  if (b.failed) {
    errno = EIO;
    return -1;
  }
  return 0;
}

static bool
centry_allocated (const struct centry *e)
{
  return e->base_remote || e->slot != ZSLOT_NONE;
}

/* Which chunks of FIRST..LAST may hold data: the device's entries in
 * memory, and the index's records in the range (one cursor walk), which
 * the entries override.  The entries first, under c->lock; then the
 * records, with no lock (a BLOCK_STATUS of a large range must not stop
 * all I/O while it walks the index).  That order is never behind: an
 * entry leaves memory only after the commit that wrote its record, so a
 * chunk that was not in memory at the first step has its record, as
 * new or newer, in the second.
 */
static int
index_push (index_vector *v, uint64_t index)
{
  if (index_vector_append (v, index) == -1) {
    zerror ("realloc: %m");
    return -1;
  }
  return 0;
}

static int
alloc_record (void *opaque, uint64_t index, const struct zindex_chunk *rec)
{
  index_vector *v = opaque;

  return index_push (v, index);
}

static int
compare_u64 (const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

  return x < y ? -1 : x > y;
}

/* Under c->lock: D's records in FIRST..LAST, the indexes of its entries
 * in memory there, and of those the ones that are allocated.
 */
static int
collect_allocated (struct zcache *c, struct cache_device *d,
                   uint64_t first, uint64_t last, index_vector *records,
                   index_vector *memory, index_vector *memory_alloc)
{
  struct centry *e;

  pthread_mutex_lock (&c->lock);
  for (e = d->entries; e; e = e->vnext)
    if (e->index >= first && e->index <= last) {
      if (index_push (memory, e->index) == -1 ||
          (centry_allocated (e) &&
           index_push (memory_alloc, e->index) == -1)) {
        pthread_mutex_unlock (&c->lock);
        return -1;
      }
    }
  pthread_mutex_unlock (&c->lock);
  return zindex_foreach_chunk_in (c->ix, d->uuid, first, last, alloc_record,
                                  records);
}

int
zcache_allocated_chunks (struct cache_device *d, uint64_t first, uint64_t last,
                         uint64_t **indexes, size_t *n, uint64_t *known_last)
{
  CLEANUP_VECTOR (index_vector) index_vector records = EMPTY_VECTOR;
  CLEANUP_VECTOR (index_vector) index_vector memory = EMPTY_VECTOR;
  CLEANUP_VECTOR (index_vector) index_vector memory_alloc = EMPTY_VECTOR;
  CLEANUP_VECTOR (index_vector) index_vector result = EMPTY_VECTOR;
  size_t i, j, k;
  bool surveying;

  /* While the survey runs, the store's listing of the range first (see
   * survey_list_range), then what this cache knows, as below.  If it
   * cannot be listed, any chunk may hold data.
   */
  *known_last = last;
  pthread_mutex_lock (&d->c->lock);
  surveying = d->surveying;
  pthread_mutex_unlock (&d->c->lock);
  if (surveying &&
      survey_list_range (d, first, last, &result, known_last) == -1) {
    zdebug ("cache: %s: block status: the range could not be listed, so "
            "every chunk of it is reported as data", d->name);
    index_vector_reset (&result);
    for (i = first; i <= last; i++)
      if (index_push (&result, i) == -1)
        return -1;
    *n = result.len;
    *indexes = index_vector_release (&result);
    return 0;
  }
  last = *known_last;
  if (collect_allocated (d->c, d, first, last, &records, &memory,
                         &memory_alloc) == -1)
    return -1;

  /* Records not overridden by an entry, plus allocated entries. */
  index_vector_sort (&memory, compare_u64);
  for (i = 0, j = 0; i < records.len; i++) {
    while (j < memory.len && memory.items[j] < records.items[i])
      j++;
    if (j < memory.len && memory.items[j] == records.items[i])
      continue;
    if (index_push (&result, records.items[i]) == -1)
      return -1;
  }
  for (k = 0; k < memory_alloc.len; k++)
    if (index_push (&result, memory_alloc.items[k]) == -1)
      return -1;
  index_vector_sort (&result, compare_u64);
  /* A chunk both listed and known appears once. */
  for (i = 0, j = 0; i < result.len; i++)
    if (j == 0 || result.items[i] != result.items[j - 1])
      result.items[j++] = result.items[i];
  result.len = j;
  *n = result.len;
  *indexes = index_vector_release (&result);
  return 0;
}
