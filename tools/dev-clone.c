/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs-dev clone SRC DST: a new device DST with SRC's data, copied
 * inside the store (S3 CopyObject, a reflink or in-kernel copy in a
 * directory: objstore_copy), so that a VM image is forked without being
 * downloaded.
 *
 * Why a byte copy opens.  Chunk and journal objects are sealed under a
 * key derived from the device's key uuid, which is also in their AAD
 * (chunk.h, journal.h).  DST gets a device uuid of its own (caches know
 * devices by it: a server's cache never mixes up SRC and DST) and SRC's
 * key uuid (volume.h: meta format version 2), so SRC's objects are valid
 * objects of DST as they are.  The journal objects are copied too: they
 * hold flushed writes that no chunk object has yet, and DST's first
 * server replays them, as SRC's would.
 *
 * Order, for a clone that can be interrupted and run again:
 *
 *   1. devices/DST/clone, a marker: which device is being cloned, and
 *      the state of its meta and lease when this run began;
 *   2. DST objects that SRC does not have are deleted (left by an
 *      earlier run: SRC may have trimmed them since);
 *   3. the journal objects are copied, then the chunk objects, in
 *      parallel.  Journal first: if a server writes SRC meanwhile
 *      (--force) and retires a journal object after uploading its
 *      chunks, those chunks are copied afterwards.  An object gone
 *      before its copy (ENOENT) is skipped for the same reason;
 *   4. DST's meta, last: until then DST is not a device (list skips it,
 *      create refuses the name, rm removes what is there);
 *   5. the marker is deleted.
 *
 * Run again after an interruption, a clone resumes (copies only what
 * DST lacks) when the marker shows that SRC has not changed since: the
 * same device uuid and meta generation, and the same lease object (same
 * ETag, or none) that no live server held (one nobody can read, which
 * only --force goes past, counts as held).  Otherwise it restarts: every
 * object is copied again.  It says which on stderr.  Comparing sizes
 * alone would not do: a chunk rewritten in between may have the same
 * size.
 *
 * The marker is advisory text, not sealed: it only decides whether a
 * run may skip objects that are present, and whoever can write it can
 * write the objects themselves.
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

#define MARKER_MAX 1024

static void
zkey_clone_marker (char *buf, const char *name)
{
  snprintf (buf, OBJSTORE_KEY_MAX, "devices/%s/clone", name);
}

/* The marker's text for this run. */
static void
marker_text (const struct device_meta *src, const char *lease_state,
             char *buf, size_t size)
{
  char uuid[37];

  zuuid_format (src->uuid, uuid);
  snprintf (buf, size,
            "zerofs clone 1\n"
            "source %s\n"
            "source-uuid %s\n"
            "source-generation %" PRIu64 "\n"
            "source-lease %s\n",
            src->name, uuid, src->generation, lease_state);
}

/* The source name a marker gives, into NAME (ZDEVICE_NAME_MAX + 1). */
static bool
marker_source (const char *text, char *name)
{
  const char *p = strstr (text, "\nsource ");
  size_t len;

  if (p == NULL)
    return false;
  p += 8;
  len = strcspn (p, "\n");
  if (len == 0 || len > ZDEVICE_NAME_MAX)
    return false;
  memcpy (name, p, len);
  name[len] = '\0';
  return true;
}

static int
compare_objs (const void *a, const void *b)
{
  const struct devobj *x = a, *y = b;

  if (x->kind != y->kind)
    return x->kind < y->kind ? -1 : 1;
  return x->num < y->num ? -1 : x->num > y->num;
}

struct copy_ctx {
  struct ctx *ctx;
  const char *src, *dst;
  const devobj_vector *todo;
  _Atomic uint64_t vanished;
};

static int
copy_one (void *opaque, struct jobs *jobs, size_t i)
{
  struct copy_ctx *cc = opaque;
  const struct devobj *o = &cc->todo->items[i];
  char from[OBJSTORE_KEY_MAX], to[OBJSTORE_KEY_MAX];

  devobj_key (from, cc->src, o);
  devobj_key (to, cc->dst, o);
  if (objstore_copy (cc->ctx->store, from, to) == -1) {
    if (errno != ENOENT)
      return -1;
    cc->vanished++;                 /* retired or trimmed by a writer */
  }
  jobs_add (jobs, 1, o->size);
  return 0;
}

/* SRC's lease, read once: a live writer's is refused unless --force
 * (which also goes past one nobody can read), and STATE (at least
 * OBJSTORE_ETAG_MAX + 8 bytes) gets what the marker records of it:
 * "none", "live" (also for an unreadable one), or "etag ETAG".
 */
static int
source_lease_state (struct ctx *ctx, const char *src, char *state,
                    size_t size)
{
  struct zlease_info lease;
  char etag[OBJSTORE_ETAG_MAX], holder[512];
  int r;

  r = zlease_read (ctx->vol, src, &lease, etag);
  if (r == -1 && zlease_unreadable (errno) && ctx->cl->force) {
    zwarning ("device %s: going on with a lease object this zerofs-dev "
              "cannot read (--force)", src);
    snprintf (state, size, "live");
    return 0;
  }
  if (r == -1)
    return -1;
  if (r == 1) {
    snprintf (state, size, "none");
    return 0;
  }
  if (!zlease_is_live (&lease)) {
    snprintf (state, size, "etag %s", etag);
    return 0;
  }
  if (!ctx->cl->force) {
    zlease_describe (&lease, holder, sizeof holder);
    zerror ("device %s is in use by another server: %s; stop it first, or "
            "add --force if it is gone for good", src, holder);
    errno = EBUSY;
    return -1;
  }
  snprintf (state, size, "live");
  return 0;
}

int
cmd_clone (struct ctx *ctx)
{
  const char *src_name = ctx->cl->args[1], *dst = ctx->cl->args[2];
  struct device_meta src, meta;
  char lease_state[OBJSTORE_ETAG_MAX + 8];
  char key[OBJSTORE_KEY_MAX], marker_key[OBJSTORE_KEY_MAX];
  char text[MARKER_MAX], was[ZDEVICE_NAME_MAX + 1];
  CLEANUP_FREE char *old = NULL;
  CLEANUP_VECTOR (devobj_vector) devobj_vector src_objs = EMPTY_VECTOR;
  CLEANUP_VECTOR (devobj_vector) devobj_vector dst_objs = EMPTY_VECTOR;
  CLEANUP_VECTOR (devobj_vector) devobj_vector todo = EMPTY_VECTOR;
  CLEANUP_VECTOR (devobj_vector) devobj_vector stale = EMPTY_VECTOR;
  struct copy_ctx cc = { .ctx = ctx, .src = src_name, .dst = dst,
                         .todo = &todo };
  struct jobs_spec spec = {
    .what = "clone", .connections = ctx->conf->connections,
    .run = copy_one, .opaque = &cc,
  };
  struct jobs_result res;
  size_t oldlen, i, j;
  bool resume;

  if (device_name_check (dst) == -1 ||
      zvolume_get_device (ctx->vol, src_name, &src) == -1)
    return -1;
  if (strcmp (src_name, dst) == 0) {
    zerror ("clone: the source and the new device are both %s", dst);
    errno = EINVAL;
    return -1;
  }
  zkey_meta (key, dst);
  if (objstore_head (ctx->store, key, NULL) == 0) {
    zerror ("device %s already exists", dst);
    errno = EEXIST;
    return -1;
  }
  /* 1. The marker: what an earlier run saw, and what this one sees. */
  if (errno != ENOENT ||
      source_lease_state (ctx, src_name, lease_state,
                          sizeof lease_state) == -1)
    return -1;
  marker_text (&src, lease_state, text, sizeof text);

  zkey_clone_marker (marker_key, dst);
  resume = false;
  if (objstore_get (ctx->store, marker_key, (void **) &old, &oldlen) == 0) {
    char *nul = realloc (old, oldlen + 1);

    if (nul == NULL) {
      zerror ("realloc: %m");
      return -1;
    }
    old = nul;
    old[oldlen] = '\0';
    if (marker_source (old, was) && strcmp (was, src_name) != 0) {
      zerror ("%s is an interrupted clone of %s, not of %s: run that clone "
              "again, or remove it with zerofs-dev rm %s",
              dst, was, src_name, dst);
      errno = EEXIST;
      return -1;
    }
    resume = strcmp (old, text) == 0 && strcmp (lease_state, "live") != 0;
  }
  else if (errno != ENOENT)
    return -1;

  if (objstore_put (ctx->store, marker_key, text, strlen (text)) == -1)
    return -1;

  /* 2. The plan: both listings, sorted, merged. */
  if (devobj_list (ctx->vol, src_name, 0, &src_objs) == -1 ||
      devobj_list (ctx->vol, dst, 0, &dst_objs) == -1)
    return -1;
  devobj_vector_sort (&src_objs, compare_objs);
  devobj_vector_sort (&dst_objs, compare_objs);
  for (i = j = 0; i < src_objs.len || j < dst_objs.len; ) {
    int c = i == src_objs.len ? 1 : j == dst_objs.len ? -1
      : compare_objs (&src_objs.items[i], &dst_objs.items[j]);

    if (c > 0) {
      if (devobj_vector_append (&stale, dst_objs.items[j]) == -1)
        goto nomem;
      j++;
      continue;
    }
    if (c < 0 || !resume || src_objs.items[i].size != dst_objs.items[j].size)
      if (devobj_vector_append (&todo, src_objs.items[i]) == -1)
        goto nomem;
    if (c == 0)
      j++;
    i++;
  }
  if (old != NULL || dst_objs.len > 0) {
    if (resume)
      note ("resuming the interrupted clone of %s into %s: %zu of %zu "
            "objects to copy", src_name, dst, todo.len, src_objs.len);
    else
      note ("restarting the interrupted clone into %s: %s has changed "
            "since, or it was in use: copying all %zu objects",
            dst, src_name, src_objs.len);
  }

  /* 3. Stale objects out, then the copies. */
  if (devobj_delete (ctx, "clone", dst, &stale, NULL) == -1)
    return -1;
  spec.n = todo.len;
  spec.total_objects = todo.len;
  if (jobs_run (&spec, &res) == -1) {
    if (res.interrupted)
      return devobj_interrupted ("clone", res.objects, todo.len);
    return -1;
  }
  if (cc.vanished > 0)
    note ("%" PRIu64 " objects of %s were deleted by its writer during the "
          "clone and were not copied", (uint64_t) cc.vanished, src_name);

  /* 4. and 5. */
  if (zvolume_clone_device (ctx->vol, &src, dst, &meta) == -1 ||
      objstore_delete (ctx->store, marker_key) == -1)
    return -1;
  return 0;

 nomem:
  zerror ("realloc: %m");
  return -1;
}
