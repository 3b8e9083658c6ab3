/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: the counting object store wrapper (statistics).
 *
 * An operator wants to know what the store is asked for and how it
 * answers: requests, bytes, failures, retries and latency, by kind of
 * request.  This wrapper counts every request that passes through it
 * into a struct objstore_counters (internal.h): relaxed atomics and a
 * fixed-size latency histogram per kind (lib/histogram.h), no lock and
 * no allocation per request.
 *
 * objstore_open() puts it under the retry layer and over the fault
 * wrapper and the backend: retry(stats(fault?(backend))).  So it sees
 * each attempt on its own (a request retried three times counts as three
 * requests, its latency is one attempt's), and injected failures and
 * delays count as the real ones they stand for.  The retry layer adds
 * its retries to these same counters (objstore_count_retry), found
 * through the counters pointer that every handle above this one copies
 * from the one it wraps.
 *
 * What counts:
 *   requests  every attempt, successful or not
 *   bytes     GET: bytes received, PUT: bytes sent, of successful ones
 *   objects   DELETE: objects deleted (a DeleteObjects is one request
 *             for up to 1000), LIST: keys listed (a LIST is one request
 *             here, however many pages the backend fetches), COPY:
 *             objects copied (no bytes pass through the client)
 *   failures  attempts that failed, except for the answers that are not
 *             errors (objstore.h): absent objects on GET and HEAD, a
 *             refused or unsupported condition on PUT
 *   retries   attempts the retry layer made again after a transient
 *             failure
 *
 * The store serves the whole volume, and keys are not parsed here: the
 * counts are per volume, not per device.
 *
 * The wrapper takes ownership of the inner store, and closes it if it
 * cannot be created.
 */
#include <config.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "histogram.h"
#include "internal.h"

struct stats_store {
  struct objstore base;
  struct objstore *inner;
  struct objstore_counters counters;
};

static const char *const kind_names[OBJSTORE_NR_KINDS] = {
  [OBJSTORE_GET] = "GET", [OBJSTORE_PUT] = "PUT", [OBJSTORE_HEAD] = "HEAD",
  [OBJSTORE_DELETE] = "DELETE", [OBJSTORE_LIST] = "LIST",
  [OBJSTORE_COPY] = "COPY",
};

const char *
objstore_kind_name (enum objstore_kind kind)
{
  return kind_names[kind];
}

static void
add (_Atomic uint64_t *counter, uint64_t n)
{
  atomic_fetch_add_explicit (counter, n, memory_order_relaxed);
}

void
objstore_count_retry (struct objstore *s, enum objstore_kind kind)
{
  if (s->counters)
    add (&s->counters->kind[kind].retries, 1);
}

/* After one request of KIND that began at START and returned R: count
 * it, with BYTES and OBJECTS if it succeeded.  ANSWER: its failure
 * (errno) is an answer, not an error.  Returns R, errno kept.
 */
static int
count (struct stats_store *ss, enum objstore_kind kind, uint64_t start,
       int r, bool answer, uint64_t bytes, uint64_t objects)
{
  struct objstore_kind_counters *k = &ss->counters.kind[kind];
  int saved_errno = errno;

  zhist_record_since (&k->latency, start);
  add (&k->requests, 1);
  if (r == 0) {
    add (&k->bytes, bytes);
    add (&k->objects, objects);
  }
  else if (!answer)
    add (&k->failures, 1);
  errno = saved_errno;
  return r;
}

static int
stats_get (struct objstore *s, const char *key,
           uint64_t offset, uint64_t length,
           void **data, size_t *len, struct objstore_info *info)
{
  struct stats_store *ss = (struct stats_store *) s;
  uint64_t start = zhist_now_us ();
  int r;

  r = ss->inner->ops->get (ss->inner, key, offset, length, data, len, info);
  return count (ss, OBJSTORE_GET, start, r, r == -1 && errno == ENOENT,
                r == 0 ? *len : 0, 0);
}

static int
stats_put (struct objstore *s, const char *key,
           const void *data, size_t len,
           const struct objstore_cond *cond, struct objstore_info *info)
{
  struct stats_store *ss = (struct stats_store *) s;
  bool conditional = cond && (cond->if_none_match || cond->if_match);
  uint64_t start = zhist_now_us ();
  int r;

  r = ss->inner->ops->put (ss->inner, key, data, len, cond, info);
  return count (ss, OBJSTORE_PUT, start, r,
                r == -1 && conditional &&
                (errno == EEXIST || errno == ENOTSUP), len, 0);
}

static int
stats_head (struct objstore *s, const char *key, struct objstore_info *info)
{
  struct stats_store *ss = (struct stats_store *) s;
  uint64_t start = zhist_now_us ();
  int r;

  r = ss->inner->ops->head (ss->inner, key, info);
  return count (ss, OBJSTORE_HEAD, start, r, r == -1 && errno == ENOENT,
                0, 0);
}

static int
stats_del (struct objstore *s, const char *key)
{
  struct stats_store *ss = (struct stats_store *) s;
  uint64_t start = zhist_now_us ();

  return count (ss, OBJSTORE_DELETE, start,
                ss->inner->ops->del (ss->inner, key), false, 0, 1);
}

static int
stats_copy (struct objstore *s, const char *src, const char *dst)
{
  struct stats_store *ss = (struct stats_store *) s;
  uint64_t start = zhist_now_us ();
  int r;

  r = ss->inner->ops->copy (ss->inner, src, dst);
  return count (ss, OBJSTORE_COPY, start, r, r == -1 && errno == ENOENT,
                0, 1);
}

static int
stats_delete_many (struct objstore *s, const char *const *keys, size_t n)
{
  struct stats_store *ss = (struct stats_store *) s;
  uint64_t start = zhist_now_us ();

  return count (ss, OBJSTORE_DELETE, start,
                ss->inner->ops->delete_many (ss->inner, keys, n), false,
                0, n);
}

/* Between the store and the caller's callback: count the keys. */
struct list_count {
  objstore_list_fn fn;
  void *opaque;
  uint64_t keys;
};

static int
list_count_fn (void *opaque, const char *key, uint64_t size, bool is_prefix)
{
  struct list_count *lc = opaque;

  lc->keys++;
  return lc->fn (lc->opaque, key, size, is_prefix);
}

static int
stats_list (struct objstore *s, const char *prefix, const char *delimiter,
            const char *start_after, objstore_list_fn fn, void *opaque)
{
  struct stats_store *ss = (struct stats_store *) s;
  struct list_count lc = { .fn = fn, .opaque = opaque };
  uint64_t start = zhist_now_us ();
  int r;

  r = ss->inner->ops->list (ss->inner, prefix, delimiter, start_after,
                            list_count_fn, &lc);
  /* Keys delivered count even when the listing fails later. */
  add (&ss->counters.kind[OBJSTORE_LIST].objects, lc.keys);
  return count (ss, OBJSTORE_LIST, start, r, false, 0, 0);
}

static void
stats_close (struct objstore *s)
{
  struct stats_store *ss = (struct stats_store *) s;

  objstore_close (ss->inner);
  free (ss->base.description);
  free (ss);
}

static const struct objstore_ops stats_ops = {
  .name = "stats",
  .get = stats_get,
  .put = stats_put,
  .head = stats_head,
  .del = stats_del,
  .delete_many = stats_delete_many,
  .list = stats_list,
  .copy = stats_copy,
  .close = stats_close,
};

struct objstore *
objstore_stats_wrap (struct objstore *inner)
{
  struct stats_store *ss;

  ss = calloc (1, sizeof *ss);
  if (ss == NULL || (ss->base.description = strdup (inner->description))
      == NULL) {
    free (ss);
    objstore_close (inner);
    objstore_fail (ENOMEM, "out of memory");
    return NULL;
  }
  ss->base.ops = &stats_ops;
  ss->base.counters = &ss->counters;
  ss->base.write_bound_ms = inner->write_bound_ms;
  ss->inner = inner;
  return &ss->base;
}

void
objstore_get_stats (struct objstore *s,
                    struct objstore_kind_stats st[OBJSTORE_NR_KINDS])
{
  struct objstore_kind_counters *k;
  unsigned i;

  memset (st, 0, sizeof *st * OBJSTORE_NR_KINDS);
  if (s == NULL || s->counters == NULL)
    return;
  for (i = 0; i < OBJSTORE_NR_KINDS; i++) {
    k = &s->counters->kind[i];
    st[i].requests = atomic_load_explicit (&k->requests, memory_order_relaxed);
    st[i].bytes = atomic_load_explicit (&k->bytes, memory_order_relaxed);
    st[i].objects = atomic_load_explicit (&k->objects, memory_order_relaxed);
    st[i].failures = atomic_load_explicit (&k->failures, memory_order_relaxed);
    st[i].retries = atomic_load_explicit (&k->retries, memory_order_relaxed);
    zhist_summarize (&k->latency, &st[i].latency);
  }
}
