/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs fuzz target: the chunk object decoder (lib/chunk.c,
 * zchunk_decode and zchunk_peek_seq).
 *
 * A chunk object comes from the bucket, which anyone with write access
 * to it controls: zchunk_decode must refuse anything that is not a
 * genuine object without reading outside it, and never hand back bytes
 * it did not authenticate.  Most of its checks come before the
 * authentication, but the zstd decompression comes after it, where a
 * random input never gets: so the first byte of the input chooses what
 * the rest is.
 *
 *   byte 0 % 3 == 0   the rest is the object, decoded as chunk
 *                     FUZZ_CHUNK_INDEX, expected to be as long as its
 *                     header says (if that is a chunk's length) or 4096
 *                     bytes; zchunk_peek_seq must agree with the decoder
 *                     on the sequence of an object that decodes.
 *   byte 0 % 3 == 1   the rest is COMPRESSION (1 byte), LENGTH (4, big-
 *                     endian, taken modulo 1 MiB, plus 1) and a payload,
 *                     sealed under fuzz_codec's key (fuzz_seal) as a
 *                     writer with the key would: the decoder's checks
 *                     behind the authentication, and zstd on any frame.
 *                     A raw payload of the right length must decode to
 *                     itself.
 *   byte 0 % 3 == 2   the rest is a control byte (bit 0: zstd, bits 1-2:
 *                     the zstd level + 2) and a chunk: encoded, then
 *                     decoded, which must give the same bytes and
 *                     sequence back.
 */
#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "chunk.h"
#include "conf.h"

#include "fuzz.h"

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init ();
  return 0;
}

/* Decode OBJ as a chunk of LEN bytes into a buffer of its own. */
static int
decode (const void *obj, size_t objlen, size_t len, void **out,
        uint64_t *seq)
{
  *out = malloc (len ? len : 1);
  if (*out == NULL)
    fuzz_fail ("out of memory");
  return zchunk_decode (&fuzz_codec, FUZZ_CHUNK_INDEX, obj, objlen,
                        *out, len, seq, "fuzz");
}

static void
object (const uint8_t *obj, size_t objlen)
{
  uint32_t len = 4096;
  uint64_t peeked, seq;
  void *out;

  if (objlen >= ZSEALED_OFF_LENGTH + 4) {
    uint32_t declared = get_be32 (obj + ZSEALED_OFF_LENGTH);

    if (declared >= 1 && declared <= ZCHUNK_SIZE)
      len = declared;
  }
  if (decode (obj, objlen, len, &out, &seq) == 0 &&
      (zchunk_peek_seq (obj, objlen, &peeked) == -1 || peeked != seq))
    fuzz_fail ("zchunk_peek_seq disagrees with zchunk_decode");
  free (out);
}

static void
sealed (const uint8_t *p, size_t n)
{
  uint8_t compression, tail[8];
  uint32_t len;
  uint8_t *obj;
  size_t objlen;
  uint64_t seq;
  void *out;
  int r;

  if (n < 5)
    return;
  compression = p[0];
  len = get_be32 (p + 1) % ZCHUNK_SIZE + 1;
  p += 5;
  n -= 5;
  put_be64 (tail, FUZZ_CHUNK_INDEX);
  obj = fuzz_seal (&fuzz_codec, "ZFSC", ZCHUNK_VERSION, compression, 42,
                   len, p, n, tail, sizeof tail, &objlen);
  r = decode (obj, objlen, len, &out, &seq);
  if (compression == ZCOMP_NONE && n == len &&
      (r == -1 || seq != 42 || memcmp (out, p, n) != 0))
    fuzz_fail ("a genuine raw chunk did not decode to its payload");
  if (r == -1 && errno != EBADMSG)
    fuzz_fail ("a bad chunk failed with errno %d, not EBADMSG", errno);
  free (out);
  free (obj);
}

static void
round_trip (const uint8_t *p, size_t n)
{
  struct zchunk_codec c = fuzz_codec;
  void *obj, *out;
  size_t objlen;
  uint64_t seq;

  if (n < 1)
    return;
  c.compression = p[0] & 1 ? ZCOMP_ZSTD : ZCOMP_NONE;
  c.level = (p[0] >> 1 & 3) - 2;
  p++;
  n--;
  if (n > ZCHUNK_SIZE)
    n = ZCHUNK_SIZE;
  if (zchunk_encode (&c, FUZZ_CHUNK_INDEX, 1234, p, n, &obj, &objlen) == -1) {
    if (n == 0)
      return;
    fuzz_fail ("encoding a chunk of %zu bytes failed", n);
  }
  if (n == 0)
    fuzz_fail ("an empty chunk was encoded");
  if (decode (obj, objlen, n, &out, &seq) == -1 || seq != 1234 ||
      memcmp (out, p, n) != 0)
    fuzz_fail ("a chunk of %zu bytes did not survive encode and decode", n);
  free (out);
  free (obj);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  switch (data[0] % 3) {
  case 0: object (data + 1, size - 1); break;
  case 1: sealed (data + 1, size - 1); break;
  case 2: round_trip (data + 1, size - 1); break;
  }
  return 0;
}
