/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: statistics an operator can read (stats-file=FILE).
 *
 * What a served volume has done, per device (NBD requests, cache hits
 * and misses, dirty data, the flush journal, flush latency) and for the
 * whole volume's store (requests, bytes, failures, retries and latency
 * by kind), as text or JSON.  The counters live where the work is done
 * (lib/device.c, lib/cache/, lib/store/stats.c); this file only reads
 * them, formats them and writes the file.  The formats are documented in
 * nbdkit-zerofs-plugin(1), "STATISTICS".
 */
#ifndef ZEROFS_STATS_H
#define ZEROFS_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "conf.h"
#include "service.h"

struct zstats;

/* Does PATH name the JSON form (it ends in ".json")? */
extern bool zstats_is_json (const char *path);

/* Before the fork, so that the error reaches the terminal: can PATH be
 * written?  (PATH.tmp is created in its directory, then removed.)
 */
extern int zstats_check_file (const char *path);

/* After the fork: keep statistics of SVC.  With CONF->stats_file, write
 * it now and then every CONF->stats_interval seconds from a thread of
 * its own.  NULL on error.
 */
extern struct zstats *zstats_start (struct zservice *svc,
                                    const struct zconf *conf);

/* Stop and join the thread, write the file a last time, and with
 * -D zerofs.stats=1 log the text form.  Before the service closes.
 */
extern void zstats_stop (struct zstats *st);

/* The report of SVC now, text or JSON, UPTIME seconds after the start:
 * a malloc'd string, NULL on error (zerror).
 */
extern char *zstats_report (struct zservice *svc, bool json, uint64_t uptime);

#endif /* ZEROFS_STATS_H */
