/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs (the --nbd / --fuse wrapper): what its files share.
 *
 *   zerofs.c          command line, --help, and the life of the wrapper:
 *                     start, attach, supervise (restart nbdkit), stop
 *   wrapper-proc.c    child processes: spawning, reaping, signals (one
 *                     signalfd), the event loop, and the log (stderr,
 *                     or syslog once daemonized) that children write to
 *   wrapper-nbdkit.c  the nbdkit child: its command line, secrets
 *                     through pipes, waiting until it answers NBD
 *   wrapper-client.c  the client side: nbd-client for --nbd, nbdfuse and
 *                     fusermount3 for --fuse
 *
 * The wrapper is single-threaded: every wait (for a child, for nbdkit to
 * answer) goes through wproc_poll, which also reaps children, notices
 * SIGTERM/SIGINT and copies children's output to the log, so that a
 * child never blocks on a full log pipe while the wrapper waits.
 */
#ifndef ZEROFS_WRAPPER_H
#define ZEROFS_WRAPPER_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "vector.h"

#define PROGRAM_NAME "zerofs"

enum wmode { WMODE_NONE, WMODE_NBD, WMODE_FUSE };

/* A secret option (password, secret-key, session-token), read by the
 * wrapper and handed to each nbdkit it starts through a pipe.
 */
struct wsecret {
  const char *key;
  char *value;                      /* wiped and freed at exit */
};
DEFINE_VECTOR_TYPE (secret_vector, struct wsecret);

/* What the command line says (zerofs.c fills it). */
struct wconf {
  enum wmode mode;
  bool foreground;
  const char *export_name;
  char *target;                     /* the device or mount dir, absolute */
  unsigned nbd_connections;         /* nbd-client -connections, nbdfuse -C */
  unsigned nbd_timeout;             /* nbd-client -timeout */
  const char *nbdkit;               /* program */
  char *plugin;                     /* name or absolute path */
  const char *nbd_client;           /* program */
  const char *nbdfuse;              /* program */
  string_vector nbd_flags;          /* raw nbdkit words before the plugin */
  string_vector nbd_params;         /* raw nbdkit words after it */
  string_vector plugin_args;        /* "key=value", no secrets */
  secret_vector secrets;
  string_vector client_args;        /* extra nbd-client words */
  string_vector fuse_options;       /* nbdfuse -o */
  char *pid_file;
  char *config_export;              /* export= from the config file */
  /* --nbd with TLS: nbdkit gets --tls=require --tls-certificates=DIR
   * through nbd_flags, nbd-client the client's files in DIR.
   */
  char *tls_certificates;           /* absolute, or NULL */
  const char *tls_hostname;         /* the name in the server's cert */
};

/* A child process.  RUNNING is cleared and STATUS set (waitpid's) when
 * wproc_poll reaps it.
 */
struct wproc {
  const char *what;                 /* for messages: "nbdkit", ... */
  pid_t pid;
  bool running;
  int status;
};

/* Log: "zerofs: MESSAGE" on stderr, or to syslog after wlog_to_syslog. */
extern void wlog (int priority, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));
extern void wlogv (int priority, const char *fmt, va_list args)
  __attribute__ ((format (printf, 2, 0)));
extern void wlog_to_syslog (void);

/* Command lines for wproc_spawn: ARGV holds borrowed strings (only its
 * array is freed); end it with argv_add (argv, NULL).
 */
extern int argv_add (string_vector *argv, const char *word);
extern int argv_add_all (string_vector *argv, const string_vector *words);

/* Block the signals the loop handles and create the log pipe. */
extern int wproc_init (void);
/* Start ARGV[0] (looked up in $PATH) with stdin /dev/null and
 * stdout/stderr on the log.  KEEP_FDS stay open in the child.
 */
extern int wproc_spawn (struct wproc *p, const char *what,
                        char *const argv[], const int *keep_fds,
                        size_t n_keep_fds);
/* Wait up to TIMEOUT_MS (-1: until something happens) and handle what
 * happened: reaped children, signals, child output.
 */
extern void wproc_poll (int timeout_ms);
/* Has SIGTERM or SIGINT arrived?  WHICH gets the signal's name. */
extern bool wproc_stop_requested (const char **which);
/* Wait for P to exit (whatever else happens); returns its status. */
extern int wproc_wait (struct wproc *p);
/* Run ARGV to completion: 0 if it exited with status 0, else -1
 * (logged, naming WHAT).
 */
extern int wproc_run (const char *what, char *const argv[]);
/* "exited with status N" / "was killed by signal NAME". */
extern void wproc_describe (int status, char *buf, size_t len);
/* Copy what children wrote and is still in the pipe to the log. */
extern void wproc_drain_log (void);

/* nbdkit (wrapper-nbdkit.c). */
extern int nbdkit_start (const struct wconf *wc, const char *sock,
                         struct wproc *p);
/* 0 once nbdkit answers on SOCK, -1 if it exits first or a stop is
 * requested (logged).
 */
extern int nbdkit_wait_ready (struct wproc *p, const char *sock);
/* SIGTERM and wait: 0 if it exited with status 0 or was not running. */
extern int nbdkit_stop (struct wproc *p);

/* The client (wrapper-client.c).  DIR is the private directory. */
extern int client_attach (const struct wconf *wc, const char *dir,
                          const char *sock, struct wproc *p);
extern int client_detach (const struct wconf *wc, struct wproc *p);

#endif /* ZEROFS_WRAPPER_H */
