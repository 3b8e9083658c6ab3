/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs-dev: a device's chunk and journal objects, listed and deleted
 * in bulk (see zerofs-dev.h).
 *
 * The long commands first list what they will work on, then run the
 * requests in parallel (jobs.h): the listing gives the total for the
 * progress line and for the time left, and a plan made before the first
 * change is easier to reason about when the command is interrupted and
 * run again.  An object is held as its number and size (24 bytes), not
 * its key: a device with a million chunk objects costs 24 MB.
 *
 * Deletion goes in batches (DeleteObjects takes up to 1000 keys), cut
 * small enough that every connection gets several: 100 objects per
 * request at most, so that the progress line moves and an interruption
 * stops soon.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "log.h"

#include "jobs.h"
#include "lease.h"
#include "zerofs-dev.h"

#define DELETE_BATCH_MAX 100

struct list_ctx {
  devobj_vector *objs;
  uint64_t first_chunk;
};

static int
list_one (void *opaque, const char *key, uint64_t size, bool is_prefix)
{
  struct list_ctx *lc = opaque;
  struct devobj o = { .size = size };

  if (is_prefix)
    return 0;
  if (zkey_parse_chunk (key, &o.num) == 0) {
    o.kind = DEVOBJ_CHUNK;
    if (o.num < lc->first_chunk)
      return 0;
  }
  else if (lc->first_chunk == 0 && zkey_parse_journal (key, &o.num) == 0)
    o.kind = DEVOBJ_JOURNAL;
  else
    return 0;                       /* the meta, the lease, ... */
  if (devobj_vector_append (lc->objs, o) == -1) {
    zerror ("realloc: %m");
    return -1;
  }
  return 0;
}

int
devobj_list_journal (struct zvolume *vol, const char *name,
                     devobj_vector *objs)
{
  struct list_ctx lc = { .objs = objs, .first_chunk = 0 };
  char prefix[OBJSTORE_KEY_MAX];

  zkey_journal_prefix (prefix, name);
  return objstore_list (vol->store, prefix, NULL, list_one, &lc);
}

int
devobj_list (struct zvolume *vol, const char *name, uint64_t first_chunk,
             devobj_vector *objs)
{
  struct list_ctx lc = { .objs = objs, .first_chunk = first_chunk };
  char prefix[OBJSTORE_KEY_MAX];

  /* "chunks/" sorts before "journal/": list the journal first. */
  objs->len = 0;
  if (first_chunk == 0 && devobj_list_journal (vol, name, objs) == -1)
    return -1;
  zkey_chunks_prefix (prefix, name);
  return objstore_list (vol->store, prefix, NULL, list_one, &lc);
}

void
devobj_key (char *buf, const char *name, const struct devobj *o)
{
  if (o->kind == DEVOBJ_CHUNK)
    zkey_chunk (buf, name, o->num);
  else
    zkey_journal (buf, name, o->num);
}

struct delete_ctx {
  struct ctx *ctx;
  const char *name;
  const devobj_vector *objs;
  size_t batch;
  struct zlease *lease;
};

static int
lease_fence (void *opaque)
{
  return zlease_check (opaque);
}

static int
delete_batch (void *opaque, struct jobs *jobs, size_t i)
{
  struct delete_ctx *dc = opaque;
  size_t first = i * dc->batch, n = dc->objs->len - first, k;
  CLEANUP_FREE char *keys = NULL;
  const char *ptrs[DELETE_BATCH_MAX];

  if (n > dc->batch)
    n = dc->batch;
  keys = malloc (n * OBJSTORE_KEY_MAX);
  if (keys == NULL) {
    zerror ("malloc: %m");
    return -1;
  }
  for (k = 0; k < n; k++) {
    ptrs[k] = keys + k * OBJSTORE_KEY_MAX;
    devobj_key (keys + k * OBJSTORE_KEY_MAX, dc->name,
                &dc->objs->items[first + k]);
  }
  if (dc->lease) {
    const struct objstore_fence f = { lease_fence, dc->lease };

    if (objstore_delete_many_fenced (dc->ctx->store, ptrs, n, &f) == -1)
      return -1;
  }
  else if (objstore_delete_many (dc->ctx->store, ptrs, n) == -1)
    return -1;
  jobs_add (jobs, n, 0);
  return 0;
}

int
devobj_delete (struct ctx *ctx, const char *what, const char *name,
               const devobj_vector *objs, struct zlease *lease)
{
  struct delete_ctx dc = { .ctx = ctx, .name = name, .objs = objs,
                           .lease = lease };
  unsigned conns = ctx->conf->connections;
  struct jobs_spec spec = {
    .what = what, .connections = conns, .total_objects = objs->len,
    .run = delete_batch, .opaque = &dc,
  };
  struct jobs_result res;

  if (objs->len == 0)
    return 0;
  /* Eight batches per connection, so that they all work to the end and
   * the progress line moves.
   */
  dc.batch = objs->len / ((size_t) conns * 8);
  if (dc.batch < 1)
    dc.batch = 1;
  if (dc.batch > DELETE_BATCH_MAX)
    dc.batch = DELETE_BATCH_MAX;
  spec.n = (objs->len + dc.batch - 1) / dc.batch;
  if (jobs_run (&spec, &res) == -1) {
    if (res.interrupted)
      return devobj_interrupted (what, res.objects, objs->len);
    return -1;
  }
  return 0;
}

int
devobj_interrupted (const char *what, uint64_t done, uint64_t total)
{
  zerror ("%s: interrupted after %" PRIu64 " of %" PRIu64 " objects: run "
          "the same command again to complete it", what, done, total);
  errno = EINTR;
  return -1;
}
