/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: what the libFuzzer targets in tests/fuzz/ share.
 *
 * Each fuzz-*.c file is one target: LLVMFuzzerTestOneInput feeds the
 * bytes to one parser of outside data in lib/ through its public entry
 * point.  This header gives them (and make-corpus.c, which writes their
 * seed inputs) the same fixtures, so that a seed written by make-corpus
 * opens under the keys a target uses:
 *
 *   fuzz_init          errors formatted into a buffer and dropped (set
 *                      FUZZ_VERBOSE=1 to see them); stdin /dev/null
 *   fuzz_unblock_fds, fuzz_restore_fds
 *                      around an input that may read a descriptor
 *                      (password=-FD): such reads fail, never wait
 *   fuzz_codec         the unit tests' chunk codec (tests/unit.h)
 *   fuzz_make_volume   a volume with fixed uuid and keys over a store
 *   struct fuzz_store  an object store in memory: a few objects, so that
 *                      volume.c reads the fuzz input as its header or a
 *                      device's meta, and make-corpus captures what
 *                      volume.c writes
 *   fuzz_seal          a sealed object (chunk or journal layout) around
 *                      any payload, as a writer with the key would make
 *                      it: what reaches the parsing behind the
 *                      authentication (decompression, journal records)
 *   fuzz_tmpdir, fuzz_write_file
 *                      files for the parsers that read files
 *   fuzz_check_conf    the limits a struct zconf must be within
 *   fuzz_text_is_safe  refuse inputs that would make a file parser read
 *                      a device (/dev/zero, a terminal) and hang
 *
 * Targets that check a property abort with fuzz_fail(), which libFuzzer
 * reports as a crash with the input that caused it.
 */
#ifndef ZEROFS_TESTS_FUZZ_H
#define ZEROFS_TESTS_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chunk.h"
#include "store/objstore.h"
#include "volume.h"

/* The volume password of the volume-header target and its seeds. */
#define FUZZ_PASSWORD "fuzz password"
/* Device names of the device-meta target and its seeds are prefixes of
 * this one (ZDEVICE_NAME_MAX characters).
 */
#define FUZZ_DEVICE_NAME \
  "dev-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV._"
/* The chunk index that chunk seeds are written for. */
#define FUZZ_CHUNK_INDEX 7

/* libFuzzer's entry points, which every target defines. */
extern int LLVMFuzzerInitialize (int *argc, char ***argv);
extern int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* Call first, from LLVMFuzzerInitialize (or main).  Besides the above,
 * it opens an empty pipe at FUZZ_PIPE_FD (its read end) and
 * FUZZ_PIPE_FD + 1, kept open, as the sanitizers' symbolizer pipes are
 * once started: seeds read it to show that no input can wait on a
 * descriptor opened after fuzz_init.
 */
#define FUZZ_PIPE_FD 20
extern void fuzz_init (void);

/* Make every open descriptor above stderr that is not a regular file or
 * a directory non-blocking, until fuzz_restore_fds puts their flags
 * back: a target that may read a descriptor the input names calls them
 * around that input (see fuzz-common.c).
 */
extern void fuzz_unblock_fds (void);
extern void fuzz_restore_fds (void);

/* The unit tests' chunk codec (tests/unit.h: fixed key and uuids, no
 * compression), set by fuzz_init: chunk and journal objects of the
 * targets and of their seeds are sealed with it.
 */
extern struct zchunk_codec fuzz_codec;

/* Print "fuzz: MESSAGE" and abort: a property the target checks is
 * broken by this input.
 */
extern void fuzz_fail (const char *fmt, ...)
  __attribute__ ((format (printf, 1, 2), noreturn));

/* An object store in memory (see above). */
#define FUZZ_STORE_OBJECTS 4
struct fuzz_store {
  struct objstore base;
  struct {
    char *key;                    /* NULL: a free slot */
    void *data;
    size_t len;
  } objects[FUZZ_STORE_OBJECTS];
};
extern void fuzz_store_init (struct fuzz_store *fs);
/* Replace or add KEY's object (a copy of DATA). */
extern void fuzz_store_set (struct fuzz_store *fs, const char *key,
                            const void *data, size_t len);
/* KEY's object, or NULL. */
extern const void *fuzz_store_find (struct fuzz_store *fs, const char *key,
                                    size_t *len);
/* Drop every object (the store stays usable). */
extern void fuzz_store_clear (struct fuzz_store *fs);

extern void fuzz_make_volume (struct zvolume *vol, struct objstore *store);

/* A sealed object: the 32-byte header (MAGIC, VERSION, COMPRESSION,
 * SEQ, LENGTH, a random nonce) then PAYLOAD (N bytes) sealed under
 * CODEC's key with AAD = header || volume uuid || device uuid || TAIL.
 * Chunks have the index (8 bytes, big-endian) as TAIL, journals
 * "journal".  Returns a malloc'd object of *OBJLEN bytes.
 */
extern uint8_t *fuzz_seal (const struct zchunk_codec *codec,
                           const char *magic, uint8_t version,
                           uint8_t compression, uint64_t seq, uint32_t length,
                           const void *payload, size_t n,
                           const void *tail, size_t taillen, size_t *objlen);

/* A sealed object of the meta key's kind (device meta, lease): the
 * 20-byte header (MAGIC, VERSION, three zero bytes, a random nonce)
 * then PAYLOAD (N bytes) sealed under VOL's meta key with AAD =
 * header || volume uuid || WORD || NAME.  Returns a malloc'd object of
 * *OBJLEN bytes.
 */
extern uint8_t *fuzz_seal_meta_key (const struct zvolume *vol,
                                    const char *magic, uint8_t version,
                                    const char *word, const char *name,
                                    const void *payload, size_t n,
                                    size_t *objlen);

/* A directory of this process's own, removed at exit. */
extern const char *fuzz_tmpdir (void);
extern void fuzz_write_file (const char *path, const void *data, size_t len);

/* Abort unless every field of CONF is within the limits conf.h and
 * the option table give (the conf targets).
 */
struct zconf;
extern void fuzz_check_conf (const struct zconf *conf);

/* False if DATA names a device or kernel file ("dev/", "proc/", "sys/"):
 * the conf and credentials parsers open files that a value names, and
 * /dev/zero or a terminal would hang them.
 */
extern bool fuzz_text_is_safe (const uint8_t *data, size_t len);

/* Big-endian fields of the fuzz input. */
static inline uint32_t
fuzz_be16 (const uint8_t *p)
{
  return (uint32_t) p[0] << 8 | p[1];
}

#endif /* ZEROFS_TESTS_FUZZ_H */
