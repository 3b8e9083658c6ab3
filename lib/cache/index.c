/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: the cache's LMDB index (see index.h).
 *
 * A thin, typed layer over LMDB so that the cache engine deals in records
 * and never in MDB_vals.  The environment is opened with MDB_NOSUBDIR
 * (one file plus its -lock file) and MDB_NOTLS (read transactions are
 * begun and ended on whichever nbdkit thread needs them).  The map is
 * reserved large (address space only: the file grows as records do):
 * 64 bytes a chunk record, so even millions of stored chunks fit.
 *
 * Besides the chunk records, a "local" database keys the records of
 * chunks that are cached or dirty: what a restart must load.  Opening a
 * cache then reads those, however many chunks the store holds (ten
 * million remote-only records cost nothing at start).
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "byteorder.h"
#include "cleanup.h"
#include "index.h"
#include "log.h"

/* The map starts at 16 GiB of address space (the file grows only as
 * records are added): about 250 million chunk records.  Not more, so
 * that the plugin still runs under valgrind, whose memcheck cannot map
 * 64 GiB.  When it is half full, a write transaction first doubles it
 * (zindex_begin).  -D zerofs.index_map_kib=N starts it at N KiB, for
 * tests of the growth.
 */
#define ZINDEX_MAP_SIZE (UINT64_C (16) << 30)
#define ZINDEX_RECORD_VERSION 1

struct zindex {
  MDB_env *env;
  /* Held shared by every transaction, exclusively to grow the map
   * (LMDB's rule: no transaction of this process may be active then).
   * glibc's default kind prefers readers, so a thread may nest a read
   * inside another without deadlocking against a pending grow.
   */
  pthread_rwlock_t txn_lock;
  MDB_dbi meta, devices, chunks;
  MDB_dbi local;               /* keys of the chunk records that are
                                  cached or dirty (see index.h) */
  char *path;
};

struct zindex_txn {
  struct zindex *ix;
  MDB_txn *txn;
};

/* On-disk form of a device record (host order). */
struct device_value {
  uint8_t version;
  uint8_t listed;
  uint8_t name_len;
  uint8_t replayed;
  uint32_t lease_mark;
  uint64_t seq_reserved;
  uint64_t generation;
  char name[64];
};

/* The sizes zerofs-format(5) documents. */
_Static_assert (sizeof (struct device_value) == 88, "device record size");
_Static_assert (sizeof (struct zindex_chunk) == 48, "chunk record size");
_Static_assert (offsetof (struct device_value, lease_mark) == 4,
                "device record layout");

/* Scoped LMDB handles (errno preserved): a cursor is closed before
 * the transaction it belongs to is aborted when both are declared
 * transaction first.
 */
DEFINE_CLEANUP_POINTER (mdb_txn_abort, MDB_txn *, mdb_txn_abort);
#define CLEANUP_MDB_TXN_ABORT CLEANUP (mdb_txn_abort)

DEFINE_CLEANUP_POINTER (mdb_cursor_close, MDB_cursor *, mdb_cursor_close);
#define CLEANUP_MDB_CURSOR_CLOSE CLEANUP (mdb_cursor_close)

DEFINE_CLEANUP_POINTER (zindex_close, struct zindex *, zindex_close);
#define CLEANUP_ZINDEX_CLOSE CLEANUP (zindex_close)

static int
mdb_fail (struct zindex *ix, const char *what, int rc)
{
  zerror ("%s: %s: %s", ix->path, what, mdb_strerror (rc));
  errno = rc == MDB_MAP_FULL ? ENOSPC : EIO;
  return -1;
}

/* Open (creating them if needed) the three databases. */
/* Is the chunk record one that open must load (cached or dirty)? */
static bool
is_local (const struct zindex_chunk *rec)
{
  return rec->slot != UINT32_MAX || (rec->flags & ZREC_DIRTY);
}

/* Caches made before the "local" database: build it from the chunk
 * records, once.
 */
static int
build_local (struct zindex *ix, MDB_txn *txn)
{
  CLEANUP_MDB_CURSOR_CLOSE MDB_cursor *cur = NULL;
  struct zindex_chunk rec;
  uint8_t one = 1;
  MDB_val k, v, mark = { .mv_size = 1, .mv_data = &one };
  MDB_val key = { .mv_size = sizeof "local-index" - 1,
                  .mv_data = (void *) "local-index" };
  int rc;

  rc = mdb_get (txn, ix->meta, &key, &v);
  if (rc == 0)
    return 0;
  if (rc != MDB_NOTFOUND)
    return mdb_fail (ix, "mdb_get", rc);
  rc = mdb_cursor_open (txn, ix->chunks, &cur);
  if (rc)
    return mdb_fail (ix, "mdb_cursor_open", rc);
  for (rc = mdb_cursor_get (cur, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get (cur, &k, &v, MDB_NEXT)) {
    if (v.mv_size != sizeof rec)
      continue;                 /* reported when it is read */
    memcpy (&rec, v.mv_data, sizeof rec);
    if (is_local (&rec) &&
        (rc = mdb_put (txn, ix->local, &k, &mark, 0)) != 0)
      return mdb_fail (ix, "mdb_put", rc);
  }
  if (rc != MDB_NOTFOUND)
    return mdb_fail (ix, "mdb_cursor_get", rc);
  rc = mdb_put (txn, ix->meta, &key, &mark, 0);
  if (rc)
    return mdb_fail (ix, "mdb_put", rc);
  return 0;
}

static int
open_databases (struct zindex *ix)
{
  CLEANUP_MDB_TXN_ABORT MDB_txn *txn = NULL;
  int rc;

  rc = mdb_txn_begin (ix->env, NULL, 0, &txn);
  if (rc)
    return mdb_fail (ix, "mdb_txn_begin", rc);
  if ((rc = mdb_dbi_open (txn, "meta", MDB_CREATE, &ix->meta)) != 0 ||
      (rc = mdb_dbi_open (txn, "devices", MDB_CREATE, &ix->devices)) != 0 ||
      (rc = mdb_dbi_open (txn, "chunks", MDB_CREATE, &ix->chunks)) != 0 ||
      (rc = mdb_dbi_open (txn, "local", MDB_CREATE, &ix->local)) != 0)
    return mdb_fail (ix, "mdb_dbi_open", rc);
  if (build_local (ix, txn) == -1)
    return -1;
  rc = mdb_txn_commit (txn);
  txn = NULL;
  if (rc)
    return mdb_fail (ix, "mdb_txn_commit", rc);
  return 0;
}

struct zindex *
zindex_open (const char *path)
{
  CLEANUP_ZINDEX_CLOSE struct zindex *ix = NULL;
  struct zindex *ret;
  uint64_t map_size = ZINDEX_MAP_SIZE;
  int rc;

  if (zerofs_debug_index_map_kib > 0)
    map_size = (uint64_t) zerofs_debug_index_map_kib << 10;

  ix = calloc (1, sizeof *ix);
  if (ix == NULL) {
    zerror ("calloc: %m");
    return NULL;
  }
  pthread_rwlock_init (&ix->txn_lock, NULL);
  ix->path = strdup (path);
  if (ix->path == NULL) {
    zerror ("strdup: %m");
    return NULL;
  }
  rc = mdb_env_create (&ix->env);
  if (rc) {
    mdb_fail (ix, "mdb_env_create", rc);
    return NULL;
  }
  if ((rc = mdb_env_set_maxdbs (ix->env, 4)) != 0 ||
      (rc = mdb_env_set_mapsize (ix->env, map_size)) != 0 ||
      (rc = mdb_env_set_maxreaders (ix->env, 1024)) != 0) {
    mdb_fail (ix, "mdb_env_set", rc);
    return NULL;
  }
  rc = mdb_env_open (ix->env, path, MDB_NOSUBDIR | MDB_NOTLS, 0600);
  if (rc) {
    mdb_fail (ix, "mdb_env_open", rc);
    return NULL;
  }
  if (open_databases (ix) == -1)
    return NULL;
  ret = ix;
  ix = NULL;
  return ret;
}

void
zindex_close (struct zindex *ix)
{
  if (ix == NULL)
    return;
  if (ix->env)
    mdb_env_close (ix->env);
  pthread_rwlock_destroy (&ix->txn_lock);
  free (ix->path);
  free (ix);
}

static void
chunk_key (uint8_t key[24], const uint8_t uuid[16], uint64_t index)
{
  memcpy (key, uuid, 16);
  put_be64 (key + 16, index);
}

static uint64_t
chunk_key_index (const uint8_t *key)
{
  return get_be64 (key + 16);
}

/* Read one value of LEN bytes; 0 found, 1 absent, -1 error. */
static int
get_value (struct zindex *ix, MDB_dbi dbi, const void *key, size_t keylen,
           void *buf, size_t len, const char *what)
{
  MDB_txn *txn;
  MDB_val k = { .mv_size = keylen, .mv_data = (void *) key }, v;
  int rc, ret;
  RDLOCK_FOR_SCOPE (&ix->txn_lock);

  rc = mdb_txn_begin (ix->env, NULL, MDB_RDONLY, &txn);
  if (rc)
    return mdb_fail (ix, "mdb_txn_begin", rc);
  rc = mdb_get (txn, dbi, &k, &v);
  if (rc == MDB_NOTFOUND)
    ret = 1;
  else if (rc)
    ret = mdb_fail (ix, "mdb_get", rc);
  else if (v.mv_size != len) {
    zerror ("%s: corrupt %s record (%zu bytes, expected %zu)",
            ix->path, what, v.mv_size, len);
    errno = EIO;
    ret = -1;
  }
  else {
    memcpy (buf, v.mv_data, len);
    ret = 0;
  }
  mdb_txn_abort (txn);
  return ret;
}

int
zindex_get_meta (struct zindex *ix, const char *key, void *buf, size_t len)
{
  return get_value (ix, ix->meta, key, strlen (key), buf, len, "meta");
}

static int
device_from_value (struct zindex *ix, const struct device_value *v,
                   const uint8_t uuid[16], struct index_device *dev)
{
  if (v->version != ZINDEX_RECORD_VERSION || v->name_len == 0 ||
      v->name_len > 64) {
    zerror ("%s: corrupt device record", ix->path);
    errno = EIO;
    return -1;
  }
  memset (dev, 0, sizeof *dev);
  memcpy (dev->uuid, uuid, 16);
  memcpy (dev->name, v->name, v->name_len);
  dev->listed = v->listed;
  dev->replayed = v->replayed;
  dev->seq_reserved = v->seq_reserved;
  dev->generation = v->generation;
  dev->lease_mark = v->lease_mark;
  return 0;
}

int
zindex_get_device (struct zindex *ix, const uint8_t uuid[16],
                   struct index_device *dev)
{
  struct device_value v;
  int r;

  r = get_value (ix, ix->devices, uuid, 16, &v, sizeof v, "device");
  if (r != 0)
    return r;
  return device_from_value (ix, &v, uuid, dev);
}

int
zindex_get_chunk (struct zindex *ix, const uint8_t uuid[16],
                  uint64_t index, struct zindex_chunk *rec)
{
  uint8_t key[24];
  int r;

  chunk_key (key, uuid, index);
  r = get_value (ix, ix->chunks, key, sizeof key, rec, sizeof *rec, "chunk");
  if (r == 0 && rec->version != ZINDEX_RECORD_VERSION) {
    zerror ("%s: chunk record of unknown version %u", ix->path, rec->version);
    errno = EIO;
    return -1;
  }
  return r;
}

int
zindex_txn_get_chunk (struct zindex_txn *t, const uint8_t uuid[16],
                      uint64_t index, struct zindex_chunk *rec)
{
  uint8_t key[24];
  MDB_val k = { .mv_size = sizeof key, .mv_data = key }, v;
  int rc;

  chunk_key (key, uuid, index);
  rc = mdb_get (t->txn, t->ix->chunks, &k, &v);
  if (rc == MDB_NOTFOUND)
    return 1;
  if (rc)
    return mdb_fail (t->ix, "mdb_get", rc);
  if (v.mv_size != sizeof *rec ||
      ((const struct zindex_chunk *) v.mv_data)->version !=
      ZINDEX_RECORD_VERSION) {
    zerror ("%s: corrupt chunk record", t->ix->path);
    errno = EIO;
    return -1;
  }
  memcpy (rec, v.mv_data, sizeof *rec);
  return 0;
}

/* Walk a database in a read transaction, from the first key >= START
 * (NULL: the first key).  FN returns 0 to go on, 1 to stop, -1 on error.
 */
static int
foreach_record (struct zindex *ix, MDB_dbi dbi,
                const void *start, size_t startlen,
                int (*fn) (struct zindex *ix, const MDB_val *k,
                           const MDB_val *v, void *opaque),
                void *opaque)
{
  RDLOCK_FOR_SCOPE (&ix->txn_lock);
  CLEANUP_MDB_TXN_ABORT MDB_txn *txn = NULL;
  CLEANUP_MDB_CURSOR_CLOSE MDB_cursor *cur = NULL;
  MDB_val k = { .mv_size = startlen, .mv_data = (void *) start }, v;
  int rc, r;

  rc = mdb_txn_begin (ix->env, NULL, MDB_RDONLY, &txn);
  if (rc)
    return mdb_fail (ix, "mdb_txn_begin", rc);
  rc = mdb_cursor_open (txn, dbi, &cur);
  if (rc)
    return mdb_fail (ix, "mdb_cursor_open", rc);
  for (rc = mdb_cursor_get (cur, &k, &v, start ? MDB_SET_RANGE : MDB_FIRST);
       rc == 0; rc = mdb_cursor_get (cur, &k, &v, MDB_NEXT)) {
    r = fn (ix, &k, &v, opaque);
    if (r == -1)
      return -1;
    if (r == 1)
      break;
  }
  if (rc != 0 && rc != MDB_NOTFOUND)
    return mdb_fail (ix, "mdb_cursor_get", rc);
  return 0;
}

struct foreach_device_ctx {
  int (*fn) (void *opaque, const struct index_device *dev);
  void *opaque;
};

static int
foreach_device_cb (struct zindex *ix, const MDB_val *k, const MDB_val *v,
                   void *opaque)
{
  struct foreach_device_ctx *ctx = opaque;
  struct index_device dev;

  if (k->mv_size != 16 || v->mv_size != sizeof (struct device_value)) {
    zerror ("%s: corrupt device record", ix->path);
    errno = EIO;
    return -1;
  }
  if (device_from_value (ix, v->mv_data, k->mv_data, &dev) == -1)
    return -1;
  return ctx->fn (ctx->opaque, &dev);
}

int
zindex_foreach_device (struct zindex *ix,
                       int (*fn) (void *opaque,
                                  const struct index_device *dev),
                       void *opaque)
{
  struct foreach_device_ctx ctx = { fn, opaque };

  return foreach_record (ix, ix->devices, NULL, 0, foreach_device_cb, &ctx);
}

int
zindex_foreach_local_chunk (struct zindex *ix,
                            int (*fn) (void *opaque, const uint8_t uuid[16],
                                       uint64_t index,
                                       const struct zindex_chunk *rec),
                            void *opaque)
{
  RDLOCK_FOR_SCOPE (&ix->txn_lock);
  CLEANUP_MDB_TXN_ABORT MDB_txn *txn = NULL;
  CLEANUP_MDB_CURSOR_CLOSE MDB_cursor *cur = NULL;
  struct zindex_chunk rec;
  MDB_val k, v, rv;
  int rc;

  rc = mdb_txn_begin (ix->env, NULL, MDB_RDONLY, &txn);
  if (rc)
    return mdb_fail (ix, "mdb_txn_begin", rc);
  rc = mdb_cursor_open (txn, ix->local, &cur);
  if (rc)
    return mdb_fail (ix, "mdb_cursor_open", rc);
  for (rc = mdb_cursor_get (cur, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get (cur, &k, &v, MDB_NEXT)) {
    if (k.mv_size != 24 ||
        (rc = mdb_get (txn, ix->chunks, &k, &rv)) != 0 ||
        rv.mv_size != sizeof rec) {
      zerror ("%s: the list of cached chunks names a missing or corrupt "
              "chunk record", ix->path);
      errno = EIO;
      return -1;
    }
    memcpy (&rec, rv.mv_data, sizeof rec);
    if (rec.version != ZINDEX_RECORD_VERSION) {
      zerror ("%s: chunk record of unknown version %u", ix->path,
              rec.version);
      errno = EIO;
      return -1;
    }
    if (fn (opaque, k.mv_data, chunk_key_index (k.mv_data), &rec) == -1)
      return -1;
  }
  if (rc != MDB_NOTFOUND)
    return mdb_fail (ix, "mdb_cursor_get", rc);
  return 0;
}

struct foreach_in_ctx {
  const uint8_t *uuid;
  uint64_t last;
  int (*fn) (void *opaque, uint64_t index, const struct zindex_chunk *rec);
  void *opaque;
};

static int
foreach_in_cb (struct zindex *ix, const MDB_val *k, const MDB_val *v,
               void *opaque)
{
  struct foreach_in_ctx *ctx = opaque;
  struct zindex_chunk rec;
  uint64_t index;

  if (k->mv_size != 24 || memcmp (k->mv_data, ctx->uuid, 16) != 0)
    return 1;                   /* past the device */
  index = chunk_key_index (k->mv_data);
  if (index > ctx->last)
    return 1;
  if (v->mv_size != sizeof rec) {
    zerror ("%s: corrupt chunk record", ix->path);
    errno = EIO;
    return -1;
  }
  memcpy (&rec, v->mv_data, sizeof rec);
  return ctx->fn (ctx->opaque, index, &rec);
}

int
zindex_foreach_chunk_in (struct zindex *ix, const uint8_t uuid[16],
                         uint64_t first, uint64_t last,
                         int (*fn) (void *opaque, uint64_t index,
                                    const struct zindex_chunk *rec),
                         void *opaque)
{
  struct foreach_in_ctx ctx = { uuid, last, fn, opaque };
  uint8_t key[24];

  chunk_key (key, uuid, first);
  return foreach_record (ix, ix->chunks, key, sizeof key, foreach_in_cb, &ctx);
}

/* Before a write transaction: double the map if it is half full, so
 * that commits do not fail with MDB_MAP_FULL as the index grows.  Write
 * transactions are serialized by the caller, so the one that grows is
 * the only writer; readers are waited for (txn_lock).
 */
static int
maybe_grow (struct zindex *ix)
{
  MDB_envinfo info;
  MDB_stat st;
  uint64_t used, size;
  int rc;

  if (mdb_env_info (ix->env, &info) != 0 || mdb_env_stat (ix->env, &st) != 0)
    return 0;
  used = (uint64_t) (info.me_last_pgno + 1) * st.ms_psize;
  if (used < info.me_mapsize / 2)
    return 0;
  size = (uint64_t) info.me_mapsize * 2;
  WRLOCK_FOR_SCOPE (&ix->txn_lock);
  rc = mdb_env_set_mapsize (ix->env, size);
  if (rc)
    return mdb_fail (ix, "mdb_env_set_mapsize", rc);
  if (zerofs_debug_cache)
    zdebug ("cache: index %s: %" PRIu64 " KiB used, map grown to %" PRIu64
            " KiB", ix->path, used >> 10, size >> 10);
  return 0;
}

/* A transaction (FLAGS: 0 or MDB_RDONLY), holding txn_lock shared
 * until it ends.
 */
static struct zindex_txn *
begin (struct zindex *ix, unsigned flags)
{
  struct zindex_txn *t;
  int rc;

  t = calloc (1, sizeof *t);
  if (t == NULL) {
    zerror ("calloc: %m");
    return NULL;
  }
  t->ix = ix;
  pthread_rwlock_rdlock (&ix->txn_lock);
  rc = mdb_txn_begin (ix->env, NULL, flags, &t->txn);
  if (rc) {
    pthread_rwlock_unlock (&ix->txn_lock);
    mdb_fail (ix, "mdb_txn_begin", rc);
    free (t);
    return NULL;
  }
  return t;
}

struct zindex_txn *
zindex_begin (struct zindex *ix)
{
  if (maybe_grow (ix) == -1)
    return NULL;
  return begin (ix, 0);
}

struct zindex_txn *
zindex_begin_read (struct zindex *ix)
{
  return begin (ix, MDB_RDONLY);
}

static int
put_value (struct zindex_txn *t, MDB_dbi dbi, const void *key, size_t keylen,
           const void *data, size_t len)
{
  MDB_val k = { .mv_size = keylen, .mv_data = (void *) key };
  MDB_val v = { .mv_size = len, .mv_data = (void *) data };
  int rc;

  rc = mdb_put (t->txn, dbi, &k, &v, 0);
  if (rc)
    return mdb_fail (t->ix, "mdb_put", rc);
  return 0;
}

static int
del_value (struct zindex_txn *t, MDB_dbi dbi, const void *key, size_t keylen)
{
  MDB_val k = { .mv_size = keylen, .mv_data = (void *) key };
  int rc;

  rc = mdb_del (t->txn, dbi, &k, NULL);
  if (rc && rc != MDB_NOTFOUND)
    return mdb_fail (t->ix, "mdb_del", rc);
  return 0;
}

int
zindex_put_meta (struct zindex_txn *t, const char *key,
                 const void *data, size_t len)
{
  return put_value (t, t->ix->meta, key, strlen (key), data, len);
}

int
zindex_put_device (struct zindex_txn *t, const struct index_device *dev)
{
  struct device_value v;
  size_t n = strlen (dev->name);

  if (n == 0 || n > 64) {
    zerror ("internal error: device name of %zu bytes", n);
    errno = EINVAL;
    return -1;
  }
  memset (&v, 0, sizeof v);
  v.version = ZINDEX_RECORD_VERSION;
  v.listed = dev->listed;
  v.replayed = dev->replayed;
  v.name_len = n;
  v.seq_reserved = dev->seq_reserved;
  v.generation = dev->generation;
  v.lease_mark = dev->lease_mark;
  memcpy (v.name, dev->name, n);
  return put_value (t, t->ix->devices, dev->uuid, 16, &v, sizeof v);
}

int
zindex_del_device (struct zindex_txn *t, const uint8_t uuid[16])
{
  return del_value (t, t->ix->devices, uuid, 16);
}

int
zindex_put_chunk (struct zindex_txn *t, const uint8_t uuid[16],
                  uint64_t index, const struct zindex_chunk *rec)
{
  uint8_t key[24];
  struct zindex_chunk v = *rec;

  uint8_t one = 1;

  v.version = ZINDEX_RECORD_VERSION;
  chunk_key (key, uuid, index);
  if (put_value (t, t->ix->chunks, key, sizeof key, &v, sizeof v) == -1)
    return -1;
  return is_local (&v)
    ? put_value (t, t->ix->local, key, sizeof key, &one, 1)
    : del_value (t, t->ix->local, key, sizeof key);
}

int
zindex_del_chunk (struct zindex_txn *t, const uint8_t uuid[16],
                  uint64_t index)
{
  uint8_t key[24];

  chunk_key (key, uuid, index);
  if (del_value (t, t->ix->chunks, key, sizeof key) == -1)
    return -1;
  return del_value (t, t->ix->local, key, sizeof key);
}

/* Delete the keys of device UUID from DBI. */
static int
del_device_keys (struct zindex_txn *t, MDB_dbi dbi, const uint8_t uuid[16])
{
  CLEANUP_MDB_CURSOR_CLOSE MDB_cursor *cur = NULL;
  uint8_t first[24];
  MDB_val k, v;
  int rc;

  chunk_key (first, uuid, 0);
  rc = mdb_cursor_open (t->txn, dbi, &cur);
  if (rc)
    return mdb_fail (t->ix, "mdb_cursor_open", rc);
  k.mv_size = sizeof first;
  k.mv_data = first;
  for (rc = mdb_cursor_get (cur, &k, &v, MDB_SET_RANGE);
       rc == 0 && k.mv_size == 24 && memcmp (k.mv_data, uuid, 16) == 0;
       rc = mdb_cursor_get (cur, &k, &v, MDB_NEXT)) {
    rc = mdb_cursor_del (cur, 0);
    if (rc)
      return mdb_fail (t->ix, "mdb_cursor_del", rc);
  }
  if (rc != 0 && rc != MDB_NOTFOUND)
    return mdb_fail (t->ix, "mdb_cursor_get", rc);
  return 0;
}

int
zindex_del_device_chunks (struct zindex_txn *t, const uint8_t uuid[16])
{
  if (del_device_keys (t, t->ix->chunks, uuid) == -1)
    return -1;
  return del_device_keys (t, t->ix->local, uuid);
}

int
zindex_commit (struct zindex_txn *t)
{
  int rc = mdb_txn_commit (t->txn);
  struct zindex *ix = t->ix;

  pthread_rwlock_unlock (&ix->txn_lock);
  free (t);
  if (rc)
    return mdb_fail (ix, "mdb_txn_commit", rc);
  return 0;
}

void
zindex_abort (struct zindex_txn *t)
{
  if (t == NULL)
    return;
  mdb_txn_abort (t->txn);
  pthread_rwlock_unlock (&t->ix->txn_lock);
  free (t);
}
