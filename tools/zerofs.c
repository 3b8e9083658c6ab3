/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: serve one zerofs device to the kernel in one command.
 *
 *   zerofs --nbd  [OPTIONS] BUCKET[/PREFIX] /dev/nbdX --export=NAME
 *   zerofs --fuse [OPTIONS] BUCKET[/PREFIX] MOUNTDIR  --export=NAME
 *
 * The wrapper starts nbdkit with the zerofs plugin on a Unix socket in a
 * private directory (mkdtemp: mode 0700, so only this user can connect),
 * waits until it answers, and attaches the client: nbd-client for a
 * kernel NBD device, or nbdfuse, which serves the device as the file
 * MOUNTDIR/NAME (wrapper-client.c).  Then it daemonizes (unless -f) and
 * supervises:
 *
 *   - SIGTERM or SIGINT: detach the client (nbd-client -d, or unmount),
 *     then stop nbdkit with SIGTERM and wait for it, however long it
 *     takes, because nbdkit uploads the dirty data it holds before it
 *     exits; exit 0 if all of that succeeded.
 *   - nbdkit dies (--nbd): start it again on the same socket, with the
 *     same parameters and so the same cache-dir.  The plugin recovers
 *     what the dead process left in the cache, nbd-client -persist
 *     reconnects, and nothing that was acknowledged is lost.  At most
 *     RESTART_MAX restarts within RESTART_WINDOW seconds: one more death
 *     detaches the device and exits 1, saying why.
 *   - nbdkit dies (--fuse): nbdfuse cannot reconnect, so the mount is
 *     lost: unmount, exit 1.  nbdfuse ending by itself (someone ran
 *     fusermount3 -u) stops nbdkit; the exit status follows nbdfuse's.
 *
 * Daemonizing: the process forks before it starts anything; the parent
 * waits on a pipe until the child has attached the device, then exits 0
 * (or with the child's status if it failed), so that a script can use
 * the device as soon as zerofs returns, and start-up errors, nbdkit's
 * included, reach the terminal.  After that the log is syslog.
 *
 * Options: the wrapper's own (the table below), and every option of the
 * plugin's table (lib/conf.c) as --KEY=VALUE, passed to nbdkit as
 * KEY=VALUE after being checked here with the same code the plugin uses
 * (zconf_set), so that a typo fails before anything starts.  Paths are
 * made absolute (the daemon runs in /).  Secrets are read here, once,
 * in nbdkit's forms (-, -FD, +FILE, or the value itself), and handed to
 * each nbdkit through a pipe (wrapper-nbdkit.c), never on a command
 * line.  Leases are not handled here.
 *
 * The config file (--config, else $ZEROFS_CONFIG or
 * /etc/zerofs/zerofs.conf) goes to nbdkit as config=FILE and is also
 * read here, for its errors and its export.  --tls-certificates makes
 * nbdkit require TLS and gives nbd-client what it needs
 * (wrapper-client.c); PSK is not offered, since nbd-client has none.
 */
#define _GNU_SOURCE             /* vasprintf, pipe2 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "utils.h"
#include "vector.h"

#include "conf.h"
#include "log.h"
#include "volume.h"

#include "wrapper.h"                /* PROGRAM_NAME, for tool.h */
#include "tool.h"

/* Restarts of nbdkit allowed within the window (seconds). */
#define RESTART_MAX 5
#define RESTART_WINDOW 60

#define DEFAULT_NBD_CONNECTIONS 4
#define DEFAULT_NBD_TIMEOUT 600

enum flag_id {
  F_HELP, F_VERSION, F_NBD, F_FUSE, F_FOREGROUND, F_CONFIG,
  F_NBD_CONNECTIONS, F_NBD_TIMEOUT, F_NBD_CLIENT, F_NBD_CLIENT_ARG,
  F_NBDKIT, F_PLUGIN, F_NBD_FLAG, F_NBD_PARAM, F_NBDFUSE, F_FUSE_OPTION,
  F_PID_FILE, F_TLS_CERTIFICATES, F_TLS_HOSTNAME,
};

struct flag {
  const char *name;
  enum flag_id id;
  const char *metavar;              /* NULL: takes no value */
  const char *help;
};

static const struct flag flags[] = {
  { "nbd", F_NBD, NULL,
    "attach a kernel NBD device (/dev/nbdX) with nbd-client" },
  { "fuse", F_FUSE, NULL,
    "serve the device as the file MOUNTDIR/NAME with nbdfuse" },
  { "foreground", F_FOREGROUND, NULL,
    "(or -f) stay in the foreground, log to stderr" },
  { "config", F_CONFIG, "FILE",
    "libconfig file with the plugin options below" },
  { "nbd-connections", F_NBD_CONNECTIONS, "N",
    "NBD connections of the client, 1-64 (default 4)" },
  { "nbd-timeout", F_NBD_TIMEOUT, "SECONDS",
    "nbd-client -timeout, 1-86400 (default 600)" },
  { "nbd-client", F_NBD_CLIENT, "PATH",
    "the nbd-client program (default nbd-client)" },
  { "nbd-client-arg", F_NBD_CLIENT_ARG, "WORD",
    "one more argument for nbd-client (e.g. -nonetlink); repeatable" },
  { "nbdkit", F_NBDKIT, "PATH", "the nbdkit program (default nbdkit)" },
  { "plugin", F_PLUGIN, "NAME|PATH",
    "the plugin nbdkit loads (default zerofs)" },
  { "nbd-flag", F_NBD_FLAG, "WORD",
    "one nbdkit option before the plugin (e.g. --filter=stats); "
    "repeatable" },
  { "nbd-param", F_NBD_PARAM, "WORD",
    "one nbdkit parameter after the plugin's (e.g. statsfile=F); "
    "repeatable" },
  { "nbdfuse", F_NBDFUSE, "PATH", "the nbdfuse program (default nbdfuse)" },
  { "fuse-option", F_FUSE_OPTION, "OPT",
    "nbdfuse -o OPT (e.g. allow_other); repeatable" },
  { "pid-file", F_PID_FILE, "FILE",
    "write the wrapper's pid to FILE once the device is attached" },
  { "tls-certificates", F_TLS_CERTIFICATES, "DIR",
    "--nbd: nbdkit --tls=require --tls-certificates=DIR; nbd-client uses "
    "DIR's ca-cert.pem, client-cert.pem, client-key.pem" },
  { "tls-hostname", F_TLS_HOSTNAME, "NAME",
    "nbd-client -tlshostname: the name the server's certificate bears "
    "(default localhost)" },
  { "help", F_HELP, NULL, "(or -h) this help" },
  { "version", F_VERSION, NULL, "(or -V) the version" },
};
#define N_FLAGS (sizeof flags / sizeof flags[0])

static void __attribute__ ((format (printf, 1, 0)))
error_handler (const char *fmt, va_list args)
{
  wlogv (LOG_ERR, fmt, args);
}

static void __attribute__ ((format (printf, 1, 0)))
debug_handler (const char *fmt, va_list args)
{
  wlogv (LOG_DEBUG, fmt, args);
}

static void __attribute__ ((noreturn))
out_of_memory (void)
{
  fputs (PROGRAM_NAME ": out of memory\n", stderr);
  exit (EXIT_FAILURE);
}

static void
usage (FILE *fp)
{
  size_t i;
  char left[64];

  fprintf (fp,
           "Usage: " PROGRAM_NAME " --nbd  [OPTIONS] BUCKET[/PREFIX] "
           "/dev/nbdX --export=NAME\n"
           "       " PROGRAM_NAME " --fuse [OPTIONS] BUCKET[/PREFIX] "
           "MOUNTDIR --export=NAME\n"
           "Serve the zerofs device NAME as a kernel NBD device, or as the "
           "file\nMOUNTDIR/NAME, until SIGTERM.  BUCKET is NAME[/PREFIX] "
           "or file:///DIR\n(or --bucket, or bucket in the --config file).\n"
           "\n"
           "Wrapper options:\n");
  for (i = 0; i < N_FLAGS; i++) {
    snprintf (left, sizeof left, "--%s%s%s", flags[i].name,
              flags[i].metavar ? "=" : "",
              flags[i].metavar ? flags[i].metavar : "");
    fprintf (fp, "  %-26s %s\n", left, flags[i].help);
  }
  fprintf (fp,
           "\n"
           "Plugin options, passed to nbdkit as KEY=VALUE (secrets through "
           "a pipe):\n");
  zconf_print_help (fp, "--");
  fprintf (fp,
           "\n"
           "nbdkit dies: restarted on the same socket and cache-dir (--nbd), "
           "at most %d\ntimes in %d seconds.\n"
           "Exit status: 0 stopped by SIGTERM/SIGINT, 1 error, "
           "2 usage error.\n"
           "See zerofs(1).\n", RESTART_MAX, RESTART_WINDOW);
}

static const struct flag *
find_flag (const char *name, size_t len)
{
  size_t i;

  for (i = 0; i < N_FLAGS; i++)
    if (strlen (flags[i].name) == len &&
        strncmp (flags[i].name, name, len) == 0)
      return &flags[i];
  return NULL;
}

static char *
xstrdup (const char *s)
{
  char *r = strdup (s);

  if (r == NULL)
    out_of_memory ();
  return r;
}

static void
append (string_vector *v, char *s)
{
  if (s == NULL || string_vector_append (v, s) == -1)
    out_of_memory ();
}

/* A program or plugin: a bare name is looked up by exec (or nbdkit);
 * anything with a '/' is made absolute, since the daemon runs in /.
 */
static char *
program_path (const char *value)
{
  char *r = strchr (value, '/') ? absolute_path (value) : strdup (value);

  if (r == NULL)
    out_of_memory ();
  return r;
}

static unsigned
parse_number (const char *opt, const char *value, unsigned min, unsigned max)
{
  char *end;
  unsigned long v;

  errno = 0;
  v = strtoul (value, &end, 10);
  if (value[0] < '0' || value[0] > '9' || *end != '\0' || errno != 0 ||
      v < min || v > max)
    usage_error ("--%s=%s: not a number from %u to %u", opt, value, min, max);
  return v;
}

/* Drop "KEY=..." from the plugin's arguments. */
static void
drop_plugin_arg (struct wconf *wc, const char *key)
{
  size_t i, j, len = strlen (key);

  for (i = j = 0; i < wc->plugin_args.len; i++) {
    char *a = wc->plugin_args.items[i];

    if (strncmp (a, key, len) == 0 && a[len] == '=')
      free (a);
    else
      wc->plugin_args.items[j++] = a;
  }
  wc->plugin_args.len = j;
}

static void
drop_secret (struct wconf *wc, const char *key)
{
  size_t i, j;

  for (i = j = 0; i < wc->secrets.len; i++) {
    struct wsecret *s = &wc->secrets.items[i];

    if (strcmp (s->key, key) == 0) {
      explicit_bzero (s->value, strlen (s->value));
      free (s->value);
    }
    else
      wc->secrets.items[j++] = *s;
  }
  wc->secrets.len = j;
}

/* One plugin option from the command line.  Returns -1 if its value is
 * wrong (reported); exits on a malformed command line.
 */
static int
add_conf_option (struct wconf *wc, struct zconf *check,
                 const struct zopt *opt, const char *value)
{
  if (opt->type == ZOPT_SECRET) {
    struct wsecret s = { .key = opt->key };

    if (value[0] == '\0') {
      wlog (LOG_ERR, "--%s: empty", opt->key);
      return -1;
    }
    s.value = zread_password (value);
    if (s.value == NULL)
      return -1;
    drop_secret (wc, opt->key);
    if (strcmp (opt->key, "password") == 0)
      drop_plugin_arg (wc, "password-file");
    if (secret_vector_append (&wc->secrets, s) == -1)
      out_of_memory ();
    return 0;
  }

  /* The plugin's own check, for an error before anything starts. */
  if (zconf_set (check, opt->key, value) == -1)
    return -1;
  if (strcmp (opt->key, "export") == 0)
    wc->export_name = value;
  if (strcmp (opt->key, "password-file") == 0)
    drop_secret (wc, "password");
  drop_plugin_arg (wc, opt->key);
  if (opt->type == ZOPT_PATH) {
    CLEANUP_FREE char *abs = absolute_path (value);

    if (abs == NULL)
      out_of_memory ();
    append (&wc->plugin_args, format_string ("%s=%s", opt->key, abs));
  }
  else
    append (&wc->plugin_args, format_string ("%s=%s", opt->key, value));
  return 0;
}

/* Parse ARGV into WC.  Positional arguments go to ARGS.  Returns -1 if
 * a value is wrong (reported); exits 2 if the shape is wrong, 0 after
 * --help or --version.
 */
static int
parse_cmdline (int argc, char *argv[], struct wconf *wc,
               string_vector *args)
{
  struct zconf check;
  bool options_done = false, bad = false, seen_config = false;
  bool seen_bucket = false, bad_config = false;
  int i;

  zconf_init (&check);
  for (i = 1; i < argc; i++) {
    const char *arg = argv[i];
    const char *name, *eq, *value;
    const struct flag *flag;
    const struct zopt *opt;
    CLEANUP_FREE char *key = NULL;
    size_t len;

    if (options_done || arg[0] != '-' || strcmp (arg, "-") == 0) {
      append (args, xstrdup (arg));
      continue;
    }
    if (strcmp (arg, "--") == 0) {
      options_done = true;
      continue;
    }
    if (strcmp (arg, "-f") == 0) arg = "--foreground";
    else if (strcmp (arg, "-h") == 0) arg = "--help";
    else if (strcmp (arg, "-V") == 0) arg = "--version";
    else if (arg[1] != '-')
      usage_error ("unknown option '%s'", arg);

    name = arg + 2;
    eq = strchr (name, '=');
    len = eq ? (size_t) (eq - name) : strlen (name);
    value = eq ? eq + 1 : NULL;
    key = strndup (name, len);
    if (key == NULL)
      out_of_memory ();

    flag = find_flag (name, len);
    opt = flag ? NULL : zconf_find_option (key);
    if (flag == NULL && opt == NULL)
      usage_error ("unknown option '--%s'", key);
    if (value == NULL && ((flag && flag->metavar) ||
                          (opt && opt->type != ZOPT_BOOL))) {
      if (i + 1 >= argc)
        usage_error ("option '--%s' needs a value", key);
      value = argv[++i];
    }
    if (opt) {
      if (strcmp (key, "bucket") == 0)
        seen_bucket = true;
      if (add_conf_option (wc, &check, opt, value ? value : "true") == -1)
        bad = true;
      continue;
    }
    if (!flag->metavar && value != NULL)
      usage_error ("option '--%s' takes no value", key);

    switch (flag->id) {
    case F_HELP:
      usage (stdout);
      zconf_free (&check);
      exit (EXIT_SUCCESS);
    case F_VERSION:
      printf (PROGRAM_NAME " " PACKAGE_VERSION "\n");
      zconf_free (&check);
      exit (EXIT_SUCCESS);
    case F_NBD:
    case F_FUSE:
      if (wc->mode != WMODE_NONE)
        usage_error ("give one of --nbd and --fuse, once");
      wc->mode = flag->id == F_NBD ? WMODE_NBD : WMODE_FUSE;
      break;
    case F_FOREGROUND: wc->foreground = true; break;
    case F_CONFIG:
      seen_config = true;
      drop_plugin_arg (wc, "config");
      {
        CLEANUP_FREE char *abs = absolute_path (value);

        if (abs == NULL)
          out_of_memory ();
        append (&wc->plugin_args, format_string ("config=%s", abs));
      }
      break;
    case F_NBD_CONNECTIONS:
      wc->nbd_connections = parse_number (key, value, 1, 64);
      break;
    case F_NBD_TIMEOUT:
      wc->nbd_timeout = parse_number (key, value, 1, 86400);
      break;
    case F_NBD_CLIENT: wc->nbd_client = program_path (value); break;
    case F_NBD_CLIENT_ARG: append (&wc->client_args, xstrdup (value)); break;
    case F_NBDKIT: wc->nbdkit = program_path (value); break;
    case F_PLUGIN:
      free (wc->plugin);
      wc->plugin = program_path (value);
      break;
    case F_NBD_FLAG: append (&wc->nbd_flags, xstrdup (value)); break;
    case F_NBD_PARAM: append (&wc->nbd_params, xstrdup (value)); break;
    case F_NBDFUSE: wc->nbdfuse = program_path (value); break;
    case F_FUSE_OPTION: append (&wc->fuse_options, xstrdup (value)); break;
    case F_PID_FILE:
      free (wc->pid_file);
      wc->pid_file = absolute_path (value);
      if (wc->pid_file == NULL)
        out_of_memory ();
      break;
    case F_TLS_CERTIFICATES:
      free (wc->tls_certificates);
      wc->tls_certificates = absolute_path (value);
      if (wc->tls_certificates == NULL)
        out_of_memory ();
      break;
    case F_TLS_HOSTNAME: wc->tls_hostname = value; break;
    }
  }

  /* The config file: --config, else the default one (zconf_default_file:
   * $ZEROFS_CONFIG, /etc/zerofs/zerofs.conf), passed to nbdkit as
   * config=FILE.  It is loaded here as well, so that a bad file fails
   * before anything starts, naming its line, and so that its export
   * names the device when --export does not.
   */
  if (!seen_config && zconf_default_file () != NULL) {
    char *abs = absolute_path (zconf_default_file ());

    if (abs == NULL)
      out_of_memory ();
    seen_config = true;
    append (&wc->plugin_args, format_string ("config=%s", abs));
    free (abs);
  }
  if (seen_config) {
    const char *file = NULL;
    struct zconf fc;
    size_t j;

    for (j = 0; j < wc->plugin_args.len; j++)
      if (strncmp (wc->plugin_args.items[j], "config=", 7) == 0)
        file = wc->plugin_args.items[j] + 7;
    zconf_init (&fc);
    if (zconf_load_file (&fc, file) == -1)
      bad = bad_config = true;
    else if (wc->export_name == NULL && fc.export_name) {
      wc->config_export = xstrdup (fc.export_name);
      wc->export_name = wc->config_export;
    }
    zconf_free (&fc);
  }
  /* TLS: nbdkit requires it, nbd-client is given the client's files
   * (wrapper-client.c).  nbdfuse takes TLS files only in its URI, and
   * libnbd refuses local files there.
   */
  if (wc->tls_certificates) {
    if (wc->mode == WMODE_FUSE)
      usage_error ("--tls-certificates goes with --nbd: nbdfuse cannot be "
                   "given TLS certificates");
    append (&wc->nbd_flags, xstrdup ("--tls=require"));
    append (&wc->nbd_flags, format_string ("--tls-certificates=%s",
                                           wc->tls_certificates));
  }
  else if (wc->tls_hostname)
    usage_error ("--tls-hostname goes with --tls-certificates");

  /* The shape: mode, BUCKET and the target, the export. */
  if (wc->mode == WMODE_NONE)
    usage_error ("give --nbd (a kernel NBD device) or --fuse (a file "
                 "under a FUSE mount)");
  if (args->len == 2 && !seen_bucket) {
    if (add_conf_option (wc, &check, zconf_find_option ("bucket"),
                         args->items[0]) == -1)
      bad = true;
  }
  else if (args->len == 2)
    usage_error ("the bucket is given twice: as an argument and as --bucket");
  else if (args->len == 0 || (args->len == 1 && !seen_bucket && !seen_config))
    usage_error ("give BUCKET[/PREFIX] (or file:///DIR) and the %s: %s",
                 wc->mode == WMODE_NBD ? "device (/dev/nbdX)"
                 : "mount directory",
                 args->len == 0 ? "no arguments" : "one argument only");
  else if (args->len > 2)
    usage_error ("too many arguments: '%s'", args->items[2]);
  if (wc->export_name == NULL && !bad_config)
    usage_error ("no device to serve: give --export=NAME");
  wc->target = absolute_path (args->items[args->len - 1]);
  if (wc->target == NULL)
    out_of_memory ();
  zconf_free (&check);
  return bad ? -1 : 0;
}

/* The checks that need the file system. */
static int
check_target (const struct wconf *wc)
{
  struct stat st;

  if (device_name_check (wc->export_name) == -1)
    return -1;
  if (wc->mode == WMODE_FUSE) {
    if (stat (wc->target, &st) == -1) {
      wlog (LOG_ERR, "mount directory %s: %m", wc->target);
      return -1;
    }
    if (!S_ISDIR (st.st_mode)) {
      wlog (LOG_ERR, "%s is not a directory", wc->target);
      return -1;
    }
  }
  return 0;
}

/* Fork; the parent waits until the child says it is ready (exit 0) or
 * exits (with its status).  Returns the pipe to say "ready" on.
 */
static int
daemonize (void)
{
  int fds[2], status;
  pid_t pid;
  char c;
  ssize_t r;

  if (pipe2 (fds, O_CLOEXEC) == -1) {
    wlog (LOG_ERR, "pipe: %m");
    return -1;
  }
  fflush (NULL);
  pid = fork ();
  if (pid == -1) {
    wlog (LOG_ERR, "fork: %m");
    return -1;
  }
  if (pid > 0) {
    close (fds[1]);
    do
      r = read (fds[0], &c, 1);
    while (r == -1 && errno == EINTR);
    if (r == 1)
      _exit (EXIT_SUCCESS);
    if (waitpid (pid, &status, 0) == -1 || !WIFEXITED (status) ||
        WEXITSTATUS (status) == 0)
      _exit (EXIT_FAILURE);
    _exit (WEXITSTATUS (status));
  }
  close (fds[0]);
  if (setsid () == -1) {
    wlog (LOG_ERR, "setsid: %m");
    return -1;
  }
  return fds[1];
}

/* The device is attached: tell the parent, leave the terminal. */
static int
detach_from_terminal (int ready_fd)
{
  int null;

  if (chdir ("/") == -1) {
    wlog (LOG_ERR, "chdir /: %m");
    return -1;
  }
  null = open ("/dev/null", O_RDWR | O_CLOEXEC);
  if (null == -1) {
    wlog (LOG_ERR, "/dev/null: %m");
    return -1;
  }
  wlog_to_syslog ();
  fflush (NULL);
  dup2 (null, STDIN_FILENO);
  dup2 (null, STDOUT_FILENO);
  dup2 (null, STDERR_FILENO);
  close (null);
  if (write (ready_fd, "R", 1) != 1)
    return -1;
  close (ready_fd);
  return 0;
}

static int
write_pid_file (const char *path)
{
  CLEANUP_FREE char *tmp = format_string ("%s.tmp", path);
  FILE *fp;

  if (tmp == NULL)
    out_of_memory ();
  fp = fopen (tmp, "we");
  if (fp == NULL) {
    wlog (LOG_ERR, "pid file %s: %m", tmp);
    return -1;
  }
  fprintf (fp, "%ld\n", (long) getpid ());
  if (fclose (fp) == EOF || rename (tmp, path) == -1) {
    wlog (LOG_ERR, "pid file %s: %m", path);
    unlink (tmp);
    return -1;
  }
  return 0;
}

/* Deaths of nbdkit: the times of the last RESTART_MAX + 1. */
struct deaths {
  time_t when[RESTART_MAX + 1];
  size_t n;
};

/* Record a death now: may nbdkit be started again? */
static bool
may_restart (struct deaths *d)
{
  time_t now = time (NULL);
  struct timespec ts;
  size_t i, recent = 0;

  if (clock_gettime (CLOCK_MONOTONIC, &ts) == 0)
    now = ts.tv_sec;
  if (d->n == RESTART_MAX + 1) {
    memmove (d->when, d->when + 1, RESTART_MAX * sizeof d->when[0]);
    d->n--;
  }
  d->when[d->n++] = now;
  for (i = 0; i < d->n; i++)
    if (now - d->when[i] < RESTART_WINDOW)
      recent++;
  return recent <= RESTART_MAX;
}

/* Supervise until a stop is asked for (0) or something fails (-1). */
static int
supervise (const struct wconf *wc, const char *sock, struct wproc *nbdkit,
           struct wproc *client)
{
  struct deaths deaths = { .n = 0 };
  const char *sig;
  char how[128];

  for (;;) {
    if (wproc_stop_requested (&sig)) {
      wlog (LOG_INFO, "%s: stopping", sig);
      return 0;
    }
    if (wc->mode == WMODE_FUSE && !client->running) {
      wproc_describe (client->status, how, sizeof how);
      wlog (LOG_INFO, "nbdfuse %s: %s was unmounted; stopping", how,
            wc->target);
      return WIFEXITED (client->status) &&
        WEXITSTATUS (client->status) == 0 ? 0 : -1;
    }
    if (!nbdkit->running) {
      wproc_describe (nbdkit->status, how, sizeof how);
      if (wc->mode == WMODE_FUSE) {
        wlog (LOG_ERR, "nbdkit %s; nbdfuse cannot reconnect: unmounting "
              "%s", how, wc->target);
        return -1;
      }
      if (!may_restart (&deaths)) {
        wlog (LOG_ERR, "nbdkit %s: it died %d times within %d seconds; "
              "giving up, detaching %s", how, RESTART_MAX + 1,
              RESTART_WINDOW, wc->target);
        return -1;
      }
      wlog (LOG_ERR, "nbdkit %s; restarting it on the same socket and "
            "cache (restart %zu of at most %d within %d seconds)",
            how, deaths.n, RESTART_MAX, RESTART_WINDOW);
      if (nbdkit_start (wc, sock, nbdkit) == -1)
        return -1;
      if (nbdkit_wait_ready (nbdkit, sock) == 0)
        wlog (LOG_INFO, "nbdkit restarted (pid %ld)", (long) nbdkit->pid);
      continue;                     /* a failed start is one more death */
    }
    wproc_poll (-1);
  }
}

static void
free_wconf (struct wconf *wc)
{
  size_t i;

  for (i = 0; i < wc->secrets.len; i++) {
    explicit_bzero (wc->secrets.items[i].value,
                    strlen (wc->secrets.items[i].value));
    free (wc->secrets.items[i].value);
  }
  secret_vector_reset (&wc->secrets);
  string_vector_free_all (&wc->nbd_flags);
  string_vector_free_all (&wc->nbd_params);
  string_vector_free_all (&wc->plugin_args);
  string_vector_free_all (&wc->client_args);
  string_vector_free_all (&wc->fuse_options);
  free (wc->target);
  free (wc->plugin);
  free (wc->pid_file);
  free (wc->config_export);
  free (wc->tls_certificates);
  if (wc->nbdkit && strchr (wc->nbdkit, '/'))
    free ((char *) wc->nbdkit);
  if (wc->nbd_client && strchr (wc->nbd_client, '/'))
    free ((char *) wc->nbd_client);
  if (wc->nbdfuse && strchr (wc->nbdfuse, '/'))
    free ((char *) wc->nbdfuse);
}

/* Start, attach, supervise, stop.  The exit status. */
static int
run (struct wconf *wc)
{
  CLEANUP_FREE char *dir = NULL;
  CLEANUP_FREE char *sock = NULL;
  struct wproc nbdkit = { .running = false }, client = { .running = false };
  const char *tmp = getenv ("TMPDIR");
  int ready_fd = -1, r = 0;
  bool attached = false, pid_file_written = false;

  if (!wc->foreground && (ready_fd = daemonize ()) == -1)
    return EXIT_FAILURE;
  if (wproc_init () == -1)
    return EXIT_FAILURE;

  dir = format_string ("%s/zerofs-XXXXXX", tmp && tmp[0] == '/' ? tmp
                       : "/tmp");
  if (dir == NULL)
    out_of_memory ();
  if (mkdtemp (dir) == NULL) {
    wlog (LOG_ERR, "mkdtemp %s: %m", dir);
    return EXIT_FAILURE;
  }
  sock = format_string ("%s/nbd.sock", dir);
  if (sock == NULL)
    out_of_memory ();

  if (nbdkit_start (wc, sock, &nbdkit) == -1 ||
      nbdkit_wait_ready (&nbdkit, sock) == -1 ||
      client_attach (wc, dir, sock, &client) == -1)
    r = -1;
  else {
    attached = true;
    wlog (LOG_INFO, "serving %s on %s%s%s (nbdkit pid %ld)",
          wc->export_name, wc->target, wc->mode == WMODE_FUSE ? "/" : "",
          wc->mode == WMODE_FUSE ? wc->export_name : "", (long) nbdkit.pid);
    if (wc->pid_file && write_pid_file (wc->pid_file) == -1)
      r = -1;
    pid_file_written = r == 0 && wc->pid_file != NULL;
    if (r == 0 && ready_fd >= 0 && detach_from_terminal (ready_fd) == -1)
      r = -1;
  }
  if (r == 0)
    r = supervise (wc, sock, &nbdkit, &client);

  /* Stop: the client first, so nothing writes to a stopping server.
   * An nbdfuse that never got as far as serving is told to stop.
   */
  if ((attached || client.running) && client_detach (wc, &client) == -1) {
    r = -1;
    attached = false;               /* not detached: do not say so */
  }
  if (client.running) {
    kill (client.pid, SIGTERM);
    wproc_wait (&client);
  }
  if (nbdkit_stop (&nbdkit) == -1)
    r = -1;
  else if (attached)
    wlog (LOG_INFO, "nbdkit stopped; %s detached", wc->target);
  wproc_drain_log ();

  unlink (sock);
  if (wc->mode == WMODE_FUSE) {
    CLEANUP_FREE char *pidfile = format_string ("%s/nbdfuse.pid", dir);
    if (pidfile)
      unlink (pidfile);
  }
  if (rmdir (dir) == -1)
    wlog (LOG_ERR, "rmdir %s: %m", dir);
  if (wc->pid_file && pid_file_written)
    unlink (wc->pid_file);
  return r == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

int
main (int argc, char *argv[])
{
  CLEANUP_VECTOR (string_vector) string_vector args = EMPTY_VECTOR;
  struct wconf wc = {
    .nbd_connections = DEFAULT_NBD_CONNECTIONS,
    .nbd_timeout = DEFAULT_NBD_TIMEOUT,
    .nbdkit = "nbdkit",
    .nbd_client = "nbd-client",
    .nbdfuse = "nbdfuse",
  };
  const char *debug;
  int status;

  zlog_set_handlers (error_handler, debug_handler);
  debug = getenv ("ZEROFS_DEBUG");
  if (debug)
    zlog_debug_from_string (debug);

  if (parse_cmdline (argc, argv, &wc, &args) == -1 ||
      check_target (&wc) == -1) {
    free_wconf (&wc);
    string_vector_free_all (&args);
    return EXIT_FAILURE;
  }
  if (wc.plugin == NULL)
    wc.plugin = xstrdup ("zerofs");

  status = run (&wc);
  free_wconf (&wc);
  string_vector_free_all (&args);
  return status;
}
