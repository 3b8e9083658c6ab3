/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: the flush journal's object codec (see journal.h for the
 * layout).
 *
 * Like chunk.c, this is the one place that decides whether a journal
 * object is genuine: the whole object is authenticated, decompressed and
 * every record checked against the rules before the first record is
 * handed to the caller, so a replay never applies half of a bad object.
 * A record is validated when it is added too, so that this code never
 * seals what it would refuse to open.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "byteorder.h"
#include "cleanup.h"
#include "conf.h"
#include "crypto.h"
#include "journal.h"
#include "log.h"

#define MAGIC "ZFSJ"
#define DOMAIN "journal"
#define AAD_LEN (ZJOURNAL_HEADER_LEN + 16 + 16 + sizeof DOMAIN - 1)

/* Record field offsets. */
#define REC_TYPE 0
#define REC_RESERVED1 1
#define REC_OFFSET 4
#define REC_CHUNK 8
#define REC_LENGTH 16
#define REC_RESERVED2 20
#define REC_SEQ 24

static void
make_aad (uint8_t aad[AAD_LEN], const uint8_t *header,
          const struct zchunk_codec *codec)
{
  memcpy (aad, header, ZJOURNAL_HEADER_LEN);
  memcpy (aad + ZJOURNAL_HEADER_LEN, codec->volume_uuid, 16);
  memcpy (aad + ZJOURNAL_HEADER_LEN + 16, codec->device_uuid, 16);
  memcpy (aad + ZJOURNAL_HEADER_LEN + 32, DOMAIN, sizeof DOMAIN - 1);
}

/* Is REC within the rules?  NULL if so, else why not. */
static const char *
record_problem (const struct zjournal_record *rec)
{
  if (rec->type != ZJOURNAL_DATA && rec->type != ZJOURNAL_ZERO &&
      rec->type != ZJOURNAL_TRIM)
    return "unknown record type";
  if (rec->length == 0 || rec->offset % ZSECTOR_SIZE != 0 ||
      rec->length % ZSECTOR_SIZE != 0 || rec->offset > ZCHUNK_SIZE ||
      rec->length > ZCHUNK_SIZE - rec->offset)
    return "record range not whole sectors of one chunk";
  return NULL;
}

int
zjournal_add (struct zjournal_builder *b, const struct zjournal_record *rec)
{
  size_t need = ZJOURNAL_RECORD_HEADER_LEN +
    (rec->type == ZJOURNAL_DATA ? rec->length : 0);
  const char *problem = record_problem (rec);
  uint8_t *h;

  if (problem || (rec->type == ZJOURNAL_DATA) != (rec->data != NULL)) {
    zerror ("journal: chunk %" PRIu64 " offset %" PRIu32 " length %"
            PRIu32 ": %s", rec->chunk, rec->offset, rec->length,
            problem ? problem : "data must come with data records only");
    errno = EINVAL;
    return -1;
  }
  if (b->payload.len + need > ZJOURNAL_PAYLOAD_MAX) {
    errno = EFBIG;
    return -1;
  }
  if (byte_vector_reserve (&b->payload, need) == -1) {
    zerror ("journal: %m");
    return -1;
  }
  h = b->payload.items + b->payload.len;
  memset (h, 0, ZJOURNAL_RECORD_HEADER_LEN);
  h[REC_TYPE] = rec->type;
  put_be32 (h + REC_OFFSET, rec->offset);
  put_be64 (h + REC_CHUNK, rec->chunk);
  put_be32 (h + REC_LENGTH, rec->length);
  put_be64 (h + REC_SEQ, rec->seq);
  if (rec->type == ZJOURNAL_DATA)
    memcpy (h + ZJOURNAL_RECORD_HEADER_LEN, rec->data, rec->length);
  b->payload.len += need;
  b->nrecords++;
  return 0;
}

void
zjournal_builder_reset (struct zjournal_builder *b)
{
  byte_vector_reset (&b->payload);
  b->nrecords = 0;
}

int
zjournal_seal (const struct zchunk_codec *codec, uint64_t jseq,
               const struct zjournal_builder *b, void **obj, size_t *objlen)
{
  size_t len = b->payload.len, n = len, bound;
  CLEANUP_FREE uint8_t *o = NULL;
  CLEANUP_FREE uint8_t *packed = NULL;
  uint8_t aad[AAD_LEN];
  const uint8_t *pt = b->payload.items;
  int compression = ZCOMP_NONE;

  if (len == 0 || len > ZJOURNAL_PAYLOAD_MAX) {
    zerror ("journal %016" PRIx64 ": invalid payload length %zu", jseq, len);
    errno = EINVAL;
    return -1;
  }
  if (codec->compression == ZCOMP_ZSTD) {
    bound = ZSTD_compressBound (len);
    packed = malloc (bound);
    if (packed == NULL) {
      zerror ("journal: malloc: %m");
      return -1;
    }
    n = ZSTD_compress (packed, bound, pt, len, codec->level);
    if (ZSTD_isError (n)) {
      zerror ("journal %016" PRIx64 ": zstd: %s", jseq,
              ZSTD_getErrorName (n));
      errno = EIO;
      return -1;
    }
    if (n < len) {
      compression = ZCOMP_ZSTD;
      pt = packed;
    }
    else
      n = len;
  }

  o = malloc (ZJOURNAL_HEADER_LEN + n + CRYPTO_TAG_LEN);
  if (o == NULL) {
    zerror ("journal: malloc: %m");
    return -1;
  }
  if (zsealed_header (o, MAGIC, ZJOURNAL_VERSION, compression, jseq,
                      len) == -1)
    return -1;
  put_be16 (o + ZSEALED_OFF_RESERVED, b->epoch);
  make_aad (aad, o, codec);
  if (crypto_seal (codec->key, o + ZSEALED_OFF_NONCE, aad, sizeof aad, pt, n,
                   o + ZJOURNAL_HEADER_LEN) == -1)
    return -1;
  *obj = o;
  *objlen = ZJOURNAL_HEADER_LEN + n + CRYPTO_TAG_LEN;
  o = NULL;
  return 0;
}

/* Report a bad object: always EBADMSG. */
static int __attribute__ ((format (printf, 2, 3)))
bad (const char *description, const char *fmt, ...)
{
  char why[256];
  va_list args;

  va_start (args, fmt);
  vsnprintf (why, sizeof why, fmt, args);
  va_end (args);
  zerror ("journal object %s: %s: it is not used", description, why);
  errno = EBADMSG;
  return -1;
}

/* Check every record of PAYLOAD (LEN bytes), then, if all are good, call
 * FN with each.
 */
static int
walk_records (const uint8_t *payload, size_t len, const char *description,
              int (*fn) (void *opaque, const struct zjournal_record *rec),
              void *opaque)
{
  struct zjournal_record rec;
  const char *problem;
  size_t pos, pass;

  for (pass = 0; pass < 2; pass++) {
    for (pos = 0; pos < len; ) {
      const uint8_t *h = payload + pos;

      if (len - pos < ZJOURNAL_RECORD_HEADER_LEN)
        return bad (description, "a record is cut short at byte %zu", pos);
      rec.type = h[REC_TYPE];
      rec.offset = get_be32 (h + REC_OFFSET);
      rec.chunk = get_be64 (h + REC_CHUNK);
      rec.length = get_be32 (h + REC_LENGTH);
      rec.seq = get_be64 (h + REC_SEQ);
      rec.data = NULL;
      problem = record_problem (&rec);
      if (problem)
        return bad (description, "%s at byte %zu", problem, pos);
      if (h[REC_RESERVED1] || h[REC_RESERVED1 + 1] || h[REC_RESERVED1 + 2] ||
          get_be32 (h + REC_RESERVED2))
        return bad (description, "reserved bytes set at byte %zu", pos);
      pos += ZJOURNAL_RECORD_HEADER_LEN;
      if (rec.type == ZJOURNAL_DATA) {
        if (len - pos < rec.length)
          return bad (description, "data cut short at byte %zu", pos);
        rec.data = payload + pos;
        pos += rec.length;
      }
      if (pass == 1 && fn (opaque, &rec) == -1)
        return -1;
    }
  }
  return 0;
}

uint16_t
zjournal_epoch (const void *obj, size_t objlen)
{
  if (objlen < ZJOURNAL_HEADER_LEN)
    return 0;
  return get_be16 ((const uint8_t *) obj + ZSEALED_OFF_RESERVED);
}

int
zjournal_open (const struct zchunk_codec *codec, uint64_t jseq,
               const void *obj, size_t objlen, const char *description,
               int (*fn) (void *opaque, const struct zjournal_record *rec),
               void *opaque)
{
  const uint8_t *o = obj;
  CLEANUP_FREE uint8_t *opened = NULL;
  CLEANUP_FREE uint8_t *payload = NULL;
  uint8_t aad[AAD_LEN];
  size_t n, len;
  size_t r;

  if (objlen < ZJOURNAL_HEADER_LEN + CRYPTO_TAG_LEN)
    return bad (description, "too short (%zu bytes)", objlen);
  if (memcmp (o, MAGIC, 4) != 0)
    return bad (description, "not a zerofs journal object");
  if (o[ZSEALED_OFF_VERSION] != ZJOURNAL_VERSION)
    return bad (description, "format version %u, not %u", o[ZSEALED_OFF_VERSION],
                ZJOURNAL_VERSION);
  if (o[ZSEALED_OFF_COMPRESSION] != ZCOMP_NONE && o[ZSEALED_OFF_COMPRESSION] != ZCOMP_ZSTD)
    return bad (description, "unknown compression id %u",
                o[ZSEALED_OFF_COMPRESSION]);
  if (get_be64 (o + ZSEALED_OFF_SEQ) != jseq)
    return bad (description, "holds journal sequence %016" PRIx64
                " under the name of %016" PRIx64,
                get_be64 (o + ZSEALED_OFF_SEQ), jseq);
  len = get_be32 (o + ZSEALED_OFF_LENGTH);
  if (len == 0 || len > ZJOURNAL_PAYLOAD_MAX)
    return bad (description, "payload length %zu out of range", len);
  n = objlen - ZJOURNAL_HEADER_LEN - CRYPTO_TAG_LEN;
  if (o[ZSEALED_OFF_COMPRESSION] == ZCOMP_NONE ? n != len : n >= len)
    return bad (description, "truncated or padded (%zu bytes for a "
                "payload of %zu)", n, len);

  opened = malloc (n ? n : 1);
  if (opened == NULL) {
    zerror ("journal: malloc: %m");
    return -1;
  }
  make_aad (aad, o, codec);
  if (crypto_unseal (codec->key, o + ZSEALED_OFF_NONCE, aad, sizeof aad,
                     o + ZJOURNAL_HEADER_LEN, n + CRYPTO_TAG_LEN,
                     opened) == -1)
    return bad (description, "authentication failed (tampered, or from "
                "another device or volume)");
  if (o[ZSEALED_OFF_COMPRESSION] == ZCOMP_ZSTD) {
    payload = malloc (len);
    if (payload == NULL) {
      zerror ("journal: malloc: %m");
      return -1;
    }
    r = ZSTD_decompress (payload, len, opened, n);
    if (ZSTD_isError (r) || r != len)
      return bad (description, "the payload does not decompress to its "
                  "length");
    return walk_records (payload, len, description, fn, opaque);
  }
  return walk_records (opened, len, description, fn, opaque);
}
