/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: the object store's public entry points (see objstore.h), and
 * the helpers its backends share (see internal.h).
 *
 * This file owns three things that every backend and wrapper shares:
 *
 * - The failure message.  A backend cannot call zerror() because its
 *   failure may be retried and succeed, so objstore_fail() records the
 *   message in a thread-local buffer and the entry points below log it
 *   once, when the failure is final.  Backend messages name the
 *   operation and the key ("PUT devices/x/meta: ..."); the entry point
 *   adds the store's description in front.  ENOENT from get/head and
 *   EEXIST from a conditional put are answers, not errors, and are not
 *   logged.
 *
 * - Key checking.  Keys are checked here, before any backend sees them,
 *   so that a directory backend never builds a path from "..", and so
 *   that S3 and the directory store refuse the same keys.
 *
 * - Choosing and stacking the backends: retry(stats(fault?(dir | s3))).
 *
 * - The fence of a fenced request (objstore_put_fenced, ...): this
 *   thread's current one, set for the length of the call, which the
 *   retry wrapper checks before every attempt (objstore_fence_check).
 *   Per thread, so that no backend's signature carries it; cleared while
 *   the check itself runs, so that the check's own requests (the lease's)
 *   are never fenced by it.
 *
 * Constructors (objstore_dir_open, the wrappers, ...) report failures
 * with objstore_fail() as well; objstore_open() logs that message.  A
 * constructor that calls zerror() itself leaves the buffer empty (it is
 * cleared first) and nothing is logged twice.  The wrappers take
 * ownership of the store they wrap and close it if they fail.
 */
#include <config.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "log.h"
#include "internal.h"

/* Long enough for a key (1024 bytes) and a reason. */
#define OBJSTORE_ERROR_MAX 2048

static __thread char last_error[OBJSTORE_ERROR_MAX];

int
objstore_fail (int err, const char *fmt, ...)
{
  va_list args;

  va_start (args, fmt);
  vsnprintf (last_error, sizeof last_error, fmt, args);
  va_end (args);
  errno = err;
  return -1;
}

const char *
objstore_last_error (void)
{
  return last_error;
}

static void
clear_last_error (void)
{
  last_error[0] = '\0';
}

bool
objstore_err_is_transient (int err)
{
  switch (err) {
  case EAGAIN:
#if EWOULDBLOCK != EAGAIN
  case EWOULDBLOCK:
#endif
  case ETIMEDOUT:
  case ECONNRESET:
  case ECONNREFUSED:
  case ECONNABORTED:
  case EPIPE:
  case ENETUNREACH:
  case ENETDOWN:
  case ENETRESET:
  case EHOSTUNREACH:
    return true;
  default:
    return false;
  }
}

int
objstore_check_key (const char *key)
{
  const char *seg, *end;
  size_t len, seglen;

  if (key == NULL || key[0] == '\0')
    return objstore_fail (EINVAL, "invalid object key: empty");
  len = strlen (key);
  if (len > OBJSTORE_KEY_MAX)
    return objstore_fail (EINVAL,
                          "invalid object key: %zu bytes, the limit is %d",
                          len, OBJSTORE_KEY_MAX);
  if (key[0] == '/')
    return objstore_fail (EINVAL, "invalid object key \"%s\": "
                          "begins with '/'", key);

  for (seg = key; ; seg = end + 1) {
    end = strchr (seg, '/');
    seglen = end ? (size_t) (end - seg) : strlen (seg);
    if (seglen == 0)
      return objstore_fail (EINVAL, "invalid object key \"%s\": "
                            "empty path segment", key);
    if ((seglen == 1 && seg[0] == '.') ||
        (seglen == 2 && seg[0] == '.' && seg[1] == '.'))
      return objstore_fail (EINVAL, "invalid object key \"%s\": "
                            "\".\" or \"..\" path segment", key);
    if (end == NULL)
      break;
  }
  return 0;
}

/* Log the final failure of an operation.  Preserves errno. */
static void
report_failure (struct objstore *s)
{
  int saved_errno = errno;

  if (last_error[0] != '\0')
    zerror ("%s: %s", s->description, last_error);
  else
    zerror ("%s: %s", s->description, strerror (saved_errno));
  errno = saved_errno;
}

int
objstore_get (struct objstore *s, const char *key, void **data, size_t *len)
{
  return objstore_get_range (s, key, 0, 0, data, len);
}

int
objstore_get_range (struct objstore *s, const char *key,
                    uint64_t offset, uint64_t length,
                    void **data, size_t *len)
{
  *data = NULL;
  *len = 0;
  clear_last_error ();
  if (objstore_check_key (key) == -1 ||
      s->ops->get (s, key, offset, length, data, len, NULL) == -1) {
    if (errno != ENOENT)
      report_failure (s);
    return -1;
  }
  return 0;
}

int
objstore_put (struct objstore *s, const char *key,
              const void *data, size_t len)
{
  return objstore_put_cond (s, key, data, len, NULL, NULL);
}

int
objstore_put_cond (struct objstore *s, const char *key,
                   const void *data, size_t len,
                   const struct objstore_cond *cond,
                   struct objstore_info *info)
{
  bool conditional = cond && (cond->if_none_match || cond->if_match);

  clear_last_error ();
  if (objstore_check_key (key) == -1 ||
      s->ops->put (s, key, data, len, cond, info) == -1) {
    /* A refused condition, or a store that cannot do conditions (Swift:
     * 501), are answers the caller acts on, not errors.
     */
    if (!(conditional && (errno == EEXIST || errno == ENOTSUP)))
      report_failure (s);
    return -1;
  }
  return 0;
}

int
objstore_head (struct objstore *s, const char *key,
               struct objstore_info *info)
{
  struct objstore_info unused;

  clear_last_error ();
  if (objstore_check_key (key) == -1 ||
      s->ops->head (s, key, info ? info : &unused) == -1) {
    if (errno != ENOENT)
      report_failure (s);
    return -1;
  }
  return 0;
}

int
objstore_delete (struct objstore *s, const char *key)
{
  clear_last_error ();
  if (objstore_check_key (key) == -1 ||
      s->ops->del (s, key) == -1) {
    report_failure (s);
    return -1;
  }
  return 0;
}

int
objstore_copy (struct objstore *s, const char *src, const char *dst)
{
  clear_last_error ();
  if (s->ops->copy == NULL)
    objstore_fail (ENOTSUP, "COPY %s: this store cannot copy", dst);
  if (s->ops->copy == NULL ||
      objstore_check_key (src) == -1 || objstore_check_key (dst) == -1 ||
      s->ops->copy (s, src, dst) == -1) {
    if (errno != ENOENT)
      report_failure (s);
    return -1;
  }
  return 0;
}

int
objstore_delete_many (struct objstore *s, const char *const *keys, size_t n)
{
  size_t i, batch;

  clear_last_error ();
  for (i = 0; i < n; i++)
    if (objstore_check_key (keys[i]) == -1) {
      report_failure (s);
      return -1;
    }

  for (i = 0; i < n; i += batch) {
    batch = n - i;
    if (batch > OBJSTORE_DELETE_BATCH)
      batch = OBJSTORE_DELETE_BATCH;
    if (s->ops->delete_many (s, &keys[i], batch) == -1) {
      report_failure (s);
      return -1;
    }
  }
  return 0;
}

static __thread const struct objstore_fence *current_fence;

int
objstore_fence_check (const char *op, const char *key)
{
  const struct objstore_fence *f = current_fence;
  int r, err;

  if (f == NULL)
    return 0;
  current_fence = NULL;
  r = f->check (f->opaque);
  err = errno;
  current_fence = f;
  if (r == 0)
    return 0;
  if (objstore_err_is_transient (err))
    return objstore_fail (err, "%s %s: not sent: the right to change "
                          "these objects could not be confirmed (see "
                          "above)", op, key);
  /* Not wanted any more (a survey stopped): given up. */
  if (err == ECANCELED)
    return objstore_fail (EIO, "%s %s: not sent: no longer wanted", op, key);
  /* Lost (EIO), or refused: given up, whatever the check said. */
  return objstore_fail (EIO, "%s %s: not sent: the right to change these "
                        "objects is lost (see above)", op, key);
}

/* Run the call that follows with FENCE as this thread's fence. */
#define WITH_FENCE(fence, call)                                 \
  ({                                                            \
    const struct objstore_fence *saved_fence_ = current_fence;  \
    int r_;                                                     \
    current_fence = (fence);                                    \
    r_ = (call);                                                \
    current_fence = saved_fence_;                               \
    r_;                                                         \
  })

int
objstore_put_fenced (struct objstore *s, const char *key,
                     const void *data, size_t len,
                     const struct objstore_fence *fence)
{
  return WITH_FENCE (fence, objstore_put (s, key, data, len));
}

int
objstore_delete_fenced (struct objstore *s, const char *key,
                        const struct objstore_fence *fence)
{
  return WITH_FENCE (fence, objstore_delete (s, key));
}

int
objstore_delete_many_fenced (struct objstore *s, const char *const *keys,
                             size_t n, const struct objstore_fence *fence)
{
  return WITH_FENCE (fence, objstore_delete_many (s, keys, n));
}

/* The caller's callback, wrapped so that we know whether a failed list
 * was the callback's doing (already reported) or the store's.
 */
struct list_trampoline {
  objstore_list_fn fn;
  void *opaque;
  bool callback_failed;
};

static int
list_trampoline_fn (void *opaque, const char *key, uint64_t size,
                    bool is_prefix)
{
  struct list_trampoline *t = opaque;
  int r;

  r = t->fn (t->opaque, key, size, is_prefix);
  if (r == -1)
    t->callback_failed = true;
  return r;
}

static int
list_from (struct objstore *s, const char *prefix, const char *delimiter,
           const char *start_after, objstore_list_fn fn, void *opaque)
{
  struct list_trampoline t = { .fn = fn, .opaque = opaque };

  if (prefix == NULL)
    prefix = "";
  clear_last_error ();
  if (strlen (prefix) > OBJSTORE_KEY_MAX) {
    objstore_fail (EINVAL, "LIST: prefix longer than %d bytes",
                   OBJSTORE_KEY_MAX);
    report_failure (s);
    return -1;
  }
  if (delimiter && delimiter[0] == '\0')
    delimiter = NULL;

  if (start_after && start_after[0] == '\0')
    start_after = NULL;

  if (s->ops->list (s, prefix, delimiter, start_after,
                    list_trampoline_fn, &t) == -1) {
    if (!t.callback_failed)
      report_failure (s);
    return -1;
  }
  return 0;
}

int
objstore_list (struct objstore *s, const char *prefix, const char *delimiter,
               objstore_list_fn fn, void *opaque)
{
  return list_from (s, prefix, delimiter, NULL, fn, opaque);
}

int
objstore_list_after (struct objstore *s, const char *prefix,
                     const char *start_after, objstore_list_fn fn,
                     void *opaque)
{
  return list_from (s, prefix, NULL, start_after, fn, opaque);
}

int
objstore_list_after_fenced (struct objstore *s, const char *prefix,
                            const char *start_after, objstore_list_fn fn,
                            void *opaque, const struct objstore_fence *fence)
{
  return WITH_FENCE (fence, list_from (s, prefix, NULL, start_after, fn,
                                       opaque));
}

void
objstore_close (struct objstore *s)
{
  if (s)
    s->ops->close (s);
}

/* After a constructor returned NULL: log its message if it left one. */
static void
report_open_failure (void)
{
  int saved_errno = errno;

  if (last_error[0] != '\0')
    zerror ("%s", last_error);
  errno = saved_errno;
}

struct objstore *
objstore_open (const struct zconf *conf)
{
  const char *bucket = conf->bucket;
  struct objstore *s;

  if (bucket == NULL || bucket[0] == '\0') {
    zerror ("no bucket given: bucket=NAME[/PREFIX] or bucket=file:///DIR");
    errno = EINVAL;
    return NULL;
  }

  clear_last_error ();
  if (strncmp (bucket, "file:", 5) == 0) {
    /* Only file:///ABSOLUTE/DIR: "file://host/..." and relative paths
     * are refused rather than guessed at.
     */
    if (strncmp (bucket, "file:///", 8) != 0) {
      zerror ("bucket=%s: a directory store is written file:///DIR "
              "with an absolute DIR", bucket);
      errno = EINVAL;
      return NULL;
    }
    s = objstore_dir_open (bucket + 7, false);
  }
  else
    s = objstore_s3_open (conf);
  if (s == NULL) {
    report_open_failure ();
    return NULL;
  }

  if (conf->fault_file) {
    clear_last_error ();
    s = objstore_fault_wrap (s, conf->fault_file);
    if (s == NULL) {
      report_open_failure ();
      return NULL;
    }
  }

  clear_last_error ();
  s = objstore_stats_wrap (s);
  if (s == NULL) {
    report_open_failure ();
    return NULL;
  }

  clear_last_error ();
  s = objstore_retry_wrap (s, conf->retry_time);
  if (s == NULL) {
    report_open_failure ();
    return NULL;
  }
  return s;
}
