/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: small utilities with no dependencies beyond libc (utils.h).
 */
#include <config.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "utils.h"

char *
format_string (const char *fmt, ...)
{
  va_list args;
  char *buf;
  int n;

  va_start (args, fmt);
  n = vsnprintf (NULL, 0, fmt, args);
  va_end (args);
  if (n < 0) {
    errno = ENOMEM;
    return NULL;
  }
  buf = malloc ((size_t) n + 1);
  if (buf == NULL)
    return NULL;
  va_start (args, fmt);
  vsnprintf (buf, (size_t) n + 1, fmt, args);
  va_end (args);
  return buf;
}

int
make_dirs (const char *dir, mode_t mode, char **failed)
{
  CLEANUP_FREE char *path = strdup (dir);
  char *p;

  if (failed)
    *failed = NULL;
  if (path == NULL)
    return -1;
  for (p = path + 1; ; p++) {
    p = strchr (p, '/');
    if (p)
      *p = '\0';
    if (path[0] != '\0' &&
        mkdir (path, p ? 0755 : mode) == -1 && errno != EEXIST) {
      if (failed) {
        *failed = path;
        path = NULL;
      }
      return -1;
    }
    if (p == NULL)
      return 0;
    *p = '/';
  }
}

char *
absolute_path (const char *path)
{
  CLEANUP_FREE char *cwd = NULL;

  if (path[0] == '/')
    return strdup (path);
  cwd = getcwd (NULL, 0);
  if (cwd == NULL)
    return NULL;
  return format_string ("%s/%s", cwd, path);
}
