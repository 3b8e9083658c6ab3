/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: readahead of cold sequential reads.
 *
 * Why.  A chunk that is not cached costs one GET of its 1 MiB object,
 * a round trip to the store.  A reader with one request in flight (a
 * restore, a VM booting from a clone, dd) would wait a round trip per
 * MiB: 20 ms away, about 50 MiB/s whatever the store's bandwidth.  So
 * when a device is read sequentially, the chunks after the reader are
 * fetched in parallel, in the background, before it asks for them.
 *
 * Streams.  Each device keeps ZRA_STREAMS stream trackers (struct
 * ra_stream, in struct cache_device), shared by every connection to it:
 * a read at exactly the offset where a tracked stream's last read ended
 * continues that stream; any other read replaces the least recently
 * used tracker with a new stream that starts after it.  So a few
 * sequential readers (one per connection, or several in one) are
 * followed side by side, and random reads only ever make new streams
 * that are never continued: they read nothing ahead.
 *
 * Reordering.  A reader with several requests in flight (fio at QD8,
 * nbdcopy, the kernel's own readahead) sends them in order, but
 * nbdkit's threads start them in any order: read 3 may come before
 * read 2.  Taken literally, read 3 starts a new stream, read 2 ends the
 * old one, and read 4 continues the new one with its window back at
 * the start: at QD8 the window hardly grew.  So an established stream
 * (one continued at least once, which random reads never make) also
 * takes reads a little out of order, within ZRA_REORDER reads of its
 * end: one that starts ahead of the end continues it from there, and
 * one that lies behind the end (a late read of the stream) changes
 * nothing and starts no stream.
 *
 * Window.  The second read of a stream (the first that continues it)
 * opens a window of ZRA_START_CHUNKS chunks after the chunk the reader
 * is in; each later read that enters a new chunk doubles the window, up
 * to readahead= bytes (conf.c; 0 turns all this off) and a quarter of
 * the cache's slots, so that chunks read ahead are not evicted by
 * other chunks read ahead before the reader gets to them.  A read that
 * enters a chunk asks for the chunks of the window not asked for yet
 * (the stream remembers how far it asked, ra_end).  -D zerofs.readahead=1
 * logs new windows.
 *
 * Threads.  The chunks asked for go to a bounded queue (ZRA_QUEUE),
 * served by a fixed pool of threads (as many as the largest window, at
 * most ZRA_THREADS_MAX: several streams share them), started with the
 * cache and joined when it closes.  (Each thread costs more than its
 * stack: once it has decoded a chunk it keeps the codec's per-thread
 * contexts and a 1 MiB scratch buffer, lib/chunk.c.)  A full queue
 * drops the rest of the window (the stream asks again at its next
 * chunk): readahead is a hint, never a reason for a reader to wait.  A thread fetches through the cache's own path
 * (centry_fetch_shared), so a chunk is fetched once however many want
 * it, the GET runs with no lock held, and a reader that arrives during
 * it waits for it instead of sending its own.  Before that it skips a
 * chunk that is cached whole, has nothing in the store, or whose GET is
 * under way.  A failed readahead is not reported to anyone (the reader
 * that needs the chunk will GET it, and fail, itself).
 *
 * Cache space.  Readahead takes a slot like any fetch (evicting a clean
 * chunk nobody uses, never a dirty one), and when none can be had the
 * fetched copy is dropped (centry_fetch_shared's "a prefetch is only a
 * hint").  It does not even ask while the cache is short of space: when
 * writers wait for room, or when so much is dirty that the write-back
 * is uploading to make room (half of dirty_max, writeback.c's "cache
 * filling").
 *
 * Copies.  A chunk read ahead was decoded, encrypted into its slot, and
 * would be read back and decrypted when the reader comes: at 1 MiB per
 * chunk, a pread and an XTS pass per cold MiB for nothing.  So a thread
 * keeps the plaintext it installed on the entry (e->ra_copy) when it
 * installed the whole chunk, and a read of the chunk copies from it
 * (chunk-io.c: read_locked).  The copy is the slot's plaintext as long
 * as nothing changes the slot, so everything that does drops it first
 * (a write, a trim, an eviction); the reader drops it once it has read
 * the chunk's end.  At most ra_max copies exist (the largest window, 16
 * MiB by default: plaintext in memory, never on disk); a new one takes
 * the place of the oldest that nobody is using, or is not kept.  Their
 * buffers are reused (c->copy_free, as many as there are threads), so
 * that a fetch does not fault in a fresh megabyte.
 *
 * Locks.  Every read of a device comes through zcache_readahead, so it
 * must not serialise reads that have nothing to do with a stream (4 KiB
 * random reads at QD32).  The trackers' "next" offsets and LRU stamps
 * are atomics, in two arrays of one cache line each (d->ra_next,
 * d->ra_use; the stamp is one more than the newest, no shared counter):
 * a read looks for its stream without a lock, and a read that continues
 * none (a random read) starts a new stream with two relaxed stores and
 * no lock or read-modify-write at all.  Only a read that continues a
 * stream takes the device's d->ra_lock (streams of one device only ever
 * wait for each other), and claims the tracker by moving its "next"
 * with a compare-and-swap, so that two reads never both continue one
 * stream.
 * c->ra_lock guards the queue and the threads' wake-ups; it is taken
 * under d->ra_lock only to queue chunks, and never while taking another
 * lock.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "internal.h"
#include "log.h"

/* A stream's first window, in chunks. */
#define ZRA_START_CHUNKS 2

/* How far out of order, in reads of its size, a read may come and still
 * belong to an established stream.
 */
#define ZRA_REORDER 8

/* Under c->lock: is the cache too short of space for readahead? */
static bool
short_of_space (struct zcache *c)
{
  return c->space_waiters > 0 || cache_ndirty (c) >= cache_dirty_limit (c) / 2;
}

/* A chunk-sized buffer for a fetch: a reused one, or a new one (NULL
 * if none can be had: the fetch allocates its own).
 */
static void *
copy_buffer (struct zcache *c)
{
  pthread_mutex_lock (&c->lock);
  if (c->ncopy_free > 0) {
    void *buf = c->copy_free[--c->ncopy_free];
    pthread_mutex_unlock (&c->lock);
    return buf;
  }
  pthread_mutex_unlock (&c->lock);
  return malloc (ZCHUNK_SIZE);
}

/* Under c->lock: BUF is not needed any more. */
static void
copy_buffer_put_locked (struct zcache *c, void *buf)
{
  if (buf && c->copy_free && c->ncopy_free < c->ra_nthreads)
    c->copy_free[c->ncopy_free++] = buf;
  else
    free (buf);
}

/* Under c->lock, by a thread allowed to (see e->ra_copy): drop E's
 * readahead copy, if it has one.
 */
void
ra_copy_drop_locked (struct zcache *c, struct centry *e)
{
  if (e->ra_copy == NULL)
    return;
  if (e->cprev)
    e->cprev->cnext = e->cnext;
  else
    c->copy_head = e->cnext;
  if (e->cnext)
    e->cnext->cprev = e->cprev;
  else
    c->copy_tail = e->cprev;
  e->cprev = e->cnext = NULL;
  c->ncopies--;
  copy_buffer_put_locked (c, e->ra_copy);
  e->ra_copy = NULL;
}

/* Keep *BUF as E's readahead copy (referenced by this thread) if the
 * slot still equals it (INTO says it was installed whole, and E's
 * sequence has not moved since) and there is room; *BUF is then NULL.
 */
static void
copy_keep (struct zcache *c, struct centry *e, const struct fetch_into *into,
           void **buf)
{
  pthread_rwlock_t *stripe = centry_stripe (c, e->dev, e->index);
  struct centry *old;

  if (!into->whole)
    return;
  WRLOCK_FOR_SCOPE (stripe);
  LOCK_FOR_SCOPE (&c->lock);
  if (e->ra_copy || e->seq != into->seq || !centry_full (e))
    return;
  /* Full: the oldest copy nobody uses makes room. */
  for (old = c->copy_head; old && c->ncopies >= c->ra_max; old = old->cnext)
    if (old->users == 0) {
      ra_copy_drop_locked (c, old);
      break;
    }
  if (c->ncopies >= c->ra_max)
    return;
  e->ra_copy = *buf;
  *buf = NULL;
  e->cnext = NULL;
  e->cprev = c->copy_tail;
  if (c->copy_tail)
    c->copy_tail->cnext = e;
  else
    c->copy_head = e;
  c->copy_tail = e;
  c->ncopies++;
}

/* Bring chunk INDEX of D into the cache unless it is there already,
 * needs no GET, or is being fetched.
 */
static void
ra_fetch (struct cache_device *d, uint64_t index)
{
  struct zcache *c = d->c;
  pthread_rwlock_t *stripe = centry_stripe (c, d, index);
  CLEANUP_FREE void *plain = NULL;
  struct fetch_into into = { .buf = NULL };
  struct centry *e;
  bool wanted;

  pthread_mutex_lock (&c->lock);
  if (short_of_space (c)) {
    pthread_mutex_unlock (&c->lock);
    return;
  }
  /* An entry's [S] fields may be read under c->lock. */
  e = centry_find (c, d, index);
  wanted = e == NULL || (!e->fetching && e->base_remote && !centry_full (e));
  pthread_mutex_unlock (&c->lock);
  if (!wanted)
    return;

  e = centry_get (c, d, index);
  if (e == NULL)
    return;
  pthread_rwlock_rdlock (stripe);
  wanted = e->base_remote && !centry_full (e);
  pthread_rwlock_unlock (stripe);
  if (wanted) {
    into.buf = copy_buffer (c);
    if (centry_fetch_shared (c, e, &plain, NULL, &into) == -1 &&
        zerofs_debug_readahead)
      zdebug ("readahead: chunk %" PRIu64 " of %s: %m", index, d->name);
    copy_keep (c, e, &into, &into.buf);
  }
  pthread_mutex_lock (&c->lock);
  copy_buffer_put_locked (c, into.buf);
  centry_put_locked (c, e);
  pthread_mutex_unlock (&c->lock);
}

static void *
ra_thread (void *arg)
{
  struct zcache *c = arg;
  struct ra_item item;

  pthread_mutex_lock (&c->ra_lock);
  for (;;) {
    while (c->ra_len == 0 && !c->ra_stop)
      pthread_cond_wait (&c->ra_cond, &c->ra_lock);
    if (c->ra_stop)
      break;
    item = c->ra_queue[c->ra_head];
    c->ra_head = (c->ra_head + 1) % ZRA_QUEUE;
    c->ra_len--;
    pthread_mutex_unlock (&c->ra_lock);
    ra_fetch (item.d, item.index);
    pthread_mutex_lock (&c->ra_lock);
  }
  pthread_mutex_unlock (&c->ra_lock);
  return NULL;
}

/* The largest window, in chunks (0: readahead is off). */
static uint64_t
max_window (const struct zcache *c)
{
  uint64_t n = c->conf->readahead / ZCHUNK_SIZE;

  if (c->conf->readahead > 0 && n == 0)
    n = 1;
  if (n > c->nslots / 4)
    n = c->nslots / 4;
  return n;
}

int
readahead_start (struct zcache *c)
{
  uint64_t n = max_window (c);
  int err;

  pthread_mutex_init (&c->ra_lock, NULL);
  pthread_cond_init (&c->ra_cond, NULL);
  c->ra_init = true;
  c->ra_max = n;
  if (n > ZRA_THREADS_MAX)
    n = ZRA_THREADS_MAX;
  c->ra_threads = calloc (n ? n : 1, sizeof *c->ra_threads);
  c->copy_free = calloc (n + 1, sizeof *c->copy_free);
  if (c->ra_threads == NULL || c->copy_free == NULL) {
    zerror ("calloc: %m");
    return -1;
  }
  for (c->ra_nthreads = 0; c->ra_nthreads < n; c->ra_nthreads++) {
    err = pthread_create (&c->ra_threads[c->ra_nthreads], NULL, ra_thread, c);
    if (err) {
      errno = err;
      zerror ("readahead: pthread_create: %m");
      return -1;
    }
  }
  return 0;
}

void
readahead_stop (struct zcache *c)
{
  unsigned i;

  if (!c->ra_init)
    return;
  pthread_mutex_lock (&c->ra_lock);
  c->ra_stop = true;
  pthread_cond_broadcast (&c->ra_cond);
  pthread_mutex_unlock (&c->ra_lock);
  for (i = 0; i < c->ra_nthreads; i++)
    pthread_join (c->ra_threads[i], NULL);
  free (c->ra_threads);
  c->ra_threads = NULL;
  c->ra_nthreads = 0;
  /* The copies die with their entries (zcache_close). */
  while (c->ncopy_free > 0)
    free (c->copy_free[--c->ncopy_free]);
  free (c->copy_free);
  c->copy_free = NULL;
  pthread_cond_destroy (&c->ra_cond);
  pthread_mutex_destroy (&c->ra_lock);
  c->ra_init = false;
}

/* The tracker a new stream replaces: an unused one, else the least
 * recently used; *USE is the stamp its new stream gets, one more than
 * the newest.  No lock: two reads that pick the same tracker at once
 * both start a stream in it and the later one wins, and two may get the
 * same stamp (readahead is a hint: a stream lost so starts again with
 * its next read).
 */
static unsigned
victim (struct cache_device *d, uint64_t *use)
{
  uint64_t oldest = UINT64_MAX, newest = 0, u;
  unsigned i, lru = 0, unused = ZRA_STREAMS;

  for (i = 0; i < ZRA_STREAMS; i++) {
    u = atomic_load_explicit (&d->ra_use[i], memory_order_relaxed);
    if (u > newest)
      newest = u;
    if (u < oldest) {
      oldest = u;
      lru = i;
    }
    if (unused == ZRA_STREAMS &&
        atomic_load_explicit (&d->ra_next[i], memory_order_relaxed) == 0)
      unused = i;
  }
  *use = newest + 1;
  return unused < ZRA_STREAMS ? unused : lru;
}

/* Under d->ra_lock and c->ra_lock: queue chunks S->ra_end .. END-1 (as
 * many as fit).
 */
static void
queue_chunks (struct zcache *c, struct cache_device *d, struct ra_stream *s,
              uint64_t end)
{
  size_t tail;
  bool queued = false;

  for (; s->ra_end < end && c->ra_len < ZRA_QUEUE; s->ra_end++) {
    tail = (c->ra_head + c->ra_len) % ZRA_QUEUE;
    c->ra_queue[tail].d = d;
    c->ra_queue[tail].index = s->ra_end;
    c->ra_len++;
    queued = true;
  }
  if (queued)
    pthread_cond_broadcast (&c->ra_cond);
}

/* Under d->ra_lock: S, whose NEXT was SEEN, is continued by a read
 * ending at byte NEXT, in chunk LAST (its ra_next already moved there).  Open or widen its
 * window and ask for what it does not have yet.
 */
static void
continue_stream (struct zcache *c, struct cache_device *d,
                 struct ra_stream *s, uint64_t seen, uint64_t next,
                 uint64_t last)
{
  uint64_t end;

  /* The first read that continues a stream finds its other fields as
   * the stream it replaced left them: this is where they start.
   */
  if (seen & ZRA_FRESH) {
    s->window = 0;
    s->chunk = ((seen & ~ZRA_FRESH) - 1) / ZCHUNK_SIZE;
    s->ra_end = s->chunk + 1;
  }
  /* A read in the chunk the last one ended in (or, out of order,
   * before it) asks nothing more.
   */
  if (last <= s->chunk && s->window > 0)
    return;
  s->chunk = last;
  if (s->window == 0)
    s->window = ZRA_START_CHUNKS < c->ra_max ? ZRA_START_CHUNKS : c->ra_max;
  else if (s->window < c->ra_max) {
    s->window *= 2;
    if (s->window > c->ra_max)
      s->window = c->ra_max;
  }
  else
    goto ask;
  if (zerofs_debug_readahead)
    zdebug ("readahead: %s: stream at byte %" PRIu64 ": window %" PRIu64
            " chunks", d->name, next, s->window);
 ask:
  if (s->ra_end <= last)
    s->ra_end = last + 1;
  end = last + 1 + s->window;
  if (end > d->nchunks)
    end = d->nchunks;
  if (s->ra_end < end) {
    LOCK_FOR_SCOPE (&c->ra_lock);
    queue_chunks (c, d, s, end);
  }
}

/* The tracker of the stream that a read of COUNT bytes at OFFSET
 * belongs to, its ra_next in *SEEN: the one whose last read ended
 * exactly at OFFSET, else an established one that ended within
 * ZRA_REORDER reads of it (so that of two streams close together, each
 * keeps its own reads); ZRA_STREAMS if none.  No lock.
 */
static unsigned
find_stream (struct cache_device *d, uint64_t offset, uint32_t count,
             uint64_t *seen)
{
  uint64_t slack = (uint64_t) count * ZRA_REORDER, next, end;
  unsigned i, near = ZRA_STREAMS;

  for (i = 0; i < ZRA_STREAMS; i++) {
    next = atomic_load_explicit (&d->ra_next[i], memory_order_relaxed);
    if (next == 0)
      continue;
    end = next & ~ZRA_FRESH;
    if (end == offset) {
      *seen = next;
      return i;
    }
    if (near == ZRA_STREAMS && !(next & ZRA_FRESH) &&
        (offset < end ? end - offset : offset - end) <= slack) {
      near = i;
      *seen = next;
    }
  }
  return near;
}

/* Every read of a device comes here, at any queue depth: a read that
 * continues no stream (a random read) takes no lock, and reads and
 * writes two cache lines, ra_next and ra_use.
 */
void
zcache_readahead (struct cache_device *d, uint64_t offset, uint32_t count)
{
  struct zcache *c = d->c;
  uint64_t last, seen = 0, use;
  unsigned i;

  if (c->ra_max == 0 || count == 0)
    return;
  last = (offset + count - 1) / ZCHUNK_SIZE;
  i = find_stream (d, offset, count, &seen);
  if (i < ZRA_STREAMS) {
    if (offset + count <= (seen & ~ZRA_FRESH))
      return;                   /* a late read of an established stream */
    /* Reads that continue a stream take the device's lock, one at a
     * time, and take the stream over from where it is: a tracker that
     * changed meanwhile (another read continued it, or a new stream
     * replaced it) is not this read's.
     */
    LOCK_FOR_SCOPE (&d->ra_lock);
    if (atomic_compare_exchange_strong_explicit (&d->ra_next[i], &seen,
                                                 offset + count,
                                                 memory_order_relaxed,
                                                 memory_order_relaxed)) {
      victim (d, &use);
      atomic_store_explicit (&d->ra_use[i], use, memory_order_relaxed);
      continue_stream (c, d, &d->ra[i], seen, offset + count, last);
      return;
    }
  }
  /* A new stream, whose other fields its first continuation sets. */
  i = victim (d, &use);
  atomic_store_explicit (&d->ra_use[i], use, memory_order_relaxed);
  atomic_store_explicit (&d->ra_next[i], (offset + count) | ZRA_FRESH,
                         memory_order_relaxed);
}
