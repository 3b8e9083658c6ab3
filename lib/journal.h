/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: the flush journal's object codec.
 *
 * The flush journal (being built: see zerofs-format(5)) lets a FLUSH
 * after scattered small writes cost one PUT: the dirty sectors go into
 * one sealed journal object, and the chunks are rewritten later by the
 * write-back.  This is only the codec: building, sealing and opening a
 * journal object.  Object layout (all integers big-endian):
 *
 *   offset size  field
 *        0    4  magic "ZFSJ"
 *        4    1  format version, 1
 *        5    1  compression id: 0 none, 1 zstd
 *        6    2  writer epoch: the low 16 bits of the lease generation
 *                of the server that wrote it (lib/lease.h; 0: none)
 *        8    8  journal sequence: the object is devices/NAME/journal/<16 hex>
 *       16    4  payload length (uncompressed), at most ZJOURNAL_PAYLOAD_MAX
 *       20   12  AES-256-GCM nonce (random)
 *       32    n  ciphertext of the (possibly compressed) payload
 *     32+n   16  GCM tag
 *
 * AAD = the 32 header bytes || volume uuid (16) || key uuid (16, the
 * device's: see chunk.h) || "journal" (7 bytes).  The key is the device's chunk key; the word
 * "journal" keeps a journal object from ever opening as a chunk (whose
 * AAD ends in a chunk index) and the other way round, and the sequence
 * in the header must match the object's name.
 *
 * The payload is a list of records, each a 32-byte header and, for
 * data, its bytes:
 *
 *   offset size  field
 *        0    1  type: 1 data, 2 zeros, 3 trim (the range reads as zeros)
 *        1    3  reserved, 0
 *        4    4  offset in the chunk (a multiple of 4096)
 *        8    8  chunk index
 *       16    4  length (a multiple of 4096, > 0, offset + length <= 1 MiB)
 *       20    4  reserved, 0
 *       24    8  the write sequence this record brings the chunk to
 *       32    L  the bytes (data records only)
 *
 * Records apply in order; replay applies a record only to a chunk whose
 * stored object carries an older sequence.  The writer epoch lets replay
 * tell the objects of a server fenced by a forced lease takeover, which
 * may land after the takeover, from the holder's (see journal_replay).
 */
#ifndef ZEROFS_JOURNAL_H
#define ZEROFS_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "chunk.h"
#include "vector.h"

#define ZJOURNAL_HEADER_LEN 32
#define ZJOURNAL_RECORD_HEADER_LEN 32
#define ZJOURNAL_VERSION 1
/* A flush round splits its journal past this much payload. */
#define ZJOURNAL_PAYLOAD_MAX (UINT32_C (8) << 20)

enum zjournal_type {
  ZJOURNAL_DATA = 1,
  ZJOURNAL_ZERO = 2,
  ZJOURNAL_TRIM = 3,
};

struct zjournal_record {
  enum zjournal_type type;
  uint64_t chunk;
  uint32_t offset, length;
  uint64_t seq;
  const void *data;             /* data records: LENGTH bytes; else NULL */
};

/* A journal object being built: the payload so far. */
struct zjournal_builder {
  byte_vector payload;
  uint32_t nrecords;
  uint16_t epoch;               /* the writer epoch to seal it with */
};

/* Append a record (DATA NULL for zeros and trims).  -1 (EINVAL, with an
 * error) for a record outside the rules above, or (EFBIG) when it would
 * take the payload past ZJOURNAL_PAYLOAD_MAX: start another object.
 */
extern int zjournal_add (struct zjournal_builder *b,
                         const struct zjournal_record *rec);

/* Free the payload. */
extern void zjournal_builder_reset (struct zjournal_builder *b);

/* Seal B's payload as journal object JSEQ of the device CODEC is for,
 * into a malloc'd *OBJ of *OBJLEN bytes.
 */
extern int zjournal_seal (const struct zchunk_codec *codec, uint64_t jseq,
                          const struct zjournal_builder *b,
                          void **obj, size_t *objlen);

/* Open OBJ, the object named as journal JSEQ, and call FN for each of its
 * records in order (FN returns 0 to go on, -1 to stop with that error).
 * Nothing is passed to FN unless the whole object is genuine and well
 * formed: a tampered, truncated, swapped (another sequence, device or
 * volume) or malformed object is -1 with errno = EBADMSG and an error
 * naming DESCRIPTION (the object's key).
 */
extern int zjournal_open (const struct zchunk_codec *codec, uint64_t jseq,
                          const void *obj, size_t objlen,
                          const char *description,
                          int (*fn) (void *opaque,
                                     const struct zjournal_record *rec),
                          void *opaque);

/* The writer epoch in the header of OBJ (OBJLEN bytes): 0 if it is too
 * short to have one.  Authenticated only once zjournal_open accepted OBJ.
 */
extern uint16_t zjournal_epoch (const void *obj, size_t objlen);

#endif /* ZEROFS_JOURNAL_H */
