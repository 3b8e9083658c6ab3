/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs bench: what the object layer (lib/store/) gets from a store.
 *
 * Opens a store exactly as the plugin does (objstore_open: the retry
 * wrapper, retry.c; the fault wrapper, fault.c, if fault-file= is
 * given; then the S3 or directory backend, s3.c or dir.c) from
 * KEY=VALUE parameters with the plugin's names, then for each in-flight
 * count J: J threads PUT COUNT objects of SIZE bytes under distinct
 * keys, then GET them back (checking every byte), and the objects are
 * deleted (-P: PUT only, no GET).  It prints requests/s, MiB/s and the
 * median and 99th percentile latency of one request, in the format of
 * bench/raw-curl-s3.sh so that bench/objstore-vs-curl.sh can put the two
 * side by side, and then the CPU time this process spent in the phase
 * (user + system) per MiB moved:
 *
 *   objstore PUT jobs=8: 200 x 1024 KiB in 2.41 s: 83.0 req/s 83.0 MiB/s \
 *     p50 9.2 ms p99 21.0 ms cpu 1.52 ms/MiB
 *
 * The threads take the next object index from one shared counter, so J
 * requests are in flight until the last J.  Each thread has its own copy
 * of the payload with the object's index in its first bytes, so every
 * object differs and a GET that returned the wrong object is caught.
 * The store's own limit on requests in flight (connections=, default
 * 32) applies on top of J: say connections=J or more to measure J.
 *
 * Usage: objstore-bench [-n COUNT] [-s SIZE_KIB] [-j "8 32"] [-p PREFIX]
 *                       [-k] [-P] bucket=... [endpoint=...] [KEY=VALUE...]
 * Credentials come from the usual places (AWS_ACCESS_KEY_ID, ...), as for
 * the plugin.  ZEROFS_DEBUG=s3 shows every request.
 *
 * Speed is only meaningful next to a reference measured in the same run
 * (bench/objstore-vs-curl.sh does that); this program is not a test.
 * Buffers, the store and the configuration are released by scope
 * (common/cleanup.h), so every failure is a plain return.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "vector.h"

#include "conf.h"
#include "log.h"
#include "store/objstore.h"

#define MAX_JOBS 1024
#define MAX_JOB_COUNTS 16

enum op { OP_PUT, OP_GET };

struct phase {
  struct objstore *store;
  enum op op;
  const char *prefix;           /* keys are PREFIX/jJOBS/INDEX */
  unsigned jobs;
  unsigned count;
  size_t size;
  const unsigned char *pattern; /* SIZE bytes: every object but its head */
  atomic_uint next;             /* the next object index to take */
  atomic_bool failed;
  uint64_t *latency_ns;         /* [COUNT] */
};

/* The configuration main parses, freed when its scope ends. */
DEFINE_CLEANUP_STRUCT (zconf, struct zconf, zconf_free);
#define CLEANUP_ZCONF CLEANUP (zconf)

static void
usage (FILE *fp)
{
  fprintf (fp,
           "usage: objstore-bench [-n COUNT] [-s SIZE_KIB] [-j \"8 32\"] "
           "[-p PREFIX] [-k] [-P]\n"
           "                      bucket=... [endpoint=...] [KEY=VALUE...]\n"
           "  -n COUNT     objects per measurement (default 200)\n"
           "  -s SIZE_KIB  object size in KiB (default 1024)\n"
           "  -j LIST      requests in flight, a list (default \"8 32\")\n"
           "  -p PREFIX    key prefix (default objstore-bench/PID)\n"
           "  -k           keep the objects (default: delete them)\n"
           "  -P           PUT only (default: PUT, then GET)\n"
           "KEY=VALUE are the plugin's parameters, for example:\n");
  zconf_print_help (fp, "  ");
}

/* CPU time this process has used, user + system, in ns. */
static uint64_t
cpu_ns (void)
{
  struct rusage ru;

  getrusage (RUSAGE_SELF, &ru);
  return ((uint64_t) ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000 +
    ((uint64_t) ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

static uint64_t
now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
make_key (char *key, size_t size, const char *prefix, unsigned jobs,
          unsigned index)
{
  snprintf (key, size, "%s/j%u/%u", prefix, jobs, index);
}

/* The head of object INDEX: its index, so that objects differ. */
static void
stamp (unsigned char *buf, size_t size, unsigned index)
{
  char head[32];
  int n;

  n = snprintf (head, sizeof head, "objstore-bench %u\n", index);
  if ((size_t) n > size)
    n = size;
  memcpy (buf, head, n);
}

static void *
worker (void *arg)
{
  struct phase *p = arg;
  CLEANUP_FREE unsigned char *payload = malloc (p->size);
  CLEANUP_FREE unsigned char *expect = malloc (p->size);
  char key[OBJSTORE_KEY_MAX + 1];
  unsigned index;
  uint64_t t0;

  if (payload == NULL || expect == NULL) {
    perror ("malloc");
    atomic_store (&p->failed, true);
    return NULL;
  }
  memcpy (payload, p->pattern, p->size);
  memcpy (expect, p->pattern, p->size);

  while (!atomic_load (&p->failed) &&
         (index = atomic_fetch_add (&p->next, 1)) < p->count) {
    make_key (key, sizeof key, p->prefix, p->jobs, index);
    t0 = now_ns ();
    if (p->op == OP_PUT) {
      stamp (payload, p->size, index);
      if (objstore_put (p->store, key, payload, p->size) == -1) {
        atomic_store (&p->failed, true);
        break;
      }
    }
    else {
      CLEANUP_FREE void *data = NULL;
      size_t len;

      if (objstore_get (p->store, key, &data, &len) == -1) {
        atomic_store (&p->failed, true);
        break;
      }
      stamp (expect, p->size, index);
      if (len != p->size || memcmp (data, expect, len) != 0) {
        fprintf (stderr, "objstore-bench: GET %s: %zu bytes, not the %zu "
                 "that were PUT\n", key, len, p->size);
        atomic_store (&p->failed, true);
        break;
      }
    }
    p->latency_ns[index] = now_ns () - t0;
  }
  return NULL;
}

static int
compare_u64 (const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

  return x < y ? -1 : x > y;
}

/* The latency at quantile Q (0..1) of the sorted array V[N]. */
static double
quantile_ms (const uint64_t *v, unsigned n, double q)
{
  unsigned i = (unsigned) (q * (n - 1) + 0.5);

  return v[i] / 1e6;
}

/* Run one phase: JOBS threads, COUNT requests.  0 or -1. */
static int
run_phase (struct phase *p)
{
  pthread_t threads[MAX_JOBS];
  unsigned i, started = 0;
  uint64_t t0, t1, c0, c1;
  double seconds, mib;
  int err;

  atomic_store (&p->next, 0);
  atomic_store (&p->failed, false);
  memset (p->latency_ns, 0, p->count * sizeof *p->latency_ns);

  t0 = now_ns ();
  c0 = cpu_ns ();
  for (i = 0; i < p->jobs; i++) {
    err = pthread_create (&threads[i], NULL, worker, p);
    if (err != 0) {
      errno = err;
      perror ("pthread_create");
      atomic_store (&p->failed, true);
      break;
    }
    started++;
  }
  for (i = 0; i < started; i++) {
    err = pthread_join (threads[i], NULL);
    if (err != 0) {
      errno = err;
      perror ("pthread_join");
      atomic_store (&p->failed, true);
    }
  }
  t1 = now_ns ();
  c1 = cpu_ns ();
  if (atomic_load (&p->failed))
    return -1;

  seconds = (t1 - t0) / 1e9;
  mib = p->count * (p->size / 1048576.0);
  qsort (p->latency_ns, p->count, sizeof *p->latency_ns, compare_u64);
  printf ("objstore %s jobs=%u: %u x %zu KiB in %.2f s: "
          "%.1f req/s %.1f MiB/s p50 %.1f ms p99 %.1f ms cpu %.2f ms/MiB\n",
          p->op == OP_PUT ? "PUT" : "GET", p->jobs, p->count,
          p->size / 1024, seconds, p->count / seconds, mib / seconds,
          quantile_ms (p->latency_ns, p->count, 0.5),
          quantile_ms (p->latency_ns, p->count, 0.99),
          (c1 - c0) / 1e6 / mib);
  fflush (stdout);
  return 0;
}

/* Delete the COUNT objects of one in-flight count. */
static int
delete_objects (struct objstore *store, const char *prefix, unsigned jobs,
                unsigned count)
{
  CLEANUP_STRING_VECTOR string_vector keys = EMPTY_VECTOR;
  unsigned i;

  if (string_vector_reserve (&keys, count) == -1) {
    perror ("calloc");
    return -1;
  }
  for (i = 0; i < count; i++) {
    char *key = malloc (OBJSTORE_KEY_MAX + 1);

    if (key == NULL) {
      perror ("malloc");
      return -1;
    }
    make_key (key, OBJSTORE_KEY_MAX + 1, prefix, jobs, i);
    string_vector_append (&keys, key);  /* cannot fail: reserved */
  }
  return objstore_delete_many (store, (const char *const *) keys.items,
                               keys.len);
}

/* Parse "8 32" or "8,32" into JOBS[]; returns how many, or -1. */
static int
parse_jobs (const char *str, unsigned *jobs)
{
  const char *p = str;
  char *end;
  unsigned long v;
  int n = 0;

  for (;;) {
    while (*p == ' ' || *p == ',')
      p++;
    if (*p == '\0')
      break;
    errno = 0;
    v = strtoul (p, &end, 10);
    if (errno != 0 || end == p || v == 0 || v > MAX_JOBS ||
        (*end != '\0' && *end != ' ' && *end != ',') || n == MAX_JOB_COUNTS) {
      fprintf (stderr, "objstore-bench: -j %s: a list of up to %d numbers "
               "from 1 to %d\n", str, MAX_JOB_COUNTS, MAX_JOBS);
      return -1;
    }
    jobs[n++] = v;
    p = end;
  }
  if (n == 0) {
    fprintf (stderr, "objstore-bench: -j %s: no number\n", str);
    return -1;
  }
  return n;
}

static int
parse_uint (const char *opt, const char *str, unsigned long max,
            unsigned long *out)
{
  char *end;
  unsigned long v;

  errno = 0;
  v = strtoul (str, &end, 10);
  if (errno != 0 || end == str || *end != '\0' || v == 0 || v > max) {
    fprintf (stderr, "objstore-bench: %s %s: a number from 1 to %lu\n",
             opt, str, max);
    return -1;
  }
  *out = v;
  return 0;
}

int
main (int argc, char *argv[])
{
  CLEANUP_ZCONF struct zconf conf;
  CLEANUP_FREE unsigned char *pattern = NULL;
  CLEANUP_FREE uint64_t *latency_ns = NULL;
  CLEANUP_OBJSTORE struct objstore *store = NULL;
  struct phase phase = { 0 };
  unsigned jobs[MAX_JOB_COUNTS];
  unsigned long count = 200, size_kib = 1024;
  int njobs, opt, i;
  char default_prefix[64];
  const char *prefix = NULL;
  const char *debug;
  bool keep = false, put_only = false;
  uint64_t x;
  size_t k;
  char *eq;

  zconf_init (&conf);
  njobs = parse_jobs ("8 32", jobs);

  while ((opt = getopt (argc, argv, "n:s:j:p:kPh")) != -1) {
    switch (opt) {
    case 'n':
      if (parse_uint ("-n", optarg, 10000000, &count) == -1)
        return EXIT_FAILURE;
      break;
    case 's':
      if (parse_uint ("-s", optarg, 1024 * 1024, &size_kib) == -1)
        return EXIT_FAILURE;
      break;
    case 'j':
      if ((njobs = parse_jobs (optarg, jobs)) == -1)
        return EXIT_FAILURE;
      break;
    case 'p':
      prefix = optarg;
      break;
    case 'k':
      keep = true;
      break;
    case 'P':
      put_only = true;
      break;
    case 'h':
      usage (stdout);
      return EXIT_SUCCESS;
    default:
      usage (stderr);
      return EXIT_FAILURE;
    }
  }

  debug = getenv ("ZEROFS_DEBUG");
  if (debug)
    zlog_debug_from_string (debug);

  for (i = optind; i < argc; i++) {
    eq = strchr (argv[i], '=');
    if (eq == NULL) {
      fprintf (stderr, "objstore-bench: %s: expected KEY=VALUE\n", argv[i]);
      return EXIT_FAILURE;
    }
    *eq = '\0';
    if (zconf_set (&conf, argv[i], eq + 1) == -1)
      return EXIT_FAILURE;
  }
  if (zconf_finish (&conf, false) == -1)
    return EXIT_FAILURE;

  if (prefix == NULL) {
    snprintf (default_prefix, sizeof default_prefix, "objstore-bench/%ld",
              (long) getpid ());
    prefix = default_prefix;
  }

  /* The payload: pseudo-random bytes (xorshift64), incompressible and
   * cheap to make.
   */
  phase.size = size_kib * 1024;
  pattern = malloc (phase.size);
  latency_ns = calloc (count, sizeof *latency_ns);
  if (pattern == NULL || latency_ns == NULL) {
    perror ("malloc");
    return EXIT_FAILURE;
  }
  x = 0x9e3779b97f4a7c15ULL ^ (uint64_t) getpid ();
  for (k = 0; k < phase.size; k++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    pattern[k] = x >> 32;
  }

  store = objstore_open (&conf);
  if (store == NULL)
    return EXIT_FAILURE;
  printf ("objstore: %s, connections=%u\n", store->description,
          conf.connections);

  phase.store = store;
  phase.prefix = prefix;
  phase.count = count;
  phase.pattern = pattern;
  phase.latency_ns = latency_ns;
  for (i = 0; i < njobs; i++) {
    phase.jobs = jobs[i];
    if (jobs[i] > conf.connections)
      printf ("objstore: note: jobs=%u but connections=%u: at most %u "
              "requests in flight\n", jobs[i], conf.connections,
              conf.connections);
    phase.op = OP_PUT;
    if (run_phase (&phase) == -1)
      return EXIT_FAILURE;
    phase.op = OP_GET;
    if (!put_only && run_phase (&phase) == -1)
      return EXIT_FAILURE;
    if (!keep && delete_objects (store, prefix, jobs[i], count) == -1)
      return EXIT_FAILURE;
  }
  return EXIT_SUCCESS;
}
