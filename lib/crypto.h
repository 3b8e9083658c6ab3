/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: the few cryptographic primitives zerofs uses, over OpenSSL 3.
 *
 *   AES-256-GCM  sealing of chunks, device metadata and the wrapped DEK
 *   scrypt       password -> key-encryption key (memory-hard)
 *   HKDF-SHA256  DEK -> per-purpose and per-device subkeys
 *   AES-256-XTS  the local chunk cache, encrypted at rest per 4 KiB sector
 *   SHA-256, HMAC-SHA256, MD5 (Content-MD5 only), random bytes
 *
 * All functions return 0 on success, -1 on error (zerror, errno set);
 * crypto_unseal on a tag that does not verify returns -1 with errno =
 * EBADMSG and logs nothing: the caller knows what the object was and
 * says so.
 * Cipher contexts are cached per thread, so the hot paths (a 4 KiB cache
 * sector, a 1 MiB chunk) allocate nothing.
 */
#ifndef ZEROFS_CRYPTO_H
#define ZEROFS_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define CRYPTO_KEY_LEN   32
#define CRYPTO_NONCE_LEN 12
#define CRYPTO_TAG_LEN   16
#define CRYPTO_XTS_KEY_LEN 64

extern int crypto_random (void *buf, size_t len);

/* CT must have room for PTLEN + CRYPTO_TAG_LEN bytes (ciphertext then tag). */
extern int crypto_seal (const uint8_t key[CRYPTO_KEY_LEN],
                        const uint8_t nonce[CRYPTO_NONCE_LEN],
                        const void *aad, size_t aadlen,
                        const void *pt, size_t ptlen, void *ct);
/* CTLEN includes the tag; PT gets CTLEN - CRYPTO_TAG_LEN bytes. */
extern int crypto_unseal (const uint8_t key[CRYPTO_KEY_LEN],
                          const uint8_t nonce[CRYPTO_NONCE_LEN],
                          const void *aad, size_t aadlen,
                          const void *ct, size_t ctlen, void *pt);

/* scrypt with N = 2^LOG2_N, R, P. */
extern int crypto_scrypt (const char *password, size_t pwlen,
                          const uint8_t *salt, size_t saltlen,
                          unsigned log2_n, unsigned r, unsigned p,
                          uint8_t *out, size_t outlen);

/* HKDF-SHA256 (extract with SALT, expand with INFO). */
extern int crypto_hkdf (const uint8_t *ikm, size_t ikmlen,
                        const uint8_t *salt, size_t saltlen,
                        const char *info,
                        uint8_t *out, size_t outlen);

/* AES-256-XTS over LEN bytes (a multiple of 16, at least 16) with the
 * 128-bit tweak built from TWEAK (little-endian, zero-extended).  IN and
 * OUT may be the same buffer.  ENCRYPT: 1 to encrypt, 0 to decrypt.
 * The two key halves must differ (OpenSSL refuses equal halves).
 */
extern int crypto_xts (const uint8_t key[CRYPTO_XTS_KEY_LEN], int encrypt,
                       uint64_t tweak, const void *in, void *out, size_t len);
/* The same over LEN bytes cut into data units of UNIT bytes (LEN a
 * multiple of UNIT): unit i has the tweak FIRST_TWEAK + i.
 */
extern int crypto_xts_units (const uint8_t key[CRYPTO_XTS_KEY_LEN],
                             int encrypt, uint64_t first_tweak, size_t unit,
                             const void *in, void *out, size_t len);

extern void crypto_sha256 (const void *data, size_t len, uint8_t out[32]);
extern void crypto_hmac_sha256 (const void *key, size_t keylen,
                                const void *data, size_t len, uint8_t out[32]);
extern void crypto_md5 (const void *data, size_t len, uint8_t out[16]);
/* Only for names that others chose (the AWS SSO token cache's). */
extern void crypto_sha1 (const void *data, size_t len, uint8_t out[20]);

/* Lowercase hex of LEN bytes into OUT (2*LEN+1 bytes, NUL-terminated). */
extern void crypto_hex (const void *data, size_t len, char *out);

/* Base64 (standard alphabet, padded) into OUT (4*ceil(LEN/3)+1 bytes). */
extern void crypto_base64 (const void *data, size_t len, char *out);

/* Constant-time comparison: 0 if equal. */
extern int crypto_memcmp (const void *a, const void *b, size_t len);

#endif /* ZEROFS_CRYPTO_H */
