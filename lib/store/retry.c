/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: the retrying object store wrapper.
 *
 * S3 fails now and then in ways that go away: 500 and 503 SlowDown, a
 * connection reset, a timeout.  Every operation of the wrapped store is
 * retried while it fails with a transient errno (objstore_err_is_transient)
 * and the deadline, RETRY_TIME seconds after the first attempt, has not
 * passed.  Between attempts it sleeps with exponential backoff and full
 * jitter (sleep a random time in [0, min (cap, base * 2^attempt)], base
 * 50 ms, cap 5 s), which spreads many clients' retries apart instead of
 * synchronising them.  The last sleep is cut short to end at the deadline,
 * so that one last attempt is made then.  A non-transient failure, and
 * the last failure at the deadline, are returned as they are; the
 * message then says how many attempts were made.  RETRY_TIME 0 means no
 * retries.
 *
 * Fencing (objstore.h, lib/lease.h).  Before every attempt of a put,
 * delete, delete_many, copy or list, this thread's fence (set by a
 * fenced request: objstore_put_fenced, ...) is checked: an attempt is
 * sent only while the caller may still change the objects (or, for a
 * list, still wants them: a survey stopped at shutdown).  A fence that
 * says the right is lost ends the request with EIO at once, however
 * much of the retry time is left; one that could not be checked
 * (the lease's GET failed) is a failed attempt like any other.  So a
 * server fenced off a device by a forced takeover never sends a retry
 * of an upload that was failing when it lost the lease.
 *
 * Every operation is safe to repeat: a put or delete that reached the
 * store before its answer was lost just happens again.  The exception is
 * a conditional put whose first attempt succeeded unseen: its retry gets
 * a failed precondition (EEXIST), and the caller (the lease) must read
 * the object back to tell its own write from another's.
 *
 * A listing that fails part-way starts again after the last key
 * delivered (start-after), and keys the callback has already had (keys
 * come in lexical order, so: every key up to the last one delivered)
 * are not delivered again.  A listing
 * that the callback aborted is not retried.
 *
 * Each attempt made again is counted in the statistics of the stats
 * wrapper below (objstore_count_retry; see stats.c).
 *
 * The wrapper takes ownership of the inner store, and closes it if it
 * cannot be created.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "internal.h"

#define BACKOFF_BASE_MS 50
#define BACKOFF_CAP_MS 5000

struct retry_store {
  struct objstore base;
  struct objstore *inner;
  unsigned retry_time;          /* seconds */
};

/* A per-thread xorshift64* generator: jitter needs no quality, only
 * no lock and no two threads in step.
 */
static __thread uint64_t jitter_state;

static uint64_t
jitter_random (void)
{
  uint64_t x = jitter_state;

  if (x == 0) {
    struct timespec ts;

    clock_gettime (CLOCK_MONOTONIC, &ts);
    x = ((uint64_t) ts.tv_sec * 1000000007u) ^ ts.tv_nsec ^
      (uint64_t) (uintptr_t) &jitter_state;
    if (x == 0)
      x = 1;
  }
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  jitter_state = x;
  return x * UINT64_C (2685821657736338717);
}

static uint64_t
now_ms (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms (uint64_t ms)
{
  struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };

  while (nanosleep (&ts, &ts) == -1 && errno == EINTR)
    ;
}

/* The state of one operation's attempts. */
struct attempts {
  struct retry_store *rs;
  enum objstore_kind kind;
  const char *op;               /* "GET", ... for messages */
  const char *key;              /* or a description */
  uint64_t start_ms;
  unsigned n;                   /* attempts made */
};

static void
attempts_init (struct attempts *a, struct retry_store *rs,
               enum objstore_kind kind, const char *key)
{
  a->rs = rs;
  a->kind = kind;
  a->op = objstore_kind_name (kind);
  a->key = key;
  a->start_ms = now_ms ();
  a->n = 0;
}

/* After a failed attempt (errno set, message recorded): sleep and
 * return true to try again, or return false (errno and the message
 * kept, the message noting the attempts) to give up.
 */
static bool
should_retry (struct attempts *a)
{
  int err = errno;
  uint64_t deadline, now, window, sleep;
  unsigned shift;

  a->n++;
  deadline = a->start_ms + (uint64_t) a->rs->retry_time * 1000;
  now = now_ms ();
  if (!objstore_err_is_transient (err) || a->rs->retry_time == 0 ||
      now >= deadline) {
    if (a->n > 1 && objstore_err_is_transient (err)) {
      char msg[1024];

      /* Copy: objstore_fail must not format from its own buffer. */
      strncpy (msg, objstore_last_error (), sizeof msg - 1);
      msg[sizeof msg - 1] = '\0';
      objstore_fail (err, "%s (gave up after %u attempts in %.1f s)",
                     msg, a->n, (now - a->start_ms) / 1000.0);
    }
    errno = err;
    return false;
  }

  shift = a->n - 1 < 16 ? a->n - 1 : 16;
  window = (uint64_t) BACKOFF_BASE_MS << shift;
  if (window > BACKOFF_CAP_MS)
    window = BACKOFF_CAP_MS;
  sleep = jitter_random () % (window + 1);
  if (sleep > deadline - now)
    sleep = deadline - now;

  if (zerofs_debug_s3) {
    const char *why = objstore_last_error ();
    size_t oplen = strlen (a->op), keylen = strlen (a->key);

    /* Backend messages begin "OP KEY: ": do not say that twice. */
    if (strncmp (why, a->op, oplen) == 0 && why[oplen] == ' ' &&
        strncmp (why + oplen + 1, a->key, keylen) == 0 &&
        strncmp (why + oplen + 1 + keylen, ": ", 2) == 0)
      why += oplen + keylen + 3;
    zdebug ("retrying %s %s after %s (attempt %u, sleeping %" PRIu64 " ms)",
            a->op, a->key, why, a->n + 1, sleep);
  }
  sleep_ms (sleep);
  objstore_count_retry (&a->rs->base, a->kind);
  return true;
}

static int
retry_get (struct objstore *s, const char *key,
           uint64_t offset, uint64_t length,
           void **data, size_t *len, struct objstore_info *info)
{
  struct retry_store *rs = (struct retry_store *) s;
  struct attempts a;

  attempts_init (&a, rs, OBJSTORE_GET, key);
  for (;;) {
    if (rs->inner->ops->get (rs->inner, key, offset, length,
                             data, len, info) == 0)
      return 0;
    if (!should_retry (&a))
      return -1;
  }
}

static int
retry_put (struct objstore *s, const char *key,
           const void *data, size_t len,
           const struct objstore_cond *cond, struct objstore_info *info)
{
  struct retry_store *rs = (struct retry_store *) s;
  struct attempts a;

  attempts_init (&a, rs, OBJSTORE_PUT, key);
  for (;;) {
    if (objstore_fence_check (a.op, key) == 0 &&
        rs->inner->ops->put (rs->inner, key, data, len, cond, info) == 0)
      return 0;
    if (!should_retry (&a))
      return -1;
  }
}

static int
retry_head (struct objstore *s, const char *key, struct objstore_info *info)
{
  struct retry_store *rs = (struct retry_store *) s;
  struct attempts a;

  attempts_init (&a, rs, OBJSTORE_HEAD, key);
  for (;;) {
    if (rs->inner->ops->head (rs->inner, key, info) == 0)
      return 0;
    if (!should_retry (&a))
      return -1;
  }
}

static int
retry_del (struct objstore *s, const char *key)
{
  struct retry_store *rs = (struct retry_store *) s;
  struct attempts a;

  attempts_init (&a, rs, OBJSTORE_DELETE, key);
  for (;;) {
    if (objstore_fence_check (a.op, key) == 0 &&
        rs->inner->ops->del (rs->inner, key) == 0)
      return 0;
    if (!should_retry (&a))
      return -1;
  }
}

static int
retry_copy (struct objstore *s, const char *src, const char *dst)
{
  struct retry_store *rs = (struct retry_store *) s;
  struct attempts a;

  attempts_init (&a, rs, OBJSTORE_COPY, dst);
  for (;;) {
    if (objstore_fence_check (a.op, dst) == 0 &&
        rs->inner->ops->copy (rs->inner, src, dst) == 0)
      return 0;
    if (!should_retry (&a))
      return -1;
  }
}

static int
retry_delete_many (struct objstore *s, const char *const *keys, size_t n)
{
  struct retry_store *rs = (struct retry_store *) s;
  struct attempts a;

  attempts_init (&a, rs, OBJSTORE_DELETE, n > 0 ? keys[0] : "(no keys)");
  for (;;) {
    if (objstore_fence_check (a.op, a.key) == 0 &&
        rs->inner->ops->delete_many (rs->inner, keys, n) == 0)
      return 0;
    if (!should_retry (&a))
      return -1;
  }
}

/* Between the inner store and the caller's callback: remember the last
 * key delivered, skip keys already delivered by an earlier attempt, and
 * note whether the callback itself failed.
 */
struct list_resume {
  objstore_list_fn fn;
  void *opaque;
  char *last;                   /* last key delivered, NULL: none yet */
  bool callback_failed;
};

static void
cleanup_list_resume (struct list_resume *lr)
{
  int saved_errno = errno;

  free (lr->last);
  errno = saved_errno;
}
#define CLEANUP_LIST_RESUME __attribute__ ((cleanup (cleanup_list_resume)))

static int
list_resume_fn (void *opaque, const char *key, uint64_t size, bool is_prefix)
{
  struct list_resume *lr = opaque;
  char *copy;
  int r;

  if (lr->last && strcmp (key, lr->last) <= 0)
    return 0;
  copy = strdup (key);
  if (copy == NULL) {
    zerror ("LIST: out of memory");
    lr->callback_failed = true;
    errno = ENOMEM;
    return -1;
  }
  free (lr->last);
  lr->last = copy;
  r = lr->fn (lr->opaque, key, size, is_prefix);
  if (r == -1)
    lr->callback_failed = true;
  return r;
}

static int
retry_list (struct objstore *s, const char *prefix, const char *delimiter,
            const char *start_after, objstore_list_fn fn, void *opaque)
{
  struct retry_store *rs = (struct retry_store *) s;
  CLEANUP_LIST_RESUME struct list_resume lr = { .fn = fn, .opaque = opaque };
  CLEANUP_FREE char *resume_after = NULL;
  struct attempts a;
  int r;

  attempts_init (&a, rs, OBJSTORE_LIST, prefix);
  for (;;) {
    /* An attempt after a failure starts after the last key delivered
     * (with a delimiter, a common prefix is not a key to start after).
     * A copy: the backend compares keys with it during the attempt,
     * while list_resume_fn replaces lr.last.
     */
    free (resume_after);
    resume_after = NULL;
    if (lr.last && !delimiter) {
      resume_after = strdup (lr.last);
      if (resume_after == NULL) {
        zerror ("LIST: out of memory");
        errno = ENOMEM;
        return -1;
      }
    }
    r = objstore_fence_check (a.op, prefix);
    if (r == 0)
      r = rs->inner->ops->list (rs->inner, prefix, delimiter,
                                resume_after ? resume_after : start_after,
                                list_resume_fn, &lr);
    if (r == 0 || lr.callback_failed || !should_retry (&a))
      return r;
  }
}

static void
retry_close (struct objstore *s)
{
  struct retry_store *rs = (struct retry_store *) s;

  objstore_close (rs->inner);
  free (rs->base.description);
  free (rs);
}

static const struct objstore_ops retry_ops = {
  .name = "retry",
  .get = retry_get,
  .put = retry_put,
  .head = retry_head,
  .del = retry_del,
  .delete_many = retry_delete_many,
  .list = retry_list,
  .copy = retry_copy,
  .close = retry_close,
};

struct objstore *
objstore_retry_wrap (struct objstore *inner, unsigned retry_time_seconds)
{
  struct retry_store *rs;

  rs = calloc (1, sizeof *rs);
  if (rs == NULL || (rs->base.description = strdup (inner->description))
      == NULL) {
    free (rs);
    objstore_close (inner);
    objstore_fail (ENOMEM, "out of memory");
    return NULL;
  }
  rs->base.ops = &retry_ops;
  rs->base.counters = inner->counters;
  rs->base.write_bound_ms = inner->write_bound_ms;
  rs->inner = inner;
  rs->retry_time = retry_time_seconds;
  return &rs->base;
}
