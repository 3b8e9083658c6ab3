/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs-dev verify NAME: read every chunk and journal object of the
 * device and open it as a server would (zchunk_decode, zjournal_open:
 * the GCM tag, the header, the length the chunk has on the device, the
 * journal's sequence and records), in parallel.  Each bad object is
 * reported on stderr by the codec's own message, which names its key
 * and says what is wrong; a chunk object past the end of the device is
 * reported here.  The summary goes to stdout, and the exit status says
 * whether every object was good.
 *
 * An object that vanishes between the listing and its GET (a server
 * writing the device retires journal objects) is not bad: it is skipped
 * and counted.  A store failure other than that stops the verification:
 * nothing can be said about the objects it did not read.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "log.h"

#include "chunk.h"
#include "journal.h"
#include "jobs.h"
#include "zerofs-dev.h"

struct verify_ctx {
  struct ctx *ctx;
  const struct device_meta *meta;
  struct zchunk_codec codec;
  const devobj_vector *objs;
  uint64_t nchunks;
  _Atomic uint64_t vanished;
};

static int
no_record (void *opaque, const struct zjournal_record *rec)
{
  return 0;
}

static int
verify_one (void *opaque, struct jobs *jobs, size_t i)
{
  struct verify_ctx *vc = opaque;
  const struct devobj *o = &vc->objs->items[i];
  char key[OBJSTORE_KEY_MAX];
  CLEANUP_FREE void *obj = NULL;
  CLEANUP_FREE void *plain = NULL;
  size_t len;
  int r;

  devobj_key (key, vc->meta->name, o);
  if (objstore_get (vc->ctx->store, key, &obj, &len) == -1) {
    if (errno != ENOENT)
      return -1;
    vc->vanished++;
    jobs_add (jobs, 1, 0);
    return 0;
  }
  jobs_add (jobs, 1, len);

  if (o->kind == DEVOBJ_JOURNAL)
    r = zjournal_open (&vc->codec, o->num, obj, len, key, no_record, NULL);
  else if (o->num >= vc->nchunks) {
    zerror ("chunk object %s is past the end of the device (%" PRIu64
            " chunks)", key, vc->nchunks);
    r = -1;
  }
  else {
    size_t clen = chunk_len (vc->meta->size, vc->meta->chunk_size, o->num);

    plain = malloc (clen);
    if (plain == NULL) {
      zerror ("malloc: %m");
      return -1;
    }
    r = zchunk_decode (&vc->codec, o->num, obj, len, plain, clen, NULL, key);
    explicit_bzero (plain, clen);
  }
  return r == 0 ? 0 : 1;            /* bad, reported: go on */
}

int
cmd_verify (struct ctx *ctx)
{
  const char *name = ctx->cl->args[1];
  struct device_meta meta;
  CLEANUP_VECTOR (devobj_vector) devobj_vector objs = EMPTY_VECTOR;
  struct verify_ctx vc = { .ctx = ctx, .meta = &meta, .objs = &objs };
  struct jobs_spec spec = {
    .what = "verify", .connections = ctx->conf->connections,
    .run = verify_one, .opaque = &vc,
  };
  struct jobs_result res;
  uint64_t chunks = 0, journals = 0;
  size_t i;
  int r;

  if (zvolume_get_device (ctx->vol, name, &meta) == -1 ||
      zvolume_chunk_codec (ctx->vol, &meta, ctx->conf->compression,
                           ctx->conf->compression_level, &vc.codec) == -1 ||
      devobj_list (ctx->vol, name, 0, &objs) == -1)
    return -1;
  vc.nchunks = (meta.size + meta.chunk_size - 1) / meta.chunk_size;
  for (i = 0; i < objs.len; i++) {
    if (objs.items[i].kind == DEVOBJ_CHUNK)
      chunks++;
    else
      journals++;
  }

  spec.n = objs.len;
  spec.total_objects = objs.len;
  r = jobs_run (&spec, &res);
  explicit_bzero (&vc.codec, sizeof vc.codec);
  if (r == -1) {
    if (res.interrupted)
      return devobj_interrupted ("verify", res.objects, objs.len);
    return -1;
  }

  printf ("%s: %" PRIu64 " chunk objects, %" PRIu64 " journal objects: ",
          name, chunks, journals);
  if (res.bad == 0)
    printf ("all good");
  else
    printf ("%zu bad", res.bad);
  if (vc.vanished > 0)
    printf (" (%" PRIu64 " deleted by a writer while being verified)",
            (uint64_t) vc.vanished);
  printf ("\n");
  if (res.bad > 0) {
    errno = EBADMSG;
    return -1;
  }
  return 0;
}
