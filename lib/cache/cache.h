/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: the chunk cache, write-back and flush (see cache.c for the
 * design and the crash-safety argument).
 *
 * A struct zcache owns one cache-dir: the slot file (slots.h), the LMDB
 * index (index.h), the write-back thread and the flush path.
 * Devices of the volume are registered with it (struct cache_device) and all
 * connections to a device share that one state.  Callers (device.c) split
 * byte ranges into per-chunk calls; everything here is about one chunk
 * at a time, except flush.
 */
#ifndef ZEROFS_CACHE_H
#define ZEROFS_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "chunk.h"
#include "conf.h"
#include "volume.h"

struct objstore;
struct zcache;
struct cache_device;

/* Before any fork: create DIR (mode 0700) if needed and take its lock
 * file (flock, non-blocking).  Returns the lock fd to keep open for the
 * life of the process, or -1 with an error naming the other holder.
 */
extern int zcache_lock_dir (const char *dir);
/* After a fork: the lock file names this process (the one that serves),
 * not the parent that took the lock and exited.
 */
extern int zcache_lock_record_pid (int lock_fd);

/* Before any fork: check that DIR's index (created if there is none)
 * belongs to volume VOL, and reserve the disk space of a CACHE_SIZE
 * cache (refusing, with what is needed, if the filesystem is too small).
 * Opens and closes the index: LMDB handles must not cross a fork.
 */
extern int zcache_check_dir (const char *dir, uint64_t cache_size,
                             struct zvolume *vol);

/* Open the cache in CONF->cache_dir for volume VOL over STORE (both must
 * outlive the cache): index, slots, recovery of dirty chunks from a
 * previous run, and the write-back thread.
 */
extern struct zcache *zcache_open (const struct zconf *conf,
                                   struct zvolume *vol,
                                   struct objstore *store);

/* Upload what is dirty (best effort, within the store's retry time),
 * commit the index, stop and join the threads, free everything.
 */
extern void zcache_close (struct zcache *c);

/* The cache's view of a device: found or created on first use (then its
 * flush journal is replayed, and its remote chunk listing learnt in the
 * background, once per cache: survey.c).  A first open for reading only (READONLY)
 * of a device whose journal this cache has not applied fails (EROFS)
 * rather than write the replay to the store.
 */
extern struct cache_device *zcache_device (struct zcache *c,
                                           const struct device_meta *meta,
                                           bool readonly);
/* Another open of D, which a caller holds already (zcache_device):
 * for writing (not READONLY), refused (-1, said) if another server holds
 * D's lease or took it since this cache first opened D (fence.c).
 */
extern int zcache_device_reopen (struct cache_device *d, bool readonly);

/* Chunk operations.  OFFSET + LEN <= the chunk's length. */
extern int zcache_read (struct cache_device *d, uint64_t index,
                        uint32_t offset, uint32_t len, void *buf);
/* BUF NULL writes zeros. */
extern int zcache_write (struct cache_device *d, uint64_t index,
                         uint32_t offset, uint32_t len, const void *buf);
/* The whole chunk becomes zeros; its object is deleted at the next
 * write-back or flush.
 */
extern int zcache_discard (struct cache_device *d, uint64_t index);
/* Bring the chunk into the local cache (NBD_CMD_CACHE). */
extern int zcache_prefetch (struct cache_device *d, uint64_t index);
/* The same for chunks FIRST..LAST, their GETs in parallel (as many at
 * once as writeback-threads, at most 32), returning once all are done.
 * -1 (EIO) if any failed; each failure is reported.
 */
extern int zcache_prefetch_range (struct cache_device *d, uint64_t first,
                                  uint64_t last);
/* A read of COUNT bytes at OFFSET is about to be served: if it continues
 * a sequential stream, queue the chunks ahead of it for background GETs
 * (readahead=, see readahead.c).  Never waits for a GET, never fails.
 */
extern void zcache_readahead (struct cache_device *d, uint64_t offset,
                              uint32_t count);
/* The chunks of FIRST..*KNOWN_LAST that may hold data, sorted, in a
 * malloc'd array *INDEXES of *N.  *KNOWN_LAST is LAST, or less while the
 * device is surveyed (one listing answers for part of a large range).
 * Costs what is stored, not the range's size (but for a device surveyed
 * whose range cannot be listed: then every chunk of it).
 */
extern int zcache_allocated_chunks (struct cache_device *d, uint64_t first,
                                    uint64_t last, uint64_t **indexes,
                                    size_t *n, uint64_t *known_last);

/* Make every write to chunks FIRST..LAST (inclusive) that completed
 * before this call durable, per the durability setting: uploaded to the
 * store (remote) or fsynced locally (local).  Concurrent flushes share
 * uploads and index commits.
 */
extern int zcache_flush (struct cache_device *d, uint64_t first, uint64_t last);

/* The chunk count and the length of chunk INDEX on this device. */
extern uint64_t cache_device_nchunks (const struct cache_device *d);
extern uint32_t cache_device_chunk_len (const struct cache_device *d, uint64_t index);
extern uint64_t cache_device_size (const struct cache_device *d);

/* Counters, for tests and debug output. */
struct zcache_stats {
  uint64_t slots, free_slots, dirty, uploads, deletes, gets, evictions,
    commits, journal_puts, journal_bytes, journal_deletes;
};
extern void zcache_get_stats (struct zcache *c, struct zcache_stats *st);

/* One device's counters and state, for the statistics (lib/stats.c).
 * Reads of a chunk (each chunk a request touches counts once) are hits
 * when served from the cache, misses when they needed the store's copy
 * of the chunk: fetched for this read, or earlier (by the parallel
 * fetch of a read over several chunks, NBD_CMD_CACHE, or to complete a
 * partial write) and not read since: so misses and chunk GETs agree.  Dirty chunks are those newer than the store; their bytes
 * are the whole chunks that write-back will upload.
 */
struct zcache_device_stats {
  uint64_t hits, misses;
  uint64_t dirty_chunks, dirty_bytes;
  uint64_t journal_objects, journal_bytes;
  /* The survey of its chunks (survey.c): none (the device was listed
   * when opened), running, done or failed; objects found so far, and
   * shards listed of all.
   */
  enum { ZSURVEY_NONE, ZSURVEY_RUNNING, ZSURVEY_DONE, ZSURVEY_FAILED }
    survey_state;
  uint64_t survey_found, survey_shards_done, survey_shards;
};
extern void zcache_device_get_stats (struct cache_device *d,
                                     struct zcache_device_stats *st);

#endif /* ZEROFS_CACHE_H */
