/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: the progress line (see progress.h).
 */
#include <config.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"

#define ZPROGRESS_INTERVAL_MS 250

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static bool tty;

static void
decide (void)
{
  tty = isatty (STDERR_FILENO) == 1;
}

bool
zprogress_enabled (void)
{
  pthread_once (&once, decide);
  return tty;
}

static uint64_t
now_ms (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
zprogress_draw (struct zprogress *p, bool force, const char *fmt, ...)
{
  char text[256];
  uint64_t t;
  va_list args;

  if (!zprogress_enabled ())
    return;
  t = now_ms ();
  pthread_mutex_lock (&lock);
  if (!force && p->drawn && t - p->last_ms < ZPROGRESS_INTERVAL_MS) {
    pthread_mutex_unlock (&lock);
    return;
  }
  p->last_ms = t;
  p->drawn = true;
  va_start (args, fmt);
  vsnprintf (text, sizeof text, fmt, args);
  va_end (args);
  fprintf (stderr, "\r\033[Kzerofs: %s", text);
  fflush (stderr);
  pthread_mutex_unlock (&lock);
}

void
zprogress_clear (struct zprogress *p)
{
  if (!p->drawn || !zprogress_enabled ())
    return;
  pthread_mutex_lock (&lock);
  fputs ("\r\033[K", stderr);
  fflush (stderr);
  p->drawn = false;
  pthread_mutex_unlock (&lock);
}
