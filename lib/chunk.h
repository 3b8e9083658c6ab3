/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: the chunk object codec.
 *
 * A device is stored as chunks of ZCHUNK_SIZE bytes (the last one may be
 * shorter: a device's size is a multiple of 4096, not of 1 MiB).  A chunk
 * that is all zeros is never stored: callers test with zis_zero() and
 * delete the object instead.  Object layout (all integers big-endian):
 *
 *   offset size  field
 *        0    4  magic "ZFSC"
 *        4    1  format version, 1
 *        5    1  compression id: 0 none, 1 zstd
 *        6    2  reserved, 0
 *        8    8  sequence number: the device write sequence this copy includes
 *       16    4  plaintext length (the chunk's length, <= ZCHUNK_SIZE)
 *       20   12  AES-256-GCM nonce (random)
 *       32    n  ciphertext of the (possibly compressed) chunk
 *     32+n   16  GCM tag
 *
 * AAD = the 32 header bytes || volume uuid (16) || key uuid (16) ||
 * chunk index (8, big-endian).  So an object copied to another index,
 * device or volume, or with any header byte changed, fails to open.  The
 * key is the device's chunk key: HKDF(DEK, salt = key uuid,
 * info = "zerofs chunk v1").  The key uuid is the device uuid, except
 * for a clone, which shares it with the device it was copied from, whose
 * objects it was given byte for byte (volume.h).  zstd is used only when it makes the chunk
 * smaller; otherwise the id is 0.  Decoding checks the magic, version,
 * compression id, reserved bytes and that the plaintext length equals the
 * length the caller expects for that index.
 */
#ifndef ZEROFS_CHUNK_H
#define ZEROFS_CHUNK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto.h"

#define ZCHUNK_SHIFT 20
#define ZCHUNK_SIZE (UINT32_C (1) << ZCHUNK_SHIFT)
#define ZSECTOR_SHIFT 12
#define ZSECTOR_SIZE (UINT32_C (1) << ZSECTOR_SHIFT)
#define ZSECTORS_PER_CHUNK (ZCHUNK_SIZE / ZSECTOR_SIZE)
#define ZCHUNK_HEADER_LEN 32
#define ZCHUNK_VERSION 1
/* Largest encoded object: header + (zstd bound or raw) + tag. */
#define ZCHUNK_OBJECT_MAX \
  (ZCHUNK_HEADER_LEN + ZCHUNK_SIZE + 4096 + CRYPTO_TAG_LEN)

struct zchunk_codec {
  uint8_t key[CRYPTO_KEY_LEN];          /* the device's chunk key */
  uint8_t volume_uuid[16];
  uint8_t device_uuid[16];              /* the device's key uuid */
  int compression;                  /* enum zcompression */
  int level;                        /* zstd level */
};

/* The most bytes the object of a LEN-byte chunk can take: compressed
 * or not, its payload is at most LEN bytes.
 */
#define ZCHUNK_OBJECT_LEN(len) \
  (ZCHUNK_HEADER_LEN + (size_t) (len) + CRYPTO_TAG_LEN)

/* Encode LEN bytes of chunk INDEX at sequence SEQ into a malloc'd
 * object *OBJ of *OBJLEN bytes.
 */
extern int zchunk_encode (const struct zchunk_codec *codec, uint64_t index,
                          uint64_t seq, const void *data, size_t len,
                          void **obj, size_t *objlen);

/* The same into the caller's OBJ, OBJMAX bytes, which must be at least
 * ZCHUNK_OBJECT_LEN (LEN) and must not overlap DATA.
 */
extern int zchunk_encode_into (const struct zchunk_codec *codec,
                               uint64_t index, uint64_t seq,
                               const void *data, size_t len,
                               void *obj, size_t objmax, size_t *objlen);

/* Whether LEN bytes at DATA are worth compressing at zstd LEVEL,
 * judged by compressing a sample spread over them: 1 if so, 0 if the
 * sample does not shrink by an eighth (what zchunk_encode asks of the
 * whole), -1 on error (zerror).  Chunks of less than 256 KiB are always
 * worth trying.
 */
extern int zchunk_worth_compressing (const void *data, size_t len,
                                     int level);

/* Decode OBJ into DATA, which must hold exactly LEN bytes, the length
 * chunk INDEX has on this device.  *SEQ (may be NULL) gets its sequence.
 * A malformed or tampered object returns -1 with errno = EBADMSG and a
 * zerror() message that includes DESCRIPTION (the object's key).
 */
extern int zchunk_decode (const struct zchunk_codec *codec, uint64_t index,
                          const void *obj, size_t objlen,
                          void *data, size_t len, uint64_t *seq,
                          const char *description);

/* Read only the sequence number from an object's header (no auth). */
extern int zchunk_peek_seq (const void *obj, size_t objlen, uint64_t *seq);

/* Offsets in the 32-byte header that chunk and journal objects share. */
#define ZSEALED_OFF_VERSION 4
#define ZSEALED_OFF_COMPRESSION 5
#define ZSEALED_OFF_RESERVED 6
#define ZSEALED_OFF_SEQ 8
#define ZSEALED_OFF_LENGTH 16
#define ZSEALED_OFF_NONCE 20

/* The 32-byte header that chunk and journal objects share: MAGIC (4
 * bytes), VERSION, COMPRESSION, two reserved zeros, SEQ, LEN, then a
 * fresh random nonce.  -1 only if no random bytes could be had.
 */
extern int zsealed_header (uint8_t *o, const char *magic, uint8_t version,
                           int compression, uint64_t seq, uint32_t len);

/* True if all LEN bytes are zero (fast). */
extern bool zis_zero (const void *data, size_t len);

#endif /* ZEROFS_CHUNK_H */
