/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: unit test of the object store layer, on the directory backend.
 *
 * The directory store is a real store (the one the integration tests
 * use), so every semantic above it is checked here against it: whole
 * and ranged reads, atomic replacement, conditional puts, deletes of
 * absent keys, listing order and ListObjectsV2's prefix/delimiter rules
 * (against a reference computed from the key set), key checking, and
 * the fault and retry wrappers stacked on top as objstore_open does.
 */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "conf.h"
#include "log.h"
#include "store/internal.h"
#include "utils.h"
#include "vector.h"

#include "unit.h"

static char tmpdir[256];
static char root[300];

/* After a failed check: errno, and the store's own last error. */
static void
show_store_error (void)
{
  int e = errno;

  fprintf (stderr, "  errno %d (%s); last store error: %s\n",
           e, strerror (e), objstore_last_error ());
}

static double
now_s (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
write_file (const char *path, const char *content)
{
  char tmp[512];
  FILE *fp;

  /* Replace by rename, as an editor would. */
  snprintf (tmp, sizeof tmp, "%s.new", path);
  fp = fopen (tmp, "w");
  REQUIRE (fp != NULL && fputs (content, fp) != EOF && fclose (fp) != EOF &&
           rename (tmp, path) == 0, "%s: %m", path);
}

static bool
get_equals (struct objstore *s, const char *key, const char *want)
{
  void *data;
  size_t len;
  bool r;

  if (objstore_get (s, key, &data, &len) == -1)
    return false;
  r = len == strlen (want) && memcmp (data, want, len) == 0;
  free (data);
  return r;
}

static bool
range_equals (struct objstore *s, const char *key, uint64_t off,
              uint64_t length, const char *want)
{
  void *data;
  size_t len;
  bool r;

  if (objstore_get_range (s, key, off, length, &data, &len) == -1)
    return false;
  r = len == strlen (want) && memcmp (data, want, len) == 0;
  free (data);
  return r;
}

static int
put_str (struct objstore *s, const char *key, const char *str)
{
  return objstore_put (s, key, str, strlen (str));
}

/* Collect a listing as "key" and "key P" (prefixes) lines. */
struct listing {
  string_vector lines;
  size_t stop_after;            /* 0: never */
  bool fail_at_stop;
};

static int
collect (void *opaque, const char *key, uint64_t size, bool is_prefix)
{
  struct listing *l = opaque;
  char *line;

  if (l->stop_after && l->lines.len == l->stop_after) {
    if (l->fail_at_stop) {
      zerror ("callback: aborting");
      errno = EPROTO;
      return -1;
    }
    return 1;
  }
  line = format_string ("%s%s", key, is_prefix ? " P" : "");
  REQUIRE (line != NULL && string_vector_append (&l->lines, line) == 0,
           "collect: %m");
  return 0;
}

static void
listing_free (struct listing *l)
{
  string_vector_free_all (&l->lines);
  l->stop_after = 0;
  l->fail_at_stop = false;
}

static int
compare_strings (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* ListObjectsV2 by the book, from the set of keys. */
static void
reference_list (const char **keys, size_t nkeys, const char *prefix,
                const char *delim, struct listing *out)
{
  const char **sorted = malloc (nkeys * sizeof *sorted);
  char last_cp[2048] = "";
  size_t i, plen = strlen (prefix);

  memcpy (sorted, keys, nkeys * sizeof *sorted);
  qsort (sorted, nkeys, sizeof *sorted, compare_strings);
  for (i = 0; i < nkeys; i++) {
    const char *k = sorted[i], *d;

    if (strncmp (k, prefix, plen) != 0)
      continue;
    if (delim && (d = strstr (k + plen, delim)) != NULL) {
      size_t cplen = d - k + strlen (delim);
      char cp[2048];

      memcpy (cp, k, cplen);
      cp[cplen] = '\0';
      if (strcmp (cp, last_cp) != 0) {
        strcpy (last_cp, cp);
        collect (out, cp, 0, true);
      }
    }
    else
      collect (out, k, 0, false);
  }
  free (sorted);
}

static bool
listings_equal (const struct listing *a, const struct listing *b,
                const char *what)
{
  size_t i;

  for (i = 0; i < a->lines.len || i < b->lines.len; i++) {
    const char *x = i < a->lines.len ? a->lines.items[i] : "(end)";
    const char *y = i < b->lines.len ? b->lines.items[i] : "(end)";

    if (strcmp (x, y) != 0) {
      fprintf (stderr, "listing %s: item %zu is \"%s\", expected \"%s\"\n",
               what, i, x, y);
      return false;
    }
  }
  return true;
}

static size_t
count_dir_entries (const char *path)
{
  DIR *dir = opendir (path);
  struct dirent *d;
  size_t n = 0;

  if (dir == NULL)
    return 0;
  while ((d = readdir (dir)) != NULL)
    if (strcmp (d->d_name, ".") != 0 && strcmp (d->d_name, "..") != 0)
      n++;
  closedir (dir);
  return n;
}

static void
test_open_errors (void)
{
  struct objstore *s;
  struct zconf conf;
  char path[512];

  snprintf (path, sizeof path, "%s/missing", tmpdir);
  errno = 0;
  s = objstore_dir_open (path, false);
  CHECK (s == NULL && errno == ENODEV);
  CHECK (strstr (objstore_last_error (), path) != NULL);

  memset (&conf, 0, sizeof conf);
  snprintf (path, sizeof path, "file://%s/missing", tmpdir);
  conf.bucket = path;
  unit_clear_errors ();
  s = objstore_open (&conf);
  CHECK (s == NULL && errno == ENODEV);
  CHECK (strstr (last_error, "missing") != NULL);

  conf.bucket = (char *) "file://relative/dir";
  s = objstore_open (&conf);
  CHECK (s == NULL && errno == EINVAL);
  CHECK (strstr (last_error, "file://relative/dir") != NULL);

  conf.bucket = (char *) "file:/one/slash";
  s = objstore_open (&conf);
  CHECK (s == NULL && errno == EINVAL);
}

static void
test_basic (struct objstore *s)
{
  struct objstore_info info, info2;
  void *data;
  size_t len;
  char path[512];

  CHECK (put_str (s, "a/b/c", "hello world") == 0);
  CHECK (get_equals (s, "a/b/c", "hello world"));
  CHECK (range_equals (s, "a/b/c", 6, 5, "world"));
  CHECK (range_equals (s, "a/b/c", 0, 5, "hello"));
  CHECK (range_equals (s, "a/b/c", 6, 0, "world"));    /* to the end */
  CHECK (range_equals (s, "a/b/c", 6, 100, "world"));  /* clamped */
  CHECK (range_equals (s, "a/b/c", 11, 0, ""));

  CHECK (objstore_head (s, "a/b/c", &info) == 0);
  CHECK (info.size == 11);
  CHECK (strlen (info.etag) == 34 && info.etag[0] == '"' &&
         info.etag[33] == '"');

  /* Empty object. */
  CHECK (objstore_put (s, "empty", "", 0) == 0);
  CHECK (objstore_get (s, "empty", &data, &len) == 0 && len == 0);
  free (data);
  CHECK (objstore_head (s, "empty", &info2) == 0 && info2.size == 0);

  /* Absent objects: ENOENT, and no error logged. */
  unit_clear_errors ();
  errno = 0;
  CHECK (objstore_get (s, "a/b/nothing", &data, &len) == -1 &&
         errno == ENOENT && data == NULL);
  CHECK (objstore_get (s, "no/such/dir", &data, &len) == -1 &&
         errno == ENOENT);
  CHECK (objstore_get (s, "a/b/c/d", &data, &len) == -1 && errno == ENOENT);
  CHECK (objstore_get (s, "a/b", &data, &len) == -1 && errno == ENOENT);
  CHECK (objstore_get_range (s, "a/b/nothing", 0, 4, &data, &len) == -1 &&
         errno == ENOENT);
  CHECK (objstore_head (s, "a/b/nothing", &info) == -1 && errno == ENOENT);
  CHECK (objstore_head (s, "a", &info) == -1 && errno == ENOENT);
  CHECK (last_error[0] == '\0');

  /* A key in the way of a directory and the other way round. */
  CHECK (put_str (s, "a/b", "x") == -1 && errno == EINVAL);
  CHECK (put_str (s, "a/b/c/d", "x") == -1 && errno == EINVAL);
  CHECK (last_error[0] != '\0');

  /* Atomic replace leaves no temporary file behind. */
  CHECK (put_str (s, "a/b/c", "replaced") == 0);
  CHECK (get_equals (s, "a/b/c", "replaced"));
  snprintf (path, sizeof path, "%s/a/b", root);
  CHECK (count_dir_entries (path) == 1);

  /* Deletes. */
  CHECK (objstore_delete (s, "a/b/c") == 0);
  CHECK (objstore_get (s, "a/b/c", &data, &len) == -1 && errno == ENOENT);
  CHECK (objstore_delete (s, "a/b/c") == 0);           /* absent */
  CHECK (objstore_delete (s, "never/was/here") == 0);
  snprintf (path, sizeof path, "%s/a", root);
  CHECK (access (path, F_OK) == -1);                   /* empty dirs gone */
  CHECK (objstore_delete (s, "empty") == 0);
  CHECK (count_dir_entries (root) == 0);
}

/* Server-side copy: the same bytes under the new key (its parents
 * made), an existing key replaced, an absent source ENOENT without an
 * error, no temporary file left; also through the stacked wrappers,
 * with the fault file's "copy" op.
 */
static void
test_copy (struct objstore *s)
{
  struct objstore *w;
  struct zconf conf;
  char fault_file[512], bucket[512], path[512];
  void *data;
  size_t len;
  char *big;
  size_t i, n = 3 << 20;

  CHECK (put_str (s, "c/src", "copy me") == 0);
  CHECK (objstore_copy (s, "c/src", "c/d/e/dst") == 0);
  CHECK (get_equals (s, "c/d/e/dst", "copy me"));
  CHECK (get_equals (s, "c/src", "copy me"));
  CHECK (put_str (s, "c/other", "old content, longer") == 0);
  CHECK (objstore_copy (s, "c/src", "c/other") == 0);
  CHECK (get_equals (s, "c/other", "copy me"));
  snprintf (path, sizeof path, "%s/c", root);
  CHECK (count_dir_entries (path) == 3);           /* src, other, d */

  /* Larger than one copy_file_range / read-write round. */
  big = malloc (n);
  REQUIRE (big != NULL);
  for (i = 0; i < n; i++)
    big[i] = (char) (i * 7 + (i >> 12));
  CHECK (objstore_put (s, "c/big", big, n) == 0);
  CHECK (objstore_copy (s, "c/big", "c/big2") == 0);
  CHECK (objstore_get (s, "c/big2", &data, &len) == 0 && len == n &&
         memcmp (data, big, n) == 0);
  free (data);
  free (big);

  unit_clear_errors ();
  errno = 0;
  CHECK (objstore_copy (s, "c/nothing", "c/x") == -1 && errno == ENOENT);
  CHECK (last_error[0] == '\0');
  CHECK (objstore_head (s, "c/x", NULL) == -1 && errno == ENOENT);
  CHECK (objstore_copy (s, "c/src", "../x") == -1 && errno == EINVAL);

  /* Through fault(stats(retry)): a delay and a failure of "copy". */
  snprintf (fault_file, sizeof fault_file, "%s/faults", tmpdir);
  snprintf (bucket, sizeof bucket, "file://%s", root);
  memset (&conf, 0, sizeof conf);
  conf.bucket = bucket;
  conf.fault_file = fault_file;
  write_file (fault_file, "fail copy:/dst2 EIO\n");
  w = objstore_open (&conf);
  CHECK (w != NULL);
  if (w != NULL) {
    struct objstore_kind_stats st[OBJSTORE_NR_KINDS];

    CHECK (objstore_copy (w, "c/src", "c/dst1") == 0);
    CHECK (objstore_copy (w, "c/src", "c/dst2") == -1 && errno == EIO);
    CHECK (strstr (last_error, "COPY c/dst2: injected fault") != NULL);
    objstore_get_stats (w, st);
    CHECK (st[OBJSTORE_COPY].requests == 2 &&
           st[OBJSTORE_COPY].objects == 1 &&
           st[OBJSTORE_COPY].failures == 1);
    CHECK (strcmp (objstore_kind_name (OBJSTORE_COPY), "COPY") == 0);
    objstore_close (w);
  }
  unlink (fault_file);
  {
    const char *keys[] = { "c/src", "c/other", "c/d/e/dst", "c/big",
                           "c/big2", "c/dst1" };

    CHECK (objstore_delete_many (s, keys, 6) == 0);
  }
  CHECK (count_dir_entries (root) == 0);
}

static void
test_invalid_keys (struct objstore *s)
{
  static const char *bad[] = {
    "", "/a", "a//b", "a/../b", "a/./b", "a/", "..", ".", "../x",
    "a/..", ".zerofs-tmp.1", "a/.zerofs-tmp.x/b",
  };
  char long_key[OBJSTORE_KEY_MAX + 2];
  void *data;
  size_t len, i;
  struct objstore_info info;

  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    errno = 0;
    CHECK (put_str (s, bad[i], "x") == -1 && errno == EINVAL,
           "key \"%s\" was not refused", bad[i]);
    CHECK (objstore_get (s, bad[i], &data, &len) == -1 && errno == EINVAL);
    CHECK (objstore_head (s, bad[i], &info) == -1 && errno == EINVAL);
    CHECK (objstore_delete (s, bad[i]) == -1 && errno == EINVAL);
  }

  /* 1024 bytes is the limit: segments of 200 bytes fit NAME_MAX. */
  memset (long_key, 'k', OBJSTORE_KEY_MAX);
  for (i = 200; i < OBJSTORE_KEY_MAX; i += 201)
    long_key[i] = '/';
  long_key[OBJSTORE_KEY_MAX] = '\0';
  CHECK (put_str (s, long_key, "long") == 0);
  CHECK (get_equals (s, long_key, "long"));
  CHECK (objstore_delete (s, long_key) == 0);
  long_key[OBJSTORE_KEY_MAX] = 'k';
  long_key[OBJSTORE_KEY_MAX + 1] = '\0';
  CHECK (put_str (s, long_key, "long") == -1 && errno == EINVAL);

  /* delete_many checks every key before deleting any. */
  {
    const char *keys[] = { "ok1", "a//b" };

    CHECK (put_str (s, "ok1", "x") == 0);
    CHECK (objstore_delete_many (s, keys, 2) == -1 && errno == EINVAL);
    CHECK (get_equals (s, "ok1", "x"));
    CHECK (objstore_delete (s, "ok1") == 0);
  }
}

static void
test_conditional (struct objstore *s)
{
  struct objstore_cond none = { .if_none_match = true };
  struct objstore_cond match = { 0 };
  struct objstore_info info, info2, info3;

  unit_clear_errors ();
  CHECK (objstore_put_cond (s, "lease", "one", 3, &none, &info) == 0);
  CHECK (info.size == 3 && info.etag[0] == '"');
  CHECK (objstore_put_cond (s, "lease", "two", 3, &none, NULL) == -1 &&
         errno == EEXIST);
  CHECK (get_equals (s, "lease", "one"));

  CHECK (objstore_head (s, "lease", &info2) == 0);
  CHECK (strcmp (info.etag, info2.etag) == 0);

  /* Same content, same ETag; different content, different ETag. */
  match.if_match = info.etag;
  CHECK (objstore_put_cond (s, "lease", "three", 5, &match, &info2) == 0);
  CHECK (strcmp (info.etag, info2.etag) != 0);
  CHECK (get_equals (s, "lease", "three"));
  /* The old ETag no longer matches. */
  CHECK (objstore_put_cond (s, "lease", "four", 4, &match, NULL) == -1 &&
         errno == EEXIST);
  CHECK (get_equals (s, "lease", "three"));
  /* Quotes are optional in If-Match. */
  {
    char bare[OBJSTORE_ETAG_MAX];

    snprintf (bare, sizeof bare, "%.32s", info2.etag + 1);
    match.if_match = bare;
    CHECK (objstore_put_cond (s, "lease", "five", 4, &match, &info3) == 0);
    CHECK (get_equals (s, "lease", "five"));
  }
  /* get with info gives the same ETag as put and head. */
  {
    void *data;
    size_t len;
    struct objstore_info info4;

    CHECK (s->ops->get (s, "lease", 0, 0, &data, &len, &info4) == 0);
    CHECK (strcmp (info4.etag, info3.etag) == 0 && info4.size == 4);
    free (data);
    CHECK (s->ops->get (s, "lease", 1, 2, &data, &len, &info4) == 0);
    CHECK (len == 2 && strcmp (info4.etag, info3.etag) == 0);
    free (data);
  }
  CHECK (last_error[0] == '\0');

  /* If-Match on an absent object fails the precondition. */
  match.if_match = info3.etag;
  CHECK (objstore_put_cond (s, "absent-lease", "x", 1, &match, NULL) == -1 &&
         errno == EEXIST);
  CHECK (objstore_delete (s, "lease") == 0);
  CHECK (objstore_put_cond (s, "lease", "six", 3, &match, NULL) == -1 &&
         errno == EEXIST);
  CHECK (objstore_put_cond (s, "lease", "six", 3, &none, NULL) == 0);
  CHECK (objstore_delete (s, "lease") == 0);
  CHECK (count_dir_entries (root) == 0);
}

/* A store wrapper that counts delete_many calls. */
struct counting_store {
  struct objstore base;
  struct objstore *inner;
  size_t calls, max_batch;
  unsigned list_failures;       /* fail the next list(s) midway */
};

static int
count_get (struct objstore *s, const char *key, uint64_t o, uint64_t l,
           void **d, size_t *n, struct objstore_info *i)
{
  struct counting_store *cs = (struct counting_store *) s;
  return cs->inner->ops->get (cs->inner, key, o, l, d, n, i);
}

static int
count_put (struct objstore *s, const char *key, const void *d, size_t n,
           const struct objstore_cond *c, struct objstore_info *i)
{
  struct counting_store *cs = (struct counting_store *) s;
  return cs->inner->ops->put (cs->inner, key, d, n, c, i);
}

static int
count_head (struct objstore *s, const char *key, struct objstore_info *i)
{
  struct counting_store *cs = (struct counting_store *) s;
  return cs->inner->ops->head (cs->inner, key, i);
}

static int
count_del (struct objstore *s, const char *key)
{
  struct counting_store *cs = (struct counting_store *) s;
  return cs->inner->ops->del (cs->inner, key);
}

static int
count_delete_many (struct objstore *s, const char *const *keys, size_t n)
{
  struct counting_store *cs = (struct counting_store *) s;

  cs->calls++;
  if (n > cs->max_batch)
    cs->max_batch = n;
  return cs->inner->ops->delete_many (cs->inner, keys, n);
}

/* Deliver five entries, then fail transiently. */
struct midway {
  objstore_list_fn fn;
  void *opaque;
  int left;
};

static int
midway_fn (void *opaque, const char *key, uint64_t size, bool is_prefix)
{
  struct midway *m = opaque;

  if (m->left-- == 0)
    return 1;
  return m->fn (m->opaque, key, size, is_prefix);
}

static int
count_list (struct objstore *s, const char *prefix, const char *delim,
            const char *after, objstore_list_fn fn, void *opaque)
{
  struct counting_store *cs = (struct counting_store *) s;

  if (cs->list_failures > 0) {
    struct midway m = { .fn = fn, .opaque = opaque, .left = 5 };

    cs->list_failures--;
    if (cs->inner->ops->list (cs->inner, prefix, delim, after,
                              midway_fn, &m) == -1)
      return -1;
    return objstore_fail (ECONNRESET, "LIST %s: test failure midway",
                          prefix);
  }
  return cs->inner->ops->list (cs->inner, prefix, delim, after, fn, opaque);
}

static void
count_close (struct objstore *s)
{
  struct counting_store *cs = (struct counting_store *) s;

  objstore_close (cs->inner);
}

static const struct objstore_ops counting_ops = {
  .name = "counting", .get = count_get, .put = count_put,
  .head = count_head, .del = count_del, .delete_many = count_delete_many,
  .list = count_list, .close = count_close,
};

static void
test_delete_many (struct objstore *inner)
{
  struct counting_store cs = {
    .base = { .ops = &counting_ops, .description = (char *) "counting" },
    .inner = inner,
  };
  struct objstore *s = &cs.base;
  enum { N = 2500 };
  CLEANUP_STRING_VECTOR string_vector keys = EMPTY_VECTOR;
  struct listing l = { 0 };
  size_t i;

  for (i = 0; i < N; i++) {
    char *key = format_string ("dm/%s/%04zu", i % 2 ? "odd" : "even", i);

    REQUIRE (key != NULL && string_vector_append (&keys, key) == 0, "%m");
    /* Only every third key exists: the others are absent. */
    if (i % 3 == 0)
      CHECK (put_str (s, key, "x") == 0);
  }
  CHECK (objstore_delete_many (s, (const char *const *) keys.items,
                               keys.len) == 0);
  CHECK (cs.calls == 3 && cs.max_batch == OBJSTORE_DELETE_BATCH);
  CHECK (objstore_list (s, "dm/", NULL, collect, &l) == 0 &&
         l.lines.len == 0);
  listing_free (&l);
  CHECK (objstore_delete_many (s, NULL, 0) == 0);
  CHECK (count_dir_entries (root) == 0);
}

static void
test_list (struct objstore *s)
{
  static const char *keys[] = {
    "x-1", "x.1", "x/1", "x/0/z", "x0", "x/-", "x/0-a", "x/0.b", "y",
    "x/0/zz/deep/er", "x/0/z-", "devices/a/meta", "devices/a/chunks/00",
    "devices/a/chunks/01", "devices/b/meta", "devices/b-c/meta", "z0",
  };
  static const struct { const char *prefix, *delim; } cases[] = {
    { "", NULL }, { "", "/" }, { "x", "/" }, { "x/", "/" }, { "x/0", "/" },
    { "x/0/", "/" }, { "x/0/z", "/" }, { "x/0/zz/", NULL }, { "x/0/z", NULL },
    { "devices/", "/" }, { "devices/a/", "/" }, { "devices/b", "/" },
    { "devices/b", NULL }, { "", "-" }, { "x/", "-" }, { "x/0", "." },
    { "", "/0" }, { "x/0/zz/deep/er", "/" }, { "nothing", "/" },
    { "x//", NULL }, { "../", NULL }, { "x/../", "/" }, { "x/0/zz", "/" },
    { "", "0/z" },
  };
  const size_t nkeys = sizeof keys / sizeof keys[0];
  struct listing got = { 0 }, want = { 0 };
  char path[512];
  size_t i;

  for (i = 0; i < nkeys; i++)
    CHECK (put_str (s, keys[i], keys[i]) == 0);
  /* An empty directory is no prefix, a temporary file no key. */
  snprintf (path, sizeof path, "%s/devices/empty/chunks", root);
  snprintf (path, sizeof path, "%s/devices/empty", root);
  CHECK (mkdir (path, 0777) == 0);
  snprintf (path, sizeof path, "%s/devices/empty/chunks", root);
  CHECK (mkdir (path, 0777) == 0);
  snprintf (path, sizeof path, "%s/devices/.zerofs-tmp.1.2.3", root);
  write_file (path, "junk");

  for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char what[128];

    snprintf (what, sizeof what, "prefix \"%s\" delimiter \"%s\"",
              cases[i].prefix, cases[i].delim ? cases[i].delim : "(none)");
    reference_list (keys, nkeys, cases[i].prefix, cases[i].delim, &want);
    CHECK (objstore_list (s, cases[i].prefix, cases[i].delim,
                          collect, &got) == 0);
    CHECK (listings_equal (&got, &want, what));
    listing_free (&got);
    listing_free (&want);
  }

  /* Sizes reach the callback. */
  {
    struct objstore_info info;

    CHECK (objstore_head (s, "x/0/zz/deep/er", &info) == 0 &&
           info.size == strlen ("x/0/zz/deep/er"));
  }

  /* Early stop: 0.  Callback error: -1, not logged again. */
  got.stop_after = 3;
  CHECK (objstore_list (s, "", NULL, collect, &got) == 0 &&
         got.lines.len == 3);
  listing_free (&got);
  got.stop_after = 3;
  got.fail_at_stop = true;
  unit_clear_errors ();
  CHECK (objstore_list (s, "", NULL, collect, &got) == -1);
  CHECK (strcmp (last_error, "callback: aborting") == 0);
  listing_free (&got);

  CHECK (objstore_delete_many (s, keys, nkeys) == 0);
  snprintf (path, sizeof path, "%s/devices/.zerofs-tmp.1.2.3", root);
  CHECK (unlink (path) == 0);
  snprintf (path, sizeof path, "%s/devices/empty/chunks", root);
  CHECK (rmdir (path) == 0);
  snprintf (path, sizeof path, "%s/devices/empty", root);
  CHECK (rmdir (path) == 0);
  snprintf (path, sizeof path, "%s/devices", root);
  rmdir (path);
  CHECK (count_dir_entries (root) == 0);
}

static void
test_list_many (struct objstore *s)
{
  enum { N = 3000 };
  struct listing got = { 0 };
  CLEANUP_STRING_VECTOR string_vector keys = EMPTY_VECTOR;
  size_t i;
  bool ordered = true;
  double t;

  t = now_s ();
  for (i = 0; i < N; i++) {
    /* Reverse order of creation, and two directories. */
    char *key = format_string ("many/%s/%016zx",
                               i < N / 2 ? "chunks" : "chunks-2", N - i);

    REQUIRE (key != NULL && string_vector_append (&keys, key) == 0, "%m");
    CHECK (put_str (s, key, "c") == 0);
  }
  if (getenv ("VERBOSE"))
    fprintf (stderr, "%d puts in %.2f s\n", N, now_s () - t);

  CHECK (objstore_list (s, "many/", NULL, collect, &got) == 0);
  CHECK (got.lines.len == N);
  for (i = 1; i < got.lines.len; i++)
    if (strcmp (got.lines.items[i-1], got.lines.items[i]) >= 0)
      ordered = false;
  CHECK (ordered);
  listing_free (&got);
  /* start-after: inside the first directory, past it (which skips it
   * whole), and past everything.
   */
  CHECK (objstore_list_after (s, "many/", "many/chunks-2/0000000000000064",
                              collect, &got) == 0);
  CHECK (got.lines.len == N - 100 &&
         strcmp (got.lines.items[0],
                 "many/chunks-2/0000000000000065") == 0);
  listing_free (&got);
  CHECK (objstore_list_after (s, "many/", "many/chunks-2/~",
                              collect, &got) == 0);
  CHECK (got.lines.len == N / 2 &&
         strcmp (got.lines.items[0], "many/chunks/00000000000005dd") == 0);
  listing_free (&got);
  CHECK (objstore_list_after (s, "many/", "many/chunks/0000000000000bb8",
                              collect, &got) == 0 && got.lines.len == 0);
  listing_free (&got);
  CHECK (objstore_list (s, "many/", "/", collect, &got) == 0);
  /* '-' sorts before '/'. */
  CHECK (got.lines.len == 2 &&
         strcmp (got.lines.items[0], "many/chunks-2/ P") == 0 &&
         strcmp (got.lines.items[1], "many/chunks/ P") == 0);
  listing_free (&got);

  CHECK (objstore_delete_many (s, (const char *const *) keys.items,
                               keys.len) == 0);
  CHECK (count_dir_entries (root) == 0);
}

/* Replacement is atomic: a reader sees one whole version or the other. */
#define BIG (256 * 1024)
static atomic_bool stop_readers;

static void *
reader (void *arg)
{
  struct objstore *s = arg;
  long bad = 0;

  while (!stop_readers) {
    void *data;
    size_t len, i;
    const unsigned char *p;

    if (objstore_get (s, "atomic", &data, &len) == -1) {
      bad++;
      continue;
    }
    p = data;
    if (len != BIG)
      bad++;
    else
      for (i = 1; i < len; i++)
        if (p[i] != p[0]) {
          bad++;
          break;
        }
    free (data);
  }
  return (void *) bad;
}

/* Puts and deletes in the same directory at once: the removal of empty
 * directories must not make puts fail.
 */
struct churn_arg {
  struct objstore *s;
  long id;
};

static void *
churner (void *arg)
{
  struct objstore *s = ((struct churn_arg *) arg)->s;
  long id = ((struct churn_arg *) arg)->id;
  long bad = 0;
  char key[64];
  int i;

  for (i = 0; i < 150; i++) {
    snprintf (key, sizeof key, "churn/dir/sub/%ld-%d", id, i);
    if (put_str (s, key, "v") == -1 || objstore_delete (s, key) == -1)
      bad++;
  }
  return (void *) bad;
}

static void
test_concurrency (struct objstore *s)
{
  pthread_t readers[2], churners[3];
  struct churn_arg args[3];
  char *big = malloc (BIG);
  void *ret;
  long bad = 0;
  int i;

  memset (big, 'A', BIG);
  CHECK (objstore_put (s, "atomic", big, BIG) == 0);
  stop_readers = false;
  for (i = 0; i < 2; i++)
    CHECK (pthread_create (&readers[i], NULL, reader, s) == 0);
  for (i = 0; i < 40; i++) {
    memset (big, i % 2 ? 'A' : 'B', BIG);
    CHECK (objstore_put (s, "atomic", big, BIG) == 0);
  }
  stop_readers = true;
  for (i = 0; i < 2; i++) {
    CHECK (pthread_join (readers[i], &ret) == 0);
    bad += (long) ret;
  }
  CHECK (bad == 0);
  CHECK (objstore_delete (s, "atomic") == 0);
  free (big);

  for (i = 0; i < 3; i++) {
    args[i].s = s;
    args[i].id = i;
    CHECK (pthread_create (&churners[i], NULL, churner, &args[i]) == 0);
  }
  bad = 0;
  for (i = 0; i < 3; i++) {
    CHECK (pthread_join (churners[i], &ret) == 0);
    bad += (long) ret;
  }
  CHECK (bad == 0);
  CHECK (count_dir_entries (root) == 0);
}

static void
test_fault_and_retry (void)
{
  struct objstore *s;
  struct zconf conf;
  char fault_file[512], bucket[512];
  struct objstore_info info;
  void *data;
  size_t len;
  double t;
  int i, failed;

  snprintf (fault_file, sizeof fault_file, "%s/faults", tmpdir);
  snprintf (bucket, sizeof bucket, "file://%s", root);
  memset (&conf, 0, sizeof conf);
  conf.bucket = bucket;
  conf.fault_file = fault_file;

  /* Three transient failures, retried. */
  write_file (fault_file, "# three failures\n\nfail put EAGAIN 3\n");
  conf.retry_time = 10;
  s = objstore_open (&conf);
  CHECK (s != NULL);
  if (s == NULL)
    return;
  t = now_s ();
  CHECK (put_str (s, "f/1", "one") == 0);
  CHECK (now_s () - t < 5);
  CHECK (get_equals (s, "f/1", "one"));
  objstore_close (s);

  /* The same without retries. */
  write_file (fault_file, "fail put EAGAIN 3\n");
  conf.retry_time = 0;
  s = objstore_open (&conf);
  CHECK (s != NULL);
  if (s == NULL)
    return;
  unit_clear_errors ();
  CHECK (put_str (s, "f/1", "two") == -1 && errno == EAGAIN);
  CHECK (strstr (last_error, "injected fault") != NULL);
  CHECK (strstr (last_error, "f/1") != NULL);
  CHECK (put_str (s, "f/1", "two") == -1 && errno == EAGAIN);
  CHECK (put_str (s, "f/1", "two") == -1 && errno == EAGAIN);
  CHECK (put_str (s, "f/1", "two") == 0);       /* the count is used up */
  CHECK (get_equals (s, "f/1", "two"));
  objstore_close (s);

  /* A permanent error is not retried: one attempt uses up the count. */
  write_file (fault_file, "fail put EIO 1\n");
  conf.retry_time = 10;
  s = objstore_open (&conf);
  CHECK (s != NULL);
  if (s == NULL)
    return;
  t = now_s ();
  CHECK (put_str (s, "f/1", "three") == -1 && errno == EIO);
  CHECK (now_s () - t < 0.5);
  CHECK (put_str (s, "f/1", "three") == 0);
  objstore_close (s);

  /* OP:TEXT: only keys containing TEXT. */
  write_file (fault_file, "fail put:/chunks/ EIO\n");
  s = objstore_open (&conf);
  CHECK (s != NULL);
  if (s == NULL)
    return;
  CHECK (put_str (s, "d/chunks/1", "x") == -1 && errno == EIO);
  CHECK (put_str (s, "d/lease", "x") == 0);
  CHECK (objstore_delete (s, "d/lease") == 0);
  objstore_close (s);

  /* ^TEXT and TEXT$: at the key's start, at its end, both: exactly. */
  write_file (fault_file, "fail put:/lease$ EIO\nfail delete:^d/l EIO\n"
              "fail get:^d/lease$ EIO\n");
  s = objstore_open (&conf);
  CHECK (s != NULL);
  if (s == NULL)
    return;
  CHECK (put_str (s, "d/lease", "x") == -1 && errno == EIO);
  CHECK (put_str (s, "d/lease.probe", "x") == 0);
  CHECK (put_str (s, "e/lease", "x") == -1 && errno == EIO);
  CHECK (objstore_delete (s, "d/lease.probe") == -1 && errno == EIO);
  CHECK (objstore_delete (s, "e/d/lease") == 0);
  CHECK (get_equals (s, "d/lease.probe", "x"));
  CHECK (objstore_get (s, "d/lease", &data, &len) == -1 && errno == EIO);
  write_file (fault_file, "");
  usleep (150000);
  CHECK (objstore_delete (s, "d/lease.probe") == 0);
  objstore_close (s);
  write_file (fault_file, "fail put:^$ EIO\n");
  CHECK (objstore_open (&conf) == NULL);

  /* The deadline: transient failures forever, retry_time 1. */
  write_file (fault_file, "fail put EAGAIN\n");
  conf.retry_time = 1;
  s = objstore_open (&conf);
  CHECK (s != NULL);
  if (s == NULL)
    return;
  t = now_s ();
  CHECK (put_str (s, "f/1", "four") == -1 && errno == EAGAIN);
  t = now_s () - t;
  CHECK (t >= 0.95 && t < 3);
  CHECK (strstr (last_error, "gave up after") != NULL);

  /* Changing the file changes the faults (after the 100 ms check). */
  write_file (fault_file, "fail get ECONNRESET 2\nfail head EIO\n");
  usleep (150000);
  CHECK (put_str (s, "f/1", "five") == 0);
  CHECK (get_equals (s, "f/1", "five"));       /* retried twice */
  CHECK (objstore_head (s, "f/1", &info) == -1 && errno == EIO);
  objstore_close (s);

  /* Delay injection, for one kind of operation. */
  write_file (fault_file, "delay put 200ms\n");
  conf.retry_time = 0;
  s = objstore_open (&conf);
  CHECK (s != NULL);
  if (s == NULL)
    return;
  t = now_s ();
  CHECK (put_str (s, "f/1", "six") == 0);
  CHECK (now_s () - t >= 0.2);
  t = now_s ();
  CHECK (get_equals (s, "f/1", "six"));
  CHECK (now_s () - t < 0.15);

  /* Everything fails; then a random half of heads; then nothing. */
  write_file (fault_file, "fail * EIO\n");
  usleep (150000);
  CHECK (objstore_get (s, "f/1", &data, &len) == -1 && errno == EIO);
  CHECK (objstore_delete (s, "f/1") == -1 && errno == EIO);
  {
    struct listing l = { 0 };

    CHECK (objstore_list (s, "", NULL, collect, &l) == -1 && errno == EIO);
    listing_free (&l);
  }
  write_file (fault_file, "fail head EAGAIN 50%\n");
  usleep (150000);
  failed = 0;
  for (i = 0; i < 400; i++)
    if (objstore_head (s, "f/1", &info) == -1) {
      CHECK (errno == EAGAIN);
      failed++;
    }
  CHECK (failed > 120 && failed < 280);
  CHECK (unlink (fault_file) == 0);
  usleep (150000);
  CHECK (objstore_head (s, "f/1", &info) == 0);

  /* A file changed into nonsense is logged; the old rules stay. */
  write_file (fault_file, "fail get EIO\n");
  usleep (150000);
  CHECK (objstore_get (s, "f/1", &data, &len) == -1 && errno == EIO);
  write_file (fault_file, "fail get EWHAT\n");
  usleep (150000);
  unit_clear_errors ();
  CHECK (objstore_get (s, "f/1", &data, &len) == -1 && errno == EIO);
  usleep (150000);
  CHECK (objstore_get (s, "f/1", &data, &len) == -1 && errno == EIO);
  CHECK (strstr (logged_errors, "EWHAT") != NULL &&
         strstr (logged_errors, "line 1") != NULL);
  /* Reported once, not at every look at the file. */
  CHECK (strstr (logged_errors, "EWHAT") &&
         strstr (strstr (logged_errors, "EWHAT") + 1, "EWHAT") == NULL);
  write_file (fault_file, "\n");
  usleep (150000);
  CHECK (objstore_delete (s, "f/1") == 0);
  objstore_close (s);

  /* Bad control files are refused at open, naming the line. */
  {
    static const char *bad[] = {
      "fail\n", "fail put\n", "fail put EIO 0\n", "fail put EIO 101%\n",
      "fail get EIO 50% 3\n", "fail frob EIO\n", "delay\n", "delay 20\n",
      "delay put 20 ms\n", "delay 2h\n", "delay -1ms\n", "delay 4000s\n",
      "explode\n",
    };
    char content[128];

    for (i = 0; i < (int) (sizeof bad / sizeof bad[0]); i++) {
      snprintf (content, sizeof content, "# ok\n%s", bad[i]);
      write_file (fault_file, content);
      unit_clear_errors ();
      s = objstore_open (&conf);
      CHECK (s == NULL && errno == EINVAL &&
             strstr (last_error, "line 2") != NULL &&
             strstr (last_error, fault_file) != NULL,
             "fault file line \"%.*s\" not refused properly: %s",
             (int) strlen (bad[i]) - 1, bad[i], last_error);
      objstore_close (s);
    }
    CHECK (unlink (fault_file) == 0);
  }
  CHECK (count_dir_entries (root) == 0);
}

/* A listing that fails midway is restarted and delivers no key twice. */
static void
test_list_retry (void)
{
  struct counting_store *cs = calloc (1, sizeof *cs);
  struct objstore *inner, *s;
  struct listing got = { 0 }, want = { 0 };
  static const char *keys[] = {
    "r/a", "r/b", "r/c/1", "r/c/2", "r/d", "r/e", "r/f", "r/g", "r/h",
  };
  size_t i, n = sizeof keys / sizeof keys[0];

  inner = objstore_dir_open (root, false);
  CHECK (inner != NULL);
  if (inner == NULL)
    return;
  cs->base.ops = &counting_ops;
  cs->base.description = (char *) "counting";
  cs->inner = inner;
  s = objstore_retry_wrap (&cs->base, 10);
  CHECK (s != NULL);
  if (s == NULL)
    return;
  for (i = 0; i < n; i++)
    CHECK (put_str (s, keys[i], "v") == 0);

  cs->list_failures = 2;
  CHECK (objstore_list (s, "r/", NULL, collect, &got) == 0);
  reference_list (keys, n, "r/", NULL, &want);
  CHECK (listings_equal (&got, &want, "after retries"));
  listing_free (&got);
  listing_free (&want);

  cs->list_failures = 1;
  CHECK (objstore_list (s, "r/", "/", collect, &got) == 0);
  reference_list (keys, n, "r/", "/", &want);
  CHECK (listings_equal (&got, &want, "after a retry, with delimiter"));
  listing_free (&got);
  listing_free (&want);

  CHECK (objstore_delete_many (s, keys, n) == 0);
  objstore_close (s);
  free (cs);
}

/* A fence (objstore.h) that fails with ERR on its calls FROM..TO
 * (counted from 1; 0: never), and makes a request of its own, as the
 * lease's check does.
 */
struct test_fence {
  struct objstore *s;
  int calls, from, to, err;
};

static int
test_fence_check (void *opaque)
{
  struct test_fence *f = opaque;

  f->calls++;
  /* Its own request is not fenced: no recursion, not counted. */
  if (put_str (f->s, "g/checked", "c") == -1)
    return -1;
  if (f->from && f->calls >= f->from && (!f->to || f->calls <= f->to)) {
    errno = f->err;
    return -1;
  }
  return 0;
}

static void
test_fenced (void)
{
  struct objstore *s;
  struct zconf conf;
  char fault_file[512], bucket[512];
  struct test_fence f;
  struct objstore_fence fence = { test_fence_check, &f };
  const char *keys[] = { "g/1", "g/2" };
  double t;

  snprintf (fault_file, sizeof fault_file, "%s/faults", tmpdir);
  snprintf (bucket, sizeof bucket, "file://%s", root);
  memset (&conf, 0, sizeof conf);
  conf.bucket = bucket;
  conf.fault_file = fault_file;
  conf.retry_time = 10;
  write_file (fault_file, "fail put:^g/1$ EAGAIN 3\n");
  s = objstore_open (&conf);
  CHECK (s != NULL);
  if (s == NULL)
    return;

  /* Checked before each attempt: three failed ones and the fourth. */
  f = (struct test_fence) { .s = s };
  CHECK (objstore_put_fenced (s, "g/1", "one", 3, &fence) == 0);
  CHECK (f.calls == 4);
  CHECK (get_equals (s, "g/1", "one"));

  /* Lost (EIO) before the third attempt: given up at once, with EIO,
   * although the retry time is far from over.
   */
  write_file (fault_file, "fail put:^g/1$ EAGAIN\n");
  usleep (150000);
  f = (struct test_fence) { .s = s, .from = 3, .err = EIO };
  unit_clear_errors ();
  t = now_s ();
  CHECK (objstore_put_fenced (s, "g/1", "two", 3, &fence) == -1 &&
         errno == EIO);
  CHECK (now_s () - t < 2);
  CHECK (f.calls == 3);
  CHECK (strstr (logged_errors, "PUT g/1: not sent") != NULL);
  CHECK (get_equals (s, "g/1", "one"));

  /* Refused (not transient): the same. */
  f = (struct test_fence) { .s = s, .from = 1, .err = EBUSY };
  CHECK (objstore_delete_fenced (s, "g/1", &fence) == -1 && errno == EIO);
  CHECK (f.calls == 1);
  CHECK (get_equals (s, "g/1", "one"));
  CHECK (objstore_delete_many_fenced (s, keys, 2, &fence) == -1 &&
         errno == EIO);
  CHECK (get_equals (s, "g/1", "one"));

  /* A check that cannot be made (transient) is a failed attempt: the
   * request is retried, and sent once the check passes.
   */
  CHECK (unlink (fault_file) == 0);
  usleep (150000);
  f = (struct test_fence) { .s = s, .from = 1, .to = 2, .err = EAGAIN };
  CHECK (objstore_delete_many_fenced (s, keys, 2, &fence) == 0);
  CHECK (f.calls == 3);
  CHECK (objstore_head (s, "g/1", NULL) == -1 && errno == ENOENT);

  /* The fence ends with the call: a plain request is not checked. */
  f = (struct test_fence) { .s = s, .from = 1, .err = EIO };
  CHECK (put_str (s, "g/2", "x") == 0);
  CHECK (f.calls == 0);
  CHECK (objstore_delete (s, "g/2") == 0 && objstore_delete (s, "g/checked")
         == 0);
  objstore_close (s);
}

int
main (void)
{
  struct objstore *s;
  const char *t = getenv ("TMPDIR");

  unit_capture_errors ();
  unit_context = show_store_error;
  if (getenv ("VERBOSE"))
    zlog_debug_from_string ("s3,fault");
  snprintf (tmpdir, sizeof tmpdir, "%s/zerofs-objstore.XXXXXX",
            t ? t : "/tmp");
  REQUIRE (mkdtemp (tmpdir) != NULL, "mkdtemp: %m");
  snprintf (root, sizeof root, "%s/store/sub", tmpdir);

  test_open_errors ();

  /* create=true makes the directory and its parents. */
  s = objstore_dir_open (root, true);
  REQUIRE (s != NULL);
  CHECK (strcmp (s->ops->name, "dir") == 0);

  test_basic (s);
  test_copy (s);
  test_invalid_keys (s);
  test_conditional (s);
  test_delete_many (s);
  test_list (s);
  test_list_many (s);
  test_concurrency (s);
  objstore_close (s);

  test_fault_and_retry ();
  test_fenced ();
  test_list_retry ();

  if (failures == 0) {
    char store[512];

    snprintf (store, sizeof store, "%s/store", tmpdir);
    CHECK (rmdir (root) == 0 && rmdir (store) == 0 && rmdir (tmpdir) == 0,
           "cleaning up: %m");
  }
  if (failures)
    fprintf (stderr, "files left in %s\n", tmpdir);
  return unit_exit_status ("test-unit-objstore");
}
