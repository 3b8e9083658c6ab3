/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs-dev: what its commands share.  zerofs-dev.c owns the command
 * line and the short commands; the long ones, which run their requests
 * in parallel with a progress line (jobs.h), have files of their own:
 *
 *   dev-objects.c   a device's chunk and journal objects: listing them,
 *                   deleting them in parallel (rm, resize --shrink)
 *   dev-clone.c     clone
 *   dev-verify.c    verify
 */
#ifndef ZEROFS_DEV_H
#define ZEROFS_DEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vector.h"

#include "conf.h"
#include "store/objstore.h"
#include "volume.h"

/* A conf table option from the command line, applied after --config. */
struct conf_arg {
  const char *key;
  const char *value;
};

struct cmdline {
  bool help, version;
  const char *config;
  const char *new_password_spec;
  const char *log2n_str;
  bool force, shrink, bytes, json;
  unsigned seen_flags;              /* bit (1 << enum flag_id) */
  struct conf_arg *conf_args;       /* argc entries at most */
  size_t n_conf_args;
  const char **args;                /* the command, then its arguments */
  size_t nargs;
};

/* What a command gets. */
struct ctx {
  const struct cmdline *cl;
  struct zconf *conf;               /* conf->connections: requests at once */
  struct objstore *store;
  struct zvolume *vol;              /* NULL for init */
  unsigned log2n;                   /* valid if cl->log2n_str */
  uint64_t size;                    /* SIZE argument of create, resize */
};

/* A note on stderr, "zerofs-dev: ..." (not an error). */
extern void note (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

/* The length chunk INDEX has on a device of SIZE bytes. */
static inline uint64_t
chunk_len (uint64_t size, uint64_t chunk_size, uint64_t index)
{
  uint64_t start = index * chunk_size;

  return size - start < chunk_size ? size - start : chunk_size;
}

/* dev-objects.c: a device's chunk and journal objects. */
enum devobj_kind { DEVOBJ_JOURNAL, DEVOBJ_CHUNK };  /* in copy order */
struct devobj {
  uint64_t num;                     /* chunk index or journal sequence */
  uint64_t size;                    /* bytes stored */
  enum devobj_kind kind;
};
DEFINE_VECTOR_TYPE (devobj_vector, struct devobj);

/* List them: journal objects first, then chunks, each by number.  With
 * FIRST_CHUNK > 0, only the chunks from that index (and no journal).
 */
extern int devobj_list (struct zvolume *vol, const char *name,
                        uint64_t first_chunk, devobj_vector *objs);
/* Append NAME's journal objects to OBJS, by sequence (one listing of
 * the journal prefix alone).
 */
extern int devobj_list_journal (struct zvolume *vol, const char *name,
                                devobj_vector *objs);
/* The object's key, into BUF of OBJSTORE_KEY_MAX bytes. */
extern void devobj_key (char *buf, const char *name, const struct devobj *o);
/* Delete OBJS of NAME in parallel batches; WHAT labels the progress.
 * LEASE (may be NULL): the operation's lease, confirmed before every
 * attempt of every batch (lib/lease.h, "Fencing"), so that a server
 * that took the device over meanwhile loses nothing it wrote since.
 */
struct zlease;
extern int devobj_delete (struct ctx *ctx, const char *what,
                          const char *name, const devobj_vector *objs,
                          struct zlease *lease);
/* "interrupted: ... run the same command again" (-1, EINTR) after an
 * interrupted jobs_run.
 */
extern int devobj_interrupted (const char *what, uint64_t done,
                               uint64_t total);

extern int cmd_clone (struct ctx *ctx);
extern int cmd_verify (struct ctx *ctx);

#endif /* ZEROFS_DEV_H */
