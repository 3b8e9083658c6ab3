/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: uploads, flush and the write-back thread.
 *
 * An upload seals a consistent copy of a dirty chunk taken under its
 * stripe lock, together with the chunk's sequence number S, and PUTs it
 * (or DELETEs the object when the chunk is all zeros) with no lock held.
 * Afterwards the chunk is clean only if its sequence is still S: a write
 * that came in meanwhile keeps it dirty, with dirty_since = S + 1.
 *
 * A flush must make durable every write that completed before it began.
 * It notes the device's sequence F at its start and takes every chunk
 * with changes the store lacks from before F ("unsaved", journal.c);
 * writes that arrive during the flush have larger sequences and do not
 * keep it going forever.  The chunks that are at least half rewritten
 * are uploaded; the changed sectors of the others go into one journal
 * object (journal.c), PUT in parallel.  A chunk that some other flusher
 * (or the write-back thread) is already saving is waited for, then
 * looked at again: so concurrent flushes share rounds instead of
 * repeating them.  Then the index is committed (group commit, see
 * zcache_commit), so that a crash after the flush cannot bring back a
 * dirty record whose bytes are older than what the store has.
 *
 * The write-back thread queues what is due for the uploaders,
 * writeback-threads threads that live as long as it does and take the
 * next chunk as soon as they are done with one (see uploader): a round
 * would wait for its slowest PUT before the next could start.  A flush
 * queues its uploads for them too, behind what is queued already, and
 * waits for its own (struct upload_wait): so a flush that arrives while
 * a streaming write keeps every uploader busy does not add as many
 * threads again, each encoding a chunk on CPUs that the uploads and the
 * store need.  (Only when there are no uploaders, at shutdown, does a
 * flush round run on threads of its own, joined at its end.)  Nothing
 * is queued without bound: a queued chunk is busy, and is queued once.  Chunks whose
 * content is known zeros without a slot (trimmed) are deleted in
 * DeleteObjects batches.
 *
 * The write-back thread wakes every second (or when writers wait for
 * space, or a write may have made a chunk due) and uploads chunks that
 * have been dirty for ZWRITEBACK_DELAY_S (those already durable, in the
 * journal or with durability=local, once their device is idle or after
 * writeback-max-age: see writeback_due), chunks
 * rewritten whole (streaming: see stream_due), or all of them when the
 * cache is filling up; it also commits the index at least every
 * ZCOMMIT_INTERVAL_MS, and deletes the journal objects its uploads made
 * useless.
 *
 * Streaming.  A long sequential write must run at the link's PUT rate
 * and leave its final flush only the tail: so a chunk is uploaded as
 * soon as it has been rewritten whole (every sector written since the
 * store last got it: centry_rewritten) and the writer is done with it,
 * that is, a later chunk of the device has been written since, or it
 * has been left alone for ZWRITEBACK_STREAM_IDLE_MS.  A chunk that is
 * rewritten whole again and again (a hot chunk) would then be uploaded
 * at every rewrite: the rule uploads a chunk at most once per
 * ZWRITEBACK_DELAY_S, after which it waits like any other.  Writers
 * that outrun the link wait at max-dirty (chunk-io.c: throttle_get).
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "hugebuf.h"
#include "internal.h"
#include "log.h"
#include "progress.h"

/* E's content into SCRATCH, with its stripe held: 1 when sectors must
 * come from the store's copy and PLAIN is NULL.  *ZERO: all zeros.
 */
static int
snapshot_locked (struct zcache *c, struct centry *e, void *scratch,
                 const void *plain, bool *zero)
{
  uint32_t len = cache_device_chunk_len (e->dev, e->index);

  if (e->slot == ZSLOT_NONE) {
    *zero = true;              /* trimmed: known zeros */
    return 0;
  }
  if (!e->base_remote || centry_full (e))
    plain = NULL;
  else if (plain == NULL)
    return 1;
  if (centry_read_sectors (c, e, 0, len / ZSECTOR_SIZE, plain,
                           scratch) == -1)
    return -1;
  *zero = zis_zero (scratch, len);
  return 0;
}

/* E is all zeros and its object is to be deleted.  First the index must
 * stop needing that object, durably: a record that still merges with
 * the store's copy (dirty, partial, base in the store) would read EIO
 * after a crash that came after the DELETE, and keep every flush
 * failing.  So, with the stripe held: if E still takes sectors from the
 * store, they are zeros (the snapshot said so), and E now says so
 * itself; then commit.  0 when E was written meanwhile in a way that
 * still needs the object: it stays dirty for the next round.
 */
static int
stop_needing_object (struct zcache *c, struct centry *e, uint64_t seq,
                     bool *go_on)
{
  pthread_rwlock_t *stripe = centry_stripe (c, e->dev, e->index);

  *go_on = true;
  pthread_rwlock_wrlock (stripe);
  pthread_mutex_lock (&c->lock);
  if (e->base_remote && !centry_full (e)) {
    if (e->seq != seq)
      *go_on = false;
    else {
      e->base_remote = false;
      e->base_gen++;
      centry_index_touch (c, e);
    }
  }
  pthread_mutex_unlock (&c->lock);
  pthread_rwlock_unlock (stripe);
  if (!*go_on)
    return 0;
  return zcache_commit (c);
}

/* Under c->lock: the upload of E, which captured CAP, failed. */
static int
upload_failed (struct zcache *c, struct centry *e, const struct capture *cap)
{
  LOCK_FOR_SCOPE (&c->lock);
  centry_uncapture_locked (e, cap);
  return -1;
}

/* An upload's working memory, kept by an uploader from one chunk to
 * the next: the chunk's bytes and its encoded object, in one
 * hugebuf.h mapping so that the first touch of it costs one page
 * fault, not 512.
 */
#define UPLOAD_BUFFER_LEN ((size_t) 2 * ZCHUNK_SIZE + 4096)

struct upload_buffer {
  uint8_t *chunk;               /* ZCHUNK_SIZE bytes */
  uint8_t *object;              /* UPLOAD_BUFFER_OBJECT_MAX bytes */
};
#define UPLOAD_BUFFER_OBJECT_MAX (UPLOAD_BUFFER_LEN - ZCHUNK_SIZE)

static int
upload_buffer_get (struct upload_buffer *b)
{
  if (b->chunk == NULL) {
    b->chunk = hugebuf_alloc (UPLOAD_BUFFER_LEN);
    if (b->chunk == NULL) {
      zerror ("upload buffer: mmap: %m");
      return -1;
    }
    b->object = b->chunk + ZCHUNK_SIZE;
  }
  return 0;
}

static void
upload_buffer_put (struct upload_buffer *b)
{
  hugebuf_free (b->chunk, UPLOAD_BUFFER_LEN);
  b->chunk = b->object = NULL;
}

/* Upload one busy, referenced entry with BUF's memory.  No lock is
 * held across the network: the store's copy, when a partial chunk must
 * be merged with it, is fetched by centry_fetch_shared.
 */
static int
upload_one (struct zcache *c, struct centry *e, struct upload_buffer *buf)
{
  struct cache_device *d = e->dev;
  pthread_rwlock_t *stripe = centry_stripe (c, d, e->index);
  uint32_t len = cache_device_chunk_len (d, e->index);
  char key[OBJSTORE_KEY_MAX];
  CLEANUP_FREE void *plain = NULL;
  void *scratch = buf->chunk;
  struct capture cap = { .unsaved = false };
  size_t objlen = 0;
  bool zero = false, remote, go_on, reserve;
  uint64_t seq;
  int r;

  zkey_chunk (key, d->name, e->index);
  for (;;) {
    pthread_rwlock_rdlock (stripe);
    r = snapshot_locked (c, e, scratch, plain, &zero);
    seq = e->seq;
    if (r == 0) {
      /* What the store lacks is in this copy. */
      pthread_mutex_lock (&c->lock);
      centry_capture_locked (e, &cap);
      pthread_mutex_unlock (&c->lock);
    }
    pthread_rwlock_unlock (stripe);
    if (r != 1)
      break;
    if (centry_fetch_shared (c, e, &plain, NULL, NULL) == -1)
      return -1;
  }
  if (r == -1)
    return -1;

  pthread_mutex_lock (&c->lock);
  remote = e->remote;
  reserve = seq >= d->seq_reserved;
  e->upload_ms = zcache_now_ms ();
  pthread_mutex_unlock (&c->lock);
  /* An object's sequence must stay below those used after a restart. */
  if (reserve && zcache_commit (c) == -1)
    return upload_failed (c, e, &cap);

  if (zero) {
    if (journal_trims (c, &e, &seq, 1) == -1)
      return upload_failed (c, e, &cap);
    if (remote) {
      if (stop_needing_object (c, e, seq, &go_on) == -1)
        return upload_failed (c, e, &cap);
      if (!go_on) {
        upload_failed (c, e, &cap);
        return 0;
      }
      /* The lease right before each attempt (fence.c). */
      if (cache_device_delete (d, key) == -1)
        return upload_failed (c, e, &cap);
    }
  }
  else {
    if (zchunk_encode_into (&d->codec, e->index, seq, scratch, len,
                            buf->object, UPLOAD_BUFFER_OBJECT_MAX,
                            &objlen) == -1 ||
        cache_device_put (d, key, buf->object, objlen) == -1)
      return upload_failed (c, e, &cap);
  }
  if (zerofs_debug_flush)
    zdebug ("flush: %s %s (seq %" PRIx64 ", %zu bytes)",
            zero ? "deleted" : "uploaded", key, seq, objlen);

  pthread_mutex_lock (&c->lock);
  e->remote = !zero;
  e->stored_seq = zero ? 0 : seq;
  e->base_gen++;
  centry_resolved_locked (e);
  centry_saved_locked (e, seq);
  if (e->seq == seq)
    centry_clear_dirty (c, e);
  else {
    /* Written during the upload: dirty from now on, so that a chunk
     * written continuously is uploaded once per write-back delay, not
     * at every round.
     */
    e->dirty_since = seq + 1;
    e->dirty_time = zcache_now ();
  }
  centry_index_touch (c, e);
  if (zero)
    c->stats.deletes += remote;
  else
    c->stats.uploads++;
  pthread_mutex_unlock (&c->lock);
  return 0;
}

/* Under c->lock: an entry's upload or delete is over; let others at it
 * at once (a FUA waiting for it need not wait for the whole batch).
 */
static void
release_locked (struct zcache *c, struct centry *e)
{
  e->busy = false;
  centry_put_locked (c, e);
  pthread_cond_broadcast (&c->cond);
}

/* Delete the objects of busy entries that were queued with no slot (all
 * zeros), OBJSTORE_DELETE_BATCH at a time, and release them.  Returns the
 * number of failures.
 */
static size_t
delete_batch (struct zcache *c, struct centry **v, size_t n)
{
  /* On the heap, sized for the batch: as thread-local arrays these cost
   * every thread of the process 1 MiB of zeroed memory.
   */
  size_t batch = n < OBJSTORE_DELETE_BATCH ? n : OBJSTORE_DELETE_BATCH;
  CLEANUP_FREE char (*keybuf)[OBJSTORE_KEY_MAX] =
    malloc (batch * sizeof *keybuf);
  CLEANUP_FREE struct capture *caps = malloc (batch * sizeof *caps);
  CLEANUP_FREE uint64_t *seqs = malloc (batch * sizeof *seqs);
  CLEANUP_FREE struct cache_device **devs = malloc (batch * sizeof *devs);
  const char *keys[OBJSTORE_DELETE_BATCH];
  struct cache_fence_set fences = { devs, 0 };
  const struct objstore_fence fence = { cache_fence_set_check, &fences };
  size_t i, start, end, nkeys, failed = 0;
  int r;

  if (keybuf == NULL || caps == NULL || seqs == NULL || devs == NULL) {
    zerror ("malloc: %m");
    pthread_mutex_lock (&c->lock);
    for (i = 0; i < n; i++)
      release_locked (c, v[i]);
    pthread_mutex_unlock (&c->lock);
    return n;
  }
  for (start = 0; start < n; start = end) {
    end = n - start < OBJSTORE_DELETE_BATCH ? n : start + OBJSTORE_DELETE_BATCH;
    nkeys = 0;
    pthread_mutex_lock (&c->lock);
    for (i = start; i < end; i++) {
      seqs[i - start] = v[i]->busy_seq;
      /* Written since it was queued: the delete does not save that. */
      caps[i - start].unsaved = false;
      if (v[i]->seq == v[i]->busy_seq)
        centry_capture_locked (v[i], &caps[i - start]);
      if (v[i]->remote) {
        zkey_chunk (keybuf[nkeys], v[i]->dev->name, v[i]->index);
        keys[nkeys] = keybuf[nkeys];
        devs[nkeys] = v[i]->dev;
        nkeys++;
      }
    }
    pthread_mutex_unlock (&c->lock);

    r = journal_trims (c, v + start, seqs, end - start);
    /* The lease of every device of the batch before each attempt. */
    fences.n = nkeys;
    if (r == 0 && nkeys)
      r = objstore_delete_many_fenced (c->store, keys, nkeys, &fence);

    pthread_mutex_lock (&c->lock);
    for (i = start; i < end; i++) {
      if (r == -1) {
        failed++;
        centry_uncapture_locked (v[i], &caps[i - start]);
      }
      else {
        if (v[i]->remote)
          c->stats.deletes++;
        v[i]->remote = false;
        v[i]->stored_seq = 0;
        v[i]->base_gen++;
        centry_resolved_locked (v[i]);
        centry_saved_locked (v[i], v[i]->busy_seq);
        if (v[i]->seq == v[i]->busy_seq)
          centry_clear_dirty (c, v[i]);
        else {
          v[i]->dirty_since = v[i]->busy_seq + 1;
          v[i]->dirty_time = zcache_now ();
        }
        centry_index_touch (c, v[i]);
      }
      release_locked (c, v[i]);
    }
    pthread_mutex_unlock (&c->lock);
    if (zerofs_debug_flush && nkeys)
      zdebug ("flush: deleted %zu chunk objects", nkeys);
  }
  return failed;
}

struct batch {
  struct zcache *c;
  struct centry **v;
  size_t n;
  size_t next;                 /* under lock */
  size_t failed;               /* under lock */
  pthread_mutex_t lock;
};

static void *
batch_worker (void *arg)
{
  struct batch *b = arg;
  struct upload_buffer buf = { .chunk = NULL };
  bool have_buf = upload_buffer_get (&buf) == 0;
  size_t i;

  for (;;) {
    pthread_mutex_lock (&b->lock);
    i = b->next++;
    if (i < b->n && !have_buf)
      b->failed++;
    pthread_mutex_unlock (&b->lock);
    if (i >= b->n)
      break;
    if (have_buf && upload_one (b->c, b->v[i], &buf) == -1) {
      pthread_mutex_lock (&b->lock);
      b->failed++;
      pthread_mutex_unlock (&b->lock);
    }
    pthread_mutex_lock (&b->c->lock);
    release_locked (b->c, b->v[i]);
    pthread_mutex_unlock (&b->c->lock);
  }
  upload_buffer_put (&buf);
  return NULL;
}

/* Before the N busy, referenced entries of V are uploaded or deleted:
 * those whose device this server may not change are released, the
 * index made ready, and the slotless ones deleted (and released).  The
 * entries left to upload are moved to *UP, *NUP of them; *FAILED counts
 * the others that failed.  -1 when the index could not be committed
 * (every entry released).
 */
static int
prepare_batch (struct zcache *c, struct centry **v, size_t n,
               struct centry ***up, size_t *nup, size_t *failed)
{
  size_t i, nzero = 0, nkept;
  bool commit = false;

  /* Only the holder of a device's lease changes its objects: entries of
   * a device whose lease this server lost (or cannot take) stay dirty.
   * At most a request per device per lease check interval.
   */
  for (i = nkept = 0; i < n; i++) {
    if (cache_device_guard (v[i]->dev) == 0) {
      v[nkept++] = v[i];
      continue;
    }
    (*failed)++;
    pthread_mutex_lock (&c->lock);
    release_locked (c, v[i]);
    pthread_mutex_unlock (&c->lock);
  }
  n = nkept;

  /* Before the store changes, the index must be able to describe what
   * it may become: a chunk about to be PUT for the first time may exist
   * from now on (a crash after the PUT must not leave an object the
   * index does not know of), and trims about to be deleted must be
   * recorded (a crash after the DELETE must not leave a record that
   * needs the object).  Deleting an object that does not exist is fine.
   */
  pthread_mutex_lock (&c->lock);
  for (i = 0; i < n; i++) {
    if (v[i]->busy_slotless)
      commit = true;
    else if (!v[i]->remote) {
      v[i]->remote = true;
      centry_index_touch (c, v[i]);
      commit = true;
    }
  }
  pthread_mutex_unlock (&c->lock);
  /* Nothing to record first (chunks rewritten in place: their objects
   * exist and the index knows it): no commit, which would write the
   * dirty slot pages and the index to disk for each dispatch of a
   * streaming rewrite.
   */
  if (commit && zcache_commit (c) == -1) {
    pthread_mutex_lock (&c->lock);
    for (i = 0; i < n; i++)
      release_locked (c, v[i]);
    pthread_mutex_unlock (&c->lock);
    return -1;
  }

  /* Slotless (zero) entries first, to the front of V. */
  for (i = 0; i < n; i++)
    if (v[i]->busy_slotless) {
      struct centry *t = v[nzero];
      v[nzero++] = v[i];
      v[i] = t;
    }
  if (nzero)
    *failed += delete_batch (c, v, nzero);
  *up = v + nzero;
  *nup = n - nzero;
  return 0;
}

static void
report_failed (size_t failed, size_t total)
{
  if (total)
    zerror ("write-back: %zu of %zu chunks could not be written to the "
            "store; they stay dirty and will be retried", failed, total);
  else
    zerror ("write-back: %zu chunks could not be written to the store; "
            "they stay dirty and will be retried", failed);
}

/* One uploader thread.  The idle ones wait on a stack (c->up_idle,
 * linked through idle_prev and idle_next), each on a condition of its
 * own, and work is handed to the top of it: the uploader that went idle
 * last.  A stream then keeps busy only as many uploaders as its rate
 * needs, whose buffers, zstd contexts and connections are warm, while
 * the rest stay at the bottom, time out (UPLOADER_IDLE_MS) and give
 * their buffers back: with every waiter on one condition, glibc wakes
 * the one that has waited longest, so work went round all of them and
 * each faulted in and kept its own 2 MiB.  A write the link cannot keep
 * up with still keeps every uploader busy: the queue is never empty.
 */
struct uploader {
  struct zcache *c;
  pthread_t thread;
  pthread_cond_t wake;           /* taken off the stack, or stop */
  struct uploader *idle_prev;    /* [C] towards the top, NULL at it */
  struct uploader *idle_next;    /* [C] towards the bottom */
  bool idle;                     /* [C] on c->up_idle */
};

/* Under c->lock: U goes idle, on top of the stack. */
static void
uploader_idle_locked (struct zcache *c, struct uploader *u)
{
  u->idle_prev = NULL;
  u->idle_next = c->up_idle;
  if (c->up_idle)
    c->up_idle->idle_prev = u;
  c->up_idle = u;
  u->idle = true;
}

/* Under c->lock: U, idle, leaves the stack. */
static void
uploader_busy_locked (struct zcache *c, struct uploader *u)
{
  if (u->idle_prev)
    u->idle_prev->idle_next = u->idle_next;
  else
    c->up_idle = u->idle_next;
  if (u->idle_next)
    u->idle_next->idle_prev = u->idle_prev;
  u->idle_prev = u->idle_next = NULL;
  u->idle = false;
}

/* Under c->lock: wake up to N idle uploaders for N queued entries, the
 * last to go idle first.  Busy ones take the queue's next entry before
 * they go idle, so no entry waits for an uploader that was not woken.
 */
static void
wake_uploaders_locked (struct zcache *c, size_t n)
{
  struct uploader *u;

  for (; n > 0 && (u = c->up_idle) != NULL; n--) {
    uploader_busy_locked (c, u);
    pthread_cond_signal (&u->wake);
  }
}

/* Under c->lock: queue the N busy, referenced entries of V for the
 * uploaders (W: the flush that waits for them, or NULL) and wake them.
 */
static void
queue_uploads_locked (struct zcache *c, struct centry **v, size_t n,
                      struct upload_wait *w)
{
  size_t i;

  for (i = 0; i < n; i++) {
    v[i]->up_wait = w;
    v[i]->qnext = NULL;
    if (c->up_tail)
      c->up_tail->qnext = v[i];
    else
      c->up_head = v[i];
    c->up_tail = v[i];
  }
  wake_uploaders_locked (c, n);
}

/* A flush's uploads queued for the uploaders: how many are not done,
 * and how many of those done failed.
 */
struct upload_wait {
  size_t pending;                /* [C] */
  size_t failed;                 /* [C] */
};

/* Queue the N busy, referenced entries of V for the uploaders and wait
 * until they are done; *FAILED counts those that failed.  False, doing
 * nothing, when there are no uploaders (not started, or stopping).
 */
static bool
upload_queued (struct zcache *c, struct centry **v, size_t n, size_t *failed)
{
  struct upload_wait w = { .pending = n };
  LOCK_FOR_SCOPE (&c->lock);

  if (c->nuploaders == 0 || c->stop)
    return false;
  queue_uploads_locked (c, v, n, &w);
  /* The uploaders drain the queue before they stop. */
  while (w.pending > 0)
    pthread_cond_wait (&c->cond, &c->lock);
  *failed += w.failed;
  return true;
}

/* Upload or delete the N busy, referenced entries of V in parallel,
 * releasing each when it is done.  -1 (EIO) if any failed: they stay
 * dirty.
 */
static int
run_batch (struct zcache *c, struct centry **v, size_t n)
{
  struct batch b = { .c = c };
  pthread_t *threads = NULL;
  size_t i, nthreads = 0, want, failed = 0;

  if (prepare_batch (c, v, n, &b.v, &b.n, &failed) == -1)
    return -1;
  pthread_mutex_init (&b.lock, NULL);
  if (b.n > 0 && !upload_queued (c, b.v, b.n, &failed)) {
    want = b.n < c->upload_threads ? b.n : c->upload_threads;
    if (want > 1) {
      threads = calloc (want - 1, sizeof *threads);
      for (i = 0; threads && i < want - 1; i++) {
        if (pthread_create (&threads[i], NULL, batch_worker, &b) != 0)
          break;
        nthreads++;
      }
    }
    batch_worker (&b);
    for (i = 0; i < nthreads; i++)
      pthread_join (threads[i], NULL);
    free (threads);
    failed += b.failed;
  }
  pthread_mutex_destroy (&b.lock);

  if (failed) {
    report_failed (failed, n);
    errno = EIO;
    return -1;
  }
  return 0;
}

/* The uploaders: upload_threads threads, started with the write-back
 * thread, that upload the entries it queues (c->up_head), each taking
 * the next one as soon as it is done with the last, so that no upload
 * waits for the slowest of a round; an idle one waits to be handed work
 * (struct uploader).  Each keeps its upload_buffer from one chunk to
 * the next, and gives it back once it has found no work for
 * UPLOADER_IDLE_MS: a streaming write leaves an uploader idle for
 * moments between chunks, and mapping the buffer again each time would
 * fault it in each time.  They finish what is queued before they stop.
 * A flush queues what it takes here too (upload_queued).
 */
#define UPLOADER_IDLE_MS 5000

static void *
uploader (void *arg)
{
  struct uploader *u = arg;
  struct zcache *c = u->c;
  struct upload_buffer buf = { .chunk = NULL };
  uint64_t idle_since = 0;
  struct centry *e;
  int r;

  pthread_mutex_lock (&c->lock);
  for (;;) {
    e = c->up_head;
    if (e == NULL) {
      if (c->up_stop)
        break;
      if (!u->idle)
        uploader_idle_locked (c, u);
      if (buf.chunk == NULL) {
        pthread_cond_wait (&u->wake, &c->lock);
        continue;
      }
      if (idle_since == 0)
        idle_since = zcache_now_ms ();
      else if (zcache_now_ms () - idle_since >= UPLOADER_IDLE_MS) {
        pthread_mutex_unlock (&c->lock);
        upload_buffer_put (&buf);
        pthread_mutex_lock (&c->lock);
        continue;
      }
      zcache_timed_wait (c, &u->wake, UPLOADER_IDLE_MS);
      continue;
    }
    /* Woken by the queue, or found work on its own (a timeout). */
    if (u->idle)
      uploader_busy_locked (c, u);
    idle_since = 0;
    c->up_head = e->qnext;
    if (c->up_head == NULL)
      c->up_tail = NULL;
    e->qnext = NULL;
    c->up_busy++;
    pthread_mutex_unlock (&c->lock);

    /* The lease again: E may have waited in the queue for a while. */
    r = upload_buffer_get (&buf) == 0 &&
      cache_device_guard (e->dev) == 0 ? upload_one (c, e, &buf) : -1;

    pthread_mutex_lock (&c->lock);
    c->up_busy--;
    if (e->up_wait) {
      /* A flush's: it reports, and waits (release_locked wakes it). */
      e->up_wait->failed += r == -1;
      e->up_wait->pending--;
      e->up_wait = NULL;
    }
    else if (r == -1)
      c->up_failed++;
    release_locked (c, e);
    /* All done: the write-back thread commits, retires journal objects
     * and reports failures.
     */
    if (c->up_head == NULL && c->up_busy == 0 && !c->wb_kick) {
      c->wb_kick = true;
      pthread_cond_signal (&c->wb_cond);
    }
  }
  pthread_mutex_unlock (&c->lock);
  upload_buffer_put (&buf);
  return NULL;
}

/* The write-back thread's N busy, referenced entries of V: deletes
 * done here, uploads queued for the uploaders.  -1 if some failed
 * already.
 */
static int
dispatch (struct zcache *c, struct centry **v, size_t n)
{
  struct centry **up;
  size_t nup = 0, failed = 0;

  if (prepare_batch (c, v, n, &up, &nup, &failed) == -1)
    return -1;
  pthread_mutex_lock (&c->lock);
  queue_uploads_locked (c, up, nup, NULL);
  pthread_mutex_unlock (&c->lock);
  if (failed) {
    report_failed (failed, n);
    return -1;
  }
  return 0;
}

/* Under c->lock: mark E busy and referenced and add it to V. */
static void
take (struct centry *e, struct centry **v, size_t *n)
{
  e->busy = true;
  e->busy_seq = e->seq;
  e->busy_slotless = e->slot == ZSLOT_NONE;
  e->users++;
  v[(*n)++] = e;
}

/* Under c->lock: does a flush that began at sequence F need E?  A flush
 * of everything (ALL, at shutdown) uploads every dirty chunk; others
 * need what the store lacks, from before they began, and wait for what
 * is on its way there (E is busy then).
 */
static bool
flush_needs (const struct centry *e, uint64_t F, bool all)
{
  if (all)
    return e->dirty && e->dirty_since <= F;
  return (e->unsaved && e->unsaved_since <= F) ||
    (e->saving && e->saving_since <= F);
}

struct journal_job {
  struct zcache *c;
  struct cache_device *d;
  struct centry **v;
  size_t n;
  int r;
};

/* Journal a round's scattered chunks, then release them. */
static void *
journal_job_run (void *arg)
{
  struct journal_job *job = arg;
  size_t i;

  job->r = journal_write (job->c, job->d, job->v, job->n);
  LOCK_FOR_SCOPE (&job->c->lock);
  for (i = 0; i < job->n; i++)
    release_locked (job->c, job->v[i]);
  return NULL;
}

/* One round of a flush: the N taken entries of V, of device D (NULL:
 * of any).  Those the journal should take (journal_wanted) go to one
 * journal object (or a few, past its size bound), PUT by a thread of
 * its own while this one uploads the others.  *UPLOADED: some were
 * uploaded.
 */
static int
flush_round (struct zcache *c, struct cache_device *d, struct centry **v,
             size_t n, bool *uploaded)
{
  struct journal_job job = { .c = c, .d = d, .v = v };
  pthread_t thread;
  bool threaded;
  size_t i, nu = 0;
  int r = 0;

  if (d) {
    LOCK_FOR_SCOPE (&c->lock);
    /* Journaled ones to the front, to be the job's. */
    for (i = 0; i < n; i++)
      if (journal_wanted (c, v[i])) {
        struct centry *t = v[job.n];
        v[job.n++] = v[i];
        v[i] = t;
      }
  }
  nu = n - job.n;
  if (job.n == 0) {
    *uploaded = true;
    return run_batch (c, v, n);
  }
  if (zerofs_debug_flush)
    zdebug ("flush: journaling %zu chunks, uploading %zu", job.n, nu);
  /* The journal commits the index before its PUT (journal.c). */
  threaded = pthread_create (&thread, NULL, journal_job_run, &job) == 0;
  if (!threaded)
    journal_job_run (&job);
  if (nu > 0) {
    *uploaded = true;
    r = run_batch (c, v + job.n, nu);
  }
  if (threaded)
    pthread_join (thread, NULL);
  return r == -1 || job.r == -1 ? -1 : 0;
}

/* Flush D's chunks FIRST..LAST (D NULL: every device, every dirty
 * chunk, with no journal: shutdown).
 */
static int
flush_range (struct zcache *c, struct cache_device *d, uint64_t first, uint64_t last)
{
  CLEANUP_FREE struct centry **v = NULL;
  struct centry *e;
  uint64_t F = 0, i;
  struct cache_device *dd;
  size_t n, cap;
  bool others_busy, all = d == NULL, uploaded = false, rounds = false;

  pthread_mutex_lock (&c->lock);
  for (dd = c->devices; dd; dd = dd->next)
    if (d == NULL || dd == d)
      F = dd->seq > F ? dd->seq : F;
  for (;;) {
    cap = c->ndirty;
    if (cap == 0)
      break;
    free (v);
    v = malloc (cap * sizeof *v);
    if (v == NULL) {
      zerror ("malloc: %m");
      pthread_mutex_unlock (&c->lock);
      return -1;
    }
    n = 0;
    others_busy = false;
    if (d && last - first < 64) {
      for (i = first; i <= last; i++) {
        e = centry_find (c, d, i);
        if (e == NULL || !flush_needs (e, F, all))
          continue;
        if (e->busy)
          others_busy = true;
        else if (n < cap)
          take (e, v, &n);
      }
    }
    else {
      for (e = c->dirty_head; e && n < cap; e = e->dnext) {
        if ((d && e->dev != d) || e->index < first || e->index > last ||
            !flush_needs (e, F, all))
          continue;
        /* Flushing all (at close): not what can never be uploaded, so
         * that the other devices' chunks are.
         */
        if (all && cache_device_fenced (e->dev))
          continue;
        if (e->busy)
          others_busy = true;
        else
          take (e, v, &n);
      }
    }
    if (n == 0 && !others_busy)
      break;
    if (n == 0) {
      zcache_timed_wait (c, &c->cond, 1000);
      continue;
    }
    pthread_mutex_unlock (&c->lock);
    rounds = true;
    if (zerofs_debug_flush)
      zdebug ("flush: %zu chunks", n);
    if (flush_round (c, d, v, n, &uploaded) == -1)
      return -1;
    pthread_mutex_lock (&c->lock);
  }
  pthread_mutex_unlock (&c->lock);
  /* Rule 4: after uploads, and for a flush that had nothing of its own
   * to send (what it needs was sent by others, or nothing is dirty: the
   * writes before it must still reach the disk).
   */
  if (uploaded || !rounds)
    return zcache_commit (c);
  return 0;
}

int
zcache_flush (struct cache_device *d, uint64_t first, uint64_t last)
{
  struct zcache *c = d->c;

  if (cache_device_fenced (d))
    return cache_fenced_error (d);
  if (c->durability == ZDUR_LOCAL)
    return zcache_commit_local_flush (c);
  if (flush_range (c, d, first, last) == -1)
    return -1;
  /* Acknowledged only if this server still held the lease when its
   * uploads ended (zlease_confirm_within).
   */
  return cache_device_confirm_flush (d);
}

int
zcache_flush_all (struct zcache *c)
{
  return flush_range (c, NULL, 0, UINT64_MAX);
}

/* Under c->lock: wake the write-back thread and wait (at most a second)
 * for it to make room.
 */
void
zcache_wait_for_space_locked (struct zcache *c)
{
  c->space_waiters++;
  c->wb_kick = true;
  pthread_cond_signal (&c->wb_cond);
  zcache_timed_wait (c, &c->cond, 1000);
  c->space_waiters--;
}

static uint64_t
ms_since (const struct timespec *t)
{
  struct timespec now;

  clock_gettime (CLOCK_MONOTONIC, &now);
  return (now.tv_sec - t->tv_sec) * 1000 +
    (now.tv_nsec - t->tv_nsec) / 1000000;
}

/* Milliseconds from now until T (0 if past). */
static unsigned
ms_until (const struct timespec *t)
{
  struct timespec now;
  int64_t ms;

  clock_gettime (CLOCK_MONOTONIC, &now);
  ms = (int64_t) (t->tv_sec - now.tv_sec) * 1000 +
    (t->tv_nsec - now.tv_nsec) / 1000000;
  return ms > 0 ? ms : 0;
}

/* Under c->lock: is E, dirty and not busy, due for a streaming upload
 * at NOW_MS (see the top of this file)?  *WAIT: not yet, but it will be
 * in ZWRITEBACK_STREAM_IDLE_MS if left alone.
 */
static bool
stream_due (const struct centry *e, uint64_t now_ms, bool *wait)
{
  if (!centry_rewritten (e) ||
      (e->upload_ms && now_ms - e->upload_ms < ZWRITEBACK_DELAY_S * 1000))
    return false;
  if (e->dev->write_index > e->index ||
      now_ms - e->write_ms >= ZWRITEBACK_STREAM_IDLE_MS)
    return true;
  *wait = true;
  return false;
}

void
writeback_note_write_locked (struct zcache *c, struct centry *e,
                             bool was_rewritten)
{
  struct cache_device *d = e->dev;
  uint64_t now = zcache_now_ms ();
  uint64_t prev_index = d->write_index;
  struct centry *prev;
  bool kick = false, wait = false, prev_wait;

  e->write_ms = now;
  d->write_index = e->index;
  if (prev_index < e->index) {
    /* Moving on to a later chunk may make the previous one due. */
    prev = centry_find (c, d, prev_index);
    kick = prev && prev->dirty && !prev->busy &&
      stream_due (prev, now, &prev_wait);
  }
  /* Just completed: due when left alone, the thread must look then. */
  if (!was_rewritten && e->dirty && !e->busy)
    stream_due (e, now, &wait);
  if ((kick || wait) && !c->wb_kick) {
    c->wb_kick = true;
    pthread_cond_signal (&c->wb_cond);
  }
}

/* Under c->lock: are E's changes durable without its upload?  Yes when
 * the journal holds them, and with durability=local, where a flush
 * syncs them in the cache and the write-back thread commits the index
 * at least every ZCOMMIT_INTERVAL_MS whether or not anyone flushes.
 */
static bool
durable_in_place (const struct zcache *c, const struct centry *e)
{
  return e->journal_first != 0 || c->durability == ZDUR_LOCAL;
}

/* Under c->lock: is E due for upload by the write-back thread?
 *
 * When the cache fills with dirty chunks (URGENT: half of dirty_max),
 * every chunk the journal does not hold is due.  Journaled chunks are
 * in the store already and need uploading only to free their slots:
 * they are due when writers wait for space or dirty chunks reach 7/8 of
 * dirty_max (writers wait at dirty_max), so that a random-write working
 * set that the cache can hold is not uploaded over and over.  (With
 * durability=local the cache has the only copy: under pressure, the
 * sooner it is uploaded the better.)
 *
 * A chunk rewritten whole (not merely cached whole: a warm cache holds
 * most chunks whole) goes as soon as the writer is done with it
 * (stream_due): a sequential write's uploads overlap the writing.
 * *STREAM_WAIT: E was rewritten whole but is not due yet: look again
 * in ZWRITEBACK_STREAM_IDLE_MS.
 *
 * A chunk durable in place would cost a 1 MiB PUT per few KiB written
 * if it were uploaded each ZWRITEBACK_DELAY_S: a database's hot pages
 * and log are rewritten all the time.  It waits until its device is
 * idle, or it is writeback-max-age old (what a loss of the cache disk
 * can cost with durability=local), or the journal is filling up and it
 * holds the older half of it.  (A writeback-max-age below
 * ZWRITEBACK_DELAY_S shortens the other waits to it: c->writeback_delay.)
 */
static bool
writeback_due (struct zcache *c, struct centry *e, time_t now,
               uint64_t now_ms, bool urgent, bool *stream_wait)
{
  struct cache_device *d = e->dev;

  if (e->busy || cache_device_fenced (d))
    return false;
  if ((urgent && (e->journal_first == 0 || c->space_waiters > 0 ||
                  cache_ndirty (c) >= cache_dirty_limit (c) / 8 * 7)) ||
      stream_due (e, now_ms, stream_wait))
    return true;
  if (!durable_in_place (c, e))
    return now - e->dirty_time >= c->writeback_delay;
  return now - d->last_write >= c->writeback_delay ||
    now - e->dirty_time >= c->durable_max_age ||
    (e->journal_first != 0 && journal_pressed (c, d) &&
     e->journal_first <= journal_cut (d));
}

/* The dirty chunks recovery found at open: a progress line on a
 * terminal while they are uploaded, a summary once they all are.  No
 * lock held.
 */
static void
recovery_progress (struct zcache *c, struct zprogress *p, uint64_t start_ms)
{
  uint64_t total, done, ms;

  pthread_mutex_lock (&c->lock);
  total = c->recover_total;
  done = c->recover_done;
  if (total > 0 && done >= total)
    c->recover_total = 0;
  pthread_mutex_unlock (&c->lock);
  if (total == 0)
    return;
  if (done < total) {
    zprogress_draw (p, false, "uploading the dirty chunks of the last run: "
                    "%" PRIu64 " of %" PRIu64, done, total);
    return;
  }
  zprogress_clear (p);
  ms = zcache_now_ms () - start_ms;
  zdebug ("cache: recovery: uploaded the %" PRIu64 " dirty chunks of the "
          "last run in %" PRIu64 ".%01" PRIu64 " s", total, ms / 1000,
          ms % 1000 / 100);
}

static void *
writeback_thread (void *arg)
{
  struct zcache *c = arg;
  struct centry *v[ZWRITEBACK_BATCH], *e;
  size_t n, up_failed;
  bool urgent, commit, failed, stream_wait = false;
  time_t now;
  uint64_t now_ms, start_ms = zcache_now_ms ();
  struct zprogress progress = { 0 };

  pthread_mutex_lock (&c->lock);
  while (!c->stop) {
    /* After a failed round, pause whatever asks for more: a store that
     * refuses every PUT must not be hammered in a loop.
     */
    if (ms_until (&c->wb_backoff_until) > 0) {
      zcache_timed_wait (c, &c->wb_cond, ms_until (&c->wb_backoff_until));
      continue;
    }
    if (!c->wb_kick)
      zcache_timed_wait (c, &c->wb_cond,
                         stream_wait ? ZWRITEBACK_STREAM_IDLE_MS : 1000);
    c->wb_kick = false;
    if (c->stop)
      break;
    now = zcache_now ();
    now_ms = zcache_now_ms ();
    urgent = c->space_waiters > 0 ||
      cache_ndirty (c) >= cache_dirty_limit (c) / 2;
    n = 0;
    stream_wait = false;
    for (e = c->dirty_head; e && n < ZWRITEBACK_BATCH; e = e->dnext)
      if (writeback_due (c, e, now, now_ms, urgent, &stream_wait))
        take (e, v, &n);
    /* Taking some commits the index (prepare_batch), but not always:
     * the records of chunks that keep being rewritten and uploaded, and
     * those a local flush left for later (cache.c, rule 9), wait at
     * most a second whatever is taken.
     */
    commit = c->index_head != NULL &&
      (ms_since (&c->last_commit) >= ZCOMMIT_INTERVAL_MS ||
       (n == 0 && c->npending > 0));
    up_failed = c->up_failed;
    c->up_failed = 0;
    pthread_mutex_unlock (&c->lock);

    failed = false;
    if (up_failed) {
      report_failed (up_failed, 0);
      failed = true;
    }
    if (n > 0) {
      if (zerofs_debug_flush)
        zdebug ("write-back: %zu chunks%s", n, urgent ? " (cache filling)" : "");
      /* Errors are logged; the chunks stay dirty and are tried again. */
      if (dispatch (c, v, n) == -1)
        failed = true;
    }
    if (commit)
      zcache_commit (c);
    /* Journal objects the uploads made useless. */
    journal_retire (c);
    cache_renew_leases (c);
    recovery_progress (c, &progress, start_ms);
    pthread_mutex_lock (&c->lock);
    /* Space may have been made: wake waiting writers. */
    pthread_cond_broadcast (&c->cond);
    if (failed) {
      clock_gettime (CLOCK_MONOTONIC, &c->wb_backoff_until);
      c->wb_backoff_until.tv_sec += ZWRITEBACK_BACKOFF_S;
    }
    else if (n == ZWRITEBACK_BATCH || (urgent && n > 0))
      c->wb_kick = true;                      /* more to do: no pause */
  }
  pthread_mutex_unlock (&c->lock);
  zprogress_clear (&progress);
  return NULL;
}

static void stop_uploaders (struct zcache *c);

int
zcache_start_writeback (struct zcache *c)
{
  pthread_condattr_t attr;
  struct uploader *u;
  int err;

  c->uploaders = calloc (c->upload_threads, sizeof *c->uploaders);
  if (c->uploaders == NULL) {
    zerror ("calloc: %m");
    return -1;
  }
  pthread_condattr_init (&attr);
  pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
  for (; c->nuploaders < c->upload_threads; c->nuploaders++) {
    u = &c->uploaders[c->nuploaders];
    u->c = c;
    pthread_cond_init (&u->wake, &attr);
    err = pthread_create (&u->thread, NULL, uploader, u);
    if (err) {
      pthread_cond_destroy (&u->wake);
      pthread_condattr_destroy (&attr);
      goto failed;
    }
  }
  pthread_condattr_destroy (&attr);
  err = pthread_create (&c->wb_thread, NULL, writeback_thread, c);
  if (err)
    goto failed;
  c->wb_started = true;
  return 0;

 failed:
  errno = err;
  zerror ("pthread_create: %m");
  stop_uploaders (c);
  return -1;
}

/* Once nothing queues for them any more. */
static void
stop_uploaders (struct zcache *c)
{
  unsigned i;

  pthread_mutex_lock (&c->lock);
  c->stop = c->up_stop = true;
  for (i = 0; i < c->nuploaders; i++)
    pthread_cond_signal (&c->uploaders[i].wake);
  pthread_mutex_unlock (&c->lock);
  for (i = 0; i < c->nuploaders; i++) {
    pthread_join (c->uploaders[i].thread, NULL);
    pthread_cond_destroy (&c->uploaders[i].wake);
  }
  c->nuploaders = 0;
  c->up_idle = NULL;
  free (c->uploaders);
  c->uploaders = NULL;
}

void
zcache_stop_writeback (struct zcache *c)
{
  if (!c->wb_started)
    return;
  pthread_mutex_lock (&c->lock);
  c->stop = true;
  pthread_cond_broadcast (&c->wb_cond);
  pthread_cond_broadcast (&c->cond);
  pthread_mutex_unlock (&c->lock);
  pthread_join (c->wb_thread, NULL);
  stop_uploaders (c);
  c->wb_started = false;
}
