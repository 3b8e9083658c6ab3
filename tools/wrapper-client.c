/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs wrapper: the client side (wrapper.h), the programs that turn
 * the NBD export into something the kernel uses.
 *
 * --nbd: nbd-client attaches the kernel's /dev/nbdX to the socket:
 *
 *   nbd-client -unix SOCK DEV -N NAME -connections N -timeout T
 *              -block-size 4096 -persist [--nbd-client-arg words]
 *
 * (with --tls-certificates=DIR also -cacertfile DIR/ca-cert.pem
 * -certfile DIR/client-cert.pem -keyfile DIR/client-key.pem -tlshostname
 * HOST: nbdkit requires TLS then; nbd-client has no PSK support)
 *
 * It detaches into a background process of its own, which with -persist
 * reconnects when the server goes away: that is what lets the wrapper
 * restart a dead nbdkit under a mounted filesystem.  The wrapper cannot
 * wait for that process (it is not its child); it detaches the device
 * with "nbd-client -d DEV" when it stops.  4096-byte blocks: the plugin's
 * preferred block size, and what filesystems use.
 *
 * --fuse: nbdfuse serves the export as the file MOUNTDIR/NAME, for
 * machines without the nbd module:
 *
 *   nbdfuse -P PIDFILE -C N [-o OPT ...] MOUNTDIR/NAME
 *           nbd+unix:///NAME?socket=SOCK
 *
 * nbdfuse stays the wrapper's child (it does not daemonize) and writes
 * its pid file once it serves.  To stop, the mount is unmounted with
 * fusermount3 -u; when something still holds the file (a loop device),
 * that fails, and the unmount is made lazy (-z): nbdfuse then ends when
 * the last user closes the file, and the wrapper waits for that rather
 * than cut the device from under a filesystem.  nbdfuse does not
 * reconnect: if nbdkit dies under it, the mount is lost (zerofs.c).
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "cleanup.h"
#include "utils.h"
#include "vector.h"

#include "wrapper.h"

/* nbdfuse's start-up: how often its pid file is checked. */
#define PIDFILE_INTERVAL_MS 100

/* The kernel's NBD block size the wrapper asks for. */
#define NBD_BLOCK_SIZE "4096"

/* STR with everything but RFC 3986's unreserved characters and '/'
 * percent-encoded, for the query of an NBD URI.
 */
static char *
uri_encode (const char *str)
{
  static const char hex[] = "0123456789ABCDEF";
  char *out, *o;

  out = o = malloc (strlen (str) * 3 + 1);
  if (out == NULL)
    return NULL;
  for (; *str; str++) {
    unsigned char c = *str;

    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
        (c >= '0' && c <= '9') || strchr ("-._~/", c))
      *o++ = c;
    else {
      *o++ = '%';
      *o++ = hex[c >> 4];
      *o++ = hex[c & 15];
    }
  }
  *o = '\0';
  return out;
}

static int
nbd_attach (const struct wconf *wc, const char *sock)
{
  CLEANUP_VECTOR (string_vector) string_vector argv = EMPTY_VECTOR;
  CLEANUP_FREE char *ca = NULL, *cert = NULL, *key = NULL;
  char conns[16], timeout[16];
  int r;

  if (wc->tls_certificates) {
    ca = format_string ("%s/ca-cert.pem", wc->tls_certificates);
    cert = format_string ("%s/client-cert.pem", wc->tls_certificates);
    key = format_string ("%s/client-key.pem", wc->tls_certificates);
  }

  snprintf (conns, sizeof conns, "%u", wc->nbd_connections);
  snprintf (timeout, sizeof timeout, "%u", wc->nbd_timeout);
  r = argv_add (&argv, wc->nbd_client);
  if (r == 0) r = argv_add (&argv, "-unix");
  if (r == 0) r = argv_add (&argv, sock);
  if (r == 0) r = argv_add (&argv, wc->target);
  if (r == 0) r = argv_add (&argv, "-N");
  if (r == 0) r = argv_add (&argv, wc->export_name);
  if (r == 0) r = argv_add (&argv, "-connections");
  if (r == 0) r = argv_add (&argv, conns);
  if (r == 0) r = argv_add (&argv, "-timeout");
  if (r == 0) r = argv_add (&argv, timeout);
  if (r == 0) r = argv_add (&argv, "-block-size");
  if (r == 0) r = argv_add (&argv, NBD_BLOCK_SIZE);
  if (r == 0) r = argv_add (&argv, "-persist");
  if (r == 0 && wc->tls_certificates) {
    if (ca == NULL || cert == NULL || key == NULL)
      r = -1;
    if (r == 0) r = argv_add (&argv, "-cacertfile");
    if (r == 0) r = argv_add (&argv, ca);
    if (r == 0) r = argv_add (&argv, "-certfile");
    if (r == 0) r = argv_add (&argv, cert);
    if (r == 0) r = argv_add (&argv, "-keyfile");
    if (r == 0) r = argv_add (&argv, key);
    if (r == 0) r = argv_add (&argv, "-tlshostname");
    if (r == 0) r = argv_add (&argv, wc->tls_hostname ? wc->tls_hostname
                              : "localhost");
  }
  if (r == 0) r = argv_add_all (&argv, &wc->client_args);
  if (r == 0) r = argv_add (&argv, NULL);
  if (r == -1)
    return -1;
  return wproc_run ("nbd-client", argv.items);
}

/* Has nbdfuse written its pid file (it is serving)? */
static bool
pidfile_written (const char *path)
{
  struct stat st;

  return stat (path, &st) == 0 && st.st_size > 0;
}

static int
fuse_attach (const struct wconf *wc, const char *dir, const char *sock,
             struct wproc *p)
{
  CLEANUP_VECTOR (string_vector) string_vector argv = EMPTY_VECTOR;
  CLEANUP_FREE char *pidfile = format_string ("%s/nbdfuse.pid", dir);
  CLEANUP_FREE char *file = format_string ("%s/%s", wc->target,
                                           wc->export_name);
  CLEANUP_FREE char *esock = uri_encode (sock);
  CLEANUP_FREE char *uri = NULL;
  char conns[16], how[128];
  size_t i;
  int r;

  if (pidfile == NULL || file == NULL || esock == NULL ||
      (uri = format_string ("nbd+unix:///%s?socket=%s",
                            wc->export_name, esock)) == NULL) {
    wlog (LOG_ERR, "out of memory");
    return -1;
  }
  snprintf (conns, sizeof conns, "%u", wc->nbd_connections);
  r = argv_add (&argv, wc->nbdfuse);
  if (r == 0) r = argv_add (&argv, "-P");
  if (r == 0) r = argv_add (&argv, pidfile);
  if (r == 0) r = argv_add (&argv, "-C");
  if (r == 0) r = argv_add (&argv, conns);
  for (i = 0; r == 0 && i < wc->fuse_options.len; i++) {
    r = argv_add (&argv, "-o");
    if (r == 0) r = argv_add (&argv, wc->fuse_options.items[i]);
  }
  if (r == 0) r = argv_add (&argv, file);
  if (r == 0) r = argv_add (&argv, uri);
  if (r == 0) r = argv_add (&argv, NULL);
  if (r == -1 || wproc_spawn (p, "nbdfuse", argv.items, NULL, 0) == -1)
    return -1;

  while (!pidfile_written (pidfile)) {
    if (!p->running) {
      wproc_describe (p->status, how, sizeof how);
      wlog (LOG_ERR, "nbdfuse %s before it served %s", how, file);
      return -1;
    }
    if (wproc_stop_requested (NULL))
      return -1;
    wproc_poll (PIDFILE_INTERVAL_MS);
  }
  return 0;
}

int
client_attach (const struct wconf *wc, const char *dir, const char *sock,
               struct wproc *p)
{
  if (wc->mode == WMODE_NBD)
    return nbd_attach (wc, sock);
  return fuse_attach (wc, dir, sock, p);
}

static int
fuse_detach (const struct wconf *wc, struct wproc *p)
{
  char *const unmount[] = { "fusermount3", "-u", wc->target, NULL };
  char *const lazy[] = { "fusermount3", "-u", "-z", wc->target, NULL };
  char how[128];
  int status;

  if (!p->running)
    return 0;
  if (wproc_run ("fusermount3 -u", unmount) == -1) {
    wlog (LOG_INFO, "%s is busy: unmounting it lazily; nbdfuse ends "
          "(and the wrapper stops nbdkit) when its last user closes it",
          wc->target);
    if (wproc_run ("fusermount3 -u -z", lazy) == -1)
      return -1;
  }
  status = wproc_wait (p);
  if (WIFEXITED (status) && WEXITSTATUS (status) == 0)
    return 0;
  wproc_describe (status, how, sizeof how);
  wlog (LOG_ERR, "nbdfuse %s", how);
  return -1;
}

int
client_detach (const struct wconf *wc, struct wproc *p)
{
  char *const argv[] = { (char *) wc->nbd_client, "-d", wc->target, NULL };

  if (wc->mode == WMODE_NBD)
    return wproc_run ("nbd-client -d", argv);
  return fuse_detach (wc, p);
}
