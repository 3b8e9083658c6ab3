/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: unit test of lib/crypto.c and lib/chunk.c.
 *
 * The primitives are checked against published answers (RFC 5869 HKDF,
 * RFC 7914 scrypt, RFC 4231 HMAC, FIPS 180 SHA-256, RFC 1321 MD5, the
 * GCM specification's AES-256 cases, RFC 4648 base64) and the XTS
 * tweak encoding against OpenSSL used directly.  The chunk codec is
 * checked for round trips and for refusing every kind of tampering with
 * EBADMSG and a message naming the object.  A few threads run the
 * codec at once so that the per-thread contexts and their destructors
 * are exercised (run this under valgrind).
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "chunk.h"
#include "conf.h"
#include "crypto.h"
#include "log.h"

#include "unit.h"

static bool
equals_hex (const uint8_t *got, size_t len, const char *want)
{
  char hex[2 * 256 + 1];

  crypto_hex (got, len, hex);
  if (strcmp (hex, want) != 0) {
    fprintf (stderr, "  got  %s\n  want %s\n", hex, want);
    return false;
  }
  return true;
}

static void
test_hashes (void)
{
  uint8_t out[64], key[20];
  char b64[16];
  static const struct { const char *in, *out; } b64_cases[] = {
    { "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
    { "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
  };
  size_t i;

  crypto_sha256 ("abc", 3, out);
  CHECK (equals_hex (out, 32, "ba7816bf8f01cfea414140de5dae2223"
                     "b00361a396177a9cb410ff61f20015ad"), "SHA-256(abc)");
  crypto_sha256 ("", 0, out);
  CHECK (equals_hex (out, 32, "e3b0c44298fc1c149afbf4c8996fb924"
                     "27ae41e4649b934ca495991b7852b855"), "SHA-256()");
  crypto_md5 ("abc", 3, out);
  CHECK (equals_hex (out, 16, "900150983cd24fb0d6963f7d28e17f72"), "MD5(abc)");

  /* RFC 4231 test case 1. */
  memset (key, 0x0b, sizeof key);
  crypto_hmac_sha256 (key, sizeof key, "Hi There", 8, out);
  CHECK (equals_hex (out, 32, "b0344c61d8db38535ca8afceaf0bf12b"
                     "881dc200c9833da726e9376c2e32cff7"), "HMAC case 1");
  /* RFC 4231 test case 2: the context is re-keyed. */
  crypto_hmac_sha256 ("Jefe", 4, "what do ya want for nothing?", 28, out);
  CHECK (equals_hex (out, 32, "5bdcc146bf60754e6a042426089575c7"
                     "5a003f089d2739839dec58b964ec3843"), "HMAC case 2");

  for (i = 0; i < sizeof b64_cases / sizeof b64_cases[0]; i++) {
    crypto_base64 (b64_cases[i].in, strlen (b64_cases[i].in), b64);
    CHECK (strcmp (b64, b64_cases[i].out) == 0, "base64(%s) = %s",
           b64_cases[i].in, b64);
  }

  CHECK (crypto_memcmp ("abcd", "abcd", 4) == 0, "memcmp equal");
  CHECK (crypto_memcmp ("abcd", "abce", 4) != 0, "memcmp differ");
}

static void
test_kdfs (void)
{
  uint8_t ikm[22], salt[13], okm[64];
  char info[11];
  size_t i;

  /* RFC 5869 test case 1. */
  memset (ikm, 0x0b, sizeof ikm);
  for (i = 0; i < sizeof salt; i++)
    salt[i] = i;
  for (i = 0; i < 10; i++)
    info[i] = (char) (0xf0 + i);
  info[10] = '\0';
  CHECK (crypto_hkdf (ikm, sizeof ikm, salt, sizeof salt, info, okm, 42) == 0,
         "hkdf");
  CHECK (equals_hex (okm, 42, "3cb25f25faacd57a90434f64d0362f2a"
                     "2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
                     "34007208d5b887185865"), "HKDF RFC 5869 case 1");

  /* RFC 7914 section 12, the first two vectors. */
  CHECK (crypto_scrypt ("", 0, (const uint8_t *) "", 0, 4, 1, 1, okm, 64) == 0,
         "scrypt N=16");
  CHECK (equals_hex (okm, 64, "77d6576238657b203b19ca42c18a0497"
                     "f16b4844e3074ae8dfdffa3fede21442"
                     "fcd0069ded0948f8326a753a0fc81f17"
                     "e8d3e0fb2e0d3628cf35e20c38d18906"), "scrypt N=16");
  CHECK (crypto_scrypt ("password", 8, (const uint8_t *) "NaCl", 4, 10, 8, 16,
                    okm, 64) == 0, "scrypt N=1024");
  CHECK (equals_hex (okm, 64, "fdbabe1c9d3472007856e7190d01e9fe"
                     "7c6ad7cbc8237830e77376634b373162"
                     "2eaf30d92e22a3886ff109279d9830da"
                     "c727afb94a83ee6d8360cbdfa2cc0640"), "scrypt N=1024");

  /* Bad parameters are refused, not passed on. */
  errno = 0;
  CHECK (crypto_scrypt ("x", 1, (const uint8_t *) "s", 1, 0, 8, 1, okm, 32) == -1
         && errno == EINVAL, "scrypt log2_n=0");
  CHECK (crypto_scrypt ("x", 1, (const uint8_t *) "s", 1, 10, 0, 1, okm, 32) == -1
         && errno == EINVAL, "scrypt r=0");
  errno = 0;
  CHECK (crypto_scrypt ("x", 1, (const uint8_t *) "s", 1, 40, 1 << 29, 1,
                    okm, 32) == -1 && errno == EINVAL,
         "scrypt beyond any memory");
  errno = 0;
  CHECK (crypto_scrypt ("x", 1, (const uint8_t *) "s", 1, 41, 1, 1,
                    okm, 32) == -1 && errno == EINVAL, "scrypt log2_n=41");
}

static void
test_gcm (void)
{
  uint8_t key[32] = { 0 }, nonce[12] = { 0 };
  uint8_t pt[64], ct[64 + 16], back[64 + 16], zero16[16] = { 0 };
  const char *aad = "header";
  size_t i;

  /* The GCM specification (McGrew & Viega), test cases 13 and 14. */
  CHECK (crypto_seal (key, nonce, NULL, 0, NULL, 0, ct) == 0, "seal empty");
  CHECK (equals_hex (ct, 16, "530f8afbc74536b9a963b4f1c4cb738b"),
         "GCM case 13");
  CHECK (crypto_seal (key, nonce, NULL, 0, zero16, 16, ct) == 0, "seal");
  CHECK (equals_hex (ct, 32, "cea7403d4d606b6e074ec5d3baf39d18"
                     "d0d1c8a799996bf0265b98b5d48ab919"), "GCM case 14");
  CHECK (crypto_unseal (key, nonce, NULL, 0, ct, 32, back) == 0, "open case 14");
  CHECK (memcmp (back, zero16, 16) == 0, "open case 14 plaintext");

  for (i = 0; i < sizeof pt; i++)
    pt[i] = i * 7;
  key[0] = 1;
  nonce[0] = 2;
  CHECK (crypto_seal (key, nonce, aad, 6, pt, sizeof pt, ct) == 0, "seal");
  CHECK (crypto_unseal (key, nonce, aad, 6, ct, sizeof ct, back) == 0, "open");
  CHECK (memcmp (pt, back, sizeof pt) == 0, "round trip");

  /* In place: BACK has room for the tag. */
  memcpy (back, pt, sizeof pt);
  CHECK (crypto_seal (key, nonce, aad, 6, back, sizeof pt, back) == 0 &&
         memcmp (back, ct, sizeof pt) == 0, "seal in place");

  errno = 0;
  memset (back, 0xaa, sizeof pt);
  CHECK (crypto_unseal (key, nonce, "headex", 6, ct, sizeof ct, back) == -1 &&
         errno == EBADMSG, "other AAD: errno %d", errno);
  CHECK (zis_zero (back, sizeof pt), "failed open leaves no plaintext");
  ct[70] ^= 1;
  errno = 0;
  CHECK (crypto_unseal (key, nonce, aad, 6, ct, sizeof ct, back) == -1 &&
         errno == EBADMSG, "bad tag");
  ct[70] ^= 1;
  ct[3] ^= 0x80;
  errno = 0;
  CHECK (crypto_unseal (key, nonce, aad, 6, ct, sizeof ct, back) == -1 &&
         errno == EBADMSG, "bad ciphertext");
  ct[3] ^= 0x80;
  errno = 0;
  CHECK (crypto_unseal (key, nonce, aad, 6, ct, 15, back) == -1 &&
         errno == EBADMSG, "shorter than a tag");
  CHECK (crypto_unseal (key, nonce, aad, 6, ct, sizeof ct, back) == 0,
         "still opens");
}

/* The tweak is the sector number, little-endian in the 16-byte IV:
 * compare with OpenSSL used directly.
 */
static void
xts_reference (const uint8_t *key, uint64_t tweak,
               const uint8_t *in, uint8_t *out, size_t len)
{
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new ();
  uint8_t iv[16] = { 0 };
  int outl, i;

  for (i = 0; i < 8; i++)
    iv[i] = tweak >> (8 * i);
  REQUIRE (ctx != NULL &&
           EVP_EncryptInit_ex (ctx, EVP_aes_256_xts (), NULL, key, iv) &&
           EVP_EncryptUpdate (ctx, out, &outl, in, len),
           "reference XTS");
  EVP_CIPHER_CTX_free (ctx);
}

static void
test_xts (void)
{
  uint8_t key1[64], key2[64], bad[64];
  static uint8_t pt[4096], ct[4096], ct2[4096], ref[4096], back[4096];
  size_t i;

  for (i = 0; i < 64; i++) {
    key1[i] = i;
    key2[i] = 255 - i;
  }
  for (i = 0; i < sizeof pt; i++)
    pt[i] = i & 0xff;

  CHECK (crypto_xts (key1, 1, 0x0102030405060708, pt, ct, sizeof pt) == 0, "xts");
  xts_reference (key1, 0x0102030405060708, pt, ref, sizeof pt);
  CHECK (memcmp (ct, ref, sizeof ct) == 0, "XTS tweak encoding");
  CHECK (memcmp (ct, pt, sizeof ct) != 0, "XTS encrypts");

  CHECK (crypto_xts (key1, 1, 0x0102030405060709, pt, ct2, sizeof pt) == 0, "%s", last_error);
  CHECK (memcmp (ct, ct2, 16) != 0 && memcmp (ct, ct2, sizeof ct) != 0,
         "different tweaks give different ciphertext");

  CHECK (crypto_xts (key1, 0, 0x0102030405060708, ct, back, sizeof ct) == 0, "%s", last_error);
  CHECK (memcmp (back, pt, sizeof pt) == 0, "XTS round trip");

  /* In place, and switching keys back and forth (the key cache). */
  memcpy (back, pt, sizeof pt);
  CHECK (crypto_xts (key2, 1, 7, back, back, sizeof back) == 0, "%s", last_error);
  xts_reference (key2, 7, pt, ref, sizeof pt);
  CHECK (memcmp (back, ref, sizeof ref) == 0, "XTS in place, key 2");
  CHECK (crypto_xts (key1, 1, 7, pt, ct, sizeof pt) == 0, "%s", last_error);
  xts_reference (key1, 7, pt, ref, sizeof pt);
  CHECK (memcmp (ct, ref, sizeof ref) == 0, "XTS back to key 1");
  CHECK (crypto_xts (key2, 0, 7, back, back, sizeof back) == 0 &&
         memcmp (back, pt, sizeof pt) == 0, "XTS in place decrypt");

  /* A 16-byte unit and the refusals. */
  CHECK (crypto_xts (key1, 1, 1, pt, ct, 16) == 0, "16 bytes");
  errno = 0;
  CHECK (crypto_xts (key1, 1, 1, pt, ct, 24) == -1 && errno == EINVAL,
         "not a multiple of 16");
  errno = 0;
  CHECK (crypto_xts (key1, 1, 1, pt, ct, 0) == -1 && errno == EINVAL, "empty");
  memcpy (bad, key1, 32);
  memcpy (bad + 32, key1, 32);
  errno = 0;
  CHECK (crypto_xts (bad, 1, 1, pt, ct, 16) == -1 && errno == EINVAL,
         "equal key halves");
}

static void
fill_random (uint8_t *p, size_t len)
{
  REQUIRE (crypto_random (p, len) == 0);
}

/* crypto_xts_units builds XTS from ECB (crypto.c): it must give
 * OpenSSL's AES-256-XTS bytes, unit by unit, for any unit size and
 * length, including units longer than its passes over the data and
 * units that straddle two passes, and for tweaks that carry into the
 * high bytes.  The slot file's format depends on it.
 */
static void
test_xts_units (void)
{
  static const size_t units[] = { 16, 48, 512, 4096, 8192, 65536 };
  static const uint64_t firsts[] = { 0, 1, 0x01020304050607f0, UINT64_MAX - 3 };
  static uint8_t pt[256 * 1024], ct[sizeof pt], ref[sizeof pt];
  static uint8_t back[sizeof pt];
  uint8_t key[64];
  size_t i, u, f, len, done;

  fill_random (pt, sizeof pt);
  for (i = 0; i < 3; i++) {
    fill_random (key, sizeof key);
    for (u = 0; u < sizeof units / sizeof units[0]; u++) {
      for (f = 0; f < sizeof firsts / sizeof firsts[0]; f++) {
        /* One unit, a few, and the whole buffer (a multiple of each). */
        const size_t lens[] = { units[u], 3 * units[u],
                                sizeof pt / units[u] * units[u] };
        size_t l;

        for (l = 0; l < 3; l++) {
          len = lens[l];
          if (len > sizeof pt)
            continue;
          for (done = 0; done < len; done += units[u])
            xts_reference (key, firsts[f] + done / units[u], pt + done,
                           ref + done, units[u]);
          CHECK (crypto_xts_units (key, 1, firsts[f], units[u], pt, ct,
                                   len) == 0, "%s", last_error);
          CHECK (memcmp (ct, ref, len) == 0,
                 "XTS units of %zu, %zu bytes, first tweak %" PRIu64
                 ": OpenSSL's bytes", units[u], len, firsts[f]);
          CHECK (crypto_xts_units (key, 0, firsts[f], units[u], ct, back,
                                   len) == 0 &&
                 memcmp (back, pt, len) == 0,
                 "XTS units of %zu, %zu bytes: round trip", units[u], len);
          /* In place both ways. */
          memcpy (back, pt, len);
          CHECK (crypto_xts_units (key, 1, firsts[f], units[u], back, back,
                                   len) == 0 &&
                 memcmp (back, ref, len) == 0 &&
                 crypto_xts_units (key, 0, firsts[f], units[u], back, back,
                                   len) == 0 &&
                 memcmp (back, pt, len) == 0,
                 "XTS units of %zu, %zu bytes: in place", units[u], len);
        }
      }
    }
  }
  errno = 0;
  CHECK (crypto_xts_units (key, 1, 0, 512, pt, ct, 768) == -1 &&
         errno == EINVAL, "a length that is not whole units");
}

static void
test_zero (void)
{
  static uint8_t buf[ZCHUNK_SIZE];
  size_t len, i;

  CHECK (zis_zero (buf, 0), "empty is zero");
  for (len = 1; len <= 48; len++) {
    CHECK (zis_zero (buf, len), "zeros of length %zu", len);
    for (i = 0; i < len; i++) {
      buf[i] = 1;
      CHECK (!zis_zero (buf, len), "byte %zu of %zu set", i, len);
      buf[i] = 0;
    }
  }
  CHECK (zis_zero (buf, sizeof buf), "1 MiB of zeros");
  buf[sizeof buf - 1] = 0x80;
  CHECK (!zis_zero (buf, sizeof buf), "last byte set");
  buf[sizeof buf - 1] = 0;
  buf[ZCHUNK_SIZE / 2 + 3] = 1;
  CHECK (!zis_zero (buf, sizeof buf), "middle byte set");
}

/* Chunks. */

static void
fill_text (uint8_t *p, size_t len)
{
  static const char line[] = "zerofs chunk payload, compressible text. ";
  size_t i;

  for (i = 0; i < len; i++)
    p[i] = line[i % (sizeof line - 1)] + (i / 4096) % 3;
}

/* Decoding OBJ must fail with EBADMSG and a message naming the object. */
static void
expect_bad (const struct zchunk_codec *codec, uint64_t index,
            const void *obj, size_t objlen, size_t len, const char *what)
{
  static uint8_t out[ZCHUNK_SIZE];
  const char *desc = "devices/t/chunks/DESC";
  int r;

  errno = 0;
  unit_clear_errors ();
  memset (out, 0x5a, len);
  r = zchunk_decode (codec, index, obj, objlen, out, len, NULL, desc);
  CHECK (r == -1 && errno == EBADMSG, "%s: r=%d errno=%d", what, r, errno);
  CHECK (strstr (last_error, desc) != NULL, "%s: message '%s' lacks the key",
         what, last_error);
  /* Either untouched (refused before decrypting) or wiped. */
  CHECK (zis_zero (out, len) ||
         (out[0] == 0x5a && memcmp (out, out + 1, len - 1) == 0),
         "%s: a failed decode leaves plaintext behind", what);
}

static void
round_trip (const struct zchunk_codec *codec, const uint8_t *data,
            size_t len, int want_compression, const char *what)
{
  static uint8_t out[ZCHUNK_SIZE];
  uint8_t *obj, *copy;
  size_t objlen, cut;
  uint64_t seq = 0, peek = 0;
  struct zchunk_codec other;
  int i;

  obj = NULL;
  CHECK (zchunk_encode (codec, 5, 0x0102030405060708, data, len,
                        (void **) &obj, &objlen) == 0, "%s: encode", what);
  if (obj == NULL)
    return;
  CHECK (memcmp (obj, "ZFSC", 4) == 0 && obj[4] == 1 &&
         obj[5] == want_compression, "%s: header magic %.4s version %u "
         "compression %u", what, obj, obj[4], obj[5]);
  if (want_compression == ZCOMP_NONE)
    CHECK (objlen == ZCHUNK_HEADER_LEN + len + CRYPTO_TAG_LEN,
           "%s: raw object is %zu bytes", what, objlen);
  else
    CHECK (objlen < len / 4, "%s: compressed object is %zu bytes",
           what, objlen);
  CHECK (objlen <= ZCHUNK_OBJECT_MAX, "%s: object too big", what);

  CHECK (zchunk_decode (codec, 5, obj, objlen, out, len, &seq, "x") == 0,
         "%s: decode: %s", what, last_error);
  CHECK (memcmp (out, data, len) == 0, "%s: data differs", what);
  CHECK (seq == 0x0102030405060708, "%s: seq %" PRIx64, what, seq);
  CHECK (zchunk_peek_seq (obj, objlen, &peek) == 0 && peek == seq,
         "%s: peek_seq", what);

  copy = malloc (objlen);
  REQUIRE (copy != NULL);

  /* Every header byte is bound. */
  for (i = 0; i < ZCHUNK_HEADER_LEN; i++) {
    memcpy (copy, obj, objlen);
    copy[i] ^= 0x01;
    expect_bad (codec, 5, copy, objlen, len, what);
  }
  memcpy (copy, obj, objlen);
  copy[ZCHUNK_HEADER_LEN] ^= 0x10;
  expect_bad (codec, 5, copy, objlen, len, "first ciphertext byte");
  memcpy (copy, obj, objlen);
  copy[objlen - CRYPTO_TAG_LEN - 1] ^= 0x10;
  expect_bad (codec, 5, copy, objlen, len, "last ciphertext byte");
  memcpy (copy, obj, objlen);
  copy[objlen - 1] ^= 0x10;
  expect_bad (codec, 5, copy, objlen, len, "tag byte");

  /* Copied elsewhere. */
  expect_bad (codec, 6, obj, objlen, len, "another index");
  expect_bad (codec, 5 + (UINT64_C (1) << 32), obj, objlen, len,
              "index + 2^32");
  other = *codec;
  other.device_uuid[15] ^= 1;
  expect_bad (&other, 5, obj, objlen, len, "another device");
  other = *codec;
  other.volume_uuid[0] ^= 1;
  expect_bad (&other, 5, obj, objlen, len, "another volume");
  other = *codec;
  other.key[31] ^= 1;
  expect_bad (&other, 5, obj, objlen, len, "another key");

  /* Truncated and extended. */
  {
    size_t cuts[] = { 0, 1, 4, 31, 32, 47, 48, objlen / 2, objlen - 16,
                      objlen - 1 };
    for (i = 0; i < (int) (sizeof cuts / sizeof cuts[0]); i++) {
      cut = cuts[i];
      if (cut < objlen)
        expect_bad (codec, 5, obj, cut, len, "truncated");
    }
  }

  /* The caller expects another length for this index. */
  if (len > 4096)
    expect_bad (codec, 5, obj, objlen, len - 4096, "shorter expected length");
  if (len < ZCHUNK_SIZE)
    expect_bad (codec, 5, obj, objlen, len + 4096, "longer expected length");

  /* Bad magic and version (also covered above, named here). */
  memcpy (copy, obj, objlen);
  memcpy (copy, "ZFSX", 4);
  expect_bad (codec, 5, copy, objlen, len, "bad magic");
  CHECK (strstr (last_error, "magic") != NULL, "magic message: %s",
         last_error);
  memcpy (copy, obj, objlen);
  copy[4] = 2;
  expect_bad (codec, 5, copy, objlen, len, "bad version");
  CHECK (strstr (last_error, "version 2") != NULL, "version message: %s",
         last_error);
  errno = 0;
  CHECK (zchunk_peek_seq (copy, objlen, &peek) == -1 && errno == EBADMSG,
         "peek_seq of a bad version");
  memcpy (copy, obj, objlen);
  copy[5] = 7;
  expect_bad (codec, 5, copy, objlen, len, "bad compression id");
  CHECK (strstr (last_error, "compression id 7") != NULL,
         "compression message: %s", last_error);
  memcpy (copy, obj, objlen);
  copy[7] = 1;
  expect_bad (codec, 5, copy, objlen, len, "reserved byte set");
  CHECK (strstr (last_error, "reserved") != NULL, "reserved message: %s",
         last_error);

  /* Still decodes after all that. */
  CHECK (zchunk_decode (codec, 5, obj, objlen, out, len, NULL, "x") == 0 &&
         memcmp (out, data, len) == 0, "%s: decode again", what);
  free (copy);
  free (obj);

  /* Into the caller's buffer: ZCHUNK_OBJECT_LEN is enough (a buffer of
   * exactly that, so that the sanitizers see any byte past it), one
   * byte less is refused before anything is written.
   */
  obj = malloc (ZCHUNK_OBJECT_LEN (len));
  REQUIRE (obj != NULL);
  memset (obj, 0xa5, ZCHUNK_OBJECT_LEN (len));
  errno = 0;
  CHECK (zchunk_encode_into (codec, 5, 7, data, len, obj,
                             ZCHUNK_OBJECT_LEN (len) - 1, &objlen) == -1 &&
         errno == EINVAL && strstr (last_error, "cannot hold") != NULL &&
         obj[0] == 0xa5, "%s: encode into too small a buffer", what);
  CHECK (zchunk_encode_into (codec, 5, 7, data, len, obj,
                             ZCHUNK_OBJECT_LEN (len), &objlen) == 0,
         "%s: encode into: %s", what, last_error);
  CHECK (objlen <= ZCHUNK_OBJECT_LEN (len) && obj[5] == want_compression,
         "%s: encode into: %zu bytes, compression %u", what, objlen, obj[5]);
  CHECK (zchunk_decode (codec, 5, obj, objlen, out, len, &seq, "x") == 0 &&
         memcmp (out, data, len) == 0 && seq == 7,
         "%s: encode into: round trip", what);
  free (obj);
}

/* A compressed object whose authenticated payload lies about its length:
 * built by hand with the codec's key.
 */
static void
test_lying_frame (void)
{
  struct zchunk_codec codec;
  static uint8_t data[8192], obj[ZCHUNK_HEADER_LEN + 8192 + CRYPTO_TAG_LEN];
  uint8_t aad[ZCHUNK_HEADER_LEN + 40];
  size_t n;
  int j;

  unit_make_codec (&codec, ZCOMP_ZSTD);
  fill_text (data, sizeof data);
  /* A real frame of 4096 bytes in an object that says 8192. */
  {
    struct zchunk_codec small = codec;
    uint8_t *o;
    size_t ol;
    static uint8_t out[8192];

    CHECK (zchunk_encode (&small, 9, 1, data, 4096, (void **) &o, &ol) == 0,
           "encode 4096");
    n = ol - ZCHUNK_HEADER_LEN - CRYPTO_TAG_LEN;
    memcpy (obj, o, ZCHUNK_HEADER_LEN);
    obj[16] = 0; obj[17] = 0; obj[18] = 0x20; obj[19] = 0;   /* 8192 */
    memcpy (aad, obj, ZCHUNK_HEADER_LEN);
    memcpy (aad + 32, codec.volume_uuid, 16);
    memcpy (aad + 48, codec.device_uuid, 16);
    for (j = 0; j < 8; j++)
      aad[64 + j] = j == 7 ? 9 : 0;
    /* Decrypt the payload with the real AAD, reseal with the new. */
    {
      uint8_t realaad[ZCHUNK_HEADER_LEN + 40];
      static uint8_t frame[8192];
      memcpy (realaad, o, ZCHUNK_HEADER_LEN);
      memcpy (realaad + 32, aad + 32, 40);
      CHECK (crypto_unseal (codec.key, o + 20, realaad, sizeof realaad,
                      o + ZCHUNK_HEADER_LEN, n + CRYPTO_TAG_LEN, frame) == 0,
             "open frame");
      CHECK (crypto_seal (codec.key, obj + 20, aad, sizeof aad, frame, n,
                      obj + ZCHUNK_HEADER_LEN) == 0, "reseal");
    }
    free (o);
    errno = 0;
    unit_clear_errors ();
    CHECK (zchunk_decode (&codec, 9, obj, ZCHUNK_HEADER_LEN + n + CRYPTO_TAG_LEN,
                          out, 8192, NULL, "LYING") == -1 &&
           errno == EBADMSG && strstr (last_error, "LYING"),
           "frame of 4096 bytes in a chunk of 8192: %s", last_error);
  }
}

static void
test_chunks (void)
{
  struct zchunk_codec raw, zstd;
  uint8_t *random_data, *text, *obj;
  size_t objlen;

  unit_make_codec (&raw, ZCOMP_NONE);
  unit_make_codec (&zstd, ZCOMP_ZSTD);
  random_data = malloc (ZCHUNK_SIZE);
  text = malloc (ZCHUNK_SIZE);
  REQUIRE (random_data && text);
  fill_random (random_data, ZCHUNK_SIZE);
  fill_text (text, ZCHUNK_SIZE);

  round_trip (&raw, random_data, ZCHUNK_SIZE, ZCOMP_NONE, "random, none");
  round_trip (&zstd, random_data, ZCHUNK_SIZE, ZCOMP_NONE,
              "random, zstd falls back to raw");
  round_trip (&raw, text, ZCHUNK_SIZE, ZCOMP_NONE, "text, none");
  round_trip (&zstd, text, ZCHUNK_SIZE, ZCOMP_ZSTD, "text, zstd");
  round_trip (&raw, random_data, 3 * 4096, ZCOMP_NONE, "short last, none");
  round_trip (&zstd, text, 3 * 4096, ZCOMP_ZSTD, "short last, zstd");
  round_trip (&zstd, random_data, 4096, ZCOMP_NONE, "4096 random, zstd");

  errno = 0;
  CHECK (zchunk_encode (&raw, 0, 0, text, 0, (void **) &obj, &objlen) == -1
         && errno == EINVAL, "empty chunk refused");
  errno = 0;
  CHECK (zchunk_encode (&raw, 0, 0, text, ZCHUNK_SIZE + 1, (void **) &obj,
                        &objlen) == -1 && errno == EINVAL,
         "oversized chunk refused");

  test_lying_frame ();
  free (random_data);
  free (text);
}

/* The sample that decides whether a chunk is worth compressing: it must
 * never keep a chunk that compresses well from being compressed, and it
 * must spare the attempt on data that does not compress.  Each case is
 * encoded too, and its object's size checked against what zstd gets
 * out of the whole chunk.
 */
static void
judged (const struct zchunk_codec *zstd, const uint8_t *data, size_t len,
        int want, int want_compression, size_t max_objlen, const char *what)
{
  static uint8_t out[ZCHUNK_SIZE];
  uint8_t *obj = NULL;
  size_t objlen;
  int r;

  r = zchunk_worth_compressing (data, len, zstd->level);
  CHECK (r == want, "%s: worth compressing %d, want %d", what, r, want);
  CHECK (zchunk_encode (zstd, 9, 1, data, len, (void **) &obj, &objlen) == 0,
         "%s: encode", what);
  if (obj == NULL)
    return;
  CHECK (obj[5] == want_compression && objlen <= max_objlen,
         "%s: compression %u, object of %zu bytes (at most %zu)",
         what, obj[5], objlen, max_objlen);
  CHECK (zchunk_decode (zstd, 9, obj, objlen, out, len, NULL, "x") == 0 &&
         memcmp (out, data, len) == 0, "%s: round trip", what);
  free (obj);
}

static void
test_compressibility (void)
{
  struct zchunk_codec zstd;
  uint8_t *data = malloc (ZCHUNK_SIZE);
  const size_t raw_len = ZCHUNK_HEADER_LEN + ZCHUNK_SIZE + CRYPTO_TAG_LEN;
  size_t i;

  REQUIRE (data != NULL);
  unit_make_codec (&zstd, ZCOMP_ZSTD);

  fill_random (data, ZCHUNK_SIZE);
  judged (&zstd, data, ZCHUNK_SIZE, 0, ZCOMP_NONE, raw_len, "random");

  /* Compressible in one part only: the second half zeros. */
  memset (data + ZCHUNK_SIZE / 2, 0, ZCHUNK_SIZE / 2);
  judged (&zstd, data, ZCHUNK_SIZE, 1, ZCOMP_ZSTD, raw_len * 6 / 10,
          "half zeros");

  /* Random but for its last quarter: saves a quarter, which the sample
   * sees.  Random but for its last eighth or sixteenth, like fio's
   * buffers (which compress by 4 to 10%): compression would save less
   * than the eighth a chunk must save, and the sample says so (before,
   * the 1/32 it asked for let fio's through, and zstd then cost a third
   * of the CPU of a sequential write).
   */
  fill_random (data, ZCHUNK_SIZE);
  memset (data + ZCHUNK_SIZE - ZCHUNK_SIZE / 4, 0, ZCHUNK_SIZE / 4);
  judged (&zstd, data, ZCHUNK_SIZE, 1, ZCOMP_ZSTD, raw_len * 8 / 10,
          "last quarter zeros");
  fill_random (data, ZCHUNK_SIZE);
  memset (data + ZCHUNK_SIZE - ZCHUNK_SIZE / 8, 0, ZCHUNK_SIZE / 8);
  judged (&zstd, data, ZCHUNK_SIZE, 0, ZCOMP_NONE, raw_len,
          "last eighth zeros");
  fill_random (data, ZCHUNK_SIZE);
  memset (data + ZCHUNK_SIZE - ZCHUNK_SIZE / 16, 0, ZCHUNK_SIZE / 16);
  judged (&zstd, data, ZCHUNK_SIZE, 0, ZCOMP_NONE, raw_len,
          "last sixteenth zeros");

  /* Database-like pages: 8 KiB pages, each 2 KiB of random rows and
   * 6 KiB of free space; 16 KiB pages with 4 KiB of rows.
   */
  fill_random (data, ZCHUNK_SIZE);
  for (i = 0; i < ZCHUNK_SIZE; i += 8192)
    memset (data + i + 2048, 0, 6144);
  judged (&zstd, data, ZCHUNK_SIZE, 1, ZCOMP_ZSTD, raw_len * 4 / 10,
          "sparse 8 KiB pages");
  fill_random (data, ZCHUNK_SIZE);
  for (i = 0; i < ZCHUNK_SIZE; i += 16384)
    memset (data + i + 4096, 0, 12288);
  judged (&zstd, data, ZCHUNK_SIZE, 1, ZCOMP_ZSTD, raw_len * 4 / 10,
          "sparse 16 KiB pages");

  /* The same random 4 KiB page written 256 times: only repeats, which
   * only a sample at an even stride sees.
   */
  fill_random (data, 4096);
  for (i = 4096; i < ZCHUNK_SIZE; i += 4096)
    memcpy (data + i, data, 4096);
  judged (&zstd, data, ZCHUNK_SIZE, 1, ZCOMP_ZSTD, raw_len / 10,
          "one page repeated");

  /* Text, and short last chunks of random data: below 256 KiB always
   * tried, above judged, each in a buffer of its own length (the
   * sample stays within it: valgrind and the sanitizers check).
   */
  fill_text (data, ZCHUNK_SIZE);
  judged (&zstd, data, ZCHUNK_SIZE, 1, ZCOMP_ZSTD, raw_len / 4, "text");
  free (data);
  {
    static const size_t lens[] = { 64 * 1024, 200 * 1024, 256 * 1024,
                                   300 * 1024, ZCHUNK_SIZE - 4096 };
    size_t k;

    for (k = 0; k < sizeof lens / sizeof lens[0]; k++) {
      data = malloc (lens[k]);
      REQUIRE (data != NULL);
      fill_random (data, lens[k]);
      judged (&zstd, data, lens[k], lens[k] < 256 * 1024, ZCOMP_NONE,
              ZCHUNK_HEADER_LEN + lens[k] + CRYPTO_TAG_LEN, "short random");
      /* Short chunks are tried whole, and the whole must save an eighth
       * too: a sixteenth of zeros is stored raw, a quarter compressed.
       */
      memset (data + lens[k] - lens[k] / 16, 0, lens[k] / 16);
      judged (&zstd, data, lens[k], lens[k] < 256 * 1024, ZCOMP_NONE,
              ZCHUNK_HEADER_LEN + lens[k] + CRYPTO_TAG_LEN,
              "short, a sixteenth zeros");
      memset (data + lens[k] - lens[k] / 4, 0, lens[k] / 4);
      judged (&zstd, data, lens[k], 1, ZCOMP_ZSTD,
              ZCHUNK_HEADER_LEN + lens[k] * 8 / 10 + CRYPTO_TAG_LEN,
              "short, a quarter zeros");
      free (data);
    }
  }
}

/* Several threads at once: per-thread contexts, then their destructors. */
static void *
worker (void *arg)
{
  struct zchunk_codec codec;
  uint8_t *data = malloc (ZCHUNK_SIZE), *out = malloc (ZCHUNK_SIZE);
  uint8_t xkey[64], sector[4096];
  uint8_t *obj;
  size_t objlen;
  long bad = 0;
  int i;

  if (!data || !out)
    return (void *) 1;
  unit_make_codec (&codec, (intptr_t) arg % 2 ? ZCOMP_ZSTD : ZCOMP_NONE);
  fill_text (data, ZCHUNK_SIZE);
  for (i = 0; i < 64; i++)
    xkey[i] = i + 1;
  for (i = 0; i < 8; i++) {
    data[i] = i + (intptr_t) arg;
    if (zchunk_encode (&codec, i, i, data, ZCHUNK_SIZE,
                       (void **) &obj, &objlen) == -1) {
      bad++;
      continue;
    }
    if (zchunk_decode (&codec, i, obj, objlen, out, ZCHUNK_SIZE, NULL,
                       "t") == -1 || memcmp (out, data, ZCHUNK_SIZE) != 0)
      bad++;
    free (obj);
    memcpy (sector, data, sizeof sector);
    if (crypto_xts (xkey, 1, i, sector, sector, sizeof sector) == -1 ||
        crypto_xts (xkey, 0, i, sector, sector, sizeof sector) == -1 ||
        memcmp (sector, data, sizeof sector) != 0)
      bad++;
  }
  free (data);
  free (out);
  return (void *) bad;
}

static void
test_threads (void)
{
  pthread_t threads[4];
  void *result;
  intptr_t i;

  for (i = 0; i < 4; i++)
    REQUIRE (pthread_create (&threads[i], NULL, worker, (void *) i) == 0);
  for (i = 0; i < 4; i++) {
    CHECK (pthread_join (threads[i], &result) == 0, "join");
    CHECK (result == NULL, "thread %d: %ld failures", (int) i,
           (long) (intptr_t) result);
  }
}

int
main (void)
{
  unit_capture_errors ();

  test_hashes ();
  test_kdfs ();
  test_gcm ();
  test_xts ();
  test_xts_units ();
  test_zero ();
  test_chunks ();
  test_compressibility ();
  test_threads ();

  return unit_exit_status ("test-unit-chunk");
}
