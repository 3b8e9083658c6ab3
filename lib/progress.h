/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: a progress line on stderr, when stderr is a terminal.
 *
 * Long operations at start (uploading the dirty chunks a crash left,
 * replaying a flush journal, surveying a device's chunks) show where
 * they are, as zerofs-dev's jobs do (tools/jobs.c): with nbdkit in the
 * foreground (-f) stderr is the terminal.  Nothing is drawn when it is
 * not (a daemon, a log file): those get the summary line each operation
 * logs when it ends.  One line for the whole process: operations that
 * run at once take turns on it.
 */
#ifndef ZEROFS_PROGRESS_H
#define ZEROFS_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

/* One operation's throttle (zero-initialise). */
struct zprogress {
  uint64_t last_ms;              /* when it last drew (monotonic ms) */
  bool drawn;
};

/* Is there a terminal to draw on?  (Decided once.) */
extern bool zprogress_enabled (void);

/* Draw "zerofs: TEXT" over the progress line, at most 4 times a second
 * per operation (FORCE: now).  No-op without a terminal.
 */
extern void zprogress_draw (struct zprogress *p, bool force,
                            const char *fmt, ...)
  __attribute__ ((format (printf, 3, 4)));

/* The operation is over: erase its line if it drew one. */
extern void zprogress_clear (struct zprogress *p);

#endif /* ZEROFS_PROGRESS_H */
