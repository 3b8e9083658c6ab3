/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: unit test of the statistics' counters: the latency histogram
 * (lib/histogram.c) and the counting object store wrapper
 * (lib/store/stats.c) as objstore_open stacks it, on a directory store
 * with injected faults.
 *
 * The histogram: bucket boundaries, exact answers where the data allows
 * them (one sample, all samples equal), percentiles within the factor
 * of two a log scale promises on uniform and skewed data, never above
 * the maximum, and exact counts under concurrent recording.  The store:
 * every kind of request counted with its bytes and objects, absent
 * objects not counted as failures, injected transient failures counted
 * as failures and retries, and latency recorded.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "histogram.h"
#include "log.h"
#include "store/internal.h"

#include "unit.h"

static bool
within_factor_2 (uint64_t got, uint64_t want)
{
  return got * 2 >= want && got <= want * 2;
}

static void
test_buckets (void)
{
  CHECK (zhist_bucket (0) == 0);
  CHECK (zhist_bucket (1) == 1);
  CHECK (zhist_bucket (2) == 2);
  CHECK (zhist_bucket (3) == 2);
  CHECK (zhist_bucket (4) == 3);
  CHECK (zhist_bucket (1023) == 10);
  CHECK (zhist_bucket (1024) == 11);
  CHECK (zhist_bucket (UINT64_MAX) == ZHIST_BUCKETS - 1);
  CHECK (zhist_bucket (UINT64_C (1) << (ZHIST_BUCKETS - 2)) ==
         ZHIST_BUCKETS - 1);
  CHECK (zhist_bucket ((UINT64_C (1) << (ZHIST_BUCKETS - 2)) - 1) ==
         ZHIST_BUCKETS - 2);
}

static void
test_summaries (void)
{
  static struct zhist h;        /* zeroed, as the counters' owners are */
  struct zhist_summary s;
  uint64_t i;

  zhist_summarize (&h, &s);
  CHECK (s.count == 0 && s.sum_us == 0 && s.max_us == 0 &&
         s.p50_us == 0 && s.p90_us == 0 && s.p99_us == 0);

  /* One sample: every percentile is it. */
  zhist_record (&h, 1000);
  zhist_summarize (&h, &s);
  CHECK (s.count == 1 && s.sum_us == 1000 && s.max_us == 1000);
  CHECK (s.p50_us == 1000 && s.p90_us == 1000 && s.p99_us == 1000,
         "%" PRIu64 " %" PRIu64 " %" PRIu64, s.p50_us, s.p90_us, s.p99_us);

  /* Zeros are a bucket of their own. */
  memset (&h, 0, sizeof h);
  for (i = 0; i < 10; i++)
    zhist_record (&h, 0);
  zhist_summarize (&h, &s);
  CHECK (s.count == 10 && s.max_us == 0 && s.p99_us == 0);

  /* 1 .. 10000 us, uniform. */
  memset (&h, 0, sizeof h);
  for (i = 1; i <= 10000; i++)
    zhist_record (&h, i);
  zhist_summarize (&h, &s);
  CHECK (s.count == 10000 && s.sum_us == 50005000 && s.max_us == 10000);
  CHECK (within_factor_2 (s.p50_us, 5000), "p50 %" PRIu64, s.p50_us);
  CHECK (within_factor_2 (s.p90_us, 9000), "p90 %" PRIu64, s.p90_us);
  CHECK (within_factor_2 (s.p99_us, 9900), "p99 %" PRIu64, s.p99_us);
  CHECK (s.p50_us <= s.p90_us && s.p90_us <= s.p99_us &&
         s.p99_us <= s.max_us);

  /* Skewed: 98 fast requests, 2 slow ones.  p50 and p90 stay fast, p99
   * sees the slow ones, and nothing exceeds the maximum.
   */
  memset (&h, 0, sizeof h);
  for (i = 0; i < 98; i++)
    zhist_record (&h, 200);
  zhist_record (&h, 2000000);
  zhist_record (&h, 3000000);
  zhist_summarize (&h, &s);
  CHECK (within_factor_2 (s.p50_us, 200), "p50 %" PRIu64, s.p50_us);
  CHECK (within_factor_2 (s.p90_us, 200), "p90 %" PRIu64, s.p90_us);
  CHECK (within_factor_2 (s.p99_us, 2000000), "p99 %" PRIu64, s.p99_us);
  CHECK (s.max_us == 3000000);

  /* Beyond the last bucket's start: the maximum bounds the estimate. */
  memset (&h, 0, sizeof h);
  zhist_record (&h, UINT64_C (1) << 50);
  zhist_summarize (&h, &s);
  CHECK (s.p50_us == UINT64_C (1) << 50 && s.max_us == UINT64_C (1) << 50);

  /* Since a time. */
  memset (&h, 0, sizeof h);
  i = zhist_now_us ();
  usleep (20000);
  zhist_record_since (&h, i);
  zhist_summarize (&h, &s);
  CHECK (s.count == 1 && s.max_us >= 20000 && s.max_us < 5000000,
         "%" PRIu64, s.max_us);
}

#define THREADS 4
#define PER_THREAD 100000

static struct zhist shared;

static void *
recorder (void *arg)
{
  uint64_t base = (uintptr_t) arg, i;

  for (i = 0; i < PER_THREAD; i++)
    zhist_record (&shared, base + i % 1000);
  return NULL;
}

static void
test_concurrency (void)
{
  pthread_t t[THREADS];
  struct zhist_summary s;
  uintptr_t i;

  for (i = 0; i < THREADS; i++)
    REQUIRE (pthread_create (&t[i], NULL, recorder, (void *) (i * 1000)) == 0);
  for (i = 0; i < THREADS; i++)
    pthread_join (t[i], NULL);
  zhist_summarize (&shared, &s);
  CHECK (s.count == THREADS * PER_THREAD, "%" PRIu64, s.count);
  CHECK (s.max_us == (THREADS - 1) * 1000 + 999, "%" PRIu64, s.max_us);
}

static int
count_keys (void *opaque, const char *key, uint64_t size, bool is_prefix)
{
  (*(int *) opaque)++;
  return 0;
}

static void
test_store (const char *tmpdir)
{
  char root[512], bucket[600], fault_file[600];
  struct objstore_kind_stats st[OBJSTORE_NR_KINDS];
  struct objstore_info info;
  struct zconf conf;
  struct objstore *s;
  const char *keys[] = { "k/1", "k/2", "k/3" };
  void *data;
  size_t len;
  int n = 0;
  FILE *fp;

  snprintf (root, sizeof root, "%s/store", tmpdir);
  snprintf (bucket, sizeof bucket, "file://%s", root);
  snprintf (fault_file, sizeof fault_file, "%s/faults", tmpdir);
  s = objstore_dir_open (root, true);
  REQUIRE (s != NULL);
  objstore_close (s);

  /* Two transient failures of PUT, retried. */
  fp = fopen (fault_file, "w");
  REQUIRE (fp && fputs ("fail put EAGAIN 2\n", fp) != EOF && fclose (fp) == 0);
  memset (&conf, 0, sizeof conf);
  conf.bucket = bucket;
  conf.fault_file = fault_file;
  conf.retry_time = 10;
  s = objstore_open (&conf);
  REQUIRE (s != NULL);

  objstore_get_stats (s, st);
  CHECK (st[OBJSTORE_GET].requests == 0 && st[OBJSTORE_PUT].requests == 0);
  CHECK (strcmp (objstore_kind_name (OBJSTORE_DELETE), "DELETE") == 0);

  CHECK (objstore_put (s, "k/1", "hello", 5) == 0);       /* 3 attempts */
  CHECK (objstore_put (s, "k/2", "hi", 2) == 0);
  CHECK (objstore_put (s, "k/3", "", 0) == 0);
  CHECK (objstore_get (s, "k/1", &data, &len) == 0 && len == 5);
  free (data);
  CHECK (objstore_get_range (s, "k/1", 1, 3, &data, &len) == 0 && len == 3);
  free (data);
  CHECK (objstore_get (s, "absent", &data, &len) == -1 && errno == ENOENT);
  CHECK (objstore_head (s, "k/2", &info) == 0 && info.size == 2);
  CHECK (objstore_head (s, "absent", &info) == -1 && errno == ENOENT);
  CHECK (objstore_list (s, "k/", NULL, count_keys, &n) == 0 && n == 3);
  CHECK (objstore_delete (s, "k/3") == 0);
  CHECK (objstore_delete_many (s, keys, 2) == 0);

  objstore_get_stats (s, st);
  CHECK (st[OBJSTORE_PUT].requests == 5 && st[OBJSTORE_PUT].failures == 2 &&
         st[OBJSTORE_PUT].retries == 2 && st[OBJSTORE_PUT].bytes == 7,
         "PUT %" PRIu64 " requests, %" PRIu64 " failures, %" PRIu64
         " retries, %" PRIu64 " bytes", st[OBJSTORE_PUT].requests,
         st[OBJSTORE_PUT].failures, st[OBJSTORE_PUT].retries,
         st[OBJSTORE_PUT].bytes);
  CHECK (st[OBJSTORE_GET].requests == 3 && st[OBJSTORE_GET].failures == 0 &&
         st[OBJSTORE_GET].bytes == 8 && st[OBJSTORE_GET].retries == 0,
         "GET %" PRIu64 " requests, %" PRIu64 " failures, %" PRIu64 " bytes",
         st[OBJSTORE_GET].requests, st[OBJSTORE_GET].failures,
         st[OBJSTORE_GET].bytes);
  CHECK (st[OBJSTORE_HEAD].requests == 2 && st[OBJSTORE_HEAD].failures == 0);
  CHECK (st[OBJSTORE_LIST].requests == 1 && st[OBJSTORE_LIST].objects == 3);
  CHECK (st[OBJSTORE_DELETE].requests == 2 &&
         st[OBJSTORE_DELETE].objects == 3);
  CHECK (st[OBJSTORE_PUT].latency.count == 5 &&
         st[OBJSTORE_GET].latency.count == 3 &&
         st[OBJSTORE_PUT].latency.max_us >= st[OBJSTORE_PUT].latency.p50_us);

  /* A permanent failure is a failure, not retried. */
  fp = fopen (fault_file, "w");
  REQUIRE (fp && fputs ("fail get EIO\n", fp) != EOF && fclose (fp) == 0);
  usleep (250000);              /* the fault file is looked at every 100 ms */
  CHECK (objstore_get (s, "k/1", &data, &len) == -1 && errno == EIO);
  objstore_get_stats (s, st);
  CHECK (st[OBJSTORE_GET].requests == 4 && st[OBJSTORE_GET].failures == 1 &&
         st[OBJSTORE_GET].retries == 0);
  objstore_close (s);

  /* A store without the wrapper has no statistics, and says zeros. */
  s = objstore_dir_open (root, false);
  REQUIRE (s != NULL);
  CHECK (objstore_put (s, "k/1", "x", 1) == 0);
  objstore_get_stats (s, st);
  CHECK (st[OBJSTORE_PUT].requests == 0);
  CHECK (objstore_delete (s, "k/1") == 0);
  objstore_close (s);

  unlink (fault_file);
}

int
main (void)
{
  char tmpdir[256], cmd[300];
  const char *t = getenv ("TMPDIR");

  unit_capture_errors ();
  test_buckets ();
  test_summaries ();
  test_concurrency ();

  snprintf (tmpdir, sizeof tmpdir, "%s/zerofs-stats.XXXXXX", t ? t : "/tmp");
  REQUIRE (mkdtemp (tmpdir) != NULL, "mkdtemp: %m");
  test_store (tmpdir);
  if (failures == 0) {
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    CHECK (system (cmd) == 0);
  }
  else
    fprintf (stderr, "files left in %s\n", tmpdir);
  return unit_exit_status ("test-unit-stats");
}
