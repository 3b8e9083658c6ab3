/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs wrapper: the nbdkit child (wrapper.h).
 *
 * nbdkit runs in the foreground (-f) as the wrapper's child, so that the
 * wrapper learns at once when it dies and can start it again on the
 * same socket with the same parameters, and so the same cache-dir: the
 * plugin recovers what the dead process left there, and the client
 * (nbd-client -persist) reconnects to the socket.  Its command line:
 *
 *   nbdkit -f -U SOCK [--nbd-flag words] PLUGIN [config=FILE]
 *          bucket=... export=NAME [key=value ...] [secret=-FD ...]
 *          [--nbd-param words]
 *
 * Secrets never appear on that command line, which any user can read
 * in /proc/PID/cmdline: each one (password, secret-key, session-token;
 * the plugin reads all three with nbdkit_read_password) is written into
 * a pipe of its own before nbdkit starts, and nbdkit is told key=-FD
 * with the pipe's read end, which it inherits.  New pipes are made for
 * every start, so nothing secret is ever written to a file.
 *
 * "Answers" means the NBD greeting: the wrapper connects to the socket,
 * reads the newstyle handshake's magic, and ends the negotiation with
 * NBD_OPT_ABORT, as a polite client does.  A socket that merely exists
 * is not enough: nbdkit binds it before it accepts.
 */
#define _GNU_SOURCE             /* vasprintf, pipe2 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "byteorder.h"
#include "cleanup.h"
#include "utils.h"
#include "vector.h"

#include "wrapper.h"

/* The newstyle handshake (NBD protocol, "Newstyle negotiation"). */
#define NBD_MAGIC UINT64_C (0x4e42444d41474943)        /* "NBDMAGIC" */
#define NBD_OPTS_MAGIC UINT64_C (0x49484156454F5054)   /* "IHAVEOPT" */
#define NBD_FLAG_C_FIXED_NEWSTYLE 1
#define NBD_FLAG_C_NO_ZEROES 2
#define NBD_OPT_ABORT 2

/* How long a connected probe waits for the greeting. */
#define PROBE_TIMEOUT_SECONDS 10
/* Secret options: password, secret-key, session-token. */
#define MAX_SECRETS 8

/* How often nbdkit is probed while it starts. */
#define PROBE_INTERVAL_MS 100

static void
close_fds (int *fds, size_t n)
{
  size_t i;

  for (i = 0; i < n; i++)
    if (fds[i] >= 0)
      close (fds[i]);
}

/* A pipe holding SECRET, closed for writing: the read end, or -1. */
static int
secret_pipe (const char *key, const char *secret)
{
  size_t len = strlen (secret), done = 0;
  int fds[2];
  ssize_t r;

  if (pipe2 (fds, O_CLOEXEC) == -1) {
    wlog (LOG_ERR, "pipe: %m");
    return -1;
  }
  /* A secret is at most a few KiB: the pipe holds it without a reader. */
  while (done < len) {
    r = write (fds[1], secret + done, len - done);
    if (r == -1 && errno == EINTR)
      continue;
    if (r == -1) {
      wlog (LOG_ERR, "writing %s into a pipe: %m", key);
      close_fds (fds, 2);
      return -1;
    }
    done += r;
  }
  close (fds[1]);
  return fds[0];
}

int
nbdkit_start (const struct wconf *wc, const char *sock, struct wproc *p)
{
  CLEANUP_VECTOR (string_vector) string_vector argv = EMPTY_VECTOR;
  char secret_words[MAX_SECRETS][64];
  int fds[MAX_SECRETS];
  size_t i, nfds = 0;
  int r;

  if (wc->secrets.len > MAX_SECRETS) {
    wlog (LOG_ERR, "more than %d secrets", MAX_SECRETS);
    return -1;
  }
  if (unlink (sock) == -1 && errno != ENOENT) {
    wlog (LOG_ERR, "removing %s: %m", sock);
    return -1;
  }

  r = argv_add (&argv, wc->nbdkit);
  if (r == 0) r = argv_add (&argv, "-f");
  if (r == 0) r = argv_add (&argv, "-U");
  if (r == 0) r = argv_add (&argv, sock);
  if (r == 0) r = argv_add_all (&argv, &wc->nbd_flags);
  if (r == 0) r = argv_add (&argv, wc->plugin);
  if (r == 0) r = argv_add_all (&argv, &wc->plugin_args);
  for (i = 0; r == 0 && i < wc->secrets.len; i++) {
    fds[nfds] = secret_pipe (wc->secrets.items[i].key,
                             wc->secrets.items[i].value);
    if (fds[nfds] == -1) {
      r = -1;
      break;
    }
    snprintf (secret_words[i], sizeof secret_words[i], "%s=-%d",
              wc->secrets.items[i].key, fds[nfds++]);
    r = argv_add (&argv, secret_words[i]);
  }
  if (r == 0) r = argv_add_all (&argv, &wc->nbd_params);
  if (r == 0) r = argv_add (&argv, NULL);

  if (r == 0)
    r = wproc_spawn (p, "nbdkit", argv.items, fds, nfds);
  close_fds (fds, nfds);
  return r;
}

static int
read_full (int fd, void *buf, size_t len)
{
  size_t done = 0;
  ssize_t r;

  while (done < len) {
    r = read (fd, (char *) buf + done, len - done);
    if (r == -1 && errno == EINTR)
      continue;
    if (r <= 0)
      return -1;
    done += r;
  }
  return 0;
}

/* 1: an NBD server answered on SOCK; 0: nothing there yet. */
static int
probe (const char *sock)
{
  CLEANUP_CLOSE int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  struct timeval tv = { .tv_sec = PROBE_TIMEOUT_SECONDS };
  uint8_t greeting[18], abort_opt[20], reply[20];

  if (fd == -1)
    return 0;
  snprintf (addr.sun_path, sizeof addr.sun_path, "%s", sock);
  if (connect (fd, (struct sockaddr *) &addr, sizeof addr) == -1)
    return 0;
  setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (read_full (fd, greeting, sizeof greeting) == -1 ||
      get_be64 (greeting) != NBD_MAGIC ||
      get_be64 (greeting + 8) != NBD_OPTS_MAGIC)
    return 0;

  put_be32 (abort_opt, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
  put_be64 (abort_opt + 4, NBD_OPTS_MAGIC);
  put_be32 (abort_opt + 12, NBD_OPT_ABORT);
  put_be32 (abort_opt + 16, 0);               /* no option data */
  /* Best effort: the server has answered already.  Its reply (an ack)
   * is read so that it does not write to a closed socket.
   */
  if (write (fd, abort_opt, sizeof abort_opt) == sizeof abort_opt &&
      read_full (fd, reply, sizeof reply) == -1)
    return 1;
  return 1;
}

int
nbdkit_wait_ready (struct wproc *p, const char *sock)
{
  char how[128];

  for (;;) {
    if (p->running && probe (sock) == 1)
      return 0;
    if (!p->running) {
      wproc_describe (p->status, how, sizeof how);
      wlog (LOG_ERR, "nbdkit %s before it served", how);
      return -1;
    }
    if (wproc_stop_requested (NULL))
      return -1;
    wproc_poll (PROBE_INTERVAL_MS);
  }
}

int
nbdkit_stop (struct wproc *p)
{
  char how[128];
  int status;

  if (!p->running)
    return 0;
  if (kill (p->pid, SIGTERM) == -1 && errno != ESRCH) {
    wlog (LOG_ERR, "kill nbdkit: %m");
    return -1;
  }
  status = wproc_wait (p);
  if (WIFEXITED (status) && WEXITSTATUS (status) == 0)
    return 0;
  wproc_describe (status, how, sizeof how);
  wlog (LOG_ERR, "nbdkit %s while stopping", how);
  return -1;
}
