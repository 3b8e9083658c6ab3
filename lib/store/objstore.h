/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: the object store interface.
 *
 * Everything above this layer (volume, chunk, cache, device) sees a flat
 * key space relative to the volume's root: "zerofs.volume",
 * "devices/NAME/meta", "devices/NAME/chunks/0000000000000003", ...  A
 * store is a table of functions (struct objstore_ops) with real backends
 * behind it:
 *
 *   lib/store/dir.c    a local directory (bucket=file:///DIR)
 *   lib/store/s3.c     S3 and S3-compatible stores over libcurl + SigV4
 *                      (with s3-sigv4.c, s3-http.c, s3-xml.c and
 *                      s3-creds.c beside it)
 *   lib/store/fault.c  a wrapper that injects errors and delays (tests,
 *                      WAN models in benchmarks)
 *   lib/store/retry.c  a wrapper that retries transient failures with
 *                      exponential backoff and full jitter up to a
 *                      deadline
 *   lib/store/stats.c  a wrapper that counts requests, bytes, failures,
 *                      retries and latency (objstore_get_stats)
 *
 * objstore_open() (lib/store/objstore.c) stacks them:
 * retry(stats(fault?(backend))).
 *
 * This header is all that code outside lib/store/ needs.  What only the
 * backends, the wrappers and the unit tests use is in
 * lib/store/internal.h: objstore_fail(), objstore_err_is_transient(),
 * objstore_check_key() and the constructors (objstore_dir_open,
 * objstore_s3_open, objstore_fault_wrap, objstore_retry_wrap,
 * objstore_stats_wrap).
 *
 * Errors.  A backend never calls zerror() itself: a failure may be
 * retried and succeed.  It calls objstore_fail(ERRNO, fmt, ...), which
 * records the message in a thread-local buffer, sets errno and returns -1.
 * The public entry points below (objstore_get, ...) log that message with
 * zerror() when they finally fail, except for the answers that are not
 * errors: ENOENT from get/head (absent object), and EEXIST (precondition
 * failed) or ENOTSUP (no conditional PUT in this store) from a
 * conditional put.  errno classes:
 *
 *   ENOENT     object absent (404 NoSuchKey); delete of absent is success
 *   EEXIST     conditional put refused (412 PreconditionFailed)
 *   EACCES     AccessDenied, SignatureDoesNotMatch, InvalidAccessKeyId...
 *   ENODEV     the bucket (or directory) does not exist
 *   ENOTSUP    the store does not implement this (Swift: conditional PUT)
 *   EAGAIN     transient: 5xx, 429, SlowDown, RequestTimeout  } retried
 *   ETIMEDOUT, ECONNRESET, ECONNREFUSED, EPIPE, ENETUNREACH,  } by the
 *   EHOSTUNREACH: transient network failures                   } retry layer
 *   EBADMSG    malformed response from the store
 *   EIO        anything else
 *
 * Threads: every function may be called from many threads at once on one
 * store handle.
 */
#ifndef ZEROFS_OBJSTORE_H
#define ZEROFS_OBJSTORE_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cleanup.h"
#include "histogram.h"

struct zconf;

#define OBJSTORE_ETAG_MAX 128
#define OBJSTORE_DELETE_BATCH 1000   /* most keys per delete_many call */
#define OBJSTORE_KEY_MAX 1024        /* S3's limit, in bytes */

struct objstore_info {
  uint64_t size;
  char etag[OBJSTORE_ETAG_MAX];     /* as the store returns it, quotes kept */
};

/* A conditional put (for leases).  Both unset: unconditional. */
struct objstore_cond {
  bool if_none_match;               /* only if absent ("If-None-Match: *") */
  const char *if_match;             /* only if the current ETag is this */
};

/* Listing callback: KEY is the full key (relative to the store root);
 * IS_PREFIX is set for common prefixes when a delimiter was given (KEY
 * then ends with the delimiter).  Return 0 to go on, 1 to stop early
 * (list returns 0), -1 to abort (list returns -1; the callback has
 * already reported its error with zerror).
 */
typedef int (*objstore_list_fn) (void *opaque, const char *key,
                                 uint64_t size, bool is_prefix);

struct objstore;
struct objstore_counters;

struct objstore_ops {
  const char *name;                 /* "dir", "s3", "fault", "retry",
                                       "stats" */

  /* Read a whole object (LENGTH == 0) or the range [OFFSET,
   * OFFSET+LENGTH) of it.  *DATA is malloc'd, owned by the caller.
   * INFO may be NULL.
   */
  int (*get) (struct objstore *s, const char *key,
              uint64_t offset, uint64_t length,
              void **data, size_t *len, struct objstore_info *info);

  /* Create or atomically replace an object.  COND and INFO may be NULL;
   * INFO gets the new ETag.
   */
  int (*put) (struct objstore *s, const char *key,
              const void *data, size_t len,
              const struct objstore_cond *cond, struct objstore_info *info);

  int (*head) (struct objstore *s, const char *key,
               struct objstore_info *info);

  /* Copy object SRC to DST (created or replaced atomically) inside the
   * store, without its bytes passing through here: S3 CopyObject, a
   * reflink or an in-kernel copy in a directory.  ENOENT if SRC is
   * absent.
   */
  int (*copy) (struct objstore *s, const char *src, const char *dst);

  /* Delete one object.  Deleting an absent object succeeds. */
  int (*del) (struct objstore *s, const char *key);

  /* Delete up to OBJSTORE_DELETE_BATCH objects (absent ones succeed). */
  int (*delete_many) (struct objstore *s, const char *const *keys, size_t n);

  /* List keys beginning with PREFIX in lexical order, all pages.
   * DELIMITER may be NULL.  START_AFTER (NULL: none) skips every key
   * (and common prefix) up to and including it, in the store where it
   * can (ListObjectsV2's start-after): a listing of one part of a large
   * keyspace need not page through what comes before it; a caller
   * stops at the end of its part by returning 1 from FN.
   */
  int (*list) (struct objstore *s, const char *prefix, const char *delimiter,
               const char *start_after, objstore_list_fn fn, void *opaque);

  void (*close) (struct objstore *s);
};

/* Every backend's handle begins with this. */
struct objstore {
  const struct objstore_ops *ops;
  char *description;                /* for messages: "file:///x", "s3://b/p" */
  /* The statistics of the stats wrapper at or under this handle, NULL
   * if none: wrappers copy it from the store they wrap.
   */
  struct objstore_counters *counters;
  /* The longest one attempt of a request that changes the store (PUT,
   * DELETE, DeleteObjects, copy) can last, in ms, from its start to its
   * end, landed or abandoned: the S3 backend's write-timeout; 0 for the
   * directory store, whose writes are local and atomic (by rename).
   * Wrappers copy it from the store they wrap.  A forced lease take
   * waits for it (lib/lease.h).
   */
  unsigned write_bound_ms;
};

/* Open the store named by conf->bucket, wrapped as described above.
 * Checks that the bucket (or directory) exists and can be reached:
 * errors name the bucket.  NULL on error (zerror).
 */
extern struct objstore *objstore_open (const struct zconf *conf);

/* The public entry points: call the ops and log final errors. */
extern int objstore_get (struct objstore *s, const char *key,
                         void **data, size_t *len);
extern int objstore_get_range (struct objstore *s, const char *key,
                               uint64_t offset, uint64_t length,
                               void **data, size_t *len);
extern int objstore_put (struct objstore *s, const char *key,
                         const void *data, size_t len);
extern int objstore_put_cond (struct objstore *s, const char *key,
                              const void *data, size_t len,
                              const struct objstore_cond *cond,
                              struct objstore_info *info);
extern int objstore_head (struct objstore *s, const char *key,
                          struct objstore_info *info);
extern int objstore_delete (struct objstore *s, const char *key);
/* Server-side copy (see the op).  An absent SRC is -1 with errno ENOENT
 * and no error logged: an answer, as for get.
 */
extern int objstore_copy (struct objstore *s, const char *src,
                          const char *dst);
/* Any number of keys: split into batches. */
extern int objstore_delete_many (struct objstore *s,
                                 const char *const *keys, size_t n);

/* Fencing (lib/lease.h).  A writer that may lose its right to change
 * some objects (a device's, to a forced takeover of its lease) passes a
 * fence: CHECK (OPAQUE) is called right before every attempt of the
 * request, retries included, and the request is sent only when it
 * returns 0.  When it fails with errno EIO (the right is lost for good)
 * the request fails with EIO and is not sent again; any other failure
 * (the check could not be made) counts as a failed attempt with that
 * errno, retried like one.  CHECK reports its own errors, and may use
 * the store itself: its requests are not fenced.
 */
struct objstore_fence {
  int (*check) (void *opaque);
  void *opaque;
};
extern int objstore_put_fenced (struct objstore *s, const char *key,
                                const void *data, size_t len,
                                const struct objstore_fence *fence);
extern int objstore_delete_fenced (struct objstore *s, const char *key,
                                   const struct objstore_fence *fence);
extern int objstore_delete_many_fenced (struct objstore *s,
                                        const char *const *keys, size_t n,
                                        const struct objstore_fence *fence);
extern int objstore_list (struct objstore *s, const char *prefix,
                          const char *delimiter,
                          objstore_list_fn fn, void *opaque);
/* The keys beginning with PREFIX that sort after START_AFTER (see the
 * op); no delimiter.
 */
extern int objstore_list_after (struct objstore *s, const char *prefix,
                                const char *start_after,
                                objstore_list_fn fn, void *opaque);
/* The same with FENCE checked before every attempt: a listing that is
 * no longer wanted (a survey stopped at shutdown) is given up rather
 * than retried for retry-time.
 */
extern int objstore_list_after_fenced (struct objstore *s,
                                       const char *prefix,
                                       const char *start_after,
                                       objstore_list_fn fn, void *opaque,
                                       const struct objstore_fence *fence);
extern void objstore_close (struct objstore *s);

/* The message of this thread's last store failure (also for callers
 * that handle an expected failure themselves and want its text).
 */
extern const char *objstore_last_error (void);

/* Statistics (lib/store/stats.c): what the store was asked for, by
 * kind of request, since it was opened, for the whole volume.
 */
enum objstore_kind {
  OBJSTORE_GET, OBJSTORE_PUT, OBJSTORE_HEAD, OBJSTORE_DELETE, OBJSTORE_LIST,
  OBJSTORE_COPY,
  OBJSTORE_NR_KINDS
};
struct objstore_kind_stats {
  uint64_t requests;                /* attempts, retries included */
  uint64_t bytes;                   /* GET received, PUT sent */
  uint64_t objects;                 /* DELETE: objects, LIST: keys,
                                       COPY: objects copied */
  uint64_t failures;                /* failed attempts (not absent objects
                                       or refused conditions) */
  uint64_t retries;                 /* attempts made again */
  struct zhist_summary latency;     /* of one attempt */
};
/* "GET", "PUT", "HEAD", "DELETE", "LIST", "COPY". */
extern const char *objstore_kind_name (enum objstore_kind kind);
/* All zeros for a store without the stats wrapper. */
extern void objstore_get_stats (struct objstore *s,
                                struct objstore_kind_stats st[OBJSTORE_NR_KINDS]);

/* A store owned by the current scope, closed when the scope ends unless
 * it was handed on (set to NULL).  Keeps errno, like common/cleanup.h's.
 */
DEFINE_CLEANUP_POINTER (objstore_close, struct objstore *, objstore_close);
#define CLEANUP_OBJSTORE CLEANUP (objstore_close)

#endif /* ZEROFS_OBJSTORE_H */
