/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: one volume being served (see service.h).
 *
 * The device registry is a short list: one struct device per device that
 * has been opened, shared by every connection to it and kept until the
 * service closes (its cache state lives as long anyway).  Each open reads
 * the device's meta again, so a device removed with zerofs-dev is refused
 * and one created while the server runs is found.  The list is guarded by
 * svc->lock, held for the whole of a lookup-or-insert.
 */
#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "vector.h"

#include "cache/cache.h"
#include "log.h"
#include "store/objstore.h"
#include "service.h"
#include "volume.h"

struct zservice {
  const struct zconf *conf;
  struct objstore *store;
  struct zvolume *vol;
  int lock_fd;
  struct zcache *cache;
  pthread_mutex_t lock;
  struct device *devices;
};

/* A service closed when the scope ends, unless handed out. */
DEFINE_CLEANUP_POINTER (zservice_close, struct zservice *, zservice_close);
#define CLEANUP_ZSERVICE_CLOSE CLEANUP (zservice_close)

struct zservice *
zservice_open (const struct zconf *conf)
{
  CLEANUP_ZSERVICE_CLOSE struct zservice *svc = NULL;
  struct zservice *ret;

  svc = calloc (1, sizeof *svc);
  if (svc == NULL) {
    zerror ("calloc: %m");
    return NULL;
  }
  svc->conf = conf;
  svc->lock_fd = -1;
  pthread_mutex_init (&svc->lock, NULL);
  svc->store = objstore_open (conf);
  if (svc->store == NULL)
    return NULL;
  svc->vol = zvolume_open (svc->store, conf->password);
  if (svc->vol == NULL)
    return NULL;
  svc->lock_fd = zcache_lock_dir (conf->cache_dir);
  if (svc->lock_fd == -1 ||
      zcache_check_dir (conf->cache_dir, conf->cache_size, svc->vol) == -1)
    return NULL;

  ret = svc;
  svc = NULL;
  return ret;
}

int
zservice_start (struct zservice *svc)
{
  if (zcache_lock_record_pid (svc->lock_fd) == -1)
    return -1;
  svc->cache = zcache_open (svc->conf, svc->vol, svc->store);
  return svc->cache ? 0 : -1;
}

void
zservice_close (struct zservice *svc)
{
  struct device *dev;

  if (svc == NULL)
    return;
  zcache_close (svc->cache);
  while ((dev = svc->devices) != NULL) {
    svc->devices = dev->next;
    free (dev);
  }
  zvolume_close (svc->vol);
  objstore_close (svc->store);
  if (svc->lock_fd >= 0)
    close (svc->lock_fd);
  pthread_mutex_destroy (&svc->lock);
  free (svc);
}

int
zservice_list_devices (struct zservice *svc,
                       int (*fn) (void *opaque, const char *name),
                       void *opaque)
{
  return zvolume_list_devices (svc->vol, fn, opaque);
}

/* The device already open under this name and uuid, if any. */
static struct device *
find_device (struct zservice *svc, const struct device_meta *meta)
{
  struct device *dev;
  LOCK_FOR_SCOPE (&svc->lock);

  for (dev = svc->devices; dev; dev = dev->next)
    if (strcmp (dev->meta.name, meta->name) == 0 &&
        memcmp (dev->meta.uuid, meta->uuid, 16) == 0)
      return dev;
  return NULL;
}

struct device *
zservice_open_device (struct zservice *svc, const char *name, bool readonly)
{
  struct device_meta meta;
  struct device *dev;
  struct cache_device *cd;

  if (device_name_check (name) == -1 ||
      zvolume_get_device (svc->vol, name, &meta) == -1)
    return NULL;

  /* Not under svc->lock: a first open may list the whole device in the
   * store, and other devices' opens must not wait for it.
   */
  dev = find_device (svc, &meta);
  if (dev)
    return zcache_device_reopen (dev->cd, readonly) == 0 ? dev : NULL;
  cd = zcache_device (svc->cache, &meta, readonly);
  if (cd == NULL)
    return NULL;
  LOCK_FOR_SCOPE (&svc->lock);
  for (dev = svc->devices; dev; dev = dev->next)
    if (dev->cd == cd)
      return dev;               /* another connection got here first
                                   (zcache_device checked this open) */
  dev = calloc (1, sizeof *dev);
  if (dev == NULL) {
    zerror ("calloc: %m");
    return NULL;
  }
  dev->meta = meta;
  /* The cache's view may be older (device resized while served). */
  dev->meta.size = cache_device_size (cd);
  dev->cd = cd;
  dev->next = svc->devices;
  svc->devices = dev;
  return dev;
}

struct objstore *
zservice_store (struct zservice *svc)
{
  return svc->store;
}

DEFINE_VECTOR_TYPE (device_vector, struct device *);

int
zservice_foreach_device (struct zservice *svc,
                         int (*fn) (void *opaque, struct device *dev),
                         void *opaque)
{
  CLEANUP_VECTOR (device_vector) device_vector v = EMPTY_VECTOR;
  struct device *dev;
  size_t i;

  /* Copied under the lock; FN runs without it. */
  pthread_mutex_lock (&svc->lock);
  for (dev = svc->devices; dev; dev = dev->next)
    if (device_vector_append (&v, dev) == -1) {
      pthread_mutex_unlock (&svc->lock);
      zerror ("realloc: %m");
      return -1;
    }
  pthread_mutex_unlock (&svc->lock);
  for (i = 0; i < v.len; i++)
    if (fn (opaque, v.items[i]) == -1)
      return -1;
  return 0;
}
