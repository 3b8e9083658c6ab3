/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: the cache's LMDB index.
 *
 * One LMDB environment, cache-dir/index.mdb, with three databases:
 *
 *   "meta"     "format" -> u32 1, "volume" -> the volume uuid this cache
 *              belongs to, "instance" -> this cache's random id
 *   "devices"  device uuid (16) -> struct index_device (devices seen)
 *   "chunks"   device uuid (16) || chunk index (8, big-endian, so that a
 *              device's records sort by index) -> struct zindex_chunk
 *
 * A chunk with no record is absent: all zeros, no object in the store
 * (once the device's remote listing has been imported: "listed").  Values
 * are in host byte order: the index is local and never leaves the machine.
 *
 * The index is written in batches (struct zindex_txn) by the cache's
 * commit path only; reads may come from any thread.  Every commit is
 * synchronous (LMDB's default): the cache fsyncs the slot file first, so
 * the index never points at bytes that are not on disk.
 */
#ifndef ZEROFS_CACHE_INDEX_H
#define ZEROFS_CACHE_INDEX_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cleanup.h"

/* 2: the "local" database and the slots' encryption unit recorded (an
 * index of format 1 is upgraded when opened; older code refuses 2, so
 * it cannot misread a cache made by this one).  3: chunk records may
 * say ZREC_MAYBE and device records "replayed" (the survey, survey.c),
 * which older code would misread (a 404 taken for a lost object, a
 * device served while surveyed taken for an interrupted replay and
 * its unflushed data discarded); 1 and 2 are upgraded when opened.
 */
#define ZINDEX_FORMAT 3

/* Chunk record flags. */
#define ZREC_REMOTE      0x01  /* an object for this chunk is in the store */
#define ZREC_BASE_REMOTE 0x02  /* sectors not valid in the slot read from it
                                  (else they are zeros) */
#define ZREC_DIRTY       0x04  /* newer than the store: must be uploaded */
#define ZREC_MAYBE       0x08  /* with REMOTE: made while the device was
                                  not listed yet (survey.c), the object
                                  may as well not exist: its absence
                                  (404) means zeros, not a lost object */

struct zindex_chunk {
  uint8_t version;             /* 1 */
  uint8_t flags;               /* ZREC_* */
  uint16_t reserved;
  uint32_t slot;               /* ZSLOT_NONE if not cached */
  uint64_t seq;                /* device write sequence of the last write */
  uint64_t bitmap[4];          /* valid 4 KiB sectors of the slot */
};

struct index_device {
  uint8_t uuid[16];
  char name[65];
  bool listed;                 /* remote chunk listing imported */
  bool replayed;               /* its journal replayed, served: chunk
                                  records are real even when the listing
                                  is not complete (survey.c) */
  uint64_t generation;         /* device meta generation imported */
  uint64_t seq_reserved;       /* write sequences below this may be used */
  uint32_t lease_mark;         /* the lease the chunk records are current
                                  with: ZINDEX_LEASE_MARK (generation),
                                  0 if not known (older records),
                                  ZINDEX_LEASE_NONE or _HELD */
};

/* The lease mark of a device whose lease has generation GEN (0: none). */
#define ZINDEX_LEASE_MARK(gen) (UINT32_C (0x80000000) | \
                                ((uint32_t) (gen) & UINT32_C (0x7fffffff)))
/* Marks that no lease matches (high bit clear, not 0): the records were
 * made without the lease, or by a server that lost it (never current
 * again), or the device is held (cache.c: its unflushed chunks must not
 * be uploaded, whatever its lease does later).
 */
#define ZINDEX_LEASE_NONE UINT32_C (0x7ffffffe)
#define ZINDEX_LEASE_HELD UINT32_C (0x7fffffff)

struct zindex;
struct zindex_txn;

extern struct zindex *zindex_open (const char *path);
extern void zindex_close (struct zindex *ix);

/* Reads.  Return 0 if found, 1 if absent, -1 on error. */
extern int zindex_get_meta (struct zindex *ix, const char *key,
                            void *buf, size_t len);
extern int zindex_get_device (struct zindex *ix, const uint8_t uuid[16],
                              struct index_device *dev);
extern int zindex_get_chunk (struct zindex *ix, const uint8_t uuid[16],
                             uint64_t index, struct zindex_chunk *rec);

/* Call FN for every record (in a read transaction: FN must not write).
 * FN returns 0 to go on, -1 to abort.
 */
extern int zindex_foreach_device (struct zindex *ix,
                                  int (*fn) (void *opaque,
                                             const struct index_device *dev),
                                  void *opaque);

/* Every chunk record that is cached or dirty (a "local" database keys
 * them, kept by zindex_put_chunk and zindex_del_chunk): the cost is
 * their number, not the number of chunks in the index.
 */
extern int zindex_foreach_local_chunk (struct zindex *ix,
                                       int (*fn) (void *opaque,
                                                  const uint8_t uuid[16],
                                                  uint64_t index,
                                                  const struct zindex_chunk *rec),
                                       void *opaque);

/* Call FN for every chunk record of device UUID with an index in
 * FIRST..LAST, in increasing order (one cursor walk: the cost is the
 * number of records, not the size of the range).
 */
extern int zindex_foreach_chunk_in (struct zindex *ix, const uint8_t uuid[16],
                                    uint64_t first, uint64_t last,
                                    int (*fn) (void *opaque, uint64_t index,
                                               const struct zindex_chunk *rec),
                                    void *opaque);

/* The record of chunk INDEX of device UUID as transaction T sees it:
 * 0 found, 1 absent, -1 error.
 */
extern int zindex_txn_get_chunk (struct zindex_txn *t, const uint8_t uuid[16],
                                 uint64_t index, struct zindex_chunk *rec);

/* Writes, in one transaction.  One write transaction at a time: callers
 * serialize (the cache's commit lock).
 */
extern struct zindex_txn *zindex_begin (struct zindex *ix);
extern int zindex_put_meta (struct zindex_txn *t, const char *key,
                            const void *data, size_t len);
extern int zindex_put_device (struct zindex_txn *t,
                              const struct index_device *dev);
extern int zindex_del_device (struct zindex_txn *t, const uint8_t uuid[16]);
extern int zindex_put_chunk (struct zindex_txn *t, const uint8_t uuid[16],
                             uint64_t index, const struct zindex_chunk *rec);
extern int zindex_del_chunk (struct zindex_txn *t, const uint8_t uuid[16],
                             uint64_t index);
/* Delete every chunk record of a device. */
extern int zindex_del_device_chunks (struct zindex_txn *t,
                                     const uint8_t uuid[16]);
/* A read transaction, for many zindex_txn_get_chunk calls that see one
 * state of the index: ended by zindex_abort (CLEANUP_ZINDEX_ABORT).
 */
extern struct zindex_txn *zindex_begin_read (struct zindex *ix);
/* Commit (durable on return) and free T; on error T is freed too. */
extern int zindex_commit (struct zindex_txn *t);
extern void zindex_abort (struct zindex_txn *t);

/* A write transaction that is aborted when its scope ends, unless it
 * was committed with zindex_commit_clear (which sets it to NULL):
 *
 *   LOCK_FOR_SCOPE (&c->commit_lock);
 *   CLEANUP_ZINDEX_ABORT struct zindex_txn *txn = zindex_begin (c->ix);
 *   if (txn == NULL || zindex_put_meta (txn, ...) == -1)
 *     return -1;
 *   return zindex_commit_clear (&txn);
 *
 * Cleanups run in reverse order of declaration: declared after the
 * commit lock, the transaction is aborted before the lock is released.
 * errno is preserved.
 */
DEFINE_CLEANUP_POINTER (zindex_abort, struct zindex_txn *, zindex_abort);
#define CLEANUP_ZINDEX_ABORT CLEANUP (zindex_abort)

/* zindex_commit (*T), which frees it either way, and set *T to NULL. */
static inline int
zindex_commit_clear (struct zindex_txn **t)
{
  struct zindex_txn *txn = *t;

  *t = NULL;
  return zindex_commit (txn);
}

#endif /* ZEROFS_CACHE_INDEX_H */
