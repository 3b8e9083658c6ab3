/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: the survey: learning which chunks of a device exist in the
 * store, in the background, while the device is already served.
 *
 * A chunk with no record in the index is absent (zeros, no request)
 * once the device is "listed": its chunk objects were listed into the
 * index once by this cache, which keeps the index up to date from then
 * on (it is the device's only writer: the lease).  A cache-dir that
 * meets an existing device for the first time has no such listing, and
 * a sequential ListObjectsV2 of a 16 TiB device (16 million chunks,
 * 16 thousand pages) takes minutes to hours.  So the open does not wait
 * for it: the lease is taken and the journal replayed as before, the
 * device is linked "surveying", and threads here list its chunks.
 *
 * While surveying, a chunk the index does not know is a guess: its
 * entry (chunk-io.c centry_get) says the object may exist (remote,
 * base_remote, and "maybe").  Reading it GETs the object; a 404 is an
 * answer, zeros, and is remembered.  A record written with the guess
 * (a partial write of such a chunk) carries ZREC_MAYBE, so that after a
 * crash too a 404 for it means zeros rather than a lost object.
 *
 * The listing.  The chunk index range [0, nchunks) is split into shards
 * of at least ZSURVEY_SHARD_MIN chunks (at most 16 per thread), each
 * listed with start-after the key of its first chunk's predecessor and
 * stopped at the key of the next shard's first chunk (keys are 16
 * lower-case hex digits: their order is the indexes' order).  Up to
 * ZSURVEY_THREADS threads (at most writeback-threads) list shards at
 * once.  What they find is written to the index in batches, each in
 * its own short transaction.
 *
 * Races.  A listing page is a picture of the store at some moment; this
 * cache may have changed the chunk since (uploaded, deleted, fetched,
 * found absent).  Local knowledge is newer than any listing and wins:
 *
 *   - the survey only ever adds "the object exists"; it never removes
 *     anything, so a chunk uploaded after its page was listed keeps the
 *     record its upload committed;
 *   - every time this cache learns a chunk's state from the store or
 *     changes it (a GET's answer, an upload, a delete) it notes the
 *     chunk in D->known (survey_note_locked); the survey leaves known
 *     chunks alone, so an object it listed before this cache deleted it
 *     does not come back as a record;
 *   - a chunk with an entry in memory is not written by the survey: the
 *     entry's record is the one the next commit writes.  If the entry
 *     still guesses ("maybe"), a listed object ends the guess (the
 *     object was there, and only this cache could have deleted it since,
 *     which it would know); an entry that was resolved is left alone;
 *   - the batch is filtered under c->lock with the commit lock held,
 *     and written in that same commit-lock hold: every commit of a
 *     local change comes after it, and writes the truth over it; an
 *     entry made meanwhile (it read the index before the batch was
 *     committed) is looked at again after the commit, as above;
 *   - a record that exists is left alone, except that a guess (MAYBE,
 *     with no entry in memory) becomes a certainty.
 *
 * A chunk the survey did not find and nobody touched is absent, and
 * with the device listed its lack of a record says so.  So when every
 * shard is done, "surveying" ends under c->lock, and the next commit
 * writes "listed" together with the records of the guesses the survey
 * confirmed (commit_locked takes both in one snapshot).  The guesses
 * left in memory are absent then, and say so (end_guesses), so that
 * such a chunk is journaled like any other rather than uploaded whole
 * (journal.c: its object's sequence must be known).  A crash before
 * that leaves the device not listed but "replayed" (index.h): the next
 * start keeps its records and dirty chunks and surveys again.  A LIST
 * that fails for good (after the store's own retries:
 * the bucket refuses it, the store is down for longer than retry-time)
 * is tried again, the same shard, after ZSURVEY_BACKOFF_MIN_S doubling
 * up to ZSURVEY_BACKOFF_MAX_S; meanwhile the device is served as during
 * any survey (GETs answer) and the stats say "failed".  zcache_close
 * stops the surveys, wakes the ones waiting and joins their threads (a
 * request under way finishes first; a failed one is not retried).
 *
 * D->known is a sparse bitmap (pages of ZKNOWN_PAGE_BITS chunks,
 * allocated when a chunk in them is noted), freed when the survey ends.
 * A page that cannot be allocated makes the survey give up (correctness
 * over speed): the device stays surveying.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "internal.h"
#include "log.h"
#include "progress.h"
#include "vector.h"

#define ZKNOWN_PAGE_BITS 32768
#define ZKNOWN_PAGE_WORDS (ZKNOWN_PAGE_BITS / 64)
/* Chunk indexes written to the index per transaction. */
#define ZSURVEY_BATCH 4096
/* At most this many shards per thread. */
#define ZSURVEY_SHARDS_PER_THREAD 16
#define ZSURVEY_BACKOFF_MIN_S 10   /* a failed LIST is tried again after */
#define ZSURVEY_BACKOFF_MAX_S 3600 /* doubling up to */

struct survey {
  struct zcache *c;
  struct cache_device *d;
  pthread_t threads[ZSURVEY_THREADS];
  unsigned nthreads;
  uint64_t nshards, shard_len;
  /* Under c->lock: */
  uint64_t next_shard, shards_done, found, ignored;
  bool stop, failed, finished;
  unsigned failures;             /* LISTs failed for good so far */
  uint64_t next_message_ms;      /* say the next failure from then on */
  pthread_cond_t wake;           /* (with c->lock) stop, to the waiting */
  uint64_t start_ms;
  struct zprogress progress;
};

static uint64_t
npages (const struct cache_device *d)
{
  return d->nchunks / ZKNOWN_PAGE_BITS + 1;
}

void
survey_note_locked (struct cache_device *d, uint64_t index)
{
  uint64_t p = index / ZKNOWN_PAGE_BITS, bit = index % ZKNOWN_PAGE_BITS;

  if (!d->surveying || index >= d->nchunks)
    return;
  if (d->known == NULL &&
      (d->known = calloc (npages (d), sizeof *d->known)) == NULL) {
    d->known_failed = true;
    return;
  }
  if (d->known[p] == NULL &&
      (d->known[p] = calloc (ZKNOWN_PAGE_WORDS, sizeof (uint64_t))) == NULL) {
    d->known_failed = true;
    return;
  }
  d->known[p][bit / 64] |= UINT64_C (1) << (bit % 64);
}

bool
survey_known_locked (const struct cache_device *d, uint64_t index)
{
  uint64_t p = index / ZKNOWN_PAGE_BITS, bit = index % ZKNOWN_PAGE_BITS;

  return d->known && index < d->nchunks && d->known[p] &&
    (d->known[p][bit / 64] >> (bit % 64)) & 1;
}

void
survey_free_known_locked (struct cache_device *d)
{
  uint64_t p;

  if (d->known)
    for (p = 0; p < npages (d); p++)
      free (d->known[p]);
  free (d->known);
  d->known = NULL;
}

void
centry_resolved_locked (struct centry *e)
{
  e->maybe = false;
  survey_note_locked (e->dev, e->index);
}

/* Chunks INDEXES[N] of D are in the store (as a listing saw them):
 * record what no local knowledge overrides (see "Races").
 */
static int
survey_record (struct survey *s, const uint64_t *indexes, size_t n)
{
  struct zcache *c = s->c;
  struct cache_device *d = s->d;
  CLEANUP_FREE uint64_t *keep = malloc (n * sizeof *keep);
  struct zindex_chunk rec;
  struct centry *e;
  size_t i, nkeep = 0;
  bool failed;
  int r;

  if (keep == NULL) {
    zerror ("malloc: %m");
    return -1;
  }
  LOCK_FOR_SCOPE (&c->commit_lock);
  CLEANUP_ZINDEX_ABORT struct zindex_txn *txn = zindex_begin (c->ix);
  if (txn == NULL)
    return -1;
  pthread_mutex_lock (&c->lock);
  failed = d->known_failed;
  for (i = 0; i < n && !failed; i++) {
    e = centry_find (c, d, indexes[i]);
    if (e) {
      if (e->maybe && e->remote) {
        /* The guess was right: the next commit records it. */
        e->maybe = false;
        centry_index_touch (c, e);
      }
    }
    else if (!survey_known_locked (d, indexes[i]))
      keep[nkeep++] = indexes[i];
  }
  pthread_mutex_unlock (&c->lock);
  if (failed) {
    zerror ("device %s: the survey of its chunks ran out of memory",
            d->name);
    errno = ENOMEM;
    return -1;
  }
  for (i = 0; i < nkeep; i++) {
    r = zindex_txn_get_chunk (txn, d->uuid, keep[i], &rec);
    if (r == -1)
      return -1;
    if (r == 0 && !(rec.flags & ZREC_MAYBE))
      continue;                 /* known already */
    if (r == 1) {
      memset (&rec, 0, sizeof rec);
      rec.flags = ZREC_REMOTE | ZREC_BASE_REMOTE;
      rec.slot = ZSLOT_NONE;
    }
    rec.flags &= ~ZREC_MAYBE;
    if (zindex_put_chunk (txn, d->uuid, keep[i], &rec) == -1)
      return -1;
  }
  if (zindex_commit_clear (&txn) == -1)
    return -1;
  /* An entry made between the filter and the commit read the index
   * without these records: a guess that the listing confirms.
   */
  pthread_mutex_lock (&c->lock);
  for (i = 0; i < nkeep; i++) {
    e = centry_find (c, d, keep[i]);
    if (e && e->maybe && e->remote) {
      e->maybe = false;
      centry_index_touch (c, e);
    }
  }
  pthread_mutex_unlock (&c->lock);
  return 0;
}

/* One shard's listing. */
struct shard {
  struct survey *s;
  uint64_t first, end;           /* chunks [first, end) */
  char end_key[OBJSTORE_KEY_MAX];  /* the key of chunk END ("": none) */
  char last_key[OBJSTORE_KEY_MAX];  /* the last key listed, or the
                                       start-after ("": none) */
  uint64_t batch[ZSURVEY_BATCH];
  size_t n;
  uint64_t found, ignored;
  bool stopped;                  /* the survey was stopped meanwhile */
};

/* The progress line, on a terminal. */
static void
survey_draw (struct survey *s)
{
  uint64_t done, found;

  if (!zprogress_enabled ())
    return;
  pthread_mutex_lock (&s->c->lock);
  done = s->shards_done;
  found = s->found;
  pthread_mutex_unlock (&s->c->lock);
  zprogress_draw (&s->progress, false, "%s: surveying its chunks: %" PRIu64
                  " of %" PRIu64 " shards listed, %" PRIu64 " objects",
                  s->d->name, done, s->nshards, found);
}

static int
shard_flush (struct shard *sh)
{
  struct survey *s = sh->s;
  struct zcache *c = s->c;

  if (sh->n == 0)
    return 0;
  if (survey_record (s, sh->batch, sh->n) == -1)
    return -1;
  pthread_mutex_lock (&c->lock);
  s->found += sh->n;
  s->d->stats.survey_found = s->found;
  pthread_mutex_unlock (&c->lock);
  sh->found += sh->n;
  sh->n = 0;
  survey_draw (s);
  return 0;
}

/* KEY comes after LAST_KEY (OBJSTORE_KEY_MAX bytes; "": the listing's
 * start) in a listing of D's chunks, and becomes it.  A key out of
 * order fails the listing (-1, said: WHAT, then CONSEQUENCE).
 */
static int
next_key_in_order (const struct cache_device *d, char *last_key,
                   const char *key, const char *what,
                   const char *consequence)
{
  if (strlen (key) >= OBJSTORE_KEY_MAX ||
      (last_key[0] && strcmp (key, last_key) <= 0)) {
    zerror ("device %s: %s: the store listed %s after %s, not in key "
            "order%s", d->name, what, key, last_key, consequence);
    errno = EIO;
    return -1;
  }
  strcpy (last_key, key);
  return 0;
}

static int
shard_key (void *opaque, const char *key, uint64_t size, bool is_prefix)
{
  struct shard *sh = opaque;
  struct survey *s = sh->s;
  uint64_t index;
  bool stop;

  pthread_mutex_lock (&s->c->lock);
  stop = s->stop || s->failed;
  pthread_mutex_unlock (&s->c->lock);
  if (stop) {
    sh->stopped = true;
    return 1;
  }
  /* A shard ends at the first key past it, and "listed" at the end
   * turns every chunk not found into a known absence: that is only
   * right for a listing in key order, after its start.  Anything else
   * fails the survey (GETs go on answering) rather than lose objects.
   */
  if (next_key_in_order (s->d, sh->last_key, key, "survey",
                         ": the survey is given up") == -1)
    return -1;
  if (sh->end_key[0] && strcmp (key, sh->end_key) >= 0)
    return 1;                   /* the next shard's */
  if (is_prefix || zkey_parse_chunk (key, &index) == -1 ||
      index < sh->first || index >= s->d->nchunks) {
    sh->ignored++;
    return 0;
  }
  sh->batch[sh->n++] = index;
  if (sh->n == ZSURVEY_BATCH)
    return shard_flush (sh);
  return 0;
}

/* The fence of a survey's LISTs: a stopped survey's is not retried
 * (zcache_close would wait for retry-time).
 */
static int
survey_wanted (void *opaque)
{
  struct survey *s = opaque;
  bool stop;

  pthread_mutex_lock (&s->c->lock);
  stop = s->stop || s->failed;
  pthread_mutex_unlock (&s->c->lock);
  if (stop) {
    errno = ECANCELED;
    return -1;
  }
  return 0;
}

/* List shard K.  0, or -1 (said). */
static int
list_shard (struct survey *s, uint64_t k, bool *stopped)
{
  struct cache_device *d = s->d;
  CLEANUP_FREE struct shard *sh = calloc (1, sizeof *sh);
  char prefix[OBJSTORE_KEY_MAX], after[OBJSTORE_KEY_MAX];
  struct objstore_fence fence = { survey_wanted, s };

  if (sh == NULL) {
    zerror ("calloc: %m");
    return -1;
  }
  sh->s = s;
  sh->first = k * s->shard_len;
  sh->end = sh->first + s->shard_len;
  if (k + 1 == s->nshards || sh->end > d->nchunks)
    sh->end = d->nchunks;
  if (sh->end < d->nchunks)
    zkey_chunk (sh->end_key, d->name, sh->end);
  zkey_chunks_prefix (prefix, d->name);
  after[0] = '\0';
  if (sh->first > 0)
    zkey_chunk (after, d->name, sh->first - 1);
  strcpy (sh->last_key, after);
  if (objstore_list_after_fenced (s->c->store, prefix, after, shard_key,
                                  sh, &fence) == -1 ||
      shard_flush (sh) == -1)
    return -1;
  *stopped = sh->stopped;
  pthread_mutex_lock (&s->c->lock);
  s->ignored += sh->ignored;
  pthread_mutex_unlock (&s->c->lock);
  if (zerofs_debug_cache)
    zdebug ("cache: %s: survey: shard %" PRIu64 " (chunks %" PRIu64
            "-%" PRIu64 ") %s: %" PRIu64 " objects", d->name, k,
            sh->first, sh->end - 1, sh->stopped ? "stopped" : "listed",
            sh->found);
  return 0;
}

/* One bounded listing of a range, for BLOCK_STATUS (survey_list_range). */
struct range_listing {
  struct cache_device *d;
  uint64_t first;
  size_t prefix_len;
  char end_key[OBJSTORE_KEY_MAX];  /* the key of the chunk after the range */
  index_vector *found;
  size_t keys;                   /* keys seen, of any kind */
  bool any_chunk;                /* a chunk key was seen: last_chunk */
  uint64_t last_chunk;
  bool complete;                 /* the listing went past the range */
  int attempts;
  char last_key[OBJSTORE_KEY_MAX];
};

static int
range_key (void *opaque, const char *key, uint64_t size, bool is_prefix)
{
  struct range_listing *r = opaque;
  uint64_t index;

  /* As for a shard: only a listing in key order says what is absent,
   * and where a range ends is a place in that order, whatever the
   * keys there are.
   */
  if (next_key_in_order (r->d, r->last_key, key, "block status",
                         "") == -1)
    return -1;
  if (strcmp (key, r->end_key) >= 0) {
    r->complete = true;
    return 1;
  }
  /* Only a chunk's own key (the prefix and 16 hex digits) says a chunk
   * exists; anything else under the prefix is not one.
   */
  if (!is_prefix && strlen (key) == r->prefix_len + 16 &&
      zkey_parse_chunk (key, &index) == 0 && index >= r->first) {
    if (index_vector_append (r->found, index) == -1) {
      zerror ("realloc: %m");
      return -1;
    }
    r->any_chunk = true;
    r->last_chunk = index;
  }
  return ++r->keys == ZSURVEY_RANGE_KEYS ? 1 : 0;
}

/* The fence of that listing: one attempt.  "Data" is always a right
 * answer, so a listing that fails is not worth a wait of retry-time,
 * and none is sent once the server stops.
 */
static int
range_listing_wanted (void *opaque)
{
  struct range_listing *r = opaque;
  bool stop;

  pthread_mutex_lock (&r->d->c->lock);
  stop = r->d->c->stop;
  pthread_mutex_unlock (&r->d->c->lock);
  if (stop || r->attempts++ > 0) {
    errno = ECANCELED;
    return -1;
  }
  return 0;
}

/* A BLOCK_STATUS while the survey runs would otherwise have to say
 * "data" for every chunk not known yet, and a sparse copy (nbdcopy,
 * qemu-img convert) from a new cache-dir would read every hole of the
 * device, a GET each.  One listing from the range's first chunk tells
 * which exist.  It is read before the cache's own knowledge
 * (zcache_allocated_chunks), and this cache is the device's only
 * writer: a chunk it uploaded after the listing was taken is in its
 * entries or records then, and one it deleted is at worst reported as
 * data, which is never wrong.  A listing cut at its bound answers up
 * to the last chunk key it saw (all keys before it were seen); one that
 * saw no chunk key then answers nothing (-1: the caller says "data").
 */
int
survey_list_range (struct cache_device *d, uint64_t first, uint64_t last,
                   index_vector *found, uint64_t *known_last)
{
  struct range_listing r = { .d = d, .first = first, .found = found };
  struct objstore_fence fence = { range_listing_wanted, &r };
  char prefix[OBJSTORE_KEY_MAX], after[OBJSTORE_KEY_MAX] = "";

  zkey_chunks_prefix (prefix, d->name);
  r.prefix_len = strlen (prefix);
  if (first > 0)
    zkey_chunk (after, d->name, first - 1);
  zkey_chunk (r.end_key, d->name, last + 1);
  strcpy (r.last_key, after);
  if (objstore_list_after_fenced (d->c->store, prefix, after, range_key,
                                  &r, &fence) == -1)
    return -1;
  if (r.complete || r.keys < ZSURVEY_RANGE_KEYS)
    *known_last = last;         /* past the range, or the end of the list */
  else if (r.any_chunk)
    *known_last = r.last_chunk;
  else {
    zdebug ("cache: %s: block status: %zu keys from chunk %" PRIu64
            " on, none of them a chunk's", d->name, r.keys, first);
    errno = EAGAIN;
    return -1;
  }
  if (zerofs_debug_cache)
    zdebug ("cache: %s: block status during the survey: chunks %" PRIu64
            "-%" PRIu64 " listed, %zu objects", d->name, first,
            *known_last, found->len);
  return 0;
}

DEFINE_VECTOR_TYPE (centry_vector, struct centry *);

/* The survey is over: the guesses it did not confirm are absent (an
 * object made since by this cache ended its guess when its upload did;
 * one under way keeps "remote", as for a GET's 404).  VEC holds them,
 * referenced.
 */
static void
end_guesses (struct zcache *c, centry_vector *vec)
{
  pthread_rwlock_t *stripe;
  struct centry *e;
  size_t i;

  for (i = 0; i < vec->len; i++) {
    e = vec->items[i];
    stripe = centry_stripe (c, e->dev, e->index);
    pthread_rwlock_wrlock (stripe);
    pthread_mutex_lock (&c->lock);
    if (e->maybe && e->remote) {
      e->base_remote = false;
      if (!e->busy)
        e->remote = false;
      e->base_gen++;
      e->maybe = false;
      centry_index_touch (c, e);
    }
    centry_put_locked (c, e);
    pthread_mutex_unlock (&c->lock);
    pthread_rwlock_unlock (stripe);
  }
}

/* Every shard is listed: end the survey, durably. */
static void
survey_finish (struct survey *s)
{
  struct zcache *c = s->c;
  struct cache_device *d = s->d;
  uint64_t ms = zcache_now_ms () - s->start_ms;
  CLEANUP_VECTOR (centry_vector) centry_vector guesses = EMPTY_VECTOR;
  struct centry *e;

  pthread_mutex_lock (&c->lock);
  d->surveying = false;
  survey_free_known_locked (d);
  d->record_dirty = true;
  for (e = d->entries; e; e = e->vnext)
    if (e->maybe && e->remote && centry_vector_append (&guesses, e) == 0)
      e->users++;
  pthread_mutex_unlock (&c->lock);
  /* (One that could not be put in the vector stays a guess: a GET
   * answers it.)
   */
  end_guesses (c, &guesses);
  /* "listed" and the records of the guesses ended, in one commit. */
  if (zcache_commit (c) == -1) {
    zerror ("device %s: recording the end of its survey failed (it is "
            "surveyed again at the next start)", d->name);
    pthread_mutex_lock (&c->lock);
    d->stats.survey_state = ZSURVEY_FAILED;
    pthread_mutex_unlock (&c->lock);
    return;
  }
  pthread_mutex_lock (&c->lock);
  d->stats.survey_state = ZSURVEY_DONE;
  pthread_mutex_unlock (&c->lock);
  zprogress_clear (&s->progress);
  if (s->ignored)
    zerror ("device %s: ignored %" PRIu64 " objects under "
            "devices/%s/chunks/ that are not chunks of this device",
            d->name, s->ignored, d->name);
  zdebug ("device %s: survey done: %" PRIu64 " chunk objects found in "
          "%" PRIu64 ".%01" PRIu64 " s (%" PRIu64 " shards, %u threads)",
          d->name, s->found, ms / 1000, ms % 1000 / 100, s->nshards,
          s->nthreads);
}

/* A LIST failed for good (said by the store): say so, and wait before
 * the shard is listed again.  0, or -1 if the survey is stopped or was
 * given up meanwhile.
 */
static int
survey_wait_after_failure (struct survey *s)
{
  struct zcache *c = s->c;
  unsigned shift, wait_s;
  uint64_t until;
  LOCK_FOR_SCOPE (&c->lock);

  if (s->stop || s->failed)
    return -1;
  shift = s->failures < 16 ? s->failures : 16;
  wait_s = ZSURVEY_BACKOFF_MIN_S << shift;
  if (wait_s > ZSURVEY_BACKOFF_MAX_S || wait_s < ZSURVEY_BACKOFF_MIN_S)
    wait_s = ZSURVEY_BACKOFF_MAX_S;
  s->failures++;
  s->d->stats.survey_state = ZSURVEY_FAILED;
  /* Other threads fail the same way at the same time: one message a
   * round.
   */
  if (zcache_now_ms () >= s->next_message_ms) {
    zprogress_clear (&s->progress);
    zerror ("device %s: the survey of its chunks failed (%s); it tries "
            "again in %u s, and meanwhile reads of chunks it did not reach "
            "ask the store", s->d->name, objstore_last_error (), wait_s);
    s->next_message_ms = zcache_now_ms () + wait_s * UINT64_C (1000);
  }
  until = zcache_now_ms () + wait_s * UINT64_C (1000);
  while (!s->stop && zcache_now_ms () < until)
    zcache_timed_wait (c, &s->wake, until - zcache_now_ms ());
  if (s->stop)
    return -1;
  s->d->stats.survey_state = ZSURVEY_RUNNING;
  return 0;
}

static void *
survey_thread (void *arg)
{
  struct survey *s = arg;
  struct zcache *c = s->c;
  uint64_t k = 0;
  bool stopped = false, last, continue_shard = false;

  for (;;) {
    pthread_mutex_lock (&c->lock);
    if (s->stop || s->failed ||
        (!continue_shard && s->next_shard == s->nshards)) {
      pthread_mutex_unlock (&c->lock);
      return NULL;
    }
    if (!continue_shard)
      k = s->next_shard++;
    continue_shard = false;
    pthread_mutex_unlock (&c->lock);

    if (list_shard (s, k, &stopped) == -1) {
      if (survey_wait_after_failure (s) == -1)
        return NULL;
      /* The same shard again (nothing of it was recorded as listed). */
      continue_shard = true;
      continue;
    }
    if (stopped)
      return NULL;
    pthread_mutex_lock (&c->lock);
    s->shards_done++;
    s->d->stats.survey_shards_done = s->shards_done;
    last = s->shards_done == s->nshards && !s->failed && !s->stop;
    if (last)
      s->finished = true;
    pthread_mutex_unlock (&c->lock);
    survey_draw (s);
    if (last) {
      survey_finish (s);
      return NULL;
    }
  }
}

void
survey_start (struct zcache *c, struct cache_device *d)
{
  struct survey *s = calloc (1, sizeof *s);
  pthread_condattr_t attr;
  unsigned want;
  int err;

  if (s == NULL) {
    zerror ("device %s: cannot start the survey of its chunks: calloc: %m",
            d->name);
    return;
  }
  want = c->upload_threads < ZSURVEY_THREADS ? c->upload_threads :
    ZSURVEY_THREADS;
  if (want == 0)
    want = 1;
  s->c = c;
  s->d = d;
  s->nshards = d->nchunks / ZSURVEY_SHARD_MIN;
  if (s->nshards > (uint64_t) want * ZSURVEY_SHARDS_PER_THREAD)
    s->nshards = (uint64_t) want * ZSURVEY_SHARDS_PER_THREAD;
  if (s->nshards == 0)
    s->nshards = 1;
  s->shard_len = (d->nchunks + s->nshards - 1) / s->nshards;
  if (s->shard_len == 0)
    s->shard_len = 1;
  /* Shards of shard_len: the last ones may be empty. */
  s->nshards = d->nchunks ? (d->nchunks + s->shard_len - 1) / s->shard_len : 1;
  if (want > s->nshards)
    want = s->nshards;
  s->start_ms = zcache_now_ms ();
  pthread_condattr_init (&attr);
  pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
  pthread_cond_init (&s->wake, &attr);
  pthread_condattr_destroy (&attr);

  pthread_mutex_lock (&c->lock);
  d->survey = s;
  d->stats.survey_state = ZSURVEY_RUNNING;
  d->stats.survey_shards = s->nshards;
  pthread_mutex_unlock (&c->lock);
  if (zerofs_debug_cache)
    zdebug ("cache: %s: survey of %" PRIu64 " chunks started: %" PRIu64
            " shards of %" PRIu64 ", %u threads", d->name, d->nchunks,
            s->nshards, s->shard_len, want);
  for (; s->nthreads < want; s->nthreads++) {
    err = pthread_create (&s->threads[s->nthreads], NULL, survey_thread, s);
    if (err) {
      errno = err;
      zerror ("device %s: survey: pthread_create: %m", d->name);
      break;
    }
  }
  if (s->nthreads == 0) {
    pthread_mutex_lock (&c->lock);
    d->stats.survey_state = ZSURVEY_FAILED;
    pthread_mutex_unlock (&c->lock);
  }
}

void
survey_stop_all (struct zcache *c)
{
  struct cache_device *d;
  struct survey *s;
  unsigned i;

  pthread_mutex_lock (&c->lock);
  for (d = c->devices; d; d = d->next)
    if (d->survey) {
      d->survey->stop = true;
      pthread_cond_broadcast (&d->survey->wake);
    }
  pthread_mutex_unlock (&c->lock);
  for (d = c->devices; d; d = d->next) {
    s = d->survey;
    if (s == NULL)
      continue;
    for (i = 0; i < s->nthreads; i++)
      pthread_join (s->threads[i], NULL);
    zprogress_clear (&s->progress);
    if (!s->finished && zerofs_debug_cache)
      zdebug ("cache: %s: survey stopped after %" PRIu64 " of %" PRIu64
              " shards (%" PRIu64 " objects); it starts again at the next "
              "start", d->name, s->shards_done, s->nshards, s->found);
    pthread_mutex_lock (&c->lock);
    d->survey = NULL;
    pthread_mutex_unlock (&c->lock);
    pthread_cond_destroy (&s->wake);
    free (s);
  }
}
