/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: error and debug reporting for lib/ (see log.h).
 *
 * Two hooks and the debug flags, nothing more: the hooks are set once at
 * start-up, before any thread runs, so they are read without a lock.
 * zerror and zdebug save and restore errno themselves, because their
 * callers report and then return -1 with the errno of the failure.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

int zerofs_debug_s3;
int zerofs_debug_cache;
int zerofs_debug_flush;
int zerofs_debug_fault;
int zerofs_debug_stats;
int zerofs_debug_lease;
int zerofs_debug_readahead;
int zerofs_debug_torn_write;
int zerofs_debug_index_map_kib;

static zlog_fn error_hook;
static zlog_fn debug_hook;

void
zlog_set_handlers (zlog_fn error_fn, zlog_fn debug_fn)
{
  error_hook = error_fn;
  debug_hook = debug_fn;
}

static void
emit (zlog_fn hook, const char *prefix, const char *fmt, va_list args)
{
  if (hook)
    hook (fmt, args);
  else {
    fprintf (stderr, "zerofs: %s", prefix);
    vfprintf (stderr, fmt, args);
    fputc ('\n', stderr);
  }
}

void
zerror (const char *fmt, ...)
{
  int saved_errno = errno;
  va_list args;

  va_start (args, fmt);
  emit (error_hook, "", fmt, args);
  va_end (args);
  errno = saved_errno;
}

static void
call_hook (zlog_fn hook, const char *fmt, ...)
{
  va_list args;

  va_start (args, fmt);
  hook (fmt, args);
  va_end (args);
}

void
zwarning (const char *fmt, ...)
{
  int saved_errno = errno;
  char buf[1024];
  va_list args;

  va_start (args, fmt);
  vsnprintf (buf, sizeof buf, fmt, args);
  va_end (args);
  if (error_hook)
    call_hook (error_hook, "warning: %s", buf);
  else
    fprintf (stderr, "zerofs: warning: %s\n", buf);
  errno = saved_errno;
}

void
zdebug (const char *fmt, ...)
{
  int saved_errno = errno;
  va_list args;

  va_start (args, fmt);
  emit (debug_hook, "debug: ", fmt, args);
  va_end (args);
  errno = saved_errno;
}

void
zlog_debug_from_string (const char *flags)
{
  static const struct { const char *name; int *var; } table[] = {
    { "s3", &zerofs_debug_s3 },
    { "cache", &zerofs_debug_cache },
    { "flush", &zerofs_debug_flush },
    { "fault", &zerofs_debug_fault },
    { "lease", &zerofs_debug_lease },
    { "readahead", &zerofs_debug_readahead },
  };
  const char *p = flags;
  size_t i, n;

  while (p && *p) {
    n = strcspn (p, ",");
    for (i = 0; i < sizeof table / sizeof table[0]; i++)
      if ((n == 3 && strncmp (p, "all", 3) == 0) ||
          (strlen (table[i].name) == n && strncmp (p, table[i].name, n) == 0))
        *table[i].var = 1;
    p += n;
    if (*p == ',')
      p++;
  }
}
