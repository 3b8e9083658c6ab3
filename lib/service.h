/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: one volume being served: its store, its keys, its cache and the
 * devices opened from it.
 *
 * The plugin holds one struct zservice.  zservice_open does everything
 * that can fail because of what the user typed (bucket, credentials,
 * password, cache-dir lock) so that nbdkit reports it before it forks;
 * zservice_start opens what must not cross a fork (LMDB, threads).
 */
#ifndef ZEROFS_SERVICE_H
#define ZEROFS_SERVICE_H

#include <stdbool.h>

#include "conf.h"
#include "device.h"

struct objstore;
struct zservice;

/* CONF must outlive the service.  Always opens the store and the volume
 * (the password is checked here), takes the cache-dir lock and checks the
 * cache there against the volume (zcache_check_dir).  NULL on error.
 */
extern struct zservice *zservice_open (const struct zconf *conf);
/* After the fork: open the cache (its LMDB index, recovery of dirty
 * chunks, the write-back thread).
 */
extern int zservice_start (struct zservice *svc);
extern void zservice_close (struct zservice *svc);

/* Every device of the volume, sorted (FN as for zvolume_list_devices). */
extern int zservice_list_devices (struct zservice *svc,
                                  int (*fn) (void *opaque, const char *name),
                                  void *opaque);

/* Open device NAME (shared by every connection to it).  An unknown name is
 * an error naming it and the volume ("no device NAME in volume DESC").
 * READONLY: for reading only (a journal left by a lost cache is not
 * replayed then: see zcache_device).
 */
extern struct device *zservice_open_device (struct zservice *svc,
                                            const char *name, bool readonly);

/* For the statistics (lib/stats.c): the volume's store, and FN called
 * for every device opened so far (each lives until the service closes),
 * with the service's lock not held.
 */
extern struct objstore *zservice_store (struct zservice *svc);
extern int zservice_foreach_device (struct zservice *svc,
                                    int (*fn) (void *opaque,
                                               struct device *dev),
                                    void *opaque);

#endif /* ZEROFS_SERVICE_H */
