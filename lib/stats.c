/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: statistics an operator can read (see stats.h).
 *
 * A report is a snapshot: every device opened so far, sorted by name,
 * with its NBD counters (struct device_counters, atomics read one by
 * one) and its cache's view (zcache_device_get_stats, under the cache
 * lock for a moment), then the store's counters by kind of request
 * (objstore_get_stats).  Counters are cumulative since the server
 * started, except dirty data and the journal, which are what there is
 * now.  The store is shared by every device of the volume and does not
 * attribute its requests to them, so its counters are the volume's;
 * the report says so.
 *
 * The file is replaced atomically: written to FILE.tmp and renamed over
 * FILE, so that a reader sees the old report or the new one, never half
 * of one (no fsync: after a crash a report may be lost, which only costs
 * the next one).  A failure to write is logged once, and again only
 * after a write has succeeded since.
 *
 * The writer is one thread that sleeps on a condition variable for the
 * interval, so that zstats_stop wakes it at once; it takes no lock that
 * I/O holds for long, and no work is added to the I/O paths by it.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "utils.h"
#include "vector.h"

#include "cache/cache.h"
#include "device.h"
#include "histogram.h"
#include "log.h"
#include "stats.h"
#include "store/objstore.h"

#define JSON_VERSION 1

/* The survey's state as the report names it. */
static const char *
survey_state_name (const struct zcache_device_stats *c)
{
  switch (c->survey_state) {
  case ZSURVEY_RUNNING: return "running";
  case ZSURVEY_DONE: return "done";
  case ZSURVEY_FAILED: return "failed";
  default: return "none";
  }
}

/* One device in a report. */
struct dev_snap {
  char name[ZDEVICE_NAME_MAX + 1];
  uint64_t reads, read_bytes, writes, write_bytes;
  uint64_t trims, trim_bytes, zeroes, zero_bytes, fua, errors;
  struct zhist_summary flush;
  struct zcache_device_stats cache;
};
DEFINE_VECTOR_TYPE (dev_snap_vector, struct dev_snap);

struct snapshot {
  char when[32];                /* UTC, ISO 8601 */
  uint64_t uptime;
  const char *volume;
  dev_snap_vector devices;
  struct objstore_kind_stats store[OBJSTORE_NR_KINDS];
};

static void
snapshot_free (struct snapshot *s)
{
  dev_snap_vector_reset (&s->devices);
}
DEFINE_CLEANUP_STRUCT (snapshot_free, struct snapshot, snapshot_free);
#define CLEANUP_SNAPSHOT CLEANUP (snapshot_free)

static uint64_t
load (_Atomic uint64_t *counter)
{
  return atomic_load_explicit (counter, memory_order_relaxed);
}

static int
snap_device (void *opaque, struct device *dev)
{
  dev_snap_vector *v = opaque;
  struct device_counters *k = &dev->counters;
  struct dev_snap s;

  memset (&s, 0, sizeof s);
  snprintf (s.name, sizeof s.name, "%s", dev->meta.name);
  s.reads = load (&k->reads);
  s.read_bytes = load (&k->read_bytes);
  s.writes = load (&k->writes);
  s.write_bytes = load (&k->write_bytes);
  s.trims = load (&k->trims);
  s.trim_bytes = load (&k->trim_bytes);
  s.zeroes = load (&k->zeroes);
  s.zero_bytes = load (&k->zero_bytes);
  s.fua = load (&k->fua);
  s.errors = load (&k->errors);
  zhist_summarize (&k->flush_latency, &s.flush);
  zcache_device_get_stats (dev->cd, &s.cache);
  if (dev_snap_vector_append (v, s) == -1) {
    zerror ("realloc: %m");
    return -1;
  }
  return 0;
}

static int
compare_names (const void *a, const void *b)
{
  return strcmp (((const struct dev_snap *) a)->name,
                 ((const struct dev_snap *) b)->name);
}

static int
take_snapshot (struct zservice *svc, uint64_t uptime, struct snapshot *s)
{
  struct objstore *store = zservice_store (svc);
  time_t now = time (NULL);
  struct tm tm;

  gmtime_r (&now, &tm);
  strftime (s->when, sizeof s->when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  s->uptime = uptime;
  s->volume = store->description;
  if (zservice_foreach_device (svc, snap_device, &s->devices) == -1)
    return -1;
  dev_snap_vector_sort (&s->devices, compare_names);
  objstore_get_stats (store, s->store);
  return 0;
}

/* "850 us", "12.3 ms", "4.56 s". */
static const char *
human_us (char *buf, size_t len, uint64_t us)
{
  if (us < 1000)
    snprintf (buf, len, "%" PRIu64 " us", us);
  else if (us < 1000000)
    snprintf (buf, len, "%.1f ms", us / 1000.0);
  else
    snprintf (buf, len, "%.2f s", us / 1000000.0);
  return buf;
}

static void
text_latency (FILE *fp, const struct zhist_summary *l)
{
  char a[32], b[32], c[32], d[32];

  if (l->count == 0)
    return;
  fprintf (fp, "; latency p50 %s, p90 %s, p99 %s, max %s",
           human_us (a, sizeof a, l->p50_us), human_us (b, sizeof b, l->p90_us),
           human_us (c, sizeof c, l->p99_us), human_us (d, sizeof d, l->max_us));
}

static void
format_text (FILE *fp, const struct snapshot *s)
{
  size_t i;
  unsigned k;

  fprintf (fp, "zerofs statistics at %s, up %" PRIu64 " s\n",
           s->when, s->uptime);
  fprintf (fp, "volume %s\n", s->volume);
  for (i = 0; i < s->devices.len; i++) {
    const struct dev_snap *d = &s->devices.items[i];

    fprintf (fp, "\ndevice %s\n", d->name);
    fprintf (fp, "  nbd reads:   %" PRIu64 " requests, %" PRIu64 " bytes\n",
             d->reads, d->read_bytes);
    fprintf (fp, "  nbd writes:  %" PRIu64 " requests, %" PRIu64 " bytes, "
             "%" PRIu64 " with FUA\n", d->writes, d->write_bytes, d->fua);
    fprintf (fp, "  nbd trims:   %" PRIu64 " requests, %" PRIu64 " bytes\n",
             d->trims, d->trim_bytes);
    fprintf (fp, "  nbd zeroes:  %" PRIu64 " requests, %" PRIu64 " bytes\n",
             d->zeroes, d->zero_bytes);
    fprintf (fp, "  nbd flushes: %" PRIu64 " requests", d->flush.count);
    text_latency (fp, &d->flush);
    fprintf (fp, "\n");
    fprintf (fp, "  nbd errors:  %" PRIu64 " requests\n", d->errors);
    fprintf (fp, "  cache:       %" PRIu64 " hits, %" PRIu64 " misses "
             "(chunk reads)\n", d->cache.hits, d->cache.misses);
    fprintf (fp, "  dirty:       %" PRIu64 " chunks, %" PRIu64 " bytes\n",
             d->cache.dirty_chunks, d->cache.dirty_bytes);
    fprintf (fp, "  journal:     %" PRIu64 " objects, %" PRIu64 " bytes\n",
             d->cache.journal_objects, d->cache.journal_bytes);
    if (d->cache.survey_state != ZSURVEY_NONE)
      fprintf (fp, "  survey:      %s, %" PRIu64 " of %" PRIu64 " shards "
               "listed, %" PRIu64 " chunk objects found\n",
               survey_state_name (&d->cache), d->cache.survey_shards_done,
               d->cache.survey_shards, d->cache.survey_found);
  }
  fprintf (fp, "\nstore (the whole volume: requests are not counted "
           "per device)\n");
  for (k = 0; k < OBJSTORE_NR_KINDS; k++) {
    const struct objstore_kind_stats *o = &s->store[k];
    char label[16];

    snprintf (label, sizeof label, "%s:", objstore_kind_name (k));
    fprintf (fp, "  %-8s %" PRIu64 " requests", label, o->requests);
    if (k == OBJSTORE_GET || k == OBJSTORE_PUT)
      fprintf (fp, ", %" PRIu64 " bytes", o->bytes);
    else if (k == OBJSTORE_DELETE)
      fprintf (fp, ", %" PRIu64 " objects", o->objects);
    else if (k == OBJSTORE_LIST)
      fprintf (fp, ", %" PRIu64 " keys", o->objects);
    fprintf (fp, ", %" PRIu64 " failures, %" PRIu64 " retries",
             o->failures, o->retries);
    text_latency (fp, &o->latency);
    fprintf (fp, "\n");
  }
}

/* A JSON string: quotes, backslashes and control characters escaped. */
static void
json_string (FILE *fp, const char *str)
{
  const unsigned char *p;

  fputc ('"', fp);
  for (p = (const unsigned char *) str; *p; p++) {
    if (*p == '"' || *p == '\\')
      fprintf (fp, "\\%c", *p);
    else if (*p < 0x20)
      fprintf (fp, "\\u%04x", *p);
    else
      fputc (*p, fp);
  }
  fputc ('"', fp);
}

static void
json_latency (FILE *fp, const struct zhist_summary *l)
{
  fprintf (fp, "\"latency_us\": {\"p50\": %" PRIu64 ", \"p90\": %" PRIu64
           ", \"p99\": %" PRIu64 ", \"max\": %" PRIu64 ", \"mean\": %" PRIu64
           "}", l->p50_us, l->p90_us, l->p99_us, l->max_us,
           l->count ? l->sum_us / l->count : 0);
}

static void
json_io (FILE *fp, const char *name, uint64_t requests, uint64_t bytes)
{
  fprintf (fp, "\"%s\": {\"requests\": %" PRIu64 ", \"bytes\": %" PRIu64 "}",
           name, requests, bytes);
}

static void
format_json (FILE *fp, const struct snapshot *s)
{
  size_t i;
  unsigned k;

  fprintf (fp, "{\n  \"version\": %d,\n  \"time\": \"%s\",\n"
           "  \"uptime_seconds\": %" PRIu64 ",\n  \"volume\": ",
           JSON_VERSION, s->when, s->uptime);
  json_string (fp, s->volume);
  fprintf (fp, ",\n  \"devices\": {");
  for (i = 0; i < s->devices.len; i++) {
    const struct dev_snap *d = &s->devices.items[i];

    fprintf (fp, "%s\n    ", i ? "," : "");
    json_string (fp, d->name);
    fprintf (fp, ": {\n      \"nbd\": {");
    json_io (fp, "reads", d->reads, d->read_bytes);
    fprintf (fp, ", ");
    json_io (fp, "writes", d->writes, d->write_bytes);
    fprintf (fp, ", ");
    json_io (fp, "trims", d->trims, d->trim_bytes);
    fprintf (fp, ", ");
    json_io (fp, "zeroes", d->zeroes, d->zero_bytes);
    fprintf (fp, ",\n              \"fua_writes\": %" PRIu64
             ", \"errors\": %" PRIu64 ",\n              \"flushes\": "
             "{\"requests\": %" PRIu64 ", ", d->fua, d->errors,
             d->flush.count);
    json_latency (fp, &d->flush);
    fprintf (fp, "}},\n      \"cache\": {\"hits\": %" PRIu64
             ", \"misses\": %" PRIu64 ", \"dirty_chunks\": %" PRIu64
             ", \"dirty_bytes\": %" PRIu64 "},\n"
             "      \"journal\": {\"objects\": %" PRIu64
             ", \"bytes\": %" PRIu64 "},\n"
             "      \"survey\": {\"state\": \"%s\", \"shards\": %" PRIu64
             ", \"shards_done\": %" PRIu64 ", \"found\": %" PRIu64
             "}\n    }",
             d->cache.hits, d->cache.misses, d->cache.dirty_chunks,
             d->cache.dirty_bytes, d->cache.journal_objects,
             d->cache.journal_bytes, survey_state_name (&d->cache),
             d->cache.survey_shards, d->cache.survey_shards_done,
             d->cache.survey_found);
  }
  fprintf (fp, "%s},\n  \"store\": {\n    \"scope\": \"volume\"",
           s->devices.len ? "\n  " : "");
  for (k = 0; k < OBJSTORE_NR_KINDS; k++) {
    const struct objstore_kind_stats *o = &s->store[k];

    fprintf (fp, ",\n    \"%s\": {\"requests\": %" PRIu64
             ", \"bytes\": %" PRIu64 ", \"objects\": %" PRIu64
             ", \"failures\": %" PRIu64 ", \"retries\": %" PRIu64 ",\n      ",
             objstore_kind_name (k), o->requests, o->bytes, o->objects,
             o->failures, o->retries);
    json_latency (fp, &o->latency);
    fprintf (fp, "}");
  }
  fprintf (fp, "\n  }\n}\n");
}

char *
zstats_report (struct zservice *svc, bool json, uint64_t uptime)
{
  CLEANUP_SNAPSHOT struct snapshot s = { .devices = EMPTY_VECTOR };
  char *buf = NULL;
  size_t len = 0;
  FILE *fp;

  if (take_snapshot (svc, uptime, &s) == -1)
    return NULL;
  fp = open_memstream (&buf, &len);
  if (fp == NULL) {
    zerror ("open_memstream: %m");
    return NULL;
  }
  if (json)
    format_json (fp, &s);
  else
    format_text (fp, &s);
  if (fclose (fp) == EOF) {
    zerror ("statistics: %m");
    free (buf);
    return NULL;
  }
  return buf;
}

bool
zstats_is_json (const char *path)
{
  size_t len = strlen (path);

  return len >= 5 && strcmp (path + len - 5, ".json") == 0;
}

/* Replace PATH with CONTENT (through PATH.tmp).  0 or -1 with errno set
 * and *WHAT saying which step failed.
 */
static int
replace_file (const char *path, const char *content, const char **what)
{
  CLEANUP_FREE char *tmp = format_string ("%s.tmp", path);
  size_t len = strlen (content), done = 0;
  ssize_t r;
  int fd;

  *what = "out of memory";
  if (tmp == NULL)
    return -1;
  *what = "cannot create the .tmp file";
  fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd == -1)
    return -1;
  *what = "cannot write the .tmp file";
  while (done < len) {
    r = write (fd, content + done, len - done);
    if (r == -1 && errno == EINTR)
      continue;
    if (r == -1) {
      int saved_errno = errno;

      close (fd);
      unlink (tmp);
      errno = saved_errno;
      return -1;
    }
    done += r;
  }
  if (close (fd) == -1) {
    unlink (tmp);
    return -1;
  }
  *what = "cannot rename the .tmp file over it";
  if (rename (tmp, path) == -1) {
    int saved_errno = errno;

    unlink (tmp);
    errno = saved_errno;
    return -1;
  }
  return 0;
}

int
zstats_check_file (const char *path)
{
  CLEANUP_FREE char *tmp = format_string ("%s.tmp", path);
  int fd;

  if (tmp == NULL) {
    zerror ("stats-file: out of memory");
    return -1;
  }
  fd = open (tmp, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd == -1) {
    zerror ("stats-file=%s: cannot create %s: %m", path, tmp);
    return -1;
  }
  close (fd);
  unlink (tmp);
  return 0;
}

struct zstats {
  struct zservice *svc;
  char *path;                   /* NULL: no file, only the log at exit */
  bool json;
  unsigned interval;
  uint64_t start_us;
  bool failing;                 /* the last write failed (and was logged) */
  pthread_mutex_t lock;
  pthread_cond_t cond;          /* CLOCK_MONOTONIC */
  bool stop;                    /* under lock */
  pthread_t thread;
  bool started;
};

static uint64_t
uptime (const struct zstats *st)
{
  return (zhist_now_us () - st->start_us) / 1000000;
}

/* Write the report to the file (only the writer thread, or zstats_stop
 * once the thread is gone, calls this).
 */
static void
write_report (struct zstats *st)
{
  CLEANUP_FREE char *report = NULL;
  const char *what;

  report = zstats_report (st->svc, st->json, uptime (st));
  if (report == NULL)
    return;
  if (replace_file (st->path, report, &what) == -1) {
    if (!st->failing)
      zerror ("stats-file=%s: %s: %m (reported once until a write "
              "succeeds)", st->path, what);
    st->failing = true;
    return;
  }
  st->failing = false;
}

static void *
writer (void *arg)
{
  struct zstats *st = arg;
  struct timespec until;

  pthread_mutex_lock (&st->lock);
  while (!st->stop) {
    pthread_mutex_unlock (&st->lock);
    write_report (st);
    pthread_mutex_lock (&st->lock);
    clock_gettime (CLOCK_MONOTONIC, &until);
    until.tv_sec += st->interval;
    while (!st->stop &&
           pthread_cond_timedwait (&st->cond, &st->lock, &until) != ETIMEDOUT)
      ;
  }
  pthread_mutex_unlock (&st->lock);
  return NULL;
}

struct zstats *
zstats_start (struct zservice *svc, const struct zconf *conf)
{
  struct zstats *st;
  pthread_condattr_t attr;
  int err;

  st = calloc (1, sizeof *st);
  if (st == NULL) {
    zerror ("calloc: %m");
    return NULL;
  }
  st->svc = svc;
  st->interval = conf->stats_interval ? conf->stats_interval : 5;
  st->start_us = zhist_now_us ();
  pthread_mutex_init (&st->lock, NULL);
  pthread_condattr_init (&attr);
  pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
  pthread_cond_init (&st->cond, &attr);
  pthread_condattr_destroy (&attr);
  if (conf->stats_file) {
    st->path = strdup (conf->stats_file);
    if (st->path == NULL) {
      zerror ("strdup: %m");
      zstats_stop (st);
      return NULL;
    }
    st->json = zstats_is_json (st->path);
    err = pthread_create (&st->thread, NULL, writer, st);
    if (err != 0) {
      errno = err;
      zerror ("stats-file: cannot start its thread: %m");
      zstats_stop (st);
      return NULL;
    }
    st->started = true;
  }
  return st;
}

void
zstats_stop (struct zstats *st)
{
  if (st == NULL)
    return;
  if (st->started) {
    pthread_mutex_lock (&st->lock);
    st->stop = true;
    pthread_cond_signal (&st->cond);
    pthread_mutex_unlock (&st->lock);
    pthread_join (st->thread, NULL);
    write_report (st);
  }
  if (zerofs_debug_stats) {
    CLEANUP_FREE char *report = zstats_report (st->svc, false, uptime (st));
    char *line, *save = NULL;

    if (report)
      for (line = strtok_r (report, "\n", &save); line;
           line = strtok_r (NULL, "\n", &save))
        zdebug ("stats: %s", line);
  }
  pthread_cond_destroy (&st->cond);
  pthread_mutex_destroy (&st->lock);
  free (st->path);
  free (st);
}
