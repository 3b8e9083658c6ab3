/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs wrapper: child processes, signals and the log (wrapper.h).
 *
 * The wrapper waits for several things at once: its children exiting
 * (nbdkit above all, which it restarts), SIGTERM/SIGINT (which stop it),
 * and its children's output.  All three arrive on file descriptors,
 * polled in one place (wproc_poll):
 *
 *   - SIGCHLD, SIGTERM, SIGINT and SIGHUP are blocked for the whole life
 *     of the process and read from a signalfd, so that no signal is
 *     lost between a check and a wait, and no handler runs in the middle
 *     of anything.  Children get an empty mask and default dispositions
 *     back before exec.
 *   - Children's stdout and stderr are one pipe whose read end the loop
 *     copies line by line to the log.  Before the wrapper daemonizes the
 *     log is stderr, so nbdkit's start-up errors reach the terminal; after,
 *     it is syslog, where nbdkit's messages follow the wrapper's own.
 *     The loop drains the pipe in every wait, so a talkative child
 *     (nbdkit -v) cannot fill it and stall.
 *
 * Children are remembered (a vector of pointers to their struct wproc)
 * until reaped; anything else reaped (nothing, normally) is ignored.
 */
#define _GNU_SOURCE             /* pipe2 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "cleanup.h"
#include "vector.h"

#include "wrapper.h"

DEFINE_VECTOR_TYPE (wproc_vector, struct wproc *);

static wproc_vector children = EMPTY_VECTOR;
static sigset_t handled;            /* blocked, read from sigfd */
static int sigfd = -1;
static int log_rfd = -1, log_wfd = -1;
static bool use_syslog;
static const char *stop_signal;     /* name of the SIGTERM/SIGINT seen */

/* Child output not yet ending in a newline. */
static char line[4096];
static size_t line_len;

void
wlogv (int priority, const char *fmt, va_list args)
{
  if (use_syslog)
    vsyslog (priority, fmt, args);
  else {
    fputs (PROGRAM_NAME ": ", stderr);
    if (priority == LOG_DEBUG)
      fputs ("debug: ", stderr);
    vfprintf (stderr, fmt, args);
    fputc ('\n', stderr);
  }
}

void
wlog (int priority, const char *fmt, ...)
{
  va_list args;

  va_start (args, fmt);
  wlogv (priority, fmt, args);
  va_end (args);
}

void
wlog_to_syslog (void)
{
  openlog (PROGRAM_NAME, LOG_PID, LOG_DAEMON);
  use_syslog = true;
}

/* One line a child wrote (without its newline). */
static void
log_child_line (const char *s, size_t len)
{
  if (use_syslog)
    syslog (strstr (s, "error") ? LOG_ERR : LOG_INFO, "%.*s", (int) len, s);
  else
    fprintf (stderr, "%.*s\n", (int) len, s);
}

int
wproc_init (void)
{
  int fds[2];

  sigemptyset (&handled);
  sigaddset (&handled, SIGCHLD);
  sigaddset (&handled, SIGTERM);
  sigaddset (&handled, SIGINT);
  sigaddset (&handled, SIGHUP);
  if (sigprocmask (SIG_BLOCK, &handled, NULL) == -1) {
    wlog (LOG_ERR, "sigprocmask: %m");
    return -1;
  }
  sigfd = signalfd (-1, &handled, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sigfd == -1) {
    wlog (LOG_ERR, "signalfd: %m");
    return -1;
  }
  if (pipe2 (fds, O_CLOEXEC) == -1) {
    wlog (LOG_ERR, "pipe: %m");
    return -1;
  }
  log_rfd = fds[0];
  log_wfd = fds[1];
  if (fcntl (log_rfd, F_SETFL, O_NONBLOCK) == -1) {
    wlog (LOG_ERR, "fcntl: %m");
    return -1;
  }
  return 0;
}

/* In the child, between fork and exec: only what is safe there. */
static void __attribute__ ((noreturn))
exec_child (char *const argv[], const int *keep_fds, size_t n_keep_fds)
{
  sigset_t none;
  size_t i;
  int null;

  for (i = 1; i < NSIG; i++)
    if (i != SIGKILL && i != SIGSTOP)
      signal (i, SIG_DFL);
  sigemptyset (&none);
  sigprocmask (SIG_SETMASK, &none, NULL);

  null = open ("/dev/null", O_RDONLY);
  if (null >= 0 && null != STDIN_FILENO) {
    dup2 (null, STDIN_FILENO);
    close (null);
  }
  dup2 (log_wfd, STDOUT_FILENO);
  dup2 (log_wfd, STDERR_FILENO);
  for (i = 0; i < n_keep_fds; i++)
    fcntl (keep_fds[i], F_SETFD, 0);

  execvp (argv[0], argv);
  dprintf (STDERR_FILENO, PROGRAM_NAME ": cannot run %s: %s\n",
           argv[0], strerror (errno));
  _exit (127);
}

int
wproc_spawn (struct wproc *p, const char *what, char *const argv[],
             const int *keep_fds, size_t n_keep_fds)
{
  pid_t pid;

  if (wproc_vector_reserve (&children, 1) == -1) {
    wlog (LOG_ERR, "out of memory");
    return -1;
  }
  fflush (stderr);
  pid = fork ();
  if (pid == -1) {
    wlog (LOG_ERR, "fork: %m");
    return -1;
  }
  if (pid == 0)
    exec_child (argv, keep_fds, n_keep_fds);

  p->what = what;
  p->pid = pid;
  p->running = true;
  p->status = 0;
  wproc_vector_append (&children, p);
  return 0;
}

static void
reap (void)
{
  pid_t pid;
  int status;
  size_t i;

  while ((pid = waitpid (-1, &status, WNOHANG)) > 0) {
    for (i = 0; i < children.len; i++) {
      if (children.items[i]->pid == pid) {
        children.items[i]->running = false;
        children.items[i]->status = status;
        children.items[i] = children.items[children.len - 1];
        children.len--;
        break;
      }
    }
  }
}

static void
read_signals (void)
{
  struct signalfd_siginfo si;

  while (read (sigfd, &si, sizeof si) == sizeof si) {
    switch (si.ssi_signo) {
    case SIGCHLD:
      break;                        /* reap () below, always */
    case SIGTERM:
      stop_signal = "SIGTERM";
      break;
    case SIGINT:
      stop_signal = "SIGINT";
      break;
    case SIGHUP:
      wlog (LOG_INFO, "SIGHUP ignored (SIGTERM stops)");
      break;
    }
  }
  reap ();
}

void
wproc_drain_log (void)
{
  char buf[4096];
  ssize_t r;
  size_t i;

  while ((r = read (log_rfd, buf, sizeof buf)) > 0) {
    for (i = 0; i < (size_t) r; i++) {
      if (buf[i] == '\n' || line_len == sizeof line) {
        log_child_line (line, line_len);
        line_len = 0;
        if (buf[i] == '\n')
          continue;
      }
      line[line_len++] = buf[i];
    }
  }
}

void
wproc_poll (int timeout_ms)
{
  struct pollfd fds[2] = {
    { .fd = sigfd, .events = POLLIN },
    { .fd = log_rfd, .events = POLLIN },
  };

  if (poll (fds, 2, timeout_ms) == -1 && errno != EINTR) {
    wlog (LOG_ERR, "poll: %m");
    sleep (1);                      /* do not spin */
  }
  wproc_drain_log ();
  read_signals ();
}

bool
wproc_stop_requested (const char **which)
{
  if (stop_signal && which)
    *which = stop_signal;
  return stop_signal != NULL;
}

int
wproc_wait (struct wproc *p)
{
  while (p->running)
    wproc_poll (-1);
  return p->status;
}

void
wproc_describe (int status, char *buf, size_t len)
{
  if (WIFEXITED (status))
    snprintf (buf, len, "exited with status %d", WEXITSTATUS (status));
  else if (WIFSIGNALED (status))
    snprintf (buf, len, "was killed by signal %d (%s)",
              WTERMSIG (status), strsignal (WTERMSIG (status)));
  else
    snprintf (buf, len, "ended with wait status 0x%x", status);
}

int
wproc_run (const char *what, char *const argv[])
{
  struct wproc p;
  char how[128];
  int status;

  if (wproc_spawn (&p, what, argv, NULL, 0) == -1)
    return -1;
  status = wproc_wait (&p);
  if (WIFEXITED (status) && WEXITSTATUS (status) == 0)
    return 0;
  wproc_describe (status, how, sizeof how);
  wlog (LOG_ERR, "%s %s", what, how);
  return -1;
}

int
argv_add (string_vector *argv, const char *word)
{
  if (string_vector_append (argv, (char *) word) == -1) {
    wlog (LOG_ERR, "out of memory");
    return -1;
  }
  return 0;
}

int
argv_add_all (string_vector *argv, const string_vector *words)
{
  size_t i;

  for (i = 0; i < words->len; i++)
    if (argv_add (argv, words->items[i]) == -1)
      return -1;
  return 0;
}
