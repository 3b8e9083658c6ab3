/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs benchmarks: fill a cache's index with remote-only chunk records.
 *
 *   index-fill CACHE_DIR DEVICE N
 *
 * Adds N records of chunks that are in the store and not cached (as a
 * listing import of a device with N stored chunks would leave them) to
 * the index of CACHE_DIR, for the device named DEVICE, which the cache
 * must know already (serve it once).  restart.sh then measures what a
 * restart on such an index costs.  The server must not be running.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/index.h"
#include "log.h"

struct find_ctx {
  const char *name;
  uint8_t uuid[16];
  int found;
};

static int
find_device (void *opaque, const struct index_device *dev)
{
  struct find_ctx *ctx = opaque;

  if (strcmp (dev->name, ctx->name) == 0) {
    memcpy (ctx->uuid, dev->uuid, 16);
    ctx->found = 1;
  }
  return 0;
}

int
main (int argc, char *argv[])
{
  struct find_ctx ctx = { .found = 0 };
  struct zindex_chunk rec = {
    .flags = ZREC_REMOTE | ZREC_BASE_REMOTE,
    .slot = UINT32_MAX,
    .seq = 1,
  };
  struct zindex *ix;
  struct zindex_txn *txn;
  char path[4096];
  uint64_t n, i, batch = 100000;

  if (argc != 4) {
    fprintf (stderr, "usage: index-fill CACHE_DIR DEVICE N\n");
    return 2;
  }
  ctx.name = argv[2];
  n = strtoull (argv[3], NULL, 10);
  snprintf (path, sizeof path, "%s/index.mdb", argv[1]);
  ix = zindex_open (path);
  if (ix == NULL)
    return 1;
  if (zindex_foreach_device (ix, find_device, &ctx) == -1)
    return 1;
  if (!ctx.found) {
    fprintf (stderr, "index-fill: %s does not know device %s: serve it "
             "once first\n", path, ctx.name);
    return 1;
  }
  for (i = 0; i < n; ) {
    txn = zindex_begin (ix);
    if (txn == NULL)
      return 1;
    for (uint64_t end = i + batch < n ? i + batch : n; i < end; i++)
      if (zindex_put_chunk (txn, ctx.uuid, i, &rec) == -1)
        return 1;
    if (zindex_commit (txn) == -1)
      return 1;
  }
  zindex_close (ix);
  printf ("index-fill: %" PRIu64 " remote-only records added\n", n);
  return 0;
}
