/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: the cache engine's private structures, shared by cache.c
 * (open, recovery, devices, index commits), chunk-io.c (per-chunk
 * reads, writes, discards, slot allocation), writeback.c (uploads,
 * flush, the write-back thread), journal.c (the flush journal),
 * readahead.c (sequential streams, fetched ahead) and survey.c (the
 * background listing of a device's chunks).  See cache.c for the design.
 */
#ifndef ZEROFS_CACHE_INTERNAL_H
#define ZEROFS_CACHE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "cache.h"
#include "index.h"
#include "lease.h"
#include "slots.h"
#include "chunk.h"
#include "conf.h"
#include "store/objstore.h"
#include "vector.h"
#include "volume.h"

#define ZCACHE_STRIPES 1024
/* Write sequences are reserved in the index this many at a time. */
#define ZSEQ_RESERVE (UINT64_C (1) << 32)
/* At most this many GETs at once for one prefetch of a range. */
#define ZPREFETCH_THREADS 32
/* Readahead (readahead.c): stream trackers per device, the largest
 * thread pool, and the bound on chunks queued for it.
 */
#define ZRA_STREAMS 8
#define ZRA_THREADS_MAX 32
#define ZRA_QUEUE 64
/* In d->ra_next: a stream no read has continued yet. */
#define ZRA_FRESH (UINT64_C (1) << 63)
/* The survey (survey.c): LIST requests at once per device (at most
 * writeback-threads), and the fewest chunks a shard covers.
 */
#define ZSURVEY_THREADS 8
#define ZSURVEY_SHARD_MIN 4096
/* The most keys one BLOCK_STATUS lists while its device is surveyed
 * (one ListObjectsV2 page): survey_list_range.
 */
#define ZSURVEY_RANGE_KEYS 1000
/* Commit the index at least this often when something changed. */
#define ZCOMMIT_INTERVAL_MS 1000
/* A dirty chunk is written back after this long even without a flush
 * (or after writeback-max-age, if that is shorter: c->writeback_delay).
 */
#define ZWRITEBACK_DELAY_S 5
/* Streaming write-back (writeback.c): a chunk rewritten whole is
 * uploaded at once when the writer has moved on to a later chunk, or
 * after it has been left alone this long, but not twice within
 * ZWRITEBACK_DELAY_S (a chunk rewritten whole over and over).
 */
#define ZWRITEBACK_STREAM_IDLE_MS 200
/* After a failed write-back round, wait this long before the next. */
#define ZWRITEBACK_BACKOFF_S 2
/* At most this many chunks per write-back round. */
#define ZWRITEBACK_BATCH 256
/* Evict this many clean chunks at a time (one commit frees them). */
#define ZEVICT_BATCH 32
/* One eviction pass looks at most at this many slots (under c->lock,
 * which all I/O needs): a cache of a million slots, mostly dirty, must
 * not stall every request while the clock hand sweeps it.
 */
#define ZEVICT_SCAN_MAX 4096

/* One chunk the cache knows something about.  Fields marked [S] change
 * only with the chunk's stripe lock held for writing AND c->lock held,
 * so either lock is enough to read them; fields marked [C] are read and
 * changed under c->lock only.
 */
struct centry {
  struct centry *hnext;          /* [C] hash chain */
  struct centry *dprev, *dnext;  /* [C] dirty list */
  struct centry *iprev, *inext;  /* [C] index-dirty list */
  struct centry *vprev, *vnext;  /* [C] the device's entries */
  struct centry *qnext;          /* [C] the uploaders' queue */
  struct cache_device *dev;
  uint64_t index;
  uint64_t seq;                  /* [S] sequence of the last change */
  uint64_t bitmap[4];            /* [S] valid sectors of the slot */
  uint32_t slot;                 /* [S] or ZSLOT_NONE (eviction: [C] with
                                    users == 0) */
  bool base_remote;              /* [S] invalid sectors read from the store */
  bool remote;                   /* [C] an object is in the store */
  bool maybe;                    /* [C] remote is a guess: made while the
                                    device was not listed (survey.c), so
                                    a 404 means zeros, not a lost object */
  bool recovered;                /* [C] dirty since recovery at open */
  bool dirty;                    /* [C] newer than the store */
  uint64_t dirty_since;          /* [C] first sequence not uploaded */
  time_t dirty_time;             /* [C] when it became dirty (monotonic s) */
  uint64_t write_ms;              /* [C] its last write (monotonic ms) */
  uint64_t upload_ms;             /* [C] when its last upload was taken
                                    (monotonic ms; 0: never) */
  bool busy;                     /* [C] queued for or being uploaded */
  bool fetching;                 /* [C] a GET of its object is under way */
  uint32_t base_gen;             /* [C] bumped when the store's object
                                    changes or stops mattering (upload,
                                    delete, trim): a GET that raced one
                                    is looked at again, not trusted */
  uint64_t stored_seq;           /* [C] the sequence the store's object
                                    carries, as far as this cache knows
                                    (0: unknown): an older one is a
                                    rollback, refused */
  uint64_t busy_seq;             /* [C] seq when queued (no-slot deletes) */
  /* What the store does not have yet (journal.c).  A write or trim sets
   * them; an upload, a delete or a journal record takes them ("captures"
   * them) and gives them back if it fails.
   */
  bool unsaved;                  /* [C] changed since the store last got it */
  uint64_t unsaved_since;        /* [C] sequence of the first such change */
  uint64_t unsaved_map[4];       /* [C] the sectors written since (a trim
                                    has no sectors: no slot) */
  bool saving;                   /* [C] a capture's request is under way: a
                                    flush waits for it */
  uint64_t saving_since;         /* [C] the unsaved_since it took */
  uint64_t journal_first;        /* [C] oldest journal object with records
                                    of this chunk that no upload covers
                                    (0: none); implies dirty */
  uint64_t journal_seq;          /* [C] newest sequence journaled */
  bool busy_slotless;            /* [C] had no slot when queued: a delete */
  uint32_t users;                /* [C] threads holding a reference */
  bool on_index;                 /* [C] on the index-dirty list */
  uint64_t change;               /* [C] bumped at each index-visible change */
  bool referenced;               /* [C] clock bit for eviction */
  bool fetched;                  /* [C] the store's copy was fetched and
                                    not read since: the next read is a
                                    cache miss (statistics) */
  struct fetch_serve *serving;   /* [C] reads waiting for the GET under
                                    way, to be answered from its copy */
  struct upload_wait *up_wait;   /* [C] the flush that queued it for the
                                    uploaders, which waits for it */
  /* A readahead copy (readahead.c): the chunk's plaintext, equal to its
   * slot, whole and valid, kept for the reader that will come for it.
   * Set or dropped with the stripe held for writing and c->lock, or
   * with c->lock alone by a thread that holds the only reference or
   * when there is none (eviction): a reader reads it holding a
   * reference and the stripe.
   */
  void *ra_copy;
  struct centry *cprev, *cnext;  /* [C] the readahead copies, oldest first */
};

/* A read of a chunk whose bytes the store must supply, answered by the
 * thread that fetches them from the decoded copy (centry_fetch_shared),
 * under the stripe lock that installs it: with the same bytes a read of
 * the slot right after would find, without the encryption into the slot
 * and the decryption out of it in between.
 */
struct fetch_serve {
  uint32_t offset, len;          /* the range in the chunk */
  void *buf;                     /* where its bytes go */
  int result;                    /* 1: not answered (read the cache
                                    again), 0: answered, -1: failed */
  struct fetch_serve *next;      /* [C] on the entry's serving list */
};

/* A journal object of a device (journal.c), oldest first. */
struct journal_object {
  uint64_t seq;                  /* its name */
  uint64_t bytes;                /* sealed size */
  bool has_trim;                 /* holds trim records: see journal.c */
  bool in_flight;                /* its PUT is under way */
};
DEFINE_VECTOR_TYPE (journal_object_vector, struct journal_object);
/* Chunk indexes. */
DEFINE_VECTOR_TYPE (index_vector, uint64_t);

/* What a capture took, to give back on failure (see struct centry). */
struct capture {
  bool unsaved;
  uint64_t since;
  uint64_t map[4];
};

/* A sequential stream of reads of a device (readahead.c), under the
 * device's ra_lock.  Where its next read starts and when it was last
 * used are in the device's ra_next and ra_use, read and written without
 * a lock.
 */
struct ra_stream {
  uint64_t chunk;                /* the chunk its last read ended in */
  uint64_t window;               /* chunks to keep asked for after it */
  uint64_t ra_end;               /* first chunk not asked for yet */
};

/* A chunk queued for readahead. */
struct ra_item {
  struct cache_device *d;
  uint64_t index;
};

/* A device being opened for the first time (zcache_device). */
struct device_opening {
  const char *name;
  struct device_opening *next;
};

struct cache_device {
  struct cache_device *next;            /* [C] c->devices */
  struct zcache *c;
  uint32_t id;
  uint8_t uuid[16];
  char name[ZDEVICE_NAME_MAX + 1];
  uint64_t size, nchunks;
  uint64_t generation;           /* of the device meta */
  struct zchunk_codec codec;
  uint64_t seq;                  /* [C] last sequence handed out */
  uint64_t seq_reserved;         /* [C] committed reservation */
  uint64_t seq_reserving;        /* [C] reservation being committed */
  bool record_dirty;             /* [C] device record to rewrite */
  bool listed;                   /* [C] the store's listing is imported and
                                    its journal replayed (index record) */
  bool failed;                   /* [C] opening it failed half way: refused
                                    until the server restarts */
  bool surveying;                /* [C] its chunk listing is not complete:
                                    a chunk the index does not know may
                                    exist (survey.c) */
  bool record_listed;            /* [C] "listed" in the commit being
                                    written (commit_locked) */
  uint64_t **known;              /* [C] survey.c: chunks the survey must
                                    leave alone (sparse bitmap) */
  bool known_failed;             /* [C] a page of it could not be had */
  struct survey *survey;         /* survey.c, while it runs or until
                                    joined */
  journal_object_vector journal; /* [C] its journal objects */
  uint64_t journal_bytes;        /* [C] their total size */
  time_t last_write;             /* [C] its last write (monotonic s) */
  uint64_t write_index;          /* [C] the chunk of its last write */
  pthread_mutex_t lease_lock;    /* "[L]": takes of its lease (one
                                    waits zlease_force_wait_ms: per 
                                    device, so others do not wait) */
  struct zlease *lease;          /* [L] its lease, when opened for
                                    writing or written back */
  bool lease_refused;            /* [L] another server holds it */
  bool held;                     /* recovered with unflushed chunks that
                                    must not be uploaded (another server
                                    wrote it since, or its lease cannot
                                    be read): never served, uploaded or
                                    changed, its records kept (set
                                    before the write-back starts) */
  struct index_device held_record; /* then, its index record as found */
  bool dirty_aside;              /* [c->lock] its dirty chunks are never
                                    uploaded in this server's life (held,
                                    or its lease lost): counted in
                                    c->nheld, not against dirty_max */
  bool lease_seen_valid;         /* [L] LEASE_SEEN was read: the device
                                    was first opened by a client (not
                                    recovered at start) */
  struct zlease_seen lease_seen; /* [L] its lease at that first open */
  struct centry *entries;        /* [C] its entries in memory */
  struct zcache_device_stats stats;  /* [C] hits, misses and dirty only:
                                        zcache_device_get_stats */
  /* Readahead streams (readahead.c): shared by every connection to the
   * device, so that reads of one stream arriving on several connections
   * are still one stream.  Every read looks at ra_next and ra_use, and
   * a random read writes one of each: two cache lines of their own.
   * ra_lock is taken only by a read that continues a stream.
   */
  _Alignas (64) _Atomic uint64_t ra_next[ZRA_STREAMS];  /* where stream
                                    i's next read starts, with ZRA_FRESH
                                    while no read continued it (0:
                                    unused) */
  _Alignas (64) _Atomic uint64_t ra_use[ZRA_STREAMS];  /* stamp of its
                                    last read, for LRU */
  _Alignas (64) struct ra_stream ra[ZRA_STREAMS];
  pthread_mutex_t ra_lock;
};

struct uploader;                /* writeback.c */

struct zcache {
  const struct zconf *conf;
  struct zvolume *vol;
  struct objstore *store;
  struct zindex *ix;
  struct zslots *slots;
  char *dir;
  uint32_t nslots;
  enum zdurability durability;
  unsigned upload_threads;
  /* writeback-max-age: a dirty chunk that is durable without its
   * upload (the flush journal holds its changes, or durability=local)
   * is uploaded once it has been dirty this long, if not sooner (when
   * its device is idle, or the journal or the cache fills up:
   * writeback.c).  writeback_delay: ZWRITEBACK_DELAY_S, or
   * writeback-max-age if that is less.
   */
  time_t durable_max_age;
  time_t writeback_delay;
  uint64_t journal_max_bytes;    /* 0: no journal */
  uint64_t journal_max_objects;

  pthread_mutex_t lock;          /* "c->lock" */
  pthread_cond_t cond;           /* uploads finished, slots freed, commits */
  pthread_cond_t wb_cond;        /* wakes the write-back thread */
  struct centry **buckets;
  size_t nbuckets;
  struct centry **slot_owner;    /* [nslots] */
  uint32_t *free_slots, nfree;
  uint32_t *pending_slots, npending;  /* reusable after the next commit */
  uint32_t clock_hand;
  struct centry *dirty_head;
  uint64_t ndirty, dirty_max;
  uint64_t nheld;                /* of NDIRTY, those of devices set
                                    aside (d->dirty_aside: never uploaded,
                                    not counted against DIRTY_MAX, but
                                    lowering it: cache_ndirty,
                                    cache_dirty_limit) */
  struct centry *index_head;
  uint64_t nentries;
  struct cache_device *devices;
  uint32_t next_dev_id;
  unsigned space_waiters;
  struct timespec wb_backoff_until;  /* [C] after a failed round */
  bool broken;                   /* [C] a slot fdatasync failed: no commits */
  bool wb_kick;                  /* [C] the write-back thread has work */
  bool stop;
  pthread_t wb_thread;
  bool wb_started;
  /* The uploaders (writeback.c): busy entries the write-back thread
   * queued, taken one at a time by upload_threads threads; the idle
   * ones wait on a stack, the last to go idle on top.
   */
  struct centry *up_head, *up_tail;  /* [C] the queue (qnext) */
  struct uploader *up_idle;      /* [C] the idle uploaders' stack */
  unsigned up_busy;              /* [C] uploads under way */
  size_t up_failed;              /* [C] failed, not reported yet */
  struct uploader *uploaders;    /* [upload_threads] */
  unsigned nuploaders;           /* of them, started */
  bool up_stop;                  /* [C] nothing queues any more: the
                                    uploaders end once the queue is
                                    empty (STOP comes earlier, while the
                                    write-back thread may still queue) */
  struct timespec last_commit;

  pthread_mutex_t device_lock;   /* the openings list */
  pthread_cond_t device_cond;    /* an opening finished */
  struct device_opening *openings;  /* devices being opened (listed) */
  pthread_mutex_t commit_lock;   /* one index transaction at a time */
  uint8_t instance[16];          /* this cache's instance id */
  uint64_t commit_requested, commit_done;  /* [C] group commit tickets */
  uint64_t commit_full_requested;  /* [C] last ticket of zcache_commit */

  pthread_rwlock_t stripes[ZCACHE_STRIPES];
  struct zcache_stats stats;     /* [C] */

  /* Readahead (readahead.c): its queue and threads, under ra_lock
   * (the streams are per device).
   */
  pthread_mutex_t ra_lock;
  pthread_cond_t ra_cond;        /* work queued, or stop */
  struct ra_item ra_queue[ZRA_QUEUE];
  size_t ra_head, ra_len;
  uint64_t ra_max;               /* the largest window (0: off); constant */
  pthread_t *ra_threads;
  unsigned ra_nthreads;
  bool ra_init, ra_stop;
  /* Readahead copies (readahead.c): the entries that have one, at most
   * ra_max of them, and buffers kept for reuse.
   */
  struct centry *copy_head, *copy_tail;   /* [C] */
  uint64_t ncopies;              /* [C] */
  void **copy_free;              /* [C] up to ra_nthreads */
  size_t ncopy_free;             /* [C] */

  /* Recovery at open: dirty chunks found, and uploaded since
   * (writeback.c draws the progress).
   */
  uint64_t recover_total, recover_done;   /* [C] */
};

/* Sector bitmaps (bitmap, unsaved_map) and a chunk's sector count. */
static inline bool
bit_test (const uint64_t *bm, uint32_t i)
{
  return (bm[i / 64] >> (i % 64)) & 1;
}

static inline void
bit_set (uint64_t *bm, uint32_t i)
{
  bm[i / 64] |= UINT64_C (1) << (i % 64);
}

static inline uint32_t
chunk_sectors (const struct centry *e)
{
  return cache_device_chunk_len (e->dev, e->index) / ZSECTOR_SIZE;
}

/* cache.c */
extern int zcache_commit (struct zcache *c);
/* For a FLUSH with durability=local: zcache_commit, or only the slot
 * file's fdatasync when the index already holds every record as a
 * commit would write it but for the write sequences (cache.c, rule 9).
 */
extern int zcache_commit_local_flush (struct zcache *c);
/* Before D's objects in the store change (uploads, journal objects,
 * deletes): its lease, taken first if this server does not hold it yet
 * (recovered dirty data of a device not opened for writing), confirmed
 * as lease.c says.  0, or -1 with errno (EIO: lost; EBUSY: held by
 * another server) having said why once.  No cache lock may be held.
 */
extern int cache_device_guard (struct cache_device *d);
/* The requests that change D's objects: cache_device_guard before
 * every attempt, retries included (objstore.h, fenced requests).
 */
extern int cache_device_put (struct cache_device *d, const char *key,
                             const void *data, size_t len);
extern int cache_device_delete (struct cache_device *d, const char *key);
extern int cache_device_delete_many (struct cache_device *d,
                                     const char *const *keys, size_t n);
/* The fence of a request for objects of several devices: OPAQUE is a
 * struct cache_fence_set, every device of which is guarded.
 */
struct cache_fence_set {
  struct cache_device *const *devs;
  size_t n;
};
extern int cache_fence_set_check (void *opaque);
/* D's lease was taken by another server (or refused): nothing more is
 * written for it.  Any lock or none.
 */
extern bool cache_device_fenced (struct cache_device *d);
/* Under c->lock: if D is fenced for good (its lease lost: a lease object
 * is never replaced before the cache closes), set its dirty chunks
 * aside (d->dirty_aside), so that they do not hold up the other
 * devices' writers.  Held devices are set aside from the start.
 */
extern void cache_device_set_aside_locked (struct cache_device *d);
/* Before a FLUSH of D is acknowledged: the lease was still ours when
 * its uploads ended (lib/lease.h zlease_confirm_within).
 */
extern int cache_device_confirm_flush (struct cache_device *d);
/* For a write or flush of a fenced device: -1, EIO, and why. */
extern int cache_fenced_error (struct cache_device *d);
/* Take D's lease now (force=true, or a journal replay at open): -1,
 * EBUSY or ESTALE, said.  JOURNAL_KNOWN: D's journal is loaded, record
 * the lease's journal floor now; else call
 * cache_device_set_journal_floor once it is.  FLAGS as for zlease_take;
 * FRESH: D's lease_seen is not the rule (nothing of D was read yet).
 */
extern int cache_device_take_lease (struct cache_device *d,
                                    bool journal_known, unsigned flags,
                                    bool fresh);
/* A client opens D for writing: refused (-1, EBUSY, said) if another
 * server holds its lease, taken now with force=true, else taken at the
 * first write (cache_device_writable).  FIRST_OPEN: D's lease_seen was
 * just read by this open.
 */
extern int cache_device_open_writer (struct cache_device *d, bool first_open);
/* Does force=true apply to D (it is export='s device, or there is no
 * export=)?
 */
extern bool cache_device_forced (const struct cache_device *d);
/* Before a write or discard of D: its lease, taken if not held yet.  0,
 * or -1 (EIO) said: another server holds it or held it since D was
 * first opened here, it was lost, or the store did not let it be taken.
 */
extern int cache_device_writable (struct cache_device *d);
extern int cache_device_set_journal_floor (struct cache_device *d);
/* What D's index record says of the lease its chunk records are current
 * with (index.h ZINDEX_LEASE_MARK): the lease this cache holds, or the
 * one its first open saw if nobody was writing then; else 0.  Any lock.
 */
extern uint32_t cache_device_lease_mark (const struct cache_device *d);
/* Was the lease SEEN now not taken since an index record's MARK was
 * current (by anyone but this cache, whose take may not be recorded
 * yet)?  A record that does not know (MARK 0): no other cache instance
 * holds it.
 */
extern bool cache_lease_unchanged (struct zcache *c, uint32_t mark,
                                   const struct zlease_seen *seen);
/* The writer epoch for D's journal objects (lib/journal.h). */
extern uint16_t cache_device_epoch (struct cache_device *d);
/* The write-back thread, once a round: renew the leases held, and set
 * aside the dirty chunks of devices whose lease was lost (fence.c).
 */
extern void cache_renew_leases (struct zcache *c);
/* At close, after the last uploads: release the leases of devices with
 * nothing dirty, keep the others'.
 */
extern void cache_drop_leases (struct zcache *c);

extern uint64_t zcache_next_seq (struct cache_device *d);
extern time_t zcache_now (void);
extern uint64_t zcache_now_ms (void);
extern void zcache_timed_wait (struct zcache *c, pthread_cond_t *cond,
                               unsigned ms);

/* chunk-io.c */
extern pthread_rwlock_t *centry_stripe (struct zcache *c, struct cache_device *d,
                                        uint64_t index);
extern struct centry *centry_find (struct zcache *c, struct cache_device *d,
                                   uint64_t index);
extern void centry_insert (struct zcache *c, struct centry *e);
extern struct centry *centry_get (struct zcache *c, struct cache_device *d,
                                  uint64_t index);
extern void centry_put_locked (struct zcache *c, struct centry *e);
extern void centry_put (struct zcache *c, struct centry *e);
extern void centry_maybe_free (struct zcache *c, struct centry *e);
extern void centry_index_touch (struct zcache *c, struct centry *e);
extern void centry_set_dirty (struct zcache *c, struct centry *e);
extern void centry_clear_dirty (struct zcache *c, struct centry *e);
extern bool centry_full (const struct centry *e);
/* Where centry_fetch_shared may decode (a buffer of ZCHUNK_SIZE that
 * stays the caller's), and whether it installed that copy as the whole
 * chunk (no sector of the slot was valid before): then the slot equals
 * it while E's sequence stays SEQ.
 */
struct fetch_into {
  void *buf;
  bool whole;
  uint64_t seq;
};
extern int centry_fetch_shared (struct zcache *c, struct centry *e,
                                void **plain, struct fetch_serve *serve,
                                struct fetch_into *into);
extern int centry_read_sectors (struct zcache *c, struct centry *e,
                                uint32_t first, uint32_t nsec,
                                const void *plain, void *dst);
extern void centry_capture_locked (struct centry *e, struct capture *cap);
extern void centry_uncapture_locked (struct centry *e,
                                     const struct capture *cap);
extern void centry_saved_locked (struct centry *e, uint64_t seq);
/* zcache_write and zcache_discard giving the change sequence SEQ (0: the
 * next one): journal replay keeps the sequences it replays.
 */
extern int centry_write (struct cache_device *d, uint64_t index,
                         uint32_t offset, uint32_t len, const void *buf,
                         uint64_t seq);
extern int centry_discard (struct cache_device *d, uint64_t index,
                           uint64_t seq);

/* readahead.c: the thread pool, started by zcache_open and stopped by
 * zcache_close before anything it uses goes.
 */
extern int readahead_start (struct zcache *c);
extern void readahead_stop (struct zcache *c);
extern void ra_copy_drop_locked (struct zcache *c, struct centry *e);

/* survey.c.  Under c->lock: the state of chunk INDEX of D is known
 * here now (fetched, uploaded, deleted): no listing result may override
 * it.  No-op when D is listed.
 */
extern void survey_note_locked (struct cache_device *d, uint64_t index);
extern bool survey_known_locked (const struct cache_device *d,
                                 uint64_t index);
/* Under c->lock: E's existence in the store is known now (an answer to
 * a GET, an upload, a delete): no longer a guess.
 */
extern void centry_resolved_locked (struct centry *e);
/* Which chunks of D in FIRST..LAST exist in the store, from one bounded
 * listing (ZSURVEY_RANGE_KEYS keys at most), for BLOCK_STATUS while D is
 * surveyed.  Appends their indexes to FOUND, in order, and sets
 * *KNOWN_LAST to the last chunk the listing answers for: LAST, or less
 * when it stopped at its bound.  No lock held.  0, or -1 (said).
 */
extern int survey_list_range (struct cache_device *d, uint64_t first,
                              uint64_t last, index_vector *found,
                              uint64_t *known_last);
/* Start listing D's chunks in the background (D linked, surveying).
 * Failure to start is logged; D stays not listed.
 */
extern void survey_start (struct zcache *c, struct cache_device *d);
/* Stop every survey and join its threads (zcache_close). */
extern void survey_stop_all (struct zcache *c);
extern void survey_free_known_locked (struct cache_device *d);

/* journal.c */
extern bool journal_on (struct zcache *c, struct cache_device *d);
extern bool journal_full (struct zcache *c, struct cache_device *d);
extern bool journal_pressed (struct zcache *c, struct cache_device *d);
extern uint64_t journal_cut (struct cache_device *d);
extern bool journal_wanted (struct zcache *c, const struct centry *e);
extern bool centry_rewritten (const struct centry *e);
extern int journal_write (struct zcache *c, struct cache_device *d,
                          struct centry **v, size_t n);
extern int journal_trims (struct zcache *c, struct centry **v,
                          const uint64_t *seqs, size_t n);
extern void journal_retire (struct zcache *c);
extern int journal_load (struct zcache *c, struct cache_device *d);
extern int journal_replay (struct zcache *c, struct cache_device *d);

/* writeback.c */
extern int zcache_start_writeback (struct zcache *c);
extern void zcache_stop_writeback (struct zcache *c);
extern int zcache_flush_all (struct zcache *c);
/* Under c->lock: the dirty chunks that the write-back can upload (those
 * of devices set aside left out), for comparisons with dirty_max.
 */
static inline uint64_t
cache_ndirty (const struct zcache *c)
{
  return c->ndirty - c->nheld;
}
/* Under c->lock: how many of them there may be.  DIRTY_MAX, but the
 * chunks set aside keep their slots for good, so never more than three
 * quarters of the slots left to the others: reads must find clean
 * slots to evict, as without any set aside.  At least one.
 */
static inline uint64_t
cache_dirty_limit (const struct zcache *c)
{
  uint64_t room = c->nheld < c->nslots ? (c->nslots - c->nheld) * 3 / 4 : 0;
  uint64_t limit = room < c->dirty_max ? room : c->dirty_max;

  return limit > 0 ? limit : 1;
}
extern void zcache_wait_for_space_locked (struct zcache *c);
/* Under c->lock: a write to E has just completed (WAS_REWRITTEN: E was
 * rewritten whole before it).  Wakes the write-back thread when this
 * may make a chunk due for a streaming upload.
 */
extern void writeback_note_write_locked (struct zcache *c, struct centry *e,
                                         bool was_rewritten);

#endif /* ZEROFS_CACHE_INTERNAL_H */
