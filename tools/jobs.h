/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs-dev: the long operations' engine (rm, clone, verify, resize
 * --shrink): N items of work run by --connections threads over the one
 * store handle (stores are thread-safe), a progress line on a terminal,
 * and SIGINT / SIGTERM that stop them between items.
 *
 * Usage:
 *
 *   struct jobs_spec spec = { .what = "clone", .n = n, .connections = 16,
 *                             .total_objects = n, .run = one, .opaque = x };
 *   struct jobs_result res;
 *   if (jobs_run (&spec, &res) == -1) ...   (res says how far it got)
 *
 * RUN does item I and adds what it did to the progress (jobs_add).  It
 * returns 0 (done), 1 (done, but a bad item: verify goes on and counts
 * it), or -1 (an error, already reported: the other threads stop after
 * their current item).  jobs_run returns 0 if every item returned 0 or
 * 1, else -1: errno EINTR if it was interrupted (res.interrupted), the
 * first failed item's errno otherwise.
 *
 * The progress line is drawn on stderr, only if stderr is a terminal,
 * every 250 ms: "clone: 45% 4500/10000 objects, 120.0 MiB/s, 0:12 left",
 * and erased at the end.  A message printed meanwhile (jobs_stderr_lock)
 * erases it first, so that lines are not mixed.
 */
#ifndef ZEROFS_JOBS_H
#define ZEROFS_JOBS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JOBS_CONNECTIONS_DEFAULT 16
#define JOBS_CONNECTIONS_MAX 256

struct jobs;

struct jobs_spec {
  const char *what;                 /* the progress line's label */
  size_t n;                         /* items */
  unsigned connections;             /* threads */
  uint64_t total_objects;           /* for the percentage and time left */
  int (*run) (void *opaque, struct jobs *jobs, size_t i);
  void *opaque;
};

struct jobs_result {
  uint64_t objects, bytes;          /* as added by RUN */
  size_t bad;                       /* items that returned 1 */
  bool interrupted;
};

extern int jobs_run (const struct jobs_spec *spec, struct jobs_result *res);

/* Progress: OBJECTS done, BYTES moved (0 if none pass through here). */
extern void jobs_add (struct jobs *jobs, uint64_t objects, uint64_t bytes);

/* Catch SIGINT and SIGTERM: the first one stops the jobs between items
 * (and jobs_interrupted becomes true), a second one kills as usual.
 * jobs_run does it: until a command's first jobs_run, a signal kills
 * it as usual (nothing is half done before).
 */
extern void jobs_catch_interrupts (void);
extern bool jobs_interrupted (void);

/* Around a message on stderr: lock it, and erase the progress line. */
extern void jobs_stderr_lock (void);
extern void jobs_stderr_unlock (void);

#endif /* ZEROFS_JOBS_H */
