/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: what only the object store's backends and wrappers use.
 *
 * objstore.h is the store as the rest of lib/ sees it: open one from the
 * configuration, then get, put, delete and list.  This header is the
 * other side: how a backend reports a failure without logging it (a
 * retry may still succeed), how keys are checked, and the constructors
 * that objstore_open() stacks, with a scoped cleanup for a store a
 * constructor owns while it builds its wrapper.  The unit tests include
 * it to build stores by hand; nothing else outside lib/store/ should.
 */
#ifndef ZEROFS_STORE_INTERNAL_H
#define ZEROFS_STORE_INTERNAL_H

#include <errno.h>
#include <stdbool.h>

#include "histogram.h"
#include "objstore.h"

/* Record a failure message for this thread, set errno = ERR, return -1. */
extern int objstore_fail (int err, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));
/* Is ERR a transient failure worth retrying? */
extern bool objstore_err_is_transient (int err);
/* Keys: non-empty, at most OBJSTORE_KEY_MAX bytes, no NUL, no leading
 * '/', no empty, "." or ".." segment.  0 if valid, else objstore_fail
 * (EINVAL).
 */
extern int objstore_check_key (const char *key);

/* Before an attempt of a request that changes the store: this
 * thread's fence (objstore.h), if a fenced request set one.  0 to send
 * the attempt; else -1 (objstore_fail) with errno EIO when the fence
 * says the right is lost, or the errno of the failed check.
 */
extern int objstore_fence_check (const char *op, const char *key);

/* Backend constructors (used by objstore_open and tests). */
extern struct objstore *objstore_dir_open (const char *dir, bool create);
extern struct objstore *objstore_s3_open (const struct zconf *conf);
extern struct objstore *objstore_fault_wrap (struct objstore *inner,
                                             const char *control_file);
extern struct objstore *objstore_retry_wrap (struct objstore *inner,
                                             unsigned retry_time_seconds);
extern struct objstore *objstore_stats_wrap (struct objstore *inner);

/* The counters of the stats wrapper (stats.c), one set per kind. */
struct objstore_kind_counters {
  _Atomic uint64_t requests, bytes, objects, failures, retries;
  struct zhist latency;
};
struct objstore_counters {
  struct objstore_kind_counters kind[OBJSTORE_NR_KINDS];
};
/* The retry layer made another attempt of KIND on S (a wrapper of the
 * stats wrapper; nothing happens without one).
 */
extern void objstore_count_retry (struct objstore *s, enum objstore_kind kind);

#endif /* ZEROFS_STORE_INTERNAL_H */
