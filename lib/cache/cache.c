/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: the chunk cache: open, recovery, devices and index commits.
 *
 * The cache sits between the NBD requests and the object store.  It owns
 * cache-dir:
 *
 *   lock        flock()ed by the one process that uses the directory
 *   index.mdb   the LMDB index (index.h): what is cached where, what
 *               is dirty, which chunks exist in the store
 *   slots       the chunk slots (slots.h), encrypted at rest
 *
 * Each chunk is in one of these states (struct centry, internal.h):
 *
 *   absent   no object, no slot: zeros (no record, no entry)
 *   remote   an object, no slot (a record with ZREC_REMOTE)
 *   clean    a slot holding exactly the object's bytes
 *   dirty    a slot newer than the store, with a bitmap of the valid
 *            sectors when the rest still comes from the object; or no slot
 *            at all when it was trimmed and its object must be deleted
 *   busy     dirty and being uploaded (in memory only)
 *
 * WRITE lands in a slot and returns; FLUSH uploads, or journals the
 * scattered changes (writeback.c, journal.c).
 *
 * Crash safety.  The index is changed in memory and committed in batches
 * (at least once a second, and by every flush), never once per write.
 * The rules that make that safe, and where they are kept:
 *
 * 1. Bytes reach the slot before the index says the slot holds them:
 *    zcache_commit (commit_write) fdatasyncs the slot file after taking
 *    its snapshot of the entries and before the LMDB commit, so every
 *    slot write that came before a state change in the snapshot is on
 *    disk first.  A crash before the commit loses unflushed writes, never
 *    maps a chunk onto bytes that were not written to it.
 *
 * 2. A slot is reused only after the commit that detached it is durable:
 *    eviction and trims put slots on the pending list; only a successful
 *    commit moves them to the free list (slot_attach in chunk-io.c
 *    commits when it needs them).
 *
 * 3. An upload seals a copy taken under the chunk's lock with its
 *    sequence number; a chunk written meanwhile stays dirty
 *    (writeback.c).
 *
 * 4. A flush commits the index before it returns, so no dirty record
 *    older than what the store holds survives a crash to be uploaded
 *    again over newer data.  Deletes (trims) are dirty chunks too: a
 *    flush waits for them like for uploads.
 *
 * 5. Write sequences only grow, across restarts too: they are reserved
 *    ZSEQ_RESERVE at a time in the device's record, committed before use,
 *    and a device (re)starts at max(reservation, the clock in ns).
 *
 * After a crash, zcache_open loads every record with a slot or a dirty
 * flag, and the write-back thread uploads the dirty ones at once, each
 * under a new sequence (past every one used before the crash: rule 5).
 * The store may hold an upload of the chunk newer than its record (one
 * that ended after the last commit); the slot's bytes are newer still,
 * and must not go out under a sequence older than that object's, which
 * a reader holding the object (a read-only server) takes for a
 * rollback, and which would let a replay apply journal records the
 * object already has over the slot's newer bytes.  A
 * device the cache does not know has its flush journal replayed before
 * it is served (journal.c); a replay cut short leaves the device not
 * "listed", and recover() forgets what it did, to start it again.
 *
 * What the index knows about the store: a device's chunk listing is
 * learnt once per cache (on first open, in the background while the
 * device is served: survey.c) and kept up to date by this process's own
 * uploads and deletes.  That holds while this cache is the
 * device's only writer (the lease, a later piece, will enforce it).
 *
 * 6. Writes land in place in a slot whose record may still say
 *    "clean" until the next commit.  So after an unclean shutdown (the
 *    index's "clean" flag is set only by zcache_close) clean slots are
 *    forgotten and fetched again from the store; only dirty ones, the
 *    unflushed data, are kept.
 *
 * 7. Before a batch of uploads touches the store, the index is committed
 *    with what the store may become: a chunk about to be PUT for the
 *    first time is recorded as possibly stored, and trims about to be
 *    deleted are recorded as trims (writeback.c).
 *
 * 8. Torn writes.  Slots are written in place, so a power loss can tear
 *    a write, including one over bytes a FLUSH acknowledged (with
 *    durability=local only the slot has them; with remote, recovery
 *    uploads the dirty slot).  The slots are encrypted in 512-byte units
 *    (slots.h), the size disks write atomically, so a torn write leaves
 *    every unit old or new: what NBD allows for a write not yet
 *    flushed, and what a plain disk gives.  Copy-on-write of a slot on
 *    the first write after each flush, or a redo log in the cache, would
 *    also keep the old bytes, but at the cost of a second copy of every
 *    such write (a 1 MiB copy per 4 KiB write, for a database that
 *    flushes after each one); the unit size costs nothing on that path.
 *    Caches made before keep 4 KiB units (the index says which).
 *
 * 9. A FLUSH with durability=local needs the slot file's fdatasync, and
 *    an index commit only when the index does not already hold what it
 *    would commit.  A database overwriting pages of chunks that are
 *    already dirty in the index changes nothing in their records but the
 *    write sequence: such a flush is the fdatasync alone
 *    (zcache_commit_local_flush), and the sequences wait for the next
 *    commit (the write-back thread's, once a second while records
 *    wait).  A crash meanwhile leaves records whose sequence is older
 *    than their slot's bytes, which is harmless for dirty records only:
 *    recovery uploads the slot whole under a new sequence (above), and
 *    a dirty record's sequence is not the store's (stored_seq is 0 for
 *    it).  A chunk uploaded since its record was committed takes a
 *    full commit all the same (the store then has a sequence the index
 *    lacks).  Every other caller of zcache_commit, and any record that
 *    is not dirty or differs in more than its sequence, gets a full
 *    commit.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "cleanup.h"
#include "internal.h"
#include "lease.h"
#include "utils.h"
#include "log.h"
#include "vector.h"

time_t
zcache_now (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec;
}

uint64_t
zcache_now_ms (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t
now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_REALTIME, &ts);
  return (uint64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Wait on COND (monotonic clock) for at most MS, with c->lock held. */
void
zcache_timed_wait (struct zcache *c, pthread_cond_t *cond, unsigned ms)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  ts.tv_sec += ms / 1000;
  ts.tv_nsec += (long) (ms % 1000) * 1000000;
  if (ts.tv_nsec >= 1000000000) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000;
  }
  pthread_cond_timedwait (cond, &c->lock, &ts);
}

/* mkdir -p DIR, DIR itself with MODE; errors name the failing path. */
static int
make_cache_dirs (const char *dir, mode_t mode)
{
  CLEANUP_FREE char *failed = NULL;

  if (make_dirs (dir, mode, &failed) == -1) {
    zerror ("cache-dir: mkdir %s: %m", failed ? failed : dir);
    return -1;
  }
  return 0;
}

int
zcache_lock_dir (const char *dir)
{
  char path[4096], pidbuf[32];
  CLEANUP_CLOSE int fd = -1;
  ssize_t n;
  int ret, err;

  if (make_cache_dirs (dir, 0700) == -1)
    return -1;
  snprintf (path, sizeof path, "%s/lock", dir);
  fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd == -1) {
    zerror ("cache-dir: %s: %m", path);
    return -1;
  }
  if (flock (fd, LOCK_EX | LOCK_NB) == -1) {
    err = errno;
    if (err == EWOULDBLOCK) {
      n = pread (fd, pidbuf, sizeof pidbuf - 1, 0);
      pidbuf[n > 0 ? n : 0] = '\0';
      pidbuf[strcspn (pidbuf, "\n")] = '\0';
      zerror ("cache-dir %s is in use by another zerofs process (pid %s): "
              "each server needs its own cache-dir",
              dir, pidbuf[0] ? pidbuf : "unknown");
    }
    else
      zerror ("cache-dir: flock %s: %m", path);
    errno = err == EWOULDBLOCK ? EBUSY : err;
    return -1;
  }
  if (zcache_lock_record_pid (fd) == -1)
    return -1;
  ret = fd;
  fd = -1;
  return ret;
}

int
zcache_lock_record_pid (int lock_fd)
{
  char pidbuf[32];

  snprintf (pidbuf, sizeof pidbuf, "%ld\n", (long) getpid ());
  if (ftruncate (lock_fd, 0) == -1 ||
      pwrite (lock_fd, pidbuf, strlen (pidbuf), 0) !=
      (ssize_t) strlen (pidbuf)) {
    zerror ("cache-dir: writing the lock file: %m");
    return -1;
  }
  return 0;
}

uint64_t
zcache_next_seq (struct cache_device *d)
{
  d->seq++;
  if (d->seq + ZSEQ_RESERVE / 2 >= d->seq_reserved) {
    if (!d->record_dirty && zerofs_debug_cache)
      zdebug ("cache: %s: reserving more write sequences", d->name);
    d->record_dirty = true;
    d->c->wb_kick = true;
  }
  return d->seq;
}

uint64_t
cache_device_nchunks (const struct cache_device *d)
{
  return d->nchunks;
}

uint64_t
cache_device_size (const struct cache_device *d)
{
  return d->size;
}

uint32_t
cache_device_chunk_len (const struct cache_device *d, uint64_t index)
{
  uint64_t start = index << ZCHUNK_SHIFT;

  if (start + ZCHUNK_SIZE <= d->size)
    return ZCHUNK_SIZE;
  return d->size - start;
}

void
zcache_get_stats (struct zcache *c, struct zcache_stats *st)
{
  LOCK_FOR_SCOPE (&c->lock);

  *st = c->stats;
  st->slots = c->nslots;
  st->free_slots = c->nfree;
  st->dirty = c->ndirty;
}

void
zcache_device_get_stats (struct cache_device *d, struct zcache_device_stats *st)
{
  LOCK_FOR_SCOPE (&d->c->lock);

  *st = d->stats;
  st->journal_objects = d->journal.len;
  st->journal_bytes = d->journal_bytes;
}

/* Snapshot of one entry's record for a commit. */
struct snap {
  struct centry *e;
  uint64_t change;
  uint64_t stored_seq;          /* of the store's object (rule 9) */
  bool del;
  struct zindex_chunk rec;
};

static void
record_of (const struct centry *e, struct zindex_chunk *rec)
{
  memset (rec, 0, sizeof *rec);
  rec->flags = (e->remote ? ZREC_REMOTE : 0) |
    (e->base_remote ? ZREC_BASE_REMOTE : 0) | (e->dirty ? ZREC_DIRTY : 0) |
    (e->remote && e->maybe ? ZREC_MAYBE : 0);
  rec->slot = e->slot;
  rec->seq = e->seq;
  memcpy (rec->bitmap, e->bitmap, sizeof rec->bitmap);
}

/* D's record, "listed" as LISTED: its chunk listing complete (the
 * survey over, survey.c) and its journal replayed ("replayed", d->listed
 * in memory).
 */
static struct index_device
device_record (const struct cache_device *d, uint64_t reserved, bool listed)
{
  struct index_device r;

  memset (&r, 0, sizeof r);
  memcpy (r.uuid, d->uuid, 16);
  strcpy (r.name, d->name);
  r.listed = listed && d->listed;
  r.replayed = d->listed;
  r.seq_reserved = reserved;
  r.generation = d->generation;
  r.lease_mark = cache_device_lease_mark (d);
  return r;
}

/* Rule 9: does the index already hold SNAPS[N] and the device records
 * DEVS[NDEV] as a commit would write them, but for the sequences of
 * dirty chunk records?  Called with commit_lock held (no writer).
 */
static bool
index_current_but_seqs (struct zcache *c, const struct snap *snaps, size_t n,
                        const struct index_device *devs, size_t ndev)
{
  CLEANUP_ZINDEX_ABORT struct zindex_txn *txn = NULL;
  struct zindex_chunk rec;
  struct index_device dev;
  size_t k;

  if (n > 0 && (txn = zindex_begin_read (c->ix)) == NULL)
    return false;
  for (k = 0; k < n; k++) {
    const struct zindex_chunk *want = &snaps[k].rec;

    /* Uploaded since its record was committed (the chunk rewritten
     * meanwhile, so still dirty): the record's sequence must catch up
     * with the object's before a crash could upload the slot under the
     * older one, which would take the object's sequence backwards.
     */
    if (snaps[k].del || !(want->flags & ZREC_DIRTY) ||
        zindex_txn_get_chunk (txn, snaps[k].e->dev->uuid, snaps[k].e->index,
                              &rec) != 0 ||
        rec.flags != want->flags || rec.slot != want->slot ||
        rec.seq > want->seq || snaps[k].stored_seq > rec.seq ||
        memcmp (rec.bitmap, want->bitmap, sizeof rec.bitmap) != 0)
      return false;
  }
  for (k = 0; k < ndev; k++)
    if (zindex_get_device (c->ix, devs[k].uuid, &dev) != 0 ||
        strcmp (dev.name, devs[k].name) != 0 ||
        dev.listed != devs[k].listed || dev.replayed != devs[k].replayed ||
        dev.generation != devs[k].generation ||
        dev.seq_reserved != devs[k].seq_reserved ||
        dev.lease_mark != devs[k].lease_mark)
      return false;
  return true;
}

/* Rule 1 without the index: the slot file's fdatasync. */
static int
sync_slots (struct zcache *c)
{
  if (c->broken) {
    zerror ("cache-dir %s: an earlier write to the slot file did not reach "
            "the disk; no more commits (restart the server)", c->dir);
    errno = EIO;
    return -1;
  }
  if (zslots_sync (c->slots) == -1) {
    pthread_mutex_lock (&c->lock);
    c->broken = true;
    pthread_mutex_unlock (&c->lock);
    return -1;
  }
  return 0;
}

/* Write the snapshot SNAPS[N] and every device's record in one
 * transaction, durable on return.
 */
static int
commit_write (struct zcache *c, const struct snap *snaps, size_t n)
{
  CLEANUP_ZINDEX_ABORT struct zindex_txn *txn = NULL;
  struct cache_device *d;
  size_t k;

  /* Rule 1: slot bytes are durable before the records that name them.
   * A failed fdatasync is final: Linux may have dropped the pages, and
   * a later fdatasync would succeed without them.
   */
  if (sync_slots (c) == -1)
    return -1;
  txn = zindex_begin (c->ix);
  if (txn == NULL)
    return -1;
  for (k = 0; k < n; k++) {
    if (snaps[k].del ?
        zindex_del_chunk (txn, snaps[k].e->dev->uuid, snaps[k].e->index) :
        zindex_put_chunk (txn, snaps[k].e->dev->uuid, snaps[k].e->index,
                          &snaps[k].rec))
      return -1;
  }
  pthread_mutex_lock (&c->lock);
  for (d = c->devices; d; d = d->next) {
    struct index_device rec = d->held ? d->held_record :
      device_record (d, d->seq_reserving, d->record_listed);
    if (zindex_put_device (txn, &rec) == -1) {
      pthread_mutex_unlock (&c->lock);
      return -1;
    }
  }
  pthread_mutex_unlock (&c->lock);
  return zindex_commit_clear (&txn);
}

/* zcache_commit with commit_lock held, for TICKET: snapshot the changed
 * entries and the pending slots under c->lock, write them without it,
 * then (under c->lock again) take off the index-dirty list what did not
 * change meanwhile and free the slots.  On failure the pending slots and
 * the device records are put back for the next commit.
 */
static int
commit_locked (struct zcache *c, uint64_t ticket)
{
  CLEANUP_FREE struct snap *snaps = NULL;
  CLEANUP_FREE uint32_t *pend = NULL;
  CLEANUP_FREE struct index_device *devs = NULL;
  uint32_t npend, i;
  struct centry *e;
  struct cache_device *d;
  uint64_t target;
  size_t n = 0, ndev = 0, k;
  bool may_skip;

  pthread_mutex_lock (&c->lock);
  if (c->commit_done >= ticket) {
    pthread_mutex_unlock (&c->lock);
    return 0;
  }
  target = c->commit_requested;
  /* Rule 9: only when every ticket to serve is a local FLUSH's. */
  may_skip = c->commit_full_requested <= c->commit_done &&
    c->npending == 0;
  for (e = c->index_head; e; e = e->inext)
    n++;
  for (d = c->devices; d; d = d->next) {
    ndev++;
    if (d->held || d->record_dirty || d->record_listed != !d->surveying)
      may_skip = false;
  }
  snaps = malloc ((n ? n : 1) * sizeof *snaps);
  pend = malloc ((c->npending ? c->npending : 1) * sizeof *pend);
  devs = malloc ((ndev ? ndev : 1) * sizeof *devs);
  if (snaps == NULL || pend == NULL || devs == NULL) {
    zerror ("malloc: %m");
    pthread_mutex_unlock (&c->lock);
    return -1;
  }
  for (k = 0, e = c->index_head; e; e = e->inext, k++) {
    snaps[k].e = e;
    snaps[k].change = e->change;
    snaps[k].stored_seq = e->stored_seq;
    record_of (e, &snaps[k].rec);
    snaps[k].del = !e->remote && !e->dirty && e->slot == ZSLOT_NONE;
  }
  npend = c->npending;
  memcpy (pend, c->pending_slots, npend * sizeof *pend);
  c->npending = 0;
  for (k = 0, d = c->devices; d; d = d->next, k++) {
    /* With the entries: the records of guesses the survey ended go in
     * the same commit as the "listed" that makes their absence mean
     * zeros (survey.c).
     */
    d->record_listed = !d->surveying;
    d->seq_reserving = d->seq_reserved;
    if (d->record_dirty) {
      d->record_dirty = false;
      d->seq_reserving = d->seq + ZSEQ_RESERVE;
    }
    devs[k] = device_record (d, d->seq_reserving, d->record_listed);
  }
  pthread_mutex_unlock (&c->lock);

  if (may_skip && index_current_but_seqs (c, snaps, n, devs, ndev)) {
    /* The entries stay on the index list, for the next commit. */
    if (sync_slots (c) == -1)
      return -1;
    pthread_mutex_lock (&c->lock);
    c->commit_done = target;
    pthread_cond_broadcast (&c->cond);
    pthread_mutex_unlock (&c->lock);
    if (zerofs_debug_cache)
      zdebug ("cache: flush: slot file synced; the index already holds "
              "its %zu changed records but for their sequences", n);
    return 0;
  }

  if (commit_write (c, snaps, n) == -1) {
    pthread_mutex_lock (&c->lock);
    for (i = 0; i < npend; i++)
      c->pending_slots[c->npending++] = pend[i];
    for (d = c->devices; d; d = d->next)
      d->record_dirty = true;
    pthread_mutex_unlock (&c->lock);
    return -1;
  }

  pthread_mutex_lock (&c->lock);
  for (k = 0; k < n; k++) {
    e = snaps[k].e;
    if (e->change != snaps[k].change)
      continue;                 /* changed again: stays for the next one */
    if (e->iprev)
      e->iprev->inext = e->inext;
    else
      c->index_head = e->inext;
    if (e->inext)
      e->inext->iprev = e->iprev;
    e->on_index = false;
    centry_maybe_free (c, e);
  }
  for (d = c->devices; d; d = d->next)
    if (d->seq_reserving > d->seq_reserved)
      d->seq_reserved = d->seq_reserving;
  /* Rule 2: the detachments are durable, the slots can be reused. */
  for (i = 0; i < npend; i++)
    c->free_slots[c->nfree++] = pend[i];
  c->commit_done = target;
  c->stats.commits++;
  clock_gettime (CLOCK_MONOTONIC, &c->last_commit);
  pthread_cond_broadcast (&c->cond);
  pthread_mutex_unlock (&c->lock);
  if (zerofs_debug_cache)
    zdebug ("cache: committed %zu records, freed %u slots", n, npend);
  return 0;
}

/* Group commit: concurrent callers share one transaction.  LOCAL_FLUSH:
 * the caller is a FLUSH with durability=local (rule 9).
 */
static int
commit (struct zcache *c, bool local_flush)
{
  uint64_t ticket;
  int r;

  pthread_mutex_lock (&c->lock);
  ticket = ++c->commit_requested;
  if (!local_flush)
    c->commit_full_requested = ticket;
  pthread_mutex_unlock (&c->lock);

  pthread_mutex_lock (&c->commit_lock);
  r = commit_locked (c, ticket);
  pthread_mutex_unlock (&c->commit_lock);
  return r;
}

/* Write every changed record (group commit: concurrent callers share one
 * transaction).  Durable on return.
 */
int
zcache_commit (struct zcache *c)
{
  return commit (c, false);
}

int
zcache_commit_local_flush (struct zcache *c)
{
  return commit (c, true);
}

/* Create the cache's view of a device (not yet linked into c->devices). */
static struct cache_device *
new_device (struct zcache *c, const struct device_meta *meta,
            uint64_t seq_reserved)
{
  /* Aligned: its readahead trackers have cache lines of their own. */
  struct cache_device *d = aligned_alloc (_Alignof (struct cache_device),
                                          sizeof *d);
  uint64_t t = now_ns ();

  if (d == NULL) {
    zerror ("aligned_alloc: %m");
    return NULL;
  }
  memset (d, 0, sizeof *d);
  d->c = c;
  pthread_mutex_init (&d->ra_lock, NULL);
  memcpy (d->uuid, meta->uuid, 16);
  strcpy (d->name, meta->name);
  d->size = meta->size;
  d->generation = meta->generation;
  d->nchunks = (meta->size + ZCHUNK_SIZE - 1) / ZCHUNK_SIZE;
  if (zvolume_chunk_codec (c->vol, meta, c->conf->compression,
                           c->conf->compression_level, &d->codec) == -1) {
    pthread_mutex_destroy (&d->ra_lock);
    free (d);
    return NULL;
  }
  /* Rule 5: start past every sequence this device may have used.  The
   * reservation being committed is the one it starts with, so that a
   * commit before this device's first (which writes every device's
   * record) does not write 0.
   */
  d->seq = seq_reserved > t ? seq_reserved : t;
  d->seq_reserved = d->seq + ZSEQ_RESERVE;
  d->seq_reserving = d->seq_reserved;
  pthread_mutex_init (&d->lease_lock, NULL);
  return d;
}

static void
free_device (struct cache_device *d)
{
  if (d == NULL)
    return;
  /* A device that failed to open has nothing of its own in the cache. */
  zlease_drop (d->lease, true);
  survey_free_known_locked (d);
  journal_object_vector_reset (&d->journal);
  memset (&d->codec, 0, sizeof d->codec);
  pthread_mutex_destroy (&d->ra_lock);
  pthread_mutex_destroy (&d->lease_lock);
  free (d);
}
DEFINE_CLEANUP_POINTER (free_device, struct cache_device *, free_device);

static void
link_device (struct zcache *c, struct cache_device *d)
{
  pthread_mutex_lock (&c->lock);
  d->id = c->next_dev_id++;
  d->next = c->devices;
  c->devices = d;
  pthread_mutex_unlock (&c->lock);
}

struct stale_ctx {
  const char *name;
  const uint8_t *uuid;
  uint8_t (*stale)[16];
  size_t n, cap;
};

static int
find_stale (void *opaque, const struct index_device *dev)
{
  struct stale_ctx *ctx = opaque;

  if (strcmp (dev->name, ctx->name) == 0 &&
      memcmp (dev->uuid, ctx->uuid, 16) != 0 && ctx->n < ctx->cap)
    memcpy (ctx->stale[ctx->n++], dev->uuid, 16);
  return 0;
}

/* One short transaction: forget the devices in STALE, forget what the
 * index knew of D's chunks if FORGET, and write D's record (as
 * d->listed and d->surveying say).
 */
static int
write_device_state (struct zcache *c, struct cache_device *d,
                    uint8_t (*stale)[16], size_t nstale, bool forget)
{
  struct index_device rec = device_record (d, d->seq_reserved,
                                           !d->surveying);
  size_t i;

  LOCK_FOR_SCOPE (&c->commit_lock);
  CLEANUP_ZINDEX_ABORT struct zindex_txn *txn = zindex_begin (c->ix);
  if (txn == NULL)
    return -1;
  for (i = 0; i < nstale; i++)
    if (zindex_del_device_chunks (txn, stale[i]) == -1 ||
        zindex_del_device (txn, stale[i]) == -1)
      return -1;
  if ((forget && zindex_del_device_chunks (txn, d->uuid) == -1) ||
      zindex_put_device (txn, &rec) == -1)
    return -1;
  return zindex_commit_clear (&txn);
}

/* A device the cache has not seen since it was opened: forget older
 * devices of the same name, replay its journal and survey the store's
 * listing (in the background) if the index has none (or a stale one),
 * and link it.  No lock held (see zcache_device).
 */
static struct cache_device *
add_device (struct zcache *c, const struct device_meta *meta, bool readonly)
{
  struct index_device rec;
  CLEANUP (free_device) struct cache_device *d = NULL;
  struct cache_device *ret;
  uint8_t stale[16][16];
  struct stale_ctx sctx = { meta->name, meta->uuid, stale, 0, 16 };
  bool import;
  int r;

  r = zindex_get_device (c->ix, meta->uuid, &rec);
  if (r == -1)
    return NULL;
  if (r == 1)
    memset (&rec, 0, sizeof rec);
  /* A device of the same name the cache knew before is an older device
   * that was removed: forget it.
   */
  if (zindex_foreach_device (c->ix, find_stale, &sctx) == -1)
    return NULL;
  d = new_device (c, meta, rec.seq_reserved);
  if (d == NULL)
    return NULL;

  /* The store's chunk listing is learnt once per cache, and again when
   * the device was rewritten (zerofs-dev resize) while this cache was
   * not looking: what the index knew of its chunks may be stale.
   * Nothing of it is in memory (the device is not open here), and a
   * partial survey left by a crash is not "listed": start from nothing
   * in both cases.  The listing itself is the survey, in the background
   * once the device is linked (survey.c): until it is done, a chunk the
   * index does not know is asked for.
   */
  /* Before anything of the device's is read or replayed: who writes it
   * (fence.c).  A read-only open goes on without it (seeing no lease,
   * the device is surveyed again).
   */
  if (zlease_look (c->vol, d->name, c->instance, &d->lease_seen) == 0)
    d->lease_seen_valid = true;
  else if (!readonly) {
    /* Not a genuine lease (said): force=true replaces it now, before
     * anything is read; else the open fails, as the error says.
     */
    if (errno != EBADMSG || !cache_device_forced (d) ||
        cache_device_take_lease (d, false, ZLEASE_FORCE, true) == -1)
      return NULL;
  }
  if (!readonly && cache_device_open_writer (d, true) == -1)
    return NULL;
  /* Written by another server since the index was current (its lease
   * was taken since; in records that do not know, the lease is another
   * cache instance's): what the index knew of its chunks may be stale.
   */
  import = r == 1 || !rec.listed || rec.generation != meta->generation ||
    !d->lease_seen_valid ||
    !cache_lease_unchanged (c, rec.lease_mark, &d->lease_seen);
  d->listed = !import;
  d->surveying = import;
  if (write_device_state (c, d, stale, sctx.n, import && r == 0) == -1 ||
      journal_load (c, d) == -1)
    return NULL;
  if (import && d->journal.len > 0 && readonly) {
    zerror ("device %s has %zu flush journal objects that this cache has "
            "not applied (the cache that wrote them was lost, or they were "
            "written on another host): a read-only open does not replay "
            "them, which would write to the store; open it read-write once "
            "to replay them", d->name, d->journal.len);
    errno = EROFS;
    return NULL;
  }
  if (import && d->journal.len > 0) {
    /* Replay (journal.c), the chunks it touches asked for as the survey
     * would (d->surveying).  New changes must come after every replayed
     * one: start past the newest object's name, reserved before use.
     */
    uint64_t newest = d->journal.items[d->journal.len - 1].seq;

    /* The replay writes to the store: the lease first. */
    if (!d->lease && cache_device_take_lease (d, false, 0, false) == -1)
      return NULL;
    if (d->seq < newest)
      d->seq = newest;
    d->seq_reserved = d->seq + ZSEQ_RESERVE;
    if (write_device_state (c, d, NULL, 0, false) == -1)
      return NULL;
    if (journal_replay (c, d) == 0) {
      /* Chunk objects read meanwhile may have moved D's sequence on. */
      d->seq_reserved = d->seq + ZSEQ_RESERVE;
      d->listed = true;
      if (write_device_state (c, d, NULL, 0, false) == -1)
        d->listed = false;
    }
    if (!d->listed) {
      /* Entries of D are in the cache now: keep it, refused. */
      d->failed = true;
      link_device (c, d);
      d = NULL;
      errno = EIO;
      return NULL;
    }
  }
  else if (import) {
    d->listed = true;
    if (write_device_state (c, d, NULL, 0, false) == -1)
      return NULL;
  }
  /* After the replay deleted the stale journal objects it found (see
   * lib/lease.h): a failure leaves the inherited floor in force.
   */
  if (!readonly)
    cache_device_set_journal_floor (d);
  link_device (c, d);
  if (import)
    survey_start (c, d);
  ret = d;
  d = NULL;
  return ret;
}

struct cache_device *
zcache_device (struct zcache *c, const struct device_meta *meta,
               bool readonly)
{
  struct cache_device *d, *found;
  struct device_opening me = { .name = meta->name }, **pp;
  bool busy;

  /* The first open of a device may replay its journal, which can take
   * long: other devices' opens must not wait for it, so it runs with no
   * lock held; a second open of the same name waits for the first
   * (c->openings).  (Its chunk listing does not hold the open: survey.c.)
   */
  pthread_mutex_lock (&c->device_lock);
  for (;;) {
    found = NULL;
    pthread_mutex_lock (&c->lock);
    for (d = c->devices; d; d = d->next) {
      if (memcmp (d->uuid, meta->uuid, 16) == 0)
        found = d;
      else if (strcmp (d->name, meta->name) == 0) {
        pthread_mutex_unlock (&c->lock);
        pthread_mutex_unlock (&c->device_lock);
        zerror ("device %s was removed and created again while this server "
                "holds cached data of the old one: restart the server",
                meta->name);
        errno = EBUSY;
        return NULL;
      }
    }
    pthread_mutex_unlock (&c->lock);
    if (found && found->held) {
      pthread_mutex_unlock (&c->device_lock);
      zerror ("device %s is held: this cache has chunks of it not yet "
              "written to the store that must not be uploaded (see the "
              "error at start)", meta->name);
      errno = EBUSY;
      return NULL;
    }
    if (found && found->failed) {
      pthread_mutex_unlock (&c->device_lock);
      zerror ("device %s could not be opened (see the first error); "
              "restart the server to try again", meta->name);
      errno = EIO;
      return NULL;
    }
    if (found) {
      pthread_mutex_unlock (&c->device_lock);
      /* Opened read-only before, or written back only: now a writer. */
      if (!readonly && cache_device_open_writer (found, false) == -1)
        return NULL;
      return found;
    }
    busy = false;
    for (pp = &c->openings; *pp; pp = &(*pp)->next)
      if (strcmp ((*pp)->name, meta->name) == 0)
        busy = true;
    if (!busy)
      break;
    pthread_cond_wait (&c->device_cond, &c->device_lock);
  }
  me.next = c->openings;
  c->openings = &me;
  pthread_mutex_unlock (&c->device_lock);

  d = add_device (c, meta, readonly);

  pthread_mutex_lock (&c->device_lock);
  for (pp = &c->openings; *pp != &me; pp = &(*pp)->next)
    ;
  *pp = me.next;
  pthread_cond_broadcast (&c->device_cond);
  pthread_mutex_unlock (&c->device_lock);
  return d;
}

/* Recovery: what the index says is cached or dirty.
 *
 * After an unclean shutdown (the "clean" flag is set only by
 * zcache_close), a clean slot may hold bytes of writes that were made in
 * place after its record was committed: never flushed, so they may be
 * lost, but they must not be served as the store's copy.  Such slots are
 * forgotten (the chunk is fetched again); dirty ones are kept, they are
 * the unflushed data the restart is for.
 */
struct scan_device {
  uint8_t uuid[16];
  uint64_t dirty;
  uint64_t end;                 /* past its last chunk with a record */
};

struct scan_record {
  uint8_t uuid[16];
  uint64_t index;
  struct zindex_chunk rec;
};

DEFINE_VECTOR_TYPE (scan_device_vector, struct scan_device);
DEFINE_VECTOR_TYPE (scan_record_vector, struct scan_record);

struct scan_ctx {
  struct zcache *c;
  bool unclean;
  uint32_t max_slot;
  uint64_t nload;
  scan_device_vector devs;     /* devices with something to load */
  scan_record_vector detach;   /* clean slots to forget (unclean) */
};

static void
scan_ctx_reset (struct scan_ctx *ctx)
{
  scan_device_vector_reset (&ctx->devs);
  scan_record_vector_reset (&ctx->detach);
}
#define CLEANUP_SCAN_CTX __attribute__ ((cleanup (scan_ctx_reset)))

static int
scan_chunk (void *opaque, const uint8_t uuid[16], uint64_t index,
            const struct zindex_chunk *rec)
{
  struct scan_ctx *ctx = opaque;
  bool dirty = rec->flags & ZREC_DIRTY;
  size_t i;

  if (rec->slot == ZSLOT_NONE && !dirty)
    return 0;
  if (ctx->unclean && !dirty) {
    struct scan_record sr = { .index = index, .rec = *rec };

    memcpy (sr.uuid, uuid, 16);
    if (scan_record_vector_append (&ctx->detach, sr) == -1) {
      zerror ("realloc: %m");
      return -1;
    }
    return 0;
  }
  ctx->nload++;
  if (rec->slot != ZSLOT_NONE && rec->slot + 1 > ctx->max_slot)
    ctx->max_slot = rec->slot + 1;
  for (i = 0; i < ctx->devs.len; i++)
    if (memcmp (ctx->devs.items[i].uuid, uuid, 16) == 0)
      break;
  if (i == ctx->devs.len) {
    struct scan_device sd = { .dirty = 0 };

    memcpy (sd.uuid, uuid, 16);
    if (scan_device_vector_append (&ctx->devs, sd) == -1) {
      zerror ("realloc: %m");
      return -1;
    }
  }
  ctx->devs.items[i].dirty += dirty;
  if ((index + 1) * ZCHUNK_SIZE > ctx->devs.items[i].end)
    ctx->devs.items[i].end = (index + 1) * ZCHUNK_SIZE;
  return 0;
}

static struct cache_device *
device_by_uuid (struct zcache *c, const uint8_t uuid[16])
{
  struct cache_device *d;

  for (d = c->devices; d; d = d->next)
    if (memcmp (d->uuid, uuid, 16) == 0)
      return d;
  return NULL;
}

struct load_ctx {
  struct zcache *c;
  bool unclean;
};

static int
load_chunk (void *opaque, const uint8_t uuid[16], uint64_t index,
            const struct zindex_chunk *rec)
{
  struct load_ctx *ctx = opaque;
  struct zcache *c = ctx->c;
  struct cache_device *d;
  struct centry *e;

  if (rec->slot == ZSLOT_NONE && !(rec->flags & ZREC_DIRTY))
    return 0;
  if (ctx->unclean && !(rec->flags & ZREC_DIRTY))
    return 0;                   /* forgotten (the scan's detach list) */
  d = device_by_uuid (c, uuid);
  if (d == NULL)
    return 0;                   /* purged: its slots stay free */
  if (rec->slot != ZSLOT_NONE &&
      (rec->slot >= c->nslots || c->slot_owner[rec->slot] != NULL)) {
    zerror ("cache index %s/index.mdb is corrupt: slot %u is claimed twice "
            "or out of range; move the cache-dir away to start afresh "
            "(dirty data in it would be lost)", c->dir, rec->slot);
    errno = EIO;
    return -1;
  }
  e = calloc (1, sizeof *e);
  if (e == NULL) {
    zerror ("calloc: %m");
    return -1;
  }
  e->dev = d;
  e->index = index;
  e->slot = rec->slot;
  e->seq = rec->seq;
  memcpy (e->bitmap, rec->bitmap, sizeof e->bitmap);
  e->remote = (rec->flags & ZREC_REMOTE) != 0;
  e->base_remote = (rec->flags & ZREC_BASE_REMOTE) != 0;
  e->maybe = e->remote && (rec->flags & ZREC_MAYBE) != 0;
  /* A clean record's sequence is its object's; a dirty one's is newer. */
  e->stored_seq = rec->flags & ZREC_DIRTY ? 0 : rec->seq;
  if (e->slot != ZSLOT_NONE)
    c->slot_owner[e->slot] = e;
  centry_insert (c, e);
  if (rec->flags & ZREC_DIRTY) {
    e->seq = zcache_next_seq (d); /* see "After a crash" above */
    centry_set_dirty (c, e);
    e->dirty_time = 0;          /* upload at once */
    /* Counted for the progress (writeback.c), unless never uploaded. */
    e->recovered = !d->held;
    if (!d->held)
      c->recover_total++;
    /* What the store lacks of it is not known: the whole chunk. */
    e->unsaved = true;
    e->unsaved_since = e->seq;
    memset (e->unsaved_map, 0xff, sizeof e->unsaved_map);
  }
  return 0;
}

/* What a held device's message ends with (taken_over, resized). */
#define HOLD_ADVICE \
  "the device is held (never served, nothing of it uploaded) while the " \
  "other devices are served; to start without those chunks (they are " \
  "lost), stop the server, which uploads the other devices' data, and " \
  "move the cache-dir away; removing the device (zerofs-dev rm) ends the " \
  "hold too, with all its data; force=true does not, nor does replacing " \
  "or deleting its lease"

/* Device REC (META in the volume now) was resized behind the cache's
 * back (zerofs-dev resize gives it a new generation) while the cache
 * held DIRTY unflushed chunks of it: they must be neither dropped nor
 * mixed into the resized device, so it is held (recover).  True if so
 * (said).
 */
static bool
resized (struct zcache *c, const struct index_device *rec,
         const struct device_meta *meta, uint64_t dirty)
{
  if (dirty == 0 || memcmp (meta->uuid, rec->uuid, 16) != 0 ||
      meta->generation == rec->generation)
    return false;
  zerror ("device %s was resized (zerofs-dev resize) while %s held "
          "%" PRIu64 " of its chunks not yet written to the store; "
          "refusing to mix them into the resized device: %s",
          rec->name, c->dir, dirty, HOLD_ADVICE);
  return true;
}

/* Keep device REC (META in the volume now) as it is, for the operator
 * (taken_over or resized said what to do): its chunks are loaded, so
 * that their slots stay theirs, but nothing of it is served or written,
 * and its index record stays as found, marked held for good.  Its size
 * covers every chunk the cache has of it (END), which a shrunk device
 * may not.
 */
static int
hold_device (struct zcache *c, const struct device_meta *meta,
             const struct index_device *rec, uint64_t end)
{
  struct device_meta held_meta = *meta;
  struct cache_device *d;

  if (held_meta.size < end)
    held_meta.size = end;
  d = new_device (c, &held_meta, rec->seq_reserved);
  if (d == NULL)
    return -1;
  d->held = true;
  d->dirty_aside = true;        /* before its chunks are loaded */
  d->held_record = *rec;
  d->held_record.lease_mark = ZINDEX_LEASE_HELD;
  link_device (c, d);
  return 0;
}

/* Device REC's lease was taken since its index record was current
 * (cache_lease_unchanged): another server may have written the device
 * since, and what this cache holds of it is older.  1 if so (said), 0
 * if not (SEEN is the lease now), -1 on error.  Unflushed data is never
 * uploaded over newer: 2 (said) when there is some, or when the lease
 * cannot be read: the device is held (recover).
 */
static int
taken_over (struct zcache *c, const struct index_device *rec,
            uint64_t dirty, struct zlease_seen *seen)
{
  const struct zlease_info *lease = &seen->info;
  char holder[512];

  /* Held at an earlier start: whatever the lease says now. */
  if (rec->lease_mark == ZINDEX_LEASE_HELD && dirty > 0) {
    zerror ("device %s was held at an earlier start, and %s still holds "
            "%" PRIu64 " of its chunks not yet written to the store: %s",
            rec->name, c->dir, dirty, HOLD_ADVICE);
    return 2;
  }
  if (zlease_look (c->vol, rec->name, c->instance, seen) == -1) {
    /* Not genuine (said): what it held is not known.  Cached data is
     * forgotten; unflushed data keeps the server from starting, as the
     * message says, rather than be lost or uploaded blindly.
     */
    if (zlease_unreadable (errno) && dirty == 0) {
      zerror ("cache: device %s: discarding its cached data (its lease "
              "cannot be read)", rec->name);
      return 1;
    }
    if (!zlease_unreadable (errno))
      return -1;
    zerror ("device %s: %s holds %" PRIu64 " of its chunks not yet "
            "written to the store, and with its lease unreadable nothing "
            "says whether another server wrote the device since: %s",
            rec->name, c->dir, dirty, HOLD_ADVICE);
    return 2;
  }
  if (cache_lease_unchanged (c, rec->lease_mark, seen))
    return 0;
  if (!seen->exists) {
    if (dirty) {
      zerror ("device %s: its lease object is gone since this cache last "
              "saw it, while %s held %" PRIu64 " of its chunks not yet "
              "written to the store: %s", rec->name, c->dir, dirty,
              HOLD_ADVICE);
      return 2;
    }
    zerror ("cache: device %s: its lease object is gone since this cache "
            "last saw it: discarding its cached data", rec->name);
    return 1;
  }
  zlease_describe (lease, holder, sizeof holder);
  if (dirty > 0) {
    zerror ("device %s was written by another server since this cache "
            "last saw it (the lease is now %s %s), while %s held "
            "%" PRIu64 " of its chunks not yet written to the store; "
            "refusing to upload them over newer data: %s",
            rec->name, lease->released ? "released by" : "held by", holder,
            c->dir, dirty, HOLD_ADVICE);
    return 2;
  }
  zerror ("cache: device %s was written by another server since this "
          "cache last saw it (the lease is now %s %s): discarding its "
          "cached data", rec->name,
          lease->released ? "released by" : "held by", holder);
  return 1;
}

/* Check each device that has cached chunks against the volume: load the
 * ones that are as this cache knew them, forget the ones that are gone.
 * A device resized or written elsewhere behind the cache's back while it
 * held unflushed data is held rather than discarded.
 */
static int
recover (struct zcache *c, struct scan_ctx *scan)
{
  struct load_ctx lctx = { c, scan->unclean };
  struct index_device rec;
  struct device_meta meta;
  CLEANUP_ZINDEX_ABORT struct zindex_txn *txn = NULL;
  struct zindex_chunk detached;
  struct scan_record *sr;
  struct scan_device *sd;
  struct cache_device *d;
  size_t i, npurged = 0;
  int r;

  for (i = 0; i < scan->devs.len; i++) {
    bool same = false;              /* the device as this cache knew it */
    int over = 0;                   /* but written by another since */
    struct zlease_seen seen;

    sd = &scan->devs.items[i];
    r = zindex_get_device (c->ix, sd->uuid, &rec);
    if (r == -1)
      return -1;
    if (r == 0 && !rec.listed && !rec.replayed) {
      /* A replay of its journal was cut short: it starts again from
       * nothing when the device is opened (journal.c).
       */
      if (zerofs_debug_cache)
        zdebug ("cache: %s: replaying its journal was interrupted; "
                "replaying it again", rec.name);
    }
    else if (r == 0) {
      if (zvolume_get_device (c->vol, rec.name, &meta) == 0) {
        same = memcmp (meta.uuid, rec.uuid, 16) == 0 &&
          meta.generation == rec.generation;
        if (same && (over = taken_over (c, &rec, sd->dirty, &seen)) == -1)
          return -1;
        if ((same && over == 2) || resized (c, &rec, &meta, sd->dirty)) {
          if (hold_device (c, &meta, &rec, sd->end) == -1)
            return -1;
          continue;
        }
        if (same && over == 0) {
          d = new_device (c, &meta, rec.seq_reserved);
          if (d == NULL)
            return -1;
          link_device (c, d);
          /* Its lease is taken (for write-back, or a client's first
           * write) only if nobody took it since (fence.c).
           */
          d->lease_seen = seen;
          d->lease_seen_valid = true;
          d->listed = true;
          /* Served while its survey ran: it runs again (zcache_open). */
          d->surveying = !rec.listed;
          d->record_dirty = true;   /* commit the new reservation */
          continue;
        }
      }
      else if (errno != ENOENT)
        return -1;              /* the store failed: try again later */
    }
    if ((r == 1 || rec.listed || rec.replayed) && !same)
      zerror ("cache: device %s is no longer in the volume as this cache "
              "knew it (removed, created again or resized): discarding its "
              "cached data", r == 0 ? rec.name : "(unknown)");
    if (txn == NULL && (txn = zindex_begin (c->ix)) == NULL)
      return -1;
    /* An interrupted replay keeps the device's record: its sequence
     * reservation.
     */
    if (zindex_del_device_chunks (txn, sd->uuid) == -1 ||
        ((r == 1 || rec.listed || rec.replayed) &&
         zindex_del_device (txn, sd->uuid) == -1))
      return -1;
    npurged++;
  }
  /* After an unclean shutdown: forget clean slots. */
  for (i = 0; i < scan->detach.len; i++) {
    sr = &scan->detach.items[i];
    if (txn == NULL && (txn = zindex_begin (c->ix)) == NULL)
      return -1;
    detached = sr->rec;
    detached.slot = ZSLOT_NONE;
    memset (detached.bitmap, 0, sizeof detached.bitmap);
    detached.flags = (sr->rec.flags & ZREC_REMOTE) ?
      ZREC_REMOTE | ZREC_BASE_REMOTE | (sr->rec.flags & ZREC_MAYBE) : 0;
    if ((detached.flags ?
         zindex_put_chunk (txn, sr->uuid, sr->index, &detached) :
         zindex_del_chunk (txn, sr->uuid, sr->index)) == -1)
      return -1;
  }
  if (txn && zindex_commit_clear (&txn) == -1)
    return -1;
  if (zindex_foreach_local_chunk (c->ix, load_chunk, &lctx) == -1)
    return -1;
  /* Their journals: the dirty chunks hold them until uploaded. */
  for (d = c->devices; d; d = d->next)
    if (journal_load (c, d) == -1)
      return -1;
  if (zerofs_debug_cache)
    zdebug ("cache: recovered %" PRIu64 " chunks (%" PRIu64 " dirty), "
            "forgot %zu clean slots%s, discarded %zu devices",
            c->nentries, c->ndirty, scan->detach.len,
            scan->unclean ? " (unclean shutdown)" : "", npurged);
  return 0;
}

/* The "clean" flag: set when the cache was closed properly, cleared for
 * as long as it is open (see recovery).
 */
static int
set_clean_flag (struct zcache *c, uint8_t clean)
{
  LOCK_FOR_SCOPE (&c->commit_lock);
  CLEANUP_ZINDEX_ABORT struct zindex_txn *txn = zindex_begin (c->ix);

  if (txn == NULL || zindex_put_meta (txn, "clean", &clean, 1) == -1)
    return -1;
  return zindex_commit_clear (&txn);
}

/* The cache belongs to one volume, and has an instance id of its own
 * (made on first use).
 */
static int
check_identity (struct zindex *ix, const char *dir, const struct zvolume *vol,
                uint8_t instance[16])
{
  uint8_t uuid[16];
  uint32_t format = ZINDEX_FORMAT, xts_unit = ZSLOT_XTS_UNIT;
  struct zindex_txn *txn;
  char want[37], have[37];
  int r;

  r = zindex_get_meta (ix, "volume", uuid, sizeof uuid);
  if (r == -1)
    return -1;
  if (r == 0) {
    if (zindex_get_meta (ix, "format", &format, sizeof format) != 0 ||
        format < 1 || format > ZINDEX_FORMAT) {
      zerror ("cache-dir %s has an index of an unknown format", dir);
      errno = EINVAL;
      return -1;
    }
    if (memcmp (uuid, vol->uuid, 16) != 0) {
      zuuid_format (uuid, have);
      zuuid_format (vol->uuid, want);
      zerror ("cache-dir %s belongs to volume %s, not to this volume (%s): "
              "use another cache-dir", dir, have, want);
      errno = EINVAL;
      return -1;
    }
    if (zindex_get_meta (ix, "instance", instance, 16) != 0) {
      zerror ("cache-dir %s: index has no instance id", dir);
      errno = EIO;
      return -1;
    }
    if (format == ZINDEX_FORMAT)
      return 0;
    /* Format 1: zindex_open built the "local" database; the slots keep
     * 4 KiB units (no "xts-unit").  Formats 1 and 2: the records have
     * no survey flags yet.  Say so, so that older code, which would not
     * keep "local" up to date or would misread the survey's flags,
     * refuses the index from now on.
     */
    format = ZINDEX_FORMAT;
    txn = zindex_begin (ix);
    if (txn == NULL)
      return -1;
    if (zindex_put_meta (txn, "format", &format, sizeof format) == -1) {
      zindex_abort (txn);
      return -1;
    }
    return zindex_commit (txn);
  }
  if (crypto_random (instance, 16) == -1)
    return -1;
  txn = zindex_begin (ix);
  if (txn == NULL)
    return -1;
  if (zindex_put_meta (txn, "format", &format, sizeof format) == -1 ||
      zindex_put_meta (txn, "xts-unit", &xts_unit, sizeof xts_unit) == -1 ||
      zindex_put_meta (txn, "volume", vol->uuid, 16) == -1 ||
      zindex_put_meta (txn, "instance", instance, 16) == -1) {
    zindex_abort (txn);
    return -1;
  }
  return zindex_commit (txn);
}

/* How many slots: what cache-size asks for (at least 8), and at least
 * what the index already uses.  -1 if cache-size is out of range.
 */
static int64_t
slot_count (uint64_t cache_size, uint32_t max_slot)
{
  uint64_t want = cache_size / ZCHUNK_SIZE;

  if (want < 8)
    want = 8;
  if (want > UINT32_MAX - 1) {
    zerror ("cache-size is too large");
    errno = EINVAL;
    return -1;
  }
  return want > max_slot ? want : max_slot;
}

/* Room the index may need to grow into, beyond the slot file, for a
 * cache of NSLOTS slots: what its records of cached chunks take, and
 * headroom for records of chunks only in the store.
 */
#define INDEX_RESERVE(nslots) ((UINT64_C (4) << 20) + (uint64_t) (nslots) * 4096)

/* fsync a directory, so that the entries just created in it last. */
static int
fsync_dir (const char *dir)
{
  CLEANUP_CLOSE int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  if (fd == -1 || fsync (fd) == -1) {
    zerror ("cache-dir: fsync %s: %m", dir);
    return -1;
  }
  return 0;
}

/* Reserve the slot file's blocks now (it used to be sparse, so a full
 * disk turned reads and writes into ENOSPC long after start-up), and
 * check that the index has room to grow.  Refuses, naming what is
 * needed, when the cache-dir's filesystem is too small.  A filesystem
 * that cannot reserve (EOPNOTSUPP) keeps a sparse file, as before.
 */
static int
reserve_space (const char *dir, int64_t nslots)
{
  char path[4096];
  CLEANUP_CLOSE int fd = -1;
  uint64_t want = (uint64_t) nslots * ZCHUNK_SIZE;
  uint64_t reserve = INDEX_RESERVE (nslots), avail;
  struct statvfs fs;
  struct stat st;
  off_t slots_size;
  int r;

  snprintf (path, sizeof path, "%s/slots", dir);
  fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd == -1 || fstat (fd, &st) == -1) {
    zerror ("cache-dir: %s: %m", path);
    return -1;
  }
  slots_size = st.st_size;
  r = posix_fallocate (fd, 0, (off_t) want);
  if (r == EOPNOTSUPP || r == EINVAL) {
    if (st.st_size < (off_t) want && ftruncate (fd, (off_t) want) == -1) {
      zerror ("cache-dir: ftruncate %s: %m", path);
      return -1;
    }
    r = 0;
  }
  if (r != 0 && r != ENOSPC) {
    errno = r;
    zerror ("cache-dir: reserving %" PRIu64 " MiB for %s: %m",
            want >> 20, path);
    return -1;
  }
  if (fstatvfs (fd, &fs) == -1) {
    zerror ("cache-dir: statvfs %s: %m", dir);
    return -1;
  }
  avail = (uint64_t) fs.f_bavail * fs.f_frsize;
  /* What the index has grown into already counts towards its room. */
  snprintf (path, sizeof path, "%s/index.mdb", dir);
  if (stat (path, &st) == 0)
    reserve = (uint64_t) st.st_size >= reserve
      ? 0 : reserve - (uint64_t) st.st_size;
  if (r == ENOSPC || avail < reserve) {
    /* Give back what the failed reservation took. */
    if (r == ENOSPC && ftruncate (fd, slots_size) == 0)
      fstatvfs (fd, &fs);
    zerror ("cache-dir %s: not enough free space: cache-size=%" PRIu64
            "M needs %" PRIu64 " MiB for the chunk slots and %" PRIu64
            " MiB of room for the index, and the filesystem has %" PRIu64
            " MiB free besides what the cache holds: lower cache-size or "
            "free some space", dir, want >> 20, want >> 20, reserve >> 20,
            (uint64_t) fs.f_bavail * fs.f_frsize >> 20);
    errno = ENOSPC;
    return -1;
  }
  /* The entries of index.mdb, lock and slots, durably. */
  return fsync_dir (dir);
}

int
zcache_check_dir (const char *dir, uint64_t cache_size, struct zvolume *vol)
{
  CLEANUP_SCAN_CTX struct scan_ctx scan = { 0 };
  struct zindex *ix;
  uint8_t instance[16];
  char path[4096];
  int r;

  snprintf (path, sizeof path, "%s/index.mdb", dir);
  ix = zindex_open (path);
  if (ix == NULL)
    return -1;
  r = check_identity (ix, dir, vol, instance);
  /* The slots in use: the cache may not shrink below them. */
  if (r == 0)
    r = zindex_foreach_local_chunk (ix, scan_chunk, &scan);
  zindex_close (ix);
  if (r == 0) {
    int64_t nslots = slot_count (cache_size, scan.max_slot);

    r = nslots == -1 ? -1 : reserve_space (dir, nslots);
  }
  return r;
}

static size_t
pow2_at_least (uint64_t n)
{
  size_t p = 1024;

  while (p < n)
    p <<= 1;
  return p;
}

/* A cache with its locks and condition variables, and nothing else yet:
 * zcache_close can take it from here.
 */
static struct zcache *
zcache_new (const struct zconf *conf, struct zvolume *vol,
            struct objstore *store)
{
  struct zcache *c;
  pthread_condattr_t attr;
  pthread_rwlockattr_t rwattr;
  int i;

  c = calloc (1, sizeof *c);
  if (c == NULL) {
    zerror ("calloc: %m");
    return NULL;
  }
  c->conf = conf;
  c->vol = vol;
  c->store = store;
  c->durability = conf->durability;
  c->upload_threads = conf->writeback_threads ? conf->writeback_threads : 1;
  c->durable_max_age = conf->writeback_max_age;
  c->writeback_delay = c->durable_max_age < ZWRITEBACK_DELAY_S ?
    c->durable_max_age : ZWRITEBACK_DELAY_S;
  c->journal_max_bytes = conf->journal_max_bytes;
  c->journal_max_objects = conf->journal_max_objects;
  pthread_mutex_init (&c->lock, NULL);
  pthread_mutex_init (&c->device_lock, NULL);
  pthread_cond_init (&c->device_cond, NULL);
  pthread_mutex_init (&c->commit_lock, NULL);
  pthread_condattr_init (&attr);
  pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
  pthread_cond_init (&c->cond, &attr);
  pthread_cond_init (&c->wb_cond, &attr);
  pthread_condattr_destroy (&attr);
  /* Writers first: glibc's default lets a stream of cached reads of a
   * hot chunk (a superblock) starve its writes and uploads for seconds.
   */
  pthread_rwlockattr_init (&rwattr);
  pthread_rwlockattr_setkind_np (&rwattr,
                                 PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  for (i = 0; i < ZCACHE_STRIPES; i++)
    pthread_rwlock_init (&c->stripes[i], &rwattr);
  pthread_rwlockattr_destroy (&rwattr);
  clock_gettime (CLOCK_MONOTONIC, &c->last_commit);
  return c;
}

/* Size the slot count and the tables that go with it. */
static int
alloc_tables (struct zcache *c, const struct scan_ctx *scan)
{
  int64_t nslots = slot_count (c->conf->cache_size, scan->max_slot);
  uint64_t want;

  if (nslots == -1)
    return -1;
  c->nslots = nslots;
  /* max-dirty: at most three quarters of the slots, so that reads
   * always find clean ones to evict; at least one chunk.
   */
  c->dirty_max = (uint64_t) c->nslots * 3 / 4;
  want = c->conf->max_dirty / ZCHUNK_SIZE +
    (c->conf->max_dirty % ZCHUNK_SIZE != 0);
  if (want > 0 && want < c->dirty_max)
    c->dirty_max = want;
  if (c->dirty_max == 0)
    c->dirty_max = 1;
  c->nbuckets = pow2_at_least (2 * ((uint64_t) c->nslots +
                                    (uint64_t) c->nslots * 3 / 4 +
                                    scan->nload));
  c->buckets = calloc (c->nbuckets, sizeof *c->buckets);
  c->slot_owner = calloc (c->nslots, sizeof *c->slot_owner);
  c->free_slots = malloc (c->nslots * sizeof *c->free_slots);
  c->pending_slots = malloc (c->nslots * sizeof *c->pending_slots);
  if (!c->buckets || !c->slot_owner || !c->free_slots || !c->pending_slots) {
    zerror ("calloc: %m");
    return -1;
  }
  return 0;
}

/* Open the slot file with its key (derived from the volume's DEK and
 * this cache's INSTANCE id), which is wiped as soon as it is handed over.
 */
static int
open_slots (struct zcache *c, const uint8_t instance[16])
{
  SECRET_BUFFER (key, CRYPTO_XTS_KEY_LEN);
  char path[4096];
  uint32_t xts_unit;
  int r;

  /* Caches made before the 512-byte unit have no record of it. */
  r = zindex_get_meta (c->ix, "xts-unit", &xts_unit, sizeof xts_unit);
  if (r == -1)
    return -1;
  if (r == 1)
    xts_unit = ZSECTOR_SIZE;
  if (zvolume_cache_key (c->vol, instance, key) == -1)
    return -1;
  snprintf (path, sizeof path, "%s/slots", c->dir);
  c->slots = zslots_open (path, c->nslots, xts_unit, key);
  return c->slots ? 0 : -1;
}

/* zcache_close, errno preserved: for zcache_open's ways out. */
DEFINE_CLEANUP_POINTER (zcache_close, struct zcache *, zcache_close);
#define CLEANUP_ZCACHE_CLOSE CLEANUP (zcache_close)

struct zcache *
zcache_open (const struct zconf *conf, struct zvolume *vol,
             struct objstore *store)
{
  CLEANUP_ZCACHE_CLOSE struct zcache *c = NULL;
  CLEANUP_SCAN_CTX struct scan_ctx scan = { 0 };
  struct zcache *ret;
  struct cache_device *d;
  uint8_t instance[16];
  char path[4096];
  uint32_t s;
  uint8_t clean;
  int r;

  c = zcache_new (conf, vol, store);
  if (c == NULL)
    return NULL;
  c->dir = strdup (conf->cache_dir);
  if (c->dir == NULL) {
    zerror ("strdup: %m");
    return NULL;
  }

  snprintf (path, sizeof path, "%s/index.mdb", c->dir);
  c->ix = zindex_open (path);
  if (c->ix == NULL || check_identity (c->ix, c->dir, vol, instance) == -1)
    return NULL;
  memcpy (c->instance, instance, 16);
  scan.c = c;
  r = zindex_get_meta (c->ix, "clean", &clean, 1);
  if (r == -1)
    return NULL;
  scan.unclean = r == 0 && clean == 0;
  if (zindex_foreach_local_chunk (c->ix, scan_chunk, &scan) == -1 ||
      alloc_tables (c, &scan) == -1 ||
      open_slots (c, instance) == -1 ||
      recover (c, &scan) == -1)
    return NULL;
  for (s = c->nslots; s-- > 0; )
    if (c->slot_owner[s] == NULL)
      c->free_slots[c->nfree++] = s;
  if ((c->devices && zcache_commit (c) == -1) || set_clean_flag (c, 0) == -1)
    return NULL;
  if (zcache_start_writeback (c) == -1 || readahead_start (c) == -1)
    return NULL;
  /* Devices served while their survey ran, before a crash. */
  for (d = c->devices; d; d = d->next)
    if (d->surveying)
      survey_start (c, d);
  ret = c;
  c = NULL;
  return ret;
}

void
zcache_close (struct zcache *c)
{
  struct centry *e, *next;
  struct cache_device *d;
  size_t b;
  int i;

  if (c == NULL)
    return;
  /* Their LISTs and GETs use the store, the slots and the index. */
  survey_stop_all (c);
  readahead_stop (c);
  if (c->wb_started) {
    zcache_stop_writeback (c);
    if (cache_ndirty (c) > 0 && zcache_flush_all (c) == -1)
      zerror ("cache: %" PRIu64 " dirty chunks could not be uploaded at "
              "shutdown; they stay in %s and will be uploaded when the "
              "server starts again", cache_ndirty (c), c->dir);
    else if (c->ndirty > 0)
      zerror ("cache: %" PRIu64 " dirty chunks of held or fenced devices "
              "(see the errors before) stay in %s, not uploaded", c->ndirty,
              c->dir);
    journal_retire (c);
    cache_drop_leases (c);
    /* Every write has completed and is committed: the slots hold what
     * the index says.
     */
    if ((c->index_head == NULL && c->npending == 0) ||
        zcache_commit (c) == 0)
      set_clean_flag (c, 1);
  }
  for (b = 0; c->buckets && b < c->nbuckets; b++)
    for (e = c->buckets[b]; e; e = next) {
      next = e->hnext;
      free (e->ra_copy);
      free (e);
    }
  while ((d = c->devices) != NULL) {
    c->devices = d->next;
    free_device (d);
  }
  zslots_close (c->slots);
  zindex_close (c->ix);
  free (c->buckets);
  free (c->slot_owner);
  free (c->free_slots);
  free (c->pending_slots);
  free (c->dir);
  for (i = 0; i < ZCACHE_STRIPES; i++)
    pthread_rwlock_destroy (&c->stripes[i]);
  pthread_cond_destroy (&c->cond);
  pthread_cond_destroy (&c->wb_cond);
  pthread_mutex_destroy (&c->lock);
  pthread_mutex_destroy (&c->device_lock);
  pthread_cond_destroy (&c->device_cond);
  pthread_mutex_destroy (&c->commit_lock);
  free (c);
}
