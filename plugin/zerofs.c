/* SPDX-License-Identifier: BSD-3-Clause
 *
 * nbdkit-zerofs-plugin: S3-backed block devices.
 *
 * A thin map of nbdkit's callbacks onto lib/: parameters go into a
 * struct zconf (one table of options shared with zerofs-dev and the
 * libconfig file), NBD requests onto lib/device.h.  The order of
 * start-up follows nbdkit's rules: everything that can fail because of
 * what the user typed (bucket, credentials, password, cache-dir lock) is
 * checked in .get_ready so that the error reaches the terminal; LMDB and
 * threads start in .after_fork because they must not cross a fork.
 *
 * What the plugin promises (parameters, NBD semantics, crash behaviour)
 * is documented in nbdkit-zerofs-plugin(1), plugin/nbdkit-zerofs-plugin.pod;
 * the objects it stores in zerofs-format(5), man/zerofs-format.pod; the
 * cache's chunk states and crash rules at the top of lib/cache/cache.c.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "cleanup.h"
#include "vector.h"

#include "chunk.h"
#include "conf.h"
#include "device.h"
#include "log.h"
#include "service.h"
#include "stats.h"
#include "volume.h"

/* nbdkit refuses reads and writes larger than this (its server's
 * MAX_REQUEST_SIZE, not exported to plugins).
 */
#define MAX_REQUEST_BYTES (64 * 1024 * 1024)

/* Parameters in the order given; applied after the config file is
 * loaded (config=, else zconf_default_file ()), so that parameters
 * override the file.
 */
struct param {
  char *key, *value;                /* VALUE may be a secret: wiped */
};
DEFINE_VECTOR_TYPE (param_vector, struct param);
static param_vector params = EMPTY_VECTOR;
static char *config_file;

static struct zconf conf;
static bool conf_ready;
static struct zservice *svc;
static struct zstats *stats;       /* stats-file=, -D zerofs.stats=1 */

static void
zerofs_load (void)
{
  zlog_set_handlers (nbdkit_verror, nbdkit_vdebug);
  zconf_init (&conf);
}

static void
zerofs_unload (void)
{
  size_t i;

  for (i = 0; i < params.len; i++) {
    free (params.items[i].key);
    explicit_bzero (params.items[i].value, strlen (params.items[i].value));
    free (params.items[i].value);
  }
  param_vector_reset (&params);
  free (config_file);
  zconf_free (&conf);
}

/* The password has been read by nbdkit_read_password already: it must
 * not be interpreted again (a password may begin with '+' or '-').
 */
static int
apply_param (const struct param *p)
{
  if (strcmp (p->key, "password") == 0)
    return zconf_set_password (&conf, p->value);
  return zconf_set (&conf, p->key, p->value);
}

static int
zerofs_config (const char *key, const char *value)
{
  CLEANUP_WIPE_STRING char *secret = NULL;
  CLEANUP_FREE char *pkey = NULL;
  CLEANUP_WIPE_STRING char *pvalue = NULL;
  struct param p;

  if (strcmp (key, "config") == 0) {
    free (config_file);
    config_file = realpath (value, NULL);
    if (config_file == NULL) {
      nbdkit_error ("config=%s: %m", value);
      return -1;
    }
    return 0;
  }
  if (strcmp (key, "password") == 0 || strcmp (key, "secret-key") == 0 ||
      strcmp (key, "session-token") == 0) {
    /* nbdkit's forms: -, -FD, +FILE or the secret itself. */
    if (nbdkit_read_password (value, &secret) == -1) {
      /* nbdkit (1.32) may leave getline's buffer there, not terminated
       * (a directory given as +FILE, a read error): wipe all of it, not
       * up to a NUL that may not be there.
       */
      if (secret)
        explicit_bzero (secret, malloc_usable_size (secret));
      free (secret);
      secret = NULL;
      return -1;
    }
    value = secret;
  }
  else if (!zconf_is_option (key)) {
    nbdkit_error ("unknown parameter '%s' (see nbdkit zerofs --help)", key);
    return -1;
  }
  /* Room first, so that the append below cannot fail. */
  if (param_vector_reserve (&params, 1) == -1) {
    nbdkit_error ("realloc: %m");
    return -1;
  }
  pkey = strdup (key);
  pvalue = strdup (value);
  if (pkey == NULL || pvalue == NULL) {
    nbdkit_error ("strdup: %m");
    return -1;
  }
  p.key = pkey;
  p.value = pvalue;
  /* Check the value now so that the error names the parameter early
   * (this also makes paths absolute while the cwd is still the user's).
   */
  if (apply_param (&p) == -1)
    return -1;
  param_vector_append (&params, p);
  pkey = pvalue = NULL;
  return 0;
}

static int
zerofs_config_complete (void)
{
  const char *file = config_file;
  size_t i;

  /* No config=: $ZEROFS_CONFIG, or /etc/zerofs/zerofs.conf if it exists. */
  if (file == NULL)
    file = zconf_default_file ();
  if (file) {
    /* The file first, then the parameters again over it. */
    zconf_free (&conf);
    zconf_init (&conf);
    if (zconf_load_file (&conf, file) == -1)
      return -1;
    for (i = 0; i < params.len; i++)
      if (apply_param (&params.items[i]) == -1)
        return -1;
  }
  if (zconf_finish (&conf, true) == -1)
    return -1;
  /* A default export that can never be served is a startup error, not a
   * failure when the first client connects.
   */
  if (conf.export_name && device_name_check (conf.export_name) == -1)
    return -1;
  conf_ready = true;
  return 0;
}

static int
zerofs_get_ready (void)
{
  if (conf.stats_file && zstats_check_file (conf.stats_file) == -1)
    return -1;
  svc = zservice_open (&conf);
  return svc ? 0 : -1;
}

static int
zerofs_after_fork (void)
{
  if (zservice_start (svc) == -1)
    return -1;
  if (conf.stats_file || zerofs_debug_stats) {
    stats = zstats_start (svc, &conf);
    if (stats == NULL)
      return -1;
  }
  return 0;
}

static void
zerofs_cleanup (void)
{
  /* The last report, before the devices go away. */
  zstats_stop (stats);
  stats = NULL;
  zservice_close (svc);
  svc = NULL;
}

static int
add_export (void *opaque, const char *name)
{
  return nbdkit_add_export (opaque, name, NULL);
}

static int
zerofs_list_exports (int readonly, int is_tls, struct nbdkit_exports *exports)
{
  return zservice_list_devices (svc, add_export, exports);
}

static const char *
zerofs_default_export (int readonly, int is_tls)
{
  return conf.export_name ? conf.export_name : "";
}

static void *
zerofs_open (int readonly)
{
  const char *name = nbdkit_export_name ();

  if (name == NULL || name[0] == '\0')
    name = conf.export_name;
  if (name == NULL || name[0] == '\0') {
    nbdkit_error ("no export name: connect with the name of a device, or "
                  "start the server with export=NAME (nbdinfo --list shows "
                  "the devices)");
    errno = ENOENT;
    return NULL;
  }
  return zservice_open_device (svc, name, readonly);
}

static const char *
zerofs_export_description (void *handle)
{
  struct device *dev = handle;

  return nbdkit_printf_intern ("zerofs device %s, %" PRIu64 " bytes",
                               dev->meta.name, dev->meta.size);
}

static int64_t
zerofs_get_size (void *handle)
{
  return device_size (handle);
}

static int
zerofs_block_size (void *handle,
                   uint32_t *minimum, uint32_t *preferred, uint32_t *maximum)
{
  /* Device sizes are multiples of 4 KiB and the cache keeps 4 KiB
   * sectors (zerofs-format(5)), so 4 KiB would be the natural minimum.
   * We advertise 1 byte instead, as nbdkit-zerofs-plugin(1) documents
   * ("Block sizes"): every request size and alignment is served
   * correctly (unaligned edges are read-modify-written per 4 KiB sector),
   * and clients that honour a larger minimum without splitting requests
   * themselves (nbdfuse 1.14 passes FUSE's byte ranges straight to
   * libnbd, which then refuses them) would otherwise break.  Aligned
   * 4 KiB I/O is still the fast path, and 1 MiB (a whole chunk) is
   * preferred.  The maximum is what nbdkit itself accepts for a read or
   * a write (64 MiB): a client that honours a larger advertisement would
   * be refused.
   */
  *minimum = 1;
  *preferred = ZCHUNK_SIZE;
  *maximum = MAX_REQUEST_BYTES;
  return 0;
}

static int
zerofs_can_multi_conn (void *handle)
{
  /* Every connection to a device shares one cache and one flush path. */
  return 1;
}

static int
zerofs_can_fua (void *handle)
{
  return NBDKIT_FUA_NATIVE;
}

static int
zerofs_can_cache (void *handle)
{
  return NBDKIT_CACHE_NATIVE;
}

static int
zerofs_can_yes (void *handle)
{
  return 1;
}

static int
zerofs_pread (void *handle, void *buf, uint32_t count, uint64_t offset,
              uint32_t flags)
{
  return device_pread (handle, buf, count, offset);
}

static int
zerofs_pwrite (void *handle, const void *buf, uint32_t count,
               uint64_t offset, uint32_t flags)
{
  return device_pwrite (handle, buf, count, offset,
                      (flags & NBDKIT_FLAG_FUA) != 0);
}

static int
zerofs_flush (void *handle, uint32_t flags)
{
  return device_flush (handle);
}

static int
zerofs_trim (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  return device_trim (handle, count, offset, (flags & NBDKIT_FLAG_FUA) != 0);
}

static int
zerofs_zero (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  if ((flags & NBDKIT_FLAG_FAST_ZERO) &&
      device_can_zero_fast (handle, count, offset) == -1)
    return -1;
  return device_zero (handle, count, offset, (flags & NBDKIT_FLAG_FUA) != 0);
}

static int
add_extent (void *opaque, uint64_t offset, uint64_t length, bool hole)
{
  return nbdkit_add_extent (opaque, offset, length,
                            hole ? NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO : 0);
}

static int
zerofs_extents (void *handle, uint32_t count, uint64_t offset,
                uint32_t flags, struct nbdkit_extents *extents)
{
  return device_extents (handle, count, offset, add_extent, extents);
}

static int
zerofs_cache (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  return device_prefetch (handle, count, offset);
}

static void
zerofs_dump_plugin (void)
{
  printf ("zerofs_version=%s\n", PACKAGE_VERSION);
  printf ("zerofs_chunk_size=%" PRIu32 "\n", ZCHUNK_SIZE);
  printf ("zerofs_object_stores=file,s3\n");
  printf ("zerofs_compression=none,zstd\n");
  printf ("zerofs_encryption=aes-256-gcm\n");
  printf ("zerofs_durability=remote,local\n");
}

static struct nbdkit_plugin plugin = {
  .name               = "zerofs",
  .longname           = "zerofs: S3-backed block devices",
  .version            = PACKAGE_VERSION,
  .load               = zerofs_load,
  .unload             = zerofs_unload,
  .config             = zerofs_config,
  .config_complete    = zerofs_config_complete,
  .config_help        = "bucket=file:///DIR|NAME[/PREFIX] (required) the volume",
  .magic_config_key   = "bucket",
  .get_ready          = zerofs_get_ready,
  .after_fork         = zerofs_after_fork,
  .cleanup            = zerofs_cleanup,
  .dump_plugin        = zerofs_dump_plugin,
  .list_exports       = zerofs_list_exports,
  .default_export     = zerofs_default_export,
  .open               = zerofs_open,
  .export_description = zerofs_export_description,
  .get_size           = zerofs_get_size,
  .block_size         = zerofs_block_size,
  .can_write          = zerofs_can_yes,
  .can_flush          = zerofs_can_yes,
  .can_trim           = zerofs_can_yes,
  .can_zero           = zerofs_can_yes,
  .can_fast_zero      = zerofs_can_yes,
  .can_extents        = zerofs_can_yes,
  .can_multi_conn     = zerofs_can_multi_conn,
  .can_fua            = zerofs_can_fua,
  .can_cache          = zerofs_can_cache,
  .pread              = zerofs_pread,
  .pwrite             = zerofs_pwrite,
  .flush              = zerofs_flush,
  .trim               = zerofs_trim,
  .zero               = zerofs_zero,
  .extents            = zerofs_extents,
  .cache              = zerofs_cache,
  .errno_is_preserved = 1,
};

/* --help lists every option of the table (lib/conf.c), built once when
 * the plugin is loaded so that the table stays the only list.
 */
static char *help_text;

static void __attribute__ ((constructor))
build_help (void)
{
  const struct zopt *opts;
  size_t n, i;
  FILE *fp;
  size_t len = 0;

  opts = zconf_options (&n);
  fp = open_memstream (&help_text, &len);
  if (fp == NULL)
    return;
  fprintf (fp, "config=FILE                      libconfig file with the "
           "same keys (parameters override it; default $ZEROFS_CONFIG, "
           "else " ZCONF_SYSTEM_FILE " if it exists).");
  for (i = 0; i < n; i++) {
    int keylen = strlen (opts[i].key);
    fprintf (fp, "\n%s=%-*s %s", opts[i].key, keylen < 31 ? 31 - keylen : 1,
             opts[i].metavar ? opts[i].metavar : "", opts[i].help);
  }
  if (fclose (fp) == 0)
    plugin.config_help = help_text;
}

static void __attribute__ ((destructor))
free_help (void)
{
  free (help_text);
}

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

NBDKIT_REGISTER_PLUGIN (plugin)
