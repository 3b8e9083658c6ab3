/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs-dev: the long operations' engine (see jobs.h).
 *
 * Workers take the next item from one atomic counter, so items start in
 * order and no queue is needed.  The calling thread draws the progress
 * line while they work, waking every PROGRESS_MS or when the last worker
 * ends.  A signal only sets a flag (nothing else is async-signal-safe):
 * workers look at it before each item, so an interrupted run stops after
 * at most one request per connection, each completed or not started.
 *
 * stderr is shared by the progress line and the error handler of
 * zerofs-dev.c: both hold flockfile (stderr) while they write, and an
 * error message first erases the progress line, which is drawn again
 * at the next tick.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"

#include "jobs.h"

#define PROGRESS_MS 250

struct jobs {
  const struct jobs_spec *spec;
  _Atomic size_t next;
  _Atomic uint64_t objects, bytes;
  _Atomic size_t bad;
  _Atomic bool stop;
  _Atomic int first_errno;          /* of the first failed item */
  pthread_mutex_t lock;             /* running, and the condition */
  pthread_cond_t done;
  unsigned running;
};

static volatile sig_atomic_t interrupted;
static _Atomic bool progress_shown;  /* a progress line is on the screen */

static void
on_signal (int sig)
{
  interrupted = 1;
  signal (sig, SIG_DFL);            /* a second one kills */
}

void
jobs_catch_interrupts (void)
{
  static bool caught;
  struct sigaction sa;

  if (caught)                       /* once: then a second signal kills */
    return;
  caught = true;
  memset (&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset (&sa.sa_mask);
  sigaction (SIGINT, &sa, NULL);
  sigaction (SIGTERM, &sa, NULL);
}

bool
jobs_interrupted (void)
{
  return interrupted != 0;
}

static void
erase_line (void)
{
  if (progress_shown) {
    fputs ("\r\033[K", stderr);
    progress_shown = false;
  }
}

void
jobs_stderr_lock (void)
{
  flockfile (stderr);
  erase_line ();
}

void
jobs_stderr_unlock (void)
{
  fflush (stderr);
  funlockfile (stderr);
}

void
jobs_add (struct jobs *jobs, uint64_t objects, uint64_t bytes)
{
  jobs->objects += objects;
  jobs->bytes += bytes;
}

static void *
worker (void *opaque)
{
  struct jobs *jobs = opaque;
  const struct jobs_spec *spec = jobs->spec;
  size_t i;
  int r;

  while (!jobs->stop && !interrupted) {
    i = jobs->next++;
    if (i >= spec->n)
      break;
    r = spec->run (spec->opaque, jobs, i);
    if (r == 1)
      jobs->bad++;
    else if (r == -1) {
      int expected = 0;

      atomic_compare_exchange_strong (&jobs->first_errno, &expected,
                                      errno ? errno : EIO);
      jobs->stop = true;
    }
  }

  pthread_mutex_lock (&jobs->lock);
  jobs->running--;
  pthread_cond_signal (&jobs->done);
  pthread_mutex_unlock (&jobs->lock);
  return NULL;
}

static double
seconds_since (const struct timespec *t0)
{
  struct timespec now;

  clock_gettime (CLOCK_MONOTONIC, &now);
  return (now.tv_sec - t0->tv_sec) + (now.tv_nsec - t0->tv_nsec) / 1e9;
}

/* "clone: 45% 4500/10000 objects, 12.0 MiB/s, 0:12 left" */
static void
draw_progress (struct jobs *jobs, const struct timespec *t0)
{
  const struct jobs_spec *spec = jobs->spec;
  uint64_t objects = jobs->objects, bytes = jobs->bytes;
  uint64_t total = spec->total_objects;
  double secs = seconds_since (t0);
  char rate[64] = "", left[32] = "";

  if (secs < 0.5)
    return;
  if (bytes > 0 && bytes / secs >= 1048576)
    snprintf (rate, sizeof rate, ", %.1f MiB/s", bytes / secs / 1048576);
  else if (bytes > 0)
    snprintf (rate, sizeof rate, ", %.1f KiB/s", bytes / secs / 1024);
  else
    snprintf (rate, sizeof rate, ", %.0f objects/s", objects / secs);
  if (objects > 0 && total > objects) {
    uint64_t s = (uint64_t) (secs * (total - objects) / objects + 0.5);

    snprintf (left, sizeof left, ", %" PRIu64 ":%02" PRIu64 ":%02" PRIu64
              " left", s / 3600, s / 60 % 60, s % 60);
  }

  flockfile (stderr);
  fprintf (stderr, "\r\033[K%s: %3" PRIu64 "%% %" PRIu64 "/%" PRIu64
           " objects%s%s", spec->what,
           total ? objects * 100 / total : 100, objects, total, rate, left);
  progress_shown = true;
  fflush (stderr);
  funlockfile (stderr);
}

int
jobs_run (const struct jobs_spec *spec, struct jobs_result *res)
{
  struct jobs jobs = { .spec = spec };
  CLEANUP_FREE pthread_t *threads = NULL;
  unsigned n = spec->connections, started = 0, i;
  bool tty = isatty (STDERR_FILENO);
  struct timespec t0;
  int err;

  memset (res, 0, sizeof *res);
  jobs_catch_interrupts ();
  if (n == 0)
    n = 1;
  if (n > spec->n)
    n = spec->n;
  pthread_mutex_init (&jobs.lock, NULL);
  pthread_cond_init (&jobs.done, NULL);
  clock_gettime (CLOCK_MONOTONIC, &t0);

  threads = calloc (n ? n : 1, sizeof *threads);
  if (threads == NULL) {
    zerror ("calloc: %m");
    return -1;
  }
  pthread_mutex_lock (&jobs.lock);
  for (i = 0; i < n; i++) {
    err = pthread_create (&threads[i], NULL, worker, &jobs);
    if (err != 0) {
      if (started == 0) {
        pthread_mutex_unlock (&jobs.lock);
        errno = err;
        zerror ("pthread_create: %m");
        return -1;
      }
      break;                        /* fewer threads will do */
    }
    started++;
    jobs.running++;
  }

  /* Wait, drawing the progress line on a terminal. */
  while (jobs.running > 0) {
    struct timespec deadline;

    clock_gettime (CLOCK_REALTIME, &deadline);
    deadline.tv_nsec += PROGRESS_MS * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
      deadline.tv_sec++;
      deadline.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait (&jobs.done, &jobs.lock, &deadline);
    if (tty && jobs.running > 0) {
      pthread_mutex_unlock (&jobs.lock);
      draw_progress (&jobs, &t0);
      pthread_mutex_lock (&jobs.lock);
    }
  }
  pthread_mutex_unlock (&jobs.lock);
  for (i = 0; i < started; i++)
    pthread_join (threads[i], NULL);
  pthread_cond_destroy (&jobs.done);
  pthread_mutex_destroy (&jobs.lock);

  flockfile (stderr);
  erase_line ();
  fflush (stderr);
  funlockfile (stderr);

  res->objects = jobs.objects;
  res->bytes = jobs.bytes;
  res->bad = jobs.bad;
  if (jobs.first_errno) {
    errno = jobs.first_errno;
    return -1;
  }
  if (interrupted && jobs.next < spec->n) {
    res->interrupted = true;
    errno = EINTR;
    return -1;
  }
  return 0;
}
