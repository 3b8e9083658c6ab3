/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: the fixtures the fuzz targets share (see fuzz.h).
 *
 * Everything here runs once per input at most and aborts on what cannot
 * happen in a healthy process (a temporary file that cannot be written),
 * so that a target never mistakes a broken harness for a parser that
 * refused its input.
 */
#define _GNU_SOURCE             /* memmem */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "byteorder.h"
#include "cleanup.h"
#include "conf.h"
#include "crypto.h"
#include "log.h"
#include "vector.h"
#include "store/internal.h"
#include "volume.h"

#include "unit.h"
#include "fuzz.h"

struct zchunk_codec fuzz_codec;

/* Errors are formatted (so that a bad format argument is caught) and
 * dropped, unless FUZZ_VERBOSE is set.
 */
static bool verbose;

static void __attribute__ ((format (printf, 1, 0)))
sink (const char *fmt, va_list args)
{
  char buf[4096];

  vsnprintf (buf, sizeof buf, fmt, args);
  if (verbose)
    fprintf (stderr, "zerofs: %s\n", buf);
}

/* A password may be read from "-" (stdin) or "-FD": no read of a
 * descriptor may block.  Two kinds of descriptor are open when a
 * target runs:
 *
 * - those the fuzzer inherited (make's jobserver pipe, a terminal):
 *   fuzz_init points stdin and every other one a read can wait on at
 *   /dev/null, and a terminal on stdout or stderr is reopened
 *   write-only;
 *
 * - those the runtime opens later: the sanitizers start llvm-symbolizer
 *   on two pipes the first time they symbolize a stack (a suppressed
 *   leak is enough), and those pipes must keep working.  The targets
 *   that read passwords wrap each input in fuzz_unblock_fds and
 *   fuzz_restore_fds, which make every descriptor that is not a file
 *   non-blocking for that time only: a read of an empty pipe then fails
 *   with EAGAIN.  fuzz_init opens a pipe of its own at FUZZ_PIPE_FD so
 *   that the seeds can show this (password-runtime-pipe).
 */
static void
replace_fd (int fd, const char *path, int flags)
{
  int new_fd = open (path, flags | O_NOCTTY | O_CLOEXEC);

  if (new_fd == -1 || dup2 (new_fd, fd) == -1) {
    perror (path);
    abort ();
  }
  close (new_fd);
}

/* Every inherited descriptor above stderr that a read may wait on
 * becomes /dev/null.  They are listed first: replacing one opens
 * another for a moment.
 */
DEFINE_VECTOR_TYPE (fd_vector, int);

static void
replace_blocking_fds (void)
{
  CLEANUP_VECTOR (fd_vector) fd_vector fds = EMPTY_VECTOR;
  struct dirent *ent;
  struct stat st;
  size_t i;
  DIR *dir;
  int fd;

  dir = opendir ("/proc/self/fd");
  if (dir == NULL) {
    perror ("/proc/self/fd");
    abort ();
  }
  while ((ent = readdir (dir)) != NULL) {
    fd = atoi (ent->d_name);
    if (fd > STDERR_FILENO && fd != dirfd (dir) &&
        fd_vector_append (&fds, fd) == -1)
      abort ();
  }
  closedir (dir);
  for (i = 0; i < fds.len; i++)
    if (fstat (fds.items[i], &st) == 0 &&
        !S_ISREG (st.st_mode) && !S_ISDIR (st.st_mode))
      replace_fd (fds.items[i], "/dev/null", O_RDONLY);
}

/* The descriptors fuzz_unblock_fds made non-blocking, with their flags
 * before.
 */
struct unblocked_fd {
  int fd;
  int flags;
};
DEFINE_VECTOR_TYPE (unblocked_fd_vector, struct unblocked_fd);
static unblocked_fd_vector unblocked = EMPTY_VECTOR;

void
fuzz_unblock_fds (void)
{
  struct unblocked_fd u;
  struct dirent *ent;
  struct stat st;
  DIR *dir;

  dir = opendir ("/proc/self/fd");
  if (dir == NULL)
    fuzz_fail ("/proc/self/fd: %m");
  while ((ent = readdir (dir)) != NULL) {
    u.fd = atoi (ent->d_name);
    if (u.fd <= STDERR_FILENO || u.fd == dirfd (dir) ||
        fstat (u.fd, &st) == -1 ||
        S_ISREG (st.st_mode) || S_ISDIR (st.st_mode))
      continue;
    u.flags = fcntl (u.fd, F_GETFL);
    if (u.flags == -1 || (u.flags & O_NONBLOCK))
      continue;
    if (fcntl (u.fd, F_SETFL, u.flags | O_NONBLOCK) == -1)
      fuzz_fail ("making descriptor %d non-blocking: %m", u.fd);
    if (unblocked_fd_vector_append (&unblocked, u) == -1)
      fuzz_fail ("out of memory");
  }
  closedir (dir);
}

void
fuzz_restore_fds (void)
{
  size_t i;

  for (i = 0; i < unblocked.len; i++)
    if (fcntl (unblocked.items[i].fd, F_SETFL, unblocked.items[i].flags) == -1)
      fuzz_fail ("restoring descriptor %d: %m", unblocked.items[i].fd);
  unblocked.len = 0;
}

/* An empty pipe at FUZZ_PIPE_FD (read end) and FUZZ_PIPE_FD + 1, open
 * for the whole run like the symbolizer's.
 */
static void
open_runtime_pipe (void)
{
  int fds[2];

  if (pipe (fds) == -1 ||
      dup2 (fds[0], FUZZ_PIPE_FD) == -1 ||
      dup2 (fds[1], FUZZ_PIPE_FD + 1) == -1) {
    perror ("pipe");
    abort ();
  }
  close (fds[0]);
  close (fds[1]);
}

void
fuzz_init (void)
{
  const char *tty;
  int fd;

  verbose = getenv ("FUZZ_VERBOSE") != NULL;
  zlog_set_handlers (sink, sink);
  unit_make_codec (&fuzz_codec, ZCOMP_NONE);
  replace_fd (STDIN_FILENO, "/dev/null", O_RDONLY);
  for (fd = STDOUT_FILENO; fd <= STDERR_FILENO; fd++)
    if (isatty (fd) && (tty = ttyname (fd)) != NULL)
      replace_fd (fd, tty, O_WRONLY);
  replace_blocking_fds ();
  open_runtime_pipe ();
}

void
fuzz_fail (const char *fmt, ...)
{
  va_list args;

  fprintf (stderr, "fuzz: ");
  va_start (args, fmt);
  vfprintf (stderr, fmt, args);
  va_end (args);
  fputc ('\n', stderr);
  abort ();
}

/* The store in memory. */

static int
find_slot (struct fuzz_store *fs, const char *key)
{
  int i;

  for (i = 0; i < FUZZ_STORE_OBJECTS; i++)
    if (fs->objects[i].key && strcmp (fs->objects[i].key, key) == 0)
      return i;
  return -1;
}

static int
mem_get (struct objstore *s, const char *key, uint64_t offset,
         uint64_t length, void **data, size_t *len,
         struct objstore_info *info)
{
  struct fuzz_store *fs = (struct fuzz_store *) s;
  int i = find_slot (fs, key);

  if (i < 0)
    return objstore_fail (ENOENT, "GET %s: not found", key);
  /* An exact-size copy, so that ASan sees a read past its end. */
  *data = malloc (fs->objects[i].len ? fs->objects[i].len : 1);
  if (*data == NULL)
    return objstore_fail (ENOMEM, "GET %s: out of memory", key);
  memcpy (*data, fs->objects[i].data, fs->objects[i].len);
  *len = fs->objects[i].len;
  if (info)
    info->size = *len;
  return 0;
}

static int
mem_put (struct objstore *s, const char *key, const void *data, size_t len,
         const struct objstore_cond *cond, struct objstore_info *info)
{
  struct fuzz_store *fs = (struct fuzz_store *) s;

  if (cond && cond->if_none_match && find_slot (fs, key) >= 0)
    return objstore_fail (EEXIST, "PUT %s: exists", key);
  if (cond && cond->if_match)
    return objstore_fail (ENOTSUP, "PUT %s: no If-Match here", key);
  fuzz_store_set (fs, key, data, len);
  return 0;
}

static int
mem_head (struct objstore *s, const char *key, struct objstore_info *info)
{
  struct fuzz_store *fs = (struct fuzz_store *) s;
  int i = find_slot (fs, key);

  if (i < 0)
    return objstore_fail (ENOENT, "HEAD %s: not found", key);
  info->size = fs->objects[i].len;
  return 0;
}

static void
drop (struct fuzz_store *fs, int i)
{
  free (fs->objects[i].key);
  free (fs->objects[i].data);
  fs->objects[i].key = NULL;
  fs->objects[i].data = NULL;
  fs->objects[i].len = 0;
}

static int
mem_del (struct objstore *s, const char *key)
{
  struct fuzz_store *fs = (struct fuzz_store *) s;
  int i = find_slot (fs, key);

  if (i >= 0)
    drop (fs, i);
  return 0;
}

static int
mem_delete_many (struct objstore *s, const char *const *keys, size_t n)
{
  size_t i;

  for (i = 0; i < n; i++)
    mem_del (s, keys[i]);
  return 0;
}

/* The few objects under PREFIX, in lexical order (no delimiter: what
 * volume.c lists of a device, e.g. before creating one).
 */
static int
mem_list (struct objstore *s, const char *prefix, const char *delimiter,
          const char *start_after, objstore_list_fn fn, void *opaque)
{
  struct fuzz_store *fs = (struct fuzz_store *) s;
  const char *last = start_after, *next;
  size_t i, plen = strlen (prefix);
  int r;

  if (delimiter)
    return objstore_fail (ENOTSUP, "LIST with a delimiter: not in the "
                          "fuzz store");
  for (;;) {
    next = NULL;
    for (i = 0; i < FUZZ_STORE_OBJECTS; i++) {
      const char *k = fs->objects[i].key;

      if (k && strncmp (k, prefix, plen) == 0 &&
          (last == NULL || strcmp (k, last) > 0) &&
          (next == NULL || strcmp (k, next) < 0))
        next = k;
    }
    if (next == NULL)
      return 0;
    for (i = 0; i < FUZZ_STORE_OBJECTS; i++)
      if (fs->objects[i].key == next)
        break;
    r = fn (opaque, next, fs->objects[i].len, false);
    if (r != 0)
      return r == 1 ? 0 : -1;
    last = next;
  }
}

static void
mem_close (struct objstore *s)
{
  fuzz_store_clear ((struct fuzz_store *) s);
}

static const struct objstore_ops mem_ops = {
  .name = "fuzz", .get = mem_get, .put = mem_put, .head = mem_head,
  .del = mem_del, .delete_many = mem_delete_many, .list = mem_list,
  .close = mem_close,
};

void
fuzz_store_init (struct fuzz_store *fs)
{
  memset (fs, 0, sizeof *fs);
  fs->base.ops = &mem_ops;
  fs->base.description = (char *) "fuzz://memory";
}

void
fuzz_store_set (struct fuzz_store *fs, const char *key,
                const void *data, size_t len)
{
  int i = find_slot (fs, key);

  if (i < 0)
    for (i = 0; i < FUZZ_STORE_OBJECTS && fs->objects[i].key; i++)
      ;
  if (i == FUZZ_STORE_OBJECTS)
    fuzz_fail ("the fuzz store is full");
  drop (fs, i);
  fs->objects[i].key = strdup (key);
  fs->objects[i].data = malloc (len ? len : 1);
  if (fs->objects[i].key == NULL || fs->objects[i].data == NULL)
    fuzz_fail ("the fuzz store: out of memory");
  memcpy (fs->objects[i].data, data, len);
  fs->objects[i].len = len;
}

const void *
fuzz_store_find (struct fuzz_store *fs, const char *key, size_t *len)
{
  int i = find_slot (fs, key);

  if (i < 0)
    return NULL;
  *len = fs->objects[i].len;
  return fs->objects[i].data;
}

void
fuzz_store_clear (struct fuzz_store *fs)
{
  int i;

  for (i = 0; i < FUZZ_STORE_OBJECTS; i++)
    drop (fs, i);
}

void
fuzz_make_volume (struct zvolume *vol, struct objstore *store)
{
  /* The codec's volume uuid, so that chunk and meta seeds agree. */
  memset (vol, 0, sizeof *vol);
  vol->store = store;
  memcpy (vol->uuid, fuzz_codec.volume_uuid, 16);
  memset (vol->dek, 0x33, sizeof vol->dek);
  memset (vol->meta_key, 0x44, sizeof vol->meta_key);
  vol->kdf = (struct zkdf_params) { 10, 1, 1 };
}

uint8_t *
fuzz_seal_meta_key (const struct zvolume *vol, const char *magic,
                    uint8_t version, const char *word, const char *name,
                    const void *payload, size_t n, size_t *objlen)
{
  enum { HEADER = 8 + CRYPTO_NONCE_LEN };
  size_t wordlen = strlen (word), namelen = strlen (name), aadlen;
  uint8_t *obj = malloc (HEADER + n + CRYPTO_TAG_LEN);
  CLEANUP_FREE uint8_t *aad = malloc (HEADER + 16 + wordlen + namelen);

  if (obj == NULL || aad == NULL)
    fuzz_fail ("out of memory");
  memcpy (obj, magic, 4);
  obj[4] = version;
  memset (obj + 5, 0, 3);
  if (crypto_random (obj + 8, CRYPTO_NONCE_LEN) == -1)
    fuzz_fail ("no random bytes");
  memcpy (aad, obj, HEADER);
  memcpy (aad + HEADER, vol->uuid, 16);
  memcpy (aad + HEADER + 16, word, wordlen);
  memcpy (aad + HEADER + 16 + wordlen, name, namelen);
  aadlen = HEADER + 16 + wordlen + namelen;
  if (crypto_seal (vol->meta_key, obj + 8, aad, aadlen, payload, n,
                   obj + HEADER) == -1)
    fuzz_fail ("crypto_seal failed");
  *objlen = HEADER + n + CRYPTO_TAG_LEN;
  return obj;
}

uint8_t *
fuzz_seal (const struct zchunk_codec *codec, const char *magic,
           uint8_t version, uint8_t compression, uint64_t seq,
           uint32_t length, const void *payload, size_t n,
           const void *tail, size_t taillen, size_t *objlen)
{
  uint8_t *o = malloc (ZCHUNK_HEADER_LEN + n + CRYPTO_TAG_LEN);
  uint8_t *aad = malloc (ZCHUNK_HEADER_LEN + 32 + taillen);

  if (o == NULL || aad == NULL)
    fuzz_fail ("fuzz_seal: out of memory");
  if (zsealed_header (o, magic, version, compression, seq, length) == -1)
    fuzz_fail ("fuzz_seal: no random bytes");
  memcpy (aad, o, ZCHUNK_HEADER_LEN);
  memcpy (aad + ZCHUNK_HEADER_LEN, codec->volume_uuid, 16);
  memcpy (aad + ZCHUNK_HEADER_LEN + 16, codec->device_uuid, 16);
  memcpy (aad + ZCHUNK_HEADER_LEN + 32, tail, taillen);
  if (crypto_seal (codec->key, o + ZSEALED_OFF_NONCE,
                   aad, ZCHUNK_HEADER_LEN + 32 + taillen,
                   payload, n, o + ZCHUNK_HEADER_LEN) == -1)
    fuzz_fail ("fuzz_seal: crypto_seal failed");
  free (aad);
  *objlen = ZCHUNK_HEADER_LEN + n + CRYPTO_TAG_LEN;
  return o;
}

/* Files. */

static char tmpdir[256];

/* The targets write only plain files into it. */
static void
remove_tmpdir (void)
{
  DIR *dir = opendir (tmpdir);
  struct dirent *d;
  char path[512];

  if (dir == NULL)
    return;
  while ((d = readdir (dir)) != NULL)
    if (strcmp (d->d_name, ".") != 0 && strcmp (d->d_name, "..") != 0) {
      snprintf (path, sizeof path, "%s/%s", tmpdir, d->d_name);
      unlink (path);
    }
  closedir (dir);
  rmdir (tmpdir);
}

const char *
fuzz_tmpdir (void)
{
  const char *base = getenv ("TMPDIR");

  if (tmpdir[0] == '\0') {
    snprintf (tmpdir, sizeof tmpdir, "%s/zerofs-fuzz.XXXXXX",
              base && base[0] == '/' ? base : "/tmp");
    if (mkdtemp (tmpdir) == NULL)
      fuzz_fail ("mkdtemp %s: %m", tmpdir);
    atexit (remove_tmpdir);
  }
  return tmpdir;
}

void
fuzz_write_file (const char *path, const void *data, size_t len)
{
  FILE *fp = fopen (path, "we");

  if (fp == NULL || fwrite (data, 1, len, fp) != len || fclose (fp) != 0)
    fuzz_fail ("writing %s: %m", path);
}

bool
fuzz_text_is_safe (const uint8_t *data, size_t len)
{
  static const char *const bad[] = { "dev/", "proc/", "sys/" };
  size_t i, n;

  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    n = strlen (bad[i]);
    if (len >= n && memmem (data, len, bad[i], n) != NULL)
      return false;
  }
  return true;
}

/* Options: what the option table's help says of each. */

static bool
in_range (uint64_t v, uint64_t min, uint64_t max)
{
  return v >= min && v <= max;
}

static bool
string_ok (const char *s)
{
  return s == NULL || s[0] != '\0';
}

static bool
path_ok (const char *s)
{
  return s == NULL || s[0] == '/';
}

void
fuzz_check_conf (const struct zconf *c)
{
  const char *bad = NULL;

  if (c->cache_size < (UINT64_C (16) << 20))
    bad = "cache-size";
  else if ((c->compression != ZCOMP_NONE && c->compression != ZCOMP_ZSTD) ||
           !in_range (c->compression_level, 1, 19))
    bad = "compression";
  else if (c->durability != ZDUR_REMOTE && c->durability != ZDUR_LOCAL)
    bad = "durability";
  else if (!in_range (c->writeback_threads, 1, 256))
    bad = "writeback-threads";
  else if (!in_range (c->writeback_max_age, 1, 86400))
    bad = "writeback-max-age";
  else if (!in_range (c->journal_max_objects, 16, 1048576))
    bad = "journal-max-objects";
  else if (c->addressing != ZADDR_AUTO && c->addressing != ZADDR_PATH &&
           c->addressing != ZADDR_VIRTUAL)
    bad = "addressing";
  else if (!in_range (c->connections, 1, 1024))
    bad = "connections";
  else if (!in_range (c->timeout, 1, 3600))
    bad = "timeout";
  else if (!in_range (c->connect_timeout, 1, 3600))
    bad = "connect-timeout";
  else if (!in_range (c->low_speed_limit, 1, 1073741824))
    bad = "low-speed-limit";
  else if (c->retry_time > 86400)
    bad = "retry-time";
  else if (!string_ok (c->bucket) || !string_ok (c->export_name) ||
           !string_ok (c->password) || !string_ok (c->region) ||
           !string_ok (c->access_key) || !string_ok (c->secret_key) ||
           !string_ok (c->session_token) || !string_ok (c->profile))
    bad = "a string option (empty)";
  else if (c->endpoint && strncmp (c->endpoint, "http://", 7) != 0 &&
           strncmp (c->endpoint, "https://", 8) != 0)
    bad = "endpoint";
  else if (!path_ok (c->password_file) || !path_ok (c->cache_dir) ||
           !path_ok (c->ca_bundle) || !path_ok (c->fault_file))
    bad = "a path option (not absolute)";
  else if (c->password && c->password_file)
    bad = "password and password-file (both set)";
  if (bad)
    fuzz_fail ("the configuration holds a bad value: %s", bad);
}
