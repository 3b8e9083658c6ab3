/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: small utilities with no dependencies beyond libc.
 */
#ifndef ZEROFS_UTILS_H
#define ZEROFS_UTILS_H

#include <sys/types.h>

/* printf into a new malloc'd string (asprintf, which is a GNU
 * extension).  NULL with errno = ENOMEM on failure.
 */
extern char *format_string (const char *fmt, ...)
  __attribute__ ((format (printf, 1, 2)));

/* mkdir -p DIR: missing parents are created with mode 0755, DIR itself
 * with MODE (both less the umask).  Directories that exist are fine.
 * On failure returns -1 with errno set, and *FAILED (when not NULL) is
 * a malloc'd copy of the path that could not be created.
 */
extern int make_dirs (const char *dir, mode_t mode, char **failed);

/* PATH made absolute against the current directory (not resolved:
 * symlinks and ".." stay as written).  A malloc'd string, or NULL with
 * errno set.
 */
extern char *absolute_path (const char *path);

#endif /* ZEROFS_UTILS_H */
