/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: error and debug reporting for lib/.
 *
 * lib/ knows nothing of nbdkit, yet its errors must reach nbdkit's log
 * (nbdkit_error) when it runs inside the plugin, and stderr when it runs
 * inside zerofs-dev or a unit test.  So every message goes through the
 * two hooks below, which the program sets once at start-up.  The default
 * hooks print "zerofs: MESSAGE" to stderr.
 *
 * Convention, as in nbdkit: a function that fails calls zerror() once,
 * at the place that knows what went wrong, and returns -1 with errno set.
 * Callers add context only when they have something to add.
 *
 * Debug flags follow nbdkit's -D PLUGIN.FLAG=N convention: the variables
 * are named zerofs_debug_FLAG and live in the plugin's symbol table, so
 * "nbdkit -D zerofs.s3=1" sets them.  Tools set them from $ZEROFS_DEBUG
 * (a comma-separated list of flags).
 */
#ifndef ZEROFS_LOG_H
#define ZEROFS_LOG_H

#include <stdarg.h>

typedef void (*zlog_fn) (const char *fmt, va_list args);

/* Install the error and debug sinks (NULL restores the stderr default). */
extern void zlog_set_handlers (zlog_fn error_fn, zlog_fn debug_fn);

/* Report an error.  Preserves errno. */
extern void zerror (const char *fmt, ...)
  __attribute__ ((format (printf, 1, 2)));

/* A warning: something works, but not as well as it should (goes where
 * errors go, prefixed "warning: ").  Preserves errno.
 */
extern void zwarning (const char *fmt, ...)
  __attribute__ ((format (printf, 1, 2)));

/* Debug message (always emitted; callers test their flag first).
 * Preserves errno.
 */
extern void zdebug (const char *fmt, ...)
  __attribute__ ((format (printf, 1, 2)));

/* Debug flags: -D zerofs.FLAG=1. */
extern int zerofs_debug_s3;      /* every S3 request, retry and backoff */
extern int zerofs_debug_cache;   /* slot allocation, eviction, commits */
extern int zerofs_debug_flush;   /* flush rounds, uploads, deletes */
extern int zerofs_debug_fault;   /* fault-injection decisions */
extern int zerofs_debug_stats;   /* the statistics at exit (lib/stats.c) */
extern int zerofs_debug_lease;   /* device leases: take, renew, check */
extern int zerofs_debug_readahead;  /* readahead windows */
/* For crash tests, never set by "all": the Nth write to the cache's slot
 * file writes half of its first 4 KiB and the process kills itself, as
 * a power loss tearing that write would leave it.
 */
extern int zerofs_debug_torn_write;
/* For tests, never set by "all": the cache index's map starts at this
 * many KiB instead of 16 GiB, to exercise its growth.
 */
extern int zerofs_debug_index_map_kib;

/* Parse "s3,cache" (or "all") into the flags above: for the tools. */
extern void zlog_debug_from_string (const char *flags);

#endif /* ZEROFS_LOG_H */
