/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: the directory object store (bucket=file:///DIR).
 *
 * Key "a/b/c" is the file DIR/a/b/c.  Keys were checked by
 * lib/store/objstore.c (no "", "." or ".." segment, no leading '/'), and
 * are checked again here because the wrappers and tests call the ops
 * directly: a key must never name a path outside DIR.  Every path is
 * resolved relative to a descriptor of DIR (openat and friends), so DIR
 * may be long.
 *
 * Writes are atomic and durable, as an object store's are:
 *
 *   put      write a temporary file in the target's directory, fsync it,
 *            rename it over the target, fsync the directory.  Missing
 *            parent directories are created, and each new one is made
 *            durable by an fsync of its parent.
 *   copy     a put whose temporary file is filled from the source file:
 *            a reflink (ioctl FICLONE) where the filesystem shares
 *            extents, else copy_file_range, else read and write.
 *   delete   unlink, fsync the directory, then remove parent directories
 *            that became empty (best effort: a directory still in use
 *            is simply not empty).  A put that loses a race with that
 *            removal (its directory vanished under it: ENOENT) starts
 *            over, a bounded number of times.
 *
 * Temporary files are named ".zerofs-tmp.PID.COUNTER.RANDOM"; a listing
 * skips them, and a key with a segment beginning ".zerofs-tmp." is
 * refused.  A crash can leave one behind; it is never seen as a key.
 *
 * ETags are the quoted lower-case hex of the first 128 bits of the
 * SHA-256 of the object's content (the shape of S3's MD5 ETags).  A
 * content hash, unlike one of (mtime, size, inode), cannot repeat for
 * different content when an inode number is reused within one timestamp
 * tick.  The price: head, and get or put when asked for the ETag, hash
 * the object; the hot paths (get and put of chunks) do not ask.
 *
 * Conditional puts (leases) run under a per-store mutex plus flock() on
 * the root directory, so that they are atomic against each other across
 * threads and processes sharing DIR:
 *
 *   if_none_match   the temporary file is link()ed to the target, which
 *                   fails with EEXIST if the target exists.
 *   if_match        the target's ETag is computed and compared, then the
 *                   temporary file is renamed over it.  An absent target
 *                   is a failed precondition (EEXIST) too.
 *
 * An unconditional put or a delete does not take the lock, so it can
 * slip between an if_match's check and its rename; S3 gives no more.
 *
 * Listing walks the tree depth-first.  Inside one directory, entries are
 * sorted by name, a subdirectory sorting as "NAME/": since every key
 * below it begins with "NAME/", the walk yields keys in byte order, as
 * S3 does (e.g. "a-b" < "a.b" < "a/b" < "a0").  Only one directory's
 * names are in memory per level of depth (a chunks/ directory of 100k
 * objects costs a few MB while it is being listed).  Prefix and
 * delimiter follow ListObjectsV2: a key's common prefix is the key up
 * to and including the first delimiter after the prefix; when that
 * delimiter lies inside a subdirectory's path, the whole subdirectory
 * rolls up into one common prefix without being walked (only checked
 * for holding at least one object: empty directories are not prefixes).
 */
#define _GNU_SOURCE             /* copy_file_range */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#ifdef __linux__
#include <linux/fs.h>           /* FICLONE */
#endif
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "log.h"
#include "cleanup.h"
#include "internal.h"
#include "utils.h"
#include "vector.h"

#define TMP_PREFIX ".zerofs-tmp."
#define TMP_PREFIX_LEN (sizeof TMP_PREFIX - 1)

/* How many times a put starts over after its directory vanished. */
#define PUT_ATTEMPTS 100

struct dir_store {
  struct objstore base;
  char *root;                  /* as given */
  int rootfd;                  /* O_DIRECTORY descriptor of root */
  pthread_mutex_t cond_lock;   /* conditional puts, with flock (rootfd) */
};

static atomic_uint_fast64_t tmp_counter;

/* Cleanups for what only this file holds.  Like cleanup.h's, they keep
 * errno.
 */
DEFINE_CLEANUP_POINTER (md_ctx, EVP_MD_CTX *, EVP_MD_CTX_free);
#define CLEANUP_MD_CTX CLEANUP (md_ctx)

/* A put's temporary file in directory DIRFD: unlinked when the scope
 * ends unless it is gone (renamed over its target, or never created).
 */
struct tmp_file {
  int dirfd;
  bool exists;
  char name[64];
};

static inline void
cleanup_tmp_file (struct tmp_file *tmp)
{
  int saved_errno = errno;

  if (tmp->exists)
    unlinkat (tmp->dirfd, tmp->name, 0);
  errno = saved_errno;
}
#define CLEANUP_TMP_FILE __attribute__ ((cleanup (cleanup_tmp_file)))

/* Keys as objstore_check_key, plus no segment that looks like one of
 * our temporary files.
 */
static int
dir_check_key (const char *key)
{
  const char *p;

  if (objstore_check_key (key) == -1)
    return -1;
  for (p = key; p; p = strchr (p, '/')) {
    if (*p == '/')
      p++;
    if (strncmp (p, TMP_PREFIX, TMP_PREFIX_LEN) == 0)
      return objstore_fail (EINVAL, "invalid object key \"%s\": segments "
                            "beginning \"%s\" are reserved by the "
                            "directory store", key, TMP_PREFIX);
  }
  return 0;
}

/* Split KEY into its parent directory (copied into PARENT, "." for the
 * root) and its last segment (returned, pointing into KEY).
 */
static const char *
split_key (const char *key, char parent[OBJSTORE_KEY_MAX + 1])
{
  const char *slash = strrchr (key, '/');

  if (slash == NULL) {
    strcpy (parent, ".");
    return key;
  }
  memcpy (parent, key, slash - key);
  parent[slash - key] = '\0';
  return slash + 1;
}

/* The ETag of a content hash. */
static void
format_etag (const unsigned char *digest, char etag[OBJSTORE_ETAG_MAX])
{
  static const char hex[] = "0123456789abcdef";
  size_t i;

  etag[0] = '"';
  for (i = 0; i < 16; i++) {
    etag[1 + 2*i] = hex[digest[i] >> 4];
    etag[2 + 2*i] = hex[digest[i] & 15];
  }
  etag[33] = '"';
  etag[34] = '\0';
}

static int
etag_of_buffer (const void *data, size_t len, char etag[OBJSTORE_ETAG_MAX])
{
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digestlen;

  if (EVP_Digest (data, len, digest, &digestlen, EVP_sha256 (), NULL) != 1)
    return objstore_fail (EIO, "SHA-256 failed");
  format_etag (digest, etag);
  return 0;
}

/* Hash the whole file open on FD (which does not move: it is read with
 * pread).  OP and KEY are for messages.
 */
static int
etag_of_fd (int fd, const char *op, const char *key,
            char etag[OBJSTORE_ETAG_MAX])
{
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digestlen;
  const size_t bufsize = 65536;
  CLEANUP_MD_CTX EVP_MD_CTX *ctx = EVP_MD_CTX_new ();
  CLEANUP_FREE char *buf = malloc (bufsize);
  off_t offset = 0;
  ssize_t r;

  if (ctx == NULL || buf == NULL)
    return objstore_fail (ENOMEM, "%s %s: out of memory", op, key);
  if (EVP_DigestInit_ex (ctx, EVP_sha256 (), NULL) != 1)
    return objstore_fail (EIO, "%s %s: SHA-256 failed", op, key);
  for (;;) {
    r = pread (fd, buf, bufsize, offset);
    if (r == -1) {
      if (errno == EINTR)
        continue;
      return objstore_fail (errno, "%s %s: read: %m", op, key);
    }
    if (r == 0)
      break;
    if (EVP_DigestUpdate (ctx, buf, r) != 1)
      return objstore_fail (EIO, "%s %s: SHA-256 failed", op, key);
    offset += r;
  }
  if (EVP_DigestFinal_ex (ctx, digest, &digestlen) != 1)
    return objstore_fail (EIO, "%s %s: SHA-256 failed", op, key);
  format_etag (digest, etag);
  return 0;
}

/* Compare two ETags, with or without their quotes. */
static bool
etag_equal (const char *a, const char *b)
{
  size_t alen, blen;

  if (*a == '"')
    a++;
  if (*b == '"')
    b++;
  alen = strlen (a);
  blen = strlen (b);
  if (alen > 0 && a[alen-1] == '"')
    alen--;
  if (blen > 0 && b[blen-1] == '"')
    blen--;
  return alen == blen && strncasecmp (a, b, alen) == 0;
}

/* Open object KEY for reading.  ENOENT if it is absent or not a regular
 * file.  Fills *ST.
 */
static int
open_object (struct dir_store *ds, const char *op, const char *key,
             struct stat *st)
{
  CLEANUP_CLOSE int fd = -1;
  int ret;

  fd = openat (ds->rootfd, key, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd == -1) {
    if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)
      return objstore_fail (ENOENT, "%s %s: no such object", op, key);
    return objstore_fail (errno, "%s %s: %m", op, key);
  }
  if (fstat (fd, st) == -1)
    return objstore_fail (errno, "%s %s: fstat: %m", op, key);
  if (!S_ISREG (st->st_mode))
    return objstore_fail (ENOENT, "%s %s: no such object", op, key);
  ret = fd;
  fd = -1;
  return ret;
}

static int
dir_get (struct objstore *s, const char *key,
         uint64_t offset, uint64_t length,
         void **data, size_t *len, struct objstore_info *info)
{
  struct dir_store *ds = (struct dir_store *) s;
  struct stat st;
  uint64_t size, n, done = 0;
  CLEANUP_FREE char *buf = NULL;
  CLEANUP_CLOSE int fd = -1;
  ssize_t r;

  *data = NULL;
  *len = 0;
  if (dir_check_key (key) == -1)
    return -1;
  fd = open_object (ds, "GET", key, &st);
  if (fd == -1)
    return -1;

  size = st.st_size;
  if (offset > size)
    return objstore_fail (EINVAL, "GET %s: range starts at %" PRIu64
                          ", beyond the object's %" PRIu64 " bytes",
                          key, offset, size);
  n = size - offset;
  if (length > 0 && length < n)
    n = length;
  if (n > SIZE_MAX - 1)
    return objstore_fail (EFBIG, "GET %s: object too large", key);
  buf = malloc (n > 0 ? n : 1);
  if (buf == NULL)
    return objstore_fail (ENOMEM, "GET %s: out of memory", key);
  while (done < n) {
    r = pread (fd, buf + done, n - done, offset + done);
    if (r == -1) {
      if (errno == EINTR)
        continue;
      return objstore_fail (errno, "GET %s: read: %m", key);
    }
    if (r == 0)
      return objstore_fail (EIO, "GET %s: object shorter than its size",
                            key);
    done += r;
  }

  if (info) {
    info->size = size;
    if (offset == 0 && n == size) {
      if (etag_of_buffer (buf, n, info->etag) == -1)
        return -1;
    }
    else if (etag_of_fd (fd, "GET", key, info->etag) == -1)
      return -1;
  }

  *data = buf;
  *len = n;
  buf = NULL;
  return 0;
}

static int
dir_head (struct objstore *s, const char *key, struct objstore_info *info)
{
  struct dir_store *ds = (struct dir_store *) s;
  struct stat st;
  CLEANUP_CLOSE int fd = -1;

  if (dir_check_key (key) == -1)
    return -1;
  fd = open_object (ds, "HEAD", key, &st);
  if (fd == -1)
    return -1;
  info->size = st.st_size;
  return etag_of_fd (fd, "HEAD", key, info->etag);
}

/* Directory PARENT could not be opened or created (errno says why). */
static int
parent_failed (const char *op, const char *key, const char *parent)
{
  if (errno == ENOTDIR || errno == EEXIST)
    return objstore_fail (EINVAL, "%s %s: a key is in the way of "
                          "directory %s", op, key, parent);
  return objstore_fail (errno, "%s %s: directory %s: %m", op, key, parent);
}

/* Create directory PARENT and its missing ancestors, from the top.
 * Each new directory is fsynced into its parent.
 */
static int
make_parent_dirs (struct dir_store *ds, const char *op, const char *key,
                  const char *parent)
{
  char path[OBJSTORE_KEY_MAX + 1];
  char *slash;

  strcpy (path, parent);
  for (slash = path; ; slash++) {
    slash = strchr (slash, '/');
    if (slash)
      *slash = '\0';
    if (mkdirat (ds->rootfd, path, 0777) == 0) {
      /* Make the new entry durable in its parent. */
      char *up = strrchr (path, '/');
      CLEANUP_CLOSE int pfd = -1;

      if (up)
        *up = '\0';
      pfd = openat (ds->rootfd, up ? path : ".",
                    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (up)
        *up = '/';
      if (pfd == -1 || fsync (pfd) == -1)
        return objstore_fail (errno, "%s %s: fsync of a new directory: %m",
                              op, key);
    }
    else if (errno != EEXIST)
      return parent_failed (op, key, parent);
    if (slash == NULL)
      return 0;
    *slash = '/';
  }
}

/* Open directory PARENT (relative to the root), creating it and its
 * missing ancestors if CREATE.  Returns the descriptor, or -1
 * (objstore_fail).
 */
static int
open_parent (struct dir_store *ds, const char *op, const char *key,
             const char *parent, bool create)
{
  int fd;

  fd = openat (ds->rootfd, parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd == -1 && create && errno == ENOENT) {
    if (make_parent_dirs (ds, op, key, parent) == -1)
      return -1;
    fd = openat (ds->rootfd, parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  }
  if (fd == -1)
    return parent_failed (op, key, parent);
  return fd;
}

/* What a put writes: LEN bytes at DATA, or (a copy) the SIZE bytes of
 * the file open as FD.
 */
struct put_source {
  const void *data;
  size_t len;
  int fd;                       /* -1 unless a copy */
  uint64_t size;
  const char *op;               /* "PUT" or "COPY", for messages */
};

/* Copy SRC->fd into FD: a reflink (FICLONE) where the filesystem can
 * share the extents (btrfs, XFS), else copy_file_range (an in-kernel
 * copy, server-side on NFS 4.2), else read and write.
 */
static int
copy_fd (int fd, const struct put_source *src, const char *key)
{
  uint64_t done = 0;
  char buf[65536];
  bool kernel_copy = true;
  ssize_t r;

#ifdef FICLONE
  if (ioctl (fd, FICLONE, src->fd) == 0)
    return 0;
#endif
  while (done < src->size) {
    if (kernel_copy) {
      loff_t in = done, out = done;

      r = copy_file_range (src->fd, &in, fd, &out, src->size - done, 0);
      if (r == -1 && (errno == ENOSYS || errno == EXDEV ||
                      errno == EINVAL || errno == EOPNOTSUPP)) {
        kernel_copy = false;
        continue;
      }
    }
    else {
      r = pread (src->fd, buf, sizeof buf, done);
      if (r > 0) {
        ssize_t w = 0, n;

        for (; w < r; w += n) {
          n = pwrite (fd, buf + w, r - w, done + w);
          if (n == -1 && errno != EINTR)
            return objstore_fail (errno, "COPY %s: write: %m", key);
          if (n == -1)
            n = 0;
        }
      }
    }
    if (r == -1) {
      if (errno == EINTR)
        continue;
      return objstore_fail (errno, "COPY %s: %m", key);
    }
    if (r == 0)
      return objstore_fail (EIO, "COPY %s: the source is shorter than its "
                            "size", key);
    done += r;
  }
  return 0;
}

/* Create a uniquely named temporary file in TMP->dirfd holding what
 * SRC says, fsynced.  Once it is created, TMP->exists is set and the
 * caller's CLEANUP_TMP_FILE removes it (also when writing it failed).
 */
static int
write_temp (struct tmp_file *tmp, const char *key,
            const struct put_source *src)
{
  CLEANUP_CLOSE int fd = -1;
  unsigned rnd;
  size_t done = 0;
  ssize_t r;

  rnd = (unsigned) random ();
  snprintf (tmp->name, sizeof tmp->name, TMP_PREFIX "%ld.%" PRIuFAST64
            ".%08x", (long) getpid (), atomic_fetch_add (&tmp_counter, 1),
            rnd);
  fd = openat (tmp->dirfd, tmp->name,
               O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd == -1)
    return objstore_fail (errno, "%s %s: create %s: %m",
                          src->op, key, tmp->name);
  tmp->exists = true;

  if (src->fd >= 0 && copy_fd (fd, src, key) == -1)
    return -1;
  while (src->fd < 0 && done < src->len) {
    r = write (fd, (const char *) src->data + done, src->len - done);
    if (r == -1) {
      if (errno == EINTR)
        continue;
      return objstore_fail (errno, "PUT %s: write: %m", key);
    }
    done += r;
  }
  if (fsync (fd) == -1)
    return objstore_fail (errno, "%s %s: fsync: %m", src->op, key);
  r = close (fd);
  fd = -1;
  if (r == -1)
    return objstore_fail (errno, "%s %s: close: %m", src->op, key);
  return 0;
}

/* Lock out other conditional puts, in this process and others. */
static int
cond_lock (struct dir_store *ds, const char *key)
{
  pthread_mutex_lock (&ds->cond_lock);
  while (flock (ds->rootfd, LOCK_EX) == -1) {
    if (errno == EINTR)
      continue;
    objstore_fail (errno, "PUT %s: lock %s: %m", key, ds->root);
    pthread_mutex_unlock (&ds->cond_lock);
    return -1;
  }
  return 0;
}

static void
cond_unlock (struct dir_store *ds)
{
  int saved_errno = errno;

  flock (ds->rootfd, LOCK_UN);
  pthread_mutex_unlock (&ds->cond_lock);
  errno = saved_errno;
}

/* Does the target's ETag match?  0 yes, -1 with errno EEXIST for no. */
static int
check_if_match (struct dir_store *ds, const char *key, const char *want)
{
  char etag[OBJSTORE_ETAG_MAX];
  struct stat st;
  CLEANUP_CLOSE int fd = -1;

  fd = open_object (ds, "PUT", key, &st);
  if (fd == -1) {
    if (errno == ENOENT)
      return objstore_fail (EEXIST, "PUT %s: precondition failed: "
                            "If-Match %s but the object is absent",
                            key, want);
    return -1;
  }
  if (etag_of_fd (fd, "PUT", key, etag) == -1)
    return -1;
  if (!etag_equal (etag, want))
    return objstore_fail (EEXIST, "PUT %s: precondition failed: "
                          "If-Match %s but the ETag is %s", key, want, etag);
  return 0;
}

/* One attempt at a put.  Fails with ENOENT (and *RETRY set) if the
 * directory vanished under us.
 */
static int
put_once (struct dir_store *ds, const char *key, const char *parent,
          const char *leaf, const struct put_source *src,
          const struct objstore_cond *cond, bool *retry)
{
  /* Declared in this order so that the temporary file is removed
   * before its directory is closed.
   */
  CLEANUP_CLOSE int dirfd = -1;
  CLEANUP_TMP_FILE struct tmp_file tmp = { .dirfd = -1, .exists = false };

  *retry = false;
  dirfd = open_parent (ds, src->op, key, parent, true);
  if (dirfd == -1) {
    *retry = errno == ENOENT;
    return -1;
  }
  tmp.dirfd = dirfd;
  if (write_temp (&tmp, key, src) == -1) {
    *retry = errno == ENOENT;
    return -1;
  }

  if (cond && cond->if_none_match) {
    /* The temporary file stays until the end: the link is a copy. */
    if (linkat (dirfd, tmp.name, dirfd, leaf, 0) == -1) {
      if (errno == EEXIST)
        return objstore_fail (EEXIST, "PUT %s: precondition failed: "
                              "If-None-Match but the object exists", key);
      *retry = errno == ENOENT;
      return objstore_fail (errno, "PUT %s: link: %m", key);
    }
  }
  else {
    if (cond && cond->if_match && check_if_match (ds, key, cond->if_match))
      return -1;
    if (renameat (dirfd, tmp.name, dirfd, leaf) == -1) {
      if (errno == EISDIR || errno == ENOTEMPTY || errno == EEXIST)
        return objstore_fail (EINVAL, "%s %s: the key is a directory of "
                              "other keys", src->op, key);
      *retry = errno == ENOENT;
      return objstore_fail (errno, "%s %s: rename: %m", src->op, key);
    }
    tmp.exists = false;
  }

  if (fsync (dirfd) == -1)
    return objstore_fail (errno, "%s %s: fsync of directory: %m",
                          src->op, key);
  return 0;
}

static int
dir_put (struct objstore *s, const char *key,
         const void *data, size_t len,
         const struct objstore_cond *cond, struct objstore_info *info)
{
  struct dir_store *ds = (struct dir_store *) s;
  struct put_source src = { .data = data, .len = len, .fd = -1, .op = "PUT" };
  char parent[OBJSTORE_KEY_MAX + 1];
  const char *leaf;
  bool conditional, retry;
  int attempt, r = -1;

  if (dir_check_key (key) == -1)
    return -1;
  if (cond && cond->if_none_match && cond->if_match)
    return objstore_fail (EINVAL, "PUT %s: both If-None-Match and "
                          "If-Match", key);
  conditional = cond && (cond->if_none_match || cond->if_match);
  leaf = split_key (key, parent);

  if (conditional && cond_lock (ds, key) == -1)
    return -1;
  for (attempt = 0; attempt < PUT_ATTEMPTS; attempt++) {
    r = put_once (ds, key, parent, leaf, &src, cond, &retry);
    if (r == 0 || !retry)
      break;
  }
  if (conditional)
    cond_unlock (ds);

  if (r == 0 && info) {
    info->size = len;
    r = etag_of_buffer (data, len, info->etag);
  }
  return r;
}

/* A copy is a put whose content comes from the source's file. */
static int
dir_copy (struct objstore *s, const char *srckey, const char *key)
{
  struct dir_store *ds = (struct dir_store *) s;
  struct put_source src = { .op = "COPY" };
  char parent[OBJSTORE_KEY_MAX + 1];
  CLEANUP_CLOSE int fd = -1;
  const char *leaf;
  struct stat st;
  bool retry;
  int attempt, r = -1;

  if (dir_check_key (srckey) == -1 || dir_check_key (key) == -1)
    return -1;
  fd = open_object (ds, "COPY", srckey, &st);
  if (fd == -1)
    return -1;
  src.fd = fd;
  src.size = st.st_size;
  leaf = split_key (key, parent);
  for (attempt = 0; attempt < PUT_ATTEMPTS; attempt++) {
    r = put_once (ds, key, parent, leaf, &src, NULL, &retry);
    if (r == 0 || !retry)
      break;
  }
  return r;
}

/* Remove PARENT and its ancestors while they are empty.  Best effort. */
static void
remove_empty_parents (struct dir_store *ds, const char *parent)
{
  char path[OBJSTORE_KEY_MAX + 1];
  char *slash;
  int saved_errno = errno;

  if (strcmp (parent, ".") == 0)
    return;
  strcpy (path, parent);
  for (;;) {
    if (unlinkat (ds->rootfd, path, AT_REMOVEDIR) == -1)
      break;
    slash = strrchr (path, '/');
    if (slash == NULL)
      break;
    *slash = '\0';
  }
  errno = saved_errno;
}

/* Unlink KEY; absent is fine.  The caller fsyncs the directory. */
static int
unlink_object (struct dir_store *ds, const char *op, const char *key)
{
  if (dir_check_key (key) == -1)
    return -1;
  if (unlinkat (ds->rootfd, key, 0) == -1 &&
      errno != ENOENT && errno != ENOTDIR && errno != EISDIR)
    return objstore_fail (errno, "%s %s: %m", op, key);
  return 0;
}

/* Make a directory's entries durable; absent is fine (it was removed,
 * and its removal needs no fsync for our purposes: what was unlinked
 * in it is gone either way).
 */
static int
sync_dir (struct dir_store *ds, const char *op, const char *key,
          const char *parent)
{
  CLEANUP_CLOSE int fd = -1;

  fd = openat (ds->rootfd, parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd == -1) {
    if (errno == ENOENT || errno == ENOTDIR)
      return 0;
    return objstore_fail (errno, "%s %s: directory %s: %m", op, key, parent);
  }
  if (fsync (fd) == -1)
    return objstore_fail (errno, "%s %s: fsync of directory %s: %m",
                          op, key, parent);
  return 0;
}

static int
dir_del (struct objstore *s, const char *key)
{
  struct dir_store *ds = (struct dir_store *) s;
  char parent[OBJSTORE_KEY_MAX + 1];

  if (unlink_object (ds, "DELETE", key) == -1)
    return -1;
  split_key (key, parent);
  if (sync_dir (ds, "DELETE", key, parent) == -1)
    return -1;
  remove_empty_parents (ds, parent);
  return 0;
}

static int
dir_delete_many (struct objstore *s, const char *const *keys, size_t n)
{
  struct dir_store *ds = (struct dir_store *) s;
  char parent[OBJSTORE_KEY_MAX + 1], prev[OBJSTORE_KEY_MAX + 1];
  size_t i;

  prev[0] = '\0';
  for (i = 0; i < n; i++) {
    if (unlink_object (ds, "DELETE", keys[i]) == -1)
      return -1;
    /* Keys of one batch usually share a directory: sync each run of
     * them once.
     */
    split_key (keys[i], parent);
    if (prev[0] != '\0' && strcmp (prev, parent) != 0) {
      if (sync_dir (ds, "DELETE", keys[i-1], prev) == -1)
        return -1;
      remove_empty_parents (ds, prev);
    }
    strcpy (prev, parent);
  }
  if (prev[0] != '\0') {
    if (sync_dir (ds, "DELETE", keys[n-1], prev) == -1)
      return -1;
    remove_empty_parents (ds, prev);
  }
  return 0;
}

/* Listing. */

struct list_state {
  struct dir_store *ds;
  const char *prefix;
  size_t prefixlen;
  const char *delim;           /* NULL: no delimiter */
  const char *after;           /* NULL: from the start */
  objstore_list_fn fn;
  void *opaque;
  char key[OBJSTORE_KEY_MAX + NAME_MAX + 2];  /* the path being walked */
  char last_cp[OBJSTORE_KEY_MAX + NAME_MAX + 2]; /* last common prefix */
  bool stopped;                /* the callback returned 1 */
};

static int
compare_names (const void *a, const void *b)
{
  const char *const *na = a, *const *nb = b;

  return strcmp (*na, *nb);
}

/* A directory stream over FD, which it owns from now on (closed here
 * if the stream cannot be made).
 */
static DIR *
open_listing (int fd)
{
  DIR *dir = fdopendir (fd);

  if (dir == NULL) {
    objstore_fail (errno, "LIST: fdopendir: %m");
    close (fd);
  }
  return dir;
}

/* Read directory FD (consumed) into NAMES (empty), sorted, skipping ".",
 * "..", temporary files and anything that is neither a file nor a
 * directory.  A subdirectory's name gets a '/' added: "NAME/".  Only
 * names beginning with FILTER are kept.  On error, NAMES may hold some
 * names: the caller frees them.
 */
static int
read_sorted_dir (int fd, const char *filter, string_vector *names)
{
  size_t namelen, filterlen = strlen (filter);
  struct dirent *d;
  struct stat st;
  CLEANUP_CLOSEDIR DIR *dir = NULL;
  bool is_dir;

  dir = open_listing (fd);
  if (dir == NULL)
    return -1;
  for (;;) {
    CLEANUP_FREE char *name = NULL;

    errno = 0;
    d = readdir (dir);
    if (d == NULL) {
      if (errno != 0)
        return objstore_fail (errno, "LIST: readdir: %m");
      break;
    }
    if (strcmp (d->d_name, ".") == 0 || strcmp (d->d_name, "..") == 0 ||
        strncmp (d->d_name, TMP_PREFIX, TMP_PREFIX_LEN) == 0)
      continue;

    if (d->d_type == DT_DIR)
      is_dir = true;
    else if (d->d_type == DT_REG)
      is_dir = false;
    else if (d->d_type == DT_UNKNOWN) {
      if (fstatat (dirfd (dir), d->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1)
        continue;               /* vanished meanwhile */
      if (S_ISDIR (st.st_mode))
        is_dir = true;
      else if (S_ISREG (st.st_mode))
        is_dir = false;
      else
        continue;
    }
    else
      continue;

    /* FILTER holds no '/', so a directory's added slash never matters. */
    namelen = strlen (d->d_name);
    if (namelen < filterlen || strncmp (d->d_name, filter, filterlen) != 0)
      continue;

    name = malloc (namelen + 2);
    if (name == NULL)
      return objstore_fail (ENOMEM, "LIST: out of memory");
    memcpy (name, d->d_name, namelen);
    if (is_dir)
      name[namelen++] = '/';
    name[namelen] = '\0';
    if (string_vector_append (names, name) == -1)
      return objstore_fail (ENOMEM, "LIST: out of memory");
    name = NULL;
  }
  string_vector_sort (names, compare_names);
  return 0;
}

/* Does directory FD (consumed) hold at least one object, at any depth?
 * 1 yes, 0 no, -1 error.
 */
static int
dir_has_object (int fd)
{
  struct dirent *d;
  struct stat st;
  CLEANUP_CLOSEDIR DIR *dir = NULL;
  int r = 0, subfd;
  bool is_dir;

  dir = open_listing (fd);
  if (dir == NULL)
    return -1;
  while (r == 0) {
    errno = 0;
    d = readdir (dir);
    if (d == NULL) {
      if (errno != 0)
        r = objstore_fail (errno, "LIST: readdir: %m");
      break;
    }
    if (strcmp (d->d_name, ".") == 0 || strcmp (d->d_name, "..") == 0 ||
        strncmp (d->d_name, TMP_PREFIX, TMP_PREFIX_LEN) == 0)
      continue;
    if (d->d_type == DT_REG)
      r = 1;
    else if (d->d_type == DT_DIR || d->d_type == DT_UNKNOWN) {
      if (d->d_type == DT_UNKNOWN) {
        if (fstatat (dirfd (dir), d->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1)
          continue;
        if (S_ISREG (st.st_mode)) {
          r = 1;
          continue;
        }
        is_dir = S_ISDIR (st.st_mode);
      }
      else
        is_dir = true;
      if (!is_dir)
        continue;
      subfd = openat (dirfd (dir), d->d_name,
                      O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
      if (subfd == -1)
        continue;               /* vanished meanwhile */
      r = dir_has_object (subfd);
    }
  }
  return r;
}

/* Does KEY come after the listing's start-after? */
static bool
after_start (const struct list_state *ls, const char *key)
{
  return ls->after == NULL || strcmp (key, ls->after) > 0;
}

/* Is every key in the subdirectory DIRKEY ("NAME/") at or before the
 * listing's start-after?  So if DIRKEY sorts before it and is not a
 * prefix of it: then every key beginning with DIRKEY differs from it
 * first within DIRKEY, where DIRKEY is smaller.
 */
static bool
dir_before_start (const struct list_state *ls, const char *dirkey)
{
  size_t len = strlen (dirkey);

  return ls->after && strcmp (dirkey, ls->after) < 0 &&
    strncmp (dirkey, ls->after, len) != 0;
}

/* Emit common prefix CP (of length CPLEN) unless it was the last one. */
static int
emit_prefix (struct list_state *ls, const char *cp, size_t cplen)
{
  int r;

  if (strlen (ls->last_cp) == cplen && memcmp (ls->last_cp, cp, cplen) == 0)
    return 0;
  memcpy (ls->last_cp, cp, cplen);
  ls->last_cp[cplen] = '\0';
  if (!after_start (ls, ls->last_cp))
    return 0;
  r = ls->fn (ls->opaque, ls->last_cp, 0, true);
  if (r == 1)
    ls->stopped = true;
  return r == -1 ? -1 : 0;
}

/* The length of KEY's common prefix (through the first delimiter after
 * the listing prefix), or 0 if it has none.
 */
static size_t
common_prefix_len (struct list_state *ls, const char *key)
{
  const char *d;

  if (ls->delim == NULL)
    return 0;
  d = strstr (key + ls->prefixlen, ls->delim);
  if (d == NULL)
    return 0;
  return d - key + strlen (ls->delim);
}

/* Walk directory FD (consumed), whose path relative to the root is
 * ls->key[0..keylen) (empty or ending in '/').  FILTER: only names
 * beginning with it (the listing prefix's last segment, at the top).
 */
static int
walk (struct list_state *ls, int fd, size_t keylen, const char *filter)
{
  CLEANUP_STRING_VECTOR string_vector names = EMPTY_VECTOR;
  size_t i, namelen, cplen;
  struct stat st;
  int subfd, r = 0;

  if (read_sorted_dir (fd, filter, &names) == -1)
    return -1;

  for (i = 0; i < names.len && r == 0 && !ls->stopped; i++) {
    namelen = strlen (names.items[i]);
    if (keylen + namelen > OBJSTORE_KEY_MAX)
      continue;                 /* not a key we could have written */
    memcpy (ls->key + keylen, names.items[i], namelen + 1);

    if (names.items[i][namelen - 1] == '/') {
      if (dir_before_start (ls, ls->key))
        continue;
      /* "NAME/" is in the key: open it without the slash. */
      ls->key[keylen + namelen - 1] = '\0';
      subfd = openat (ls->ds->rootfd, ls->key,
                      O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
      ls->key[keylen + namelen - 1] = '/';
      if (subfd == -1) {
        if (errno == ENOENT || errno == ENOTDIR)
          continue;             /* removed meanwhile */
        return objstore_fail (errno, "LIST: %s: %m", ls->key);
      }
      cplen = common_prefix_len (ls, ls->key);
      if (cplen > 0) {
        /* The whole subdirectory rolls up into one common prefix. */
        r = dir_has_object (subfd);
        if (r == 1)
          r = emit_prefix (ls, ls->key, cplen);
      }
      else
        r = walk (ls, subfd, keylen + namelen, "");
    }
    else {
      cplen = common_prefix_len (ls, ls->key);
      if (cplen == 0 && !after_start (ls, ls->key))
        continue;               /* (before the stat: a shard of a large
                                   directory skips most of it) */
      if (fstatat (ls->ds->rootfd, ls->key, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
          !S_ISREG (st.st_mode))
        continue;               /* removed meanwhile */
      if (cplen > 0)
        r = emit_prefix (ls, ls->key, cplen);
      else {
        r = ls->fn (ls->opaque, ls->key, st.st_size, false);
        if (r == 1) {
          ls->stopped = true;
          r = 0;
        }
      }
    }
  }
  return r;
}

/* Is every complete segment of PREFIX (those followed by '/') one that
 * a key could have?  If not, no key begins with PREFIX.
 */
static bool
prefix_dirs_valid (const char *prefix)
{
  const char *seg = prefix, *slash;
  size_t len;

  while ((slash = strchr (seg, '/')) != NULL) {
    len = slash - seg;
    if (len == 0 || (len == 1 && seg[0] == '.') ||
        (len == 2 && seg[0] == '.' && seg[1] == '.') ||
        strncmp (seg, TMP_PREFIX, TMP_PREFIX_LEN) == 0)
      return false;
    seg = slash + 1;
  }
  return true;
}

static int
dir_list (struct objstore *s, const char *prefix, const char *delimiter,
          const char *start_after, objstore_list_fn fn, void *opaque)
{
  struct dir_store *ds = (struct dir_store *) s;
  CLEANUP_FREE struct list_state *ls = NULL;
  const char *slash;
  size_t dirlen;
  int fd;

  if (prefix == NULL)
    prefix = "";
  if (strlen (prefix) > OBJSTORE_KEY_MAX)
    return objstore_fail (EINVAL, "LIST: prefix longer than %d bytes",
                          OBJSTORE_KEY_MAX);
  if (!prefix_dirs_valid (prefix))
    return 0;

  ls = calloc (1, sizeof *ls);
  if (ls == NULL)
    return objstore_fail (ENOMEM, "LIST: out of memory");
  ls->ds = ds;
  ls->prefix = prefix;
  ls->prefixlen = strlen (prefix);
  ls->delim = delimiter && *delimiter ? delimiter : NULL;
  ls->after = start_after;
  ls->fn = fn;
  ls->opaque = opaque;

  /* Start in the directory named by the prefix up to its last '/'. */
  slash = strrchr (prefix, '/');
  dirlen = slash ? (size_t) (slash - prefix) + 1 : 0;
  memcpy (ls->key, prefix, dirlen);
  ls->key[dirlen] = '\0';
  if (dirlen > 0) {
    ls->key[dirlen - 1] = '\0';
    fd = openat (ds->rootfd, ls->key,
                 O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    ls->key[dirlen - 1] = '/';
  }
  else
    fd = openat (ds->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd == -1) {
    if (errno == ENOENT || errno == ENOTDIR)
      return 0;                 /* nothing there */
    return objstore_fail (errno, "LIST %s: %m", prefix);
  }
  return walk (ls, fd, dirlen, prefix + dirlen);
}

static void
dir_close (struct objstore *s)
{
  struct dir_store *ds = (struct dir_store *) s;

  close (ds->rootfd);
  pthread_mutex_destroy (&ds->cond_lock);
  free (ds->root);
  free (ds->base.description);
  free (ds);
}

static const struct objstore_ops dir_ops = {
  .name = "dir",
  .get = dir_get,
  .put = dir_put,
  .head = dir_head,
  .del = dir_del,
  .delete_many = dir_delete_many,
  .copy = dir_copy,
  .list = dir_list,
  .close = dir_close,
};

/* mkdir -p DIR, reported as a store failure. */
static int
make_store_dirs (const char *dir)
{
  CLEANUP_FREE char *failed = NULL;

  if (make_dirs (dir, 0777, &failed) == -1)
    return objstore_fail (errno, "directory store %s: mkdir %s: %m",
                          dir, failed ? failed : dir);
  return 0;
}

struct objstore *
objstore_dir_open (const char *dir, bool create)
{
  CLEANUP_FREE struct dir_store *ds = NULL;
  CLEANUP_FREE char *root = NULL;
  CLEANUP_FREE char *description = NULL;
  struct objstore *ret;

  if (dir == NULL || dir[0] == '\0') {
    objstore_fail (EINVAL, "directory store: no directory given");
    return NULL;
  }
  if (create && make_store_dirs (dir) == -1)
    return NULL;

  ds = calloc (1, sizeof *ds);
  if (ds == NULL) {
    objstore_fail (ENOMEM, "out of memory");
    return NULL;
  }
  root = strdup (dir);
  description = format_string ("file://%s", dir);
  if (root == NULL || description == NULL) {
    objstore_fail (ENOMEM, "out of memory");
    return NULL;
  }

  ds->rootfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (ds->rootfd == -1) {
    if (errno == ENOENT)
      objstore_fail (ENODEV, "directory store %s does not exist", dir);
    else if (errno == ENOTDIR)
      objstore_fail (ENODEV, "directory store %s is not a directory", dir);
    else
      objstore_fail (errno, "directory store %s: %m", dir);
    return NULL;
  }
  pthread_mutex_init (&ds->cond_lock, NULL);
  ds->base.ops = &dir_ops;
  ds->root = root;
  root = NULL;
  ds->base.description = description;
  description = NULL;
  ret = &ds->base;
  ds = NULL;
  return ret;
}
