/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: cryptographic primitives over OpenSSL 3 (see crypto.h).
 *
 * This file owns every call into libcrypto, so that the rest of zerofs
 * sees a handful of functions with zerofs error conventions and never an
 * OpenSSL object.
 *
 * Speed.  OpenSSL 3 makes two things expensive that the naive use of EVP
 * does on every call: fetching an algorithm from the provider (a global
 * lock and a hash lookup when EVP_aes_256_gcm() is passed to an init
 * function) and allocating a context.  So the algorithms are fetched
 * once per process (pthread_once) and each thread keeps its own contexts
 * (struct crypto_thread), created on first use and re-keyed on each call.
 * Sealing a 1 MiB chunk or encrypting a 4 KiB cache sector then
 * allocates nothing.  The XTS contexts also remember their key, so a
 * run of sectors under one cache key skips the AES key schedule.
 *
 * Lifetime.  A thread's contexts are freed (and the remembered keys
 * wiped) by a pthread_key destructor when the thread exits.  The main
 * thread's contexts and the fetched algorithms live until the process
 * exits: they stay reachable, so valgrind counts them as such, never as
 * leaks.  Freeing them from an ELF destructor would race with OpenSSL's
 * own atexit cleanup.
 *
 * Both rest on this code staying mapped until the process exits, which
 * a dlopen()ed module cannot take for granted: nbdkit's connection
 * threads are detached, so one may still be exiting (and about to run
 * our destructor) when nbdkit has called .unload and dlclose()d the
 * plugin; and the pointers to the algorithms would vanish with the
 * plugin's data, turning them into leaks.  So the first use pins the
 * object that holds this file (zmodule_pin, module.h).
 *
 * The functions declared void (hashes, MAC) can fail only when a
 * thread's first call cannot allocate its context or the OpenSSL
 * installation lacks SHA-256/MD5/HMAC; they report and abort rather than
 * hand back an unset digest.
 */
#include <config.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "cleanup.h"

#include "crypto.h"
#include "log.h"
#include "module.h"

/* Algorithms, fetched once. */
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static bool init_ok;
static EVP_CIPHER *alg_gcm;
static EVP_CIPHER *alg_xts;
static EVP_MD *alg_sha256;
static EVP_MD *alg_md5;
static EVP_MD *alg_sha1;
static EVP_MAC *alg_hmac;
static EVP_KDF *alg_hkdf;
static pthread_key_t thread_key;

/* One thread's contexts.  Each is NULL until first used. */
struct crypto_thread {
  EVP_CIPHER_CTX *gcm_enc, *gcm_dec;
  EVP_CIPHER_CTX *xts_enc, *xts_dec;
  uint8_t xts_enc_key[CRYPTO_XTS_KEY_LEN]; /* the key each XTS context holds */
  uint8_t xts_dec_key[CRYPTO_XTS_KEY_LEN];
  bool xts_enc_keyed, xts_dec_keyed;
  EVP_MD_CTX *md;
  EVP_MAC_CTX *hmac;
};

static __thread struct crypto_thread *this_thread;

/* Report the first queued OpenSSL error after WHAT, clear the queue,
 * set errno (ENOMEM or EIO) and return -1.
 */
static int
ssl_fail (const char *what)
{
  unsigned long e = ERR_get_error ();
  int err = EIO;
  char msg[256];

  if (e != 0) {
    ERR_error_string_n (e, msg, sizeof msg);
    if (ERR_GET_REASON (e) == ERR_R_MALLOC_FAILURE)
      err = ENOMEM;
  }
  else
    strcpy (msg, "unknown OpenSSL error");
  ERR_clear_error ();
  zerror ("%s: %s", what, msg);
  errno = err;
  return -1;
}

static void
free_thread (void *p)
{
  struct crypto_thread *t = p;

  EVP_CIPHER_CTX_free (t->gcm_enc);
  EVP_CIPHER_CTX_free (t->gcm_dec);
  EVP_CIPHER_CTX_free (t->xts_enc);
  EVP_CIPHER_CTX_free (t->xts_dec);
  EVP_MD_CTX_free (t->md);
  EVP_MAC_CTX_free (t->hmac);
  OPENSSL_cleanse (t, sizeof *t);
  free (t);
  if (this_thread == t)
    this_thread = NULL;
}


static void
do_init (void)
{
  zmodule_pin ();
  if (pthread_key_create (&thread_key, free_thread) != 0)
    return;
  alg_gcm = EVP_CIPHER_fetch (NULL, "AES-256-GCM", NULL);
  alg_xts = EVP_CIPHER_fetch (NULL, "AES-256-XTS", NULL);
  alg_sha256 = EVP_MD_fetch (NULL, "SHA256", NULL);
  alg_md5 = EVP_MD_fetch (NULL, "MD5", NULL);
  alg_sha1 = EVP_MD_fetch (NULL, "SHA1", NULL);
  alg_hmac = EVP_MAC_fetch (NULL, "HMAC", NULL);
  alg_hkdf = EVP_KDF_fetch (NULL, "HKDF", NULL);
  init_ok = alg_gcm && alg_xts && alg_sha256 && alg_md5 && alg_sha1 &&
    alg_hmac && alg_hkdf;
}

/* This thread's context table, set up on first use. */
static struct crypto_thread *
get_thread (void)
{
  struct crypto_thread *t;
  int r;

  if (this_thread)
    return this_thread;

  if ((r = pthread_once (&init_once, do_init)) != 0) {
    errno = r;
    zerror ("crypto: pthread_once: %m");
    return NULL;
  }
  if (!init_ok) {
    ssl_fail ("crypto: OpenSSL lacks AES-256-GCM, AES-256-XTS, SHA-256, "
              "MD5, SHA-1, HMAC or HKDF");
    return NULL;
  }
  t = calloc (1, sizeof *t);
  if (t == NULL) {
    zerror ("crypto: calloc: %m");
    return NULL;
  }
  if ((r = pthread_setspecific (thread_key, t)) != 0) {
    free (t);
    errno = r;
    zerror ("crypto: pthread_setspecific: %m");
    return NULL;
  }
  this_thread = t;
  return t;
}

/* Make sure *CTX exists and is bound to CIPHER in direction ENC. */
static int
cipher_ctx (EVP_CIPHER_CTX **ctx, const EVP_CIPHER *cipher, int enc)
{
  if (*ctx)
    return 0;
  *ctx = EVP_CIPHER_CTX_new ();
  if (*ctx == NULL)
    return ssl_fail ("crypto: EVP_CIPHER_CTX_new");
  if (!EVP_CipherInit_ex2 (*ctx, cipher, NULL, NULL, enc, NULL)) {
    EVP_CIPHER_CTX_free (*ctx);
    *ctx = NULL;
    return ssl_fail ("crypto: EVP_CipherInit_ex2");
  }
  return 0;
}

/* EVP update calls take an int length: feed LEN bytes in pieces.  With
 * OUT == NULL this adds AAD.
 */
static int
cipher_update (EVP_CIPHER_CTX *ctx, uint8_t *out,
               const uint8_t *in, size_t len)
{
  int piece, outl;

  while (len > 0) {
    piece = len > (1u << 30) ? (1 << 30) : (int) len;
    if (!EVP_CipherUpdate (ctx, out, &outl, in, piece) ||
        (out != NULL && outl != piece))
      return -1;
    in += piece;
    if (out)
      out += piece;
    len -= piece;
  }
  return 0;
}

int
crypto_random (void *buf, size_t len)
{
  uint8_t *p = buf;
  int piece;

  while (len > 0) {
    piece = len > (1u << 30) ? (1 << 30) : (int) len;
    if (RAND_bytes (p, piece) != 1)
      return ssl_fail ("crypto: RAND_bytes");
    p += piece;
    len -= piece;
  }
  return 0;
}

int
crypto_seal (const uint8_t key[CRYPTO_KEY_LEN],
             const uint8_t nonce[CRYPTO_NONCE_LEN],
             const void *aad, size_t aadlen,
             const void *pt, size_t ptlen, void *ct)
{
  struct crypto_thread *t = get_thread ();
  EVP_CIPHER_CTX *ctx;
  int outl;

  if (t == NULL || cipher_ctx (&t->gcm_enc, alg_gcm, 1) == -1)
    return -1;
  ctx = t->gcm_enc;

  if (!EVP_EncryptInit_ex2 (ctx, NULL, key, nonce, NULL) ||
      (aadlen > 0 && cipher_update (ctx, NULL, aad, aadlen) == -1) ||
      cipher_update (ctx, ct, pt, ptlen) == -1 ||
      !EVP_EncryptFinal_ex (ctx, (uint8_t *) ct + ptlen, &outl) ||
      !EVP_CIPHER_CTX_ctrl (ctx, EVP_CTRL_AEAD_GET_TAG, CRYPTO_TAG_LEN,
                            (uint8_t *) ct + ptlen))
    return ssl_fail ("crypto: AES-256-GCM seal");
  return 0;
}

int
crypto_unseal (const uint8_t key[CRYPTO_KEY_LEN],
               const uint8_t nonce[CRYPTO_NONCE_LEN],
               const void *aad, size_t aadlen,
               const void *ct, size_t ctlen, void *pt)
{
  struct crypto_thread *t;
  EVP_CIPHER_CTX *ctx;
  size_t ptlen;
  uint8_t tag[CRYPTO_TAG_LEN];
  int outl;

  if (ctlen < CRYPTO_TAG_LEN) {
    errno = EBADMSG;
    return -1;
  }
  ptlen = ctlen - CRYPTO_TAG_LEN;
  /* Copy the tag first: PT may overlap CT. */
  memcpy (tag, (const uint8_t *) ct + ptlen, CRYPTO_TAG_LEN);

  t = get_thread ();
  if (t == NULL || cipher_ctx (&t->gcm_dec, alg_gcm, 0) == -1)
    return -1;
  ctx = t->gcm_dec;

  if (!EVP_DecryptInit_ex2 (ctx, NULL, key, nonce, NULL) ||
      (aadlen > 0 && cipher_update (ctx, NULL, aad, aadlen) == -1) ||
      cipher_update (ctx, pt, ct, ptlen) == -1 ||
      !EVP_CIPHER_CTX_ctrl (ctx, EVP_CTRL_AEAD_SET_TAG, CRYPTO_TAG_LEN, tag))
    return ssl_fail ("crypto: AES-256-GCM open");

  if (EVP_DecryptFinal_ex (ctx, (uint8_t *) pt + ptlen, &outl) != 1) {
    /* The tag does not verify.  Never leave unauthenticated plaintext
     * behind, and leave the message to the caller, who knows the object.
     */
    ERR_clear_error ();
    OPENSSL_cleanse (pt, ptlen);
    errno = EBADMSG;
    return -1;
  }
  return 0;
}

int
crypto_scrypt (const char *password, size_t pwlen,
               const uint8_t *salt, size_t saltlen,
               unsigned log2_n, unsigned r, unsigned p,
               uint8_t *out, size_t outlen)
{
  uint64_t n, maxmem;

  /* scrypt itself needs N > 1, r * p < 2^30; 2^40 blocks would be
   * terabytes of memory.
   */
  if (log2_n < 1 || log2_n > 40 || r == 0 || p == 0 ||
      (uint64_t) r * p >= (UINT64_C (1) << 30)) {
    zerror ("scrypt: invalid parameters log2(N)=%u r=%u p=%u", log2_n, r, p);
    errno = EINVAL;
    return -1;
  }
  n = UINT64_C (1) << log2_n;
  /* What OpenSSL allocates: 128 r (N + 2) bytes for V and 128 r p for
   * B; give it exactly that much room, plus slack.
   */
  if (__builtin_mul_overflow (128 * (uint64_t) r, n + 2, &maxmem) ||
      __builtin_add_overflow (maxmem, 128 * (uint64_t) r * p + 65536,
                              &maxmem)) {
    zerror ("scrypt: parameters log2(N)=%u r=%u need more memory than "
            "can be addressed", log2_n, r);
    errno = EINVAL;
    return -1;
  }

  if (!EVP_PBE_scrypt (password, pwlen, salt, saltlen, n, r, p, maxmem,
                       out, outlen))
    return ssl_fail ("scrypt");
  return 0;
}

/* An HKDF context freed (which cleanses its copy of the key) when the
 * scope ends.
 */
DEFINE_CLEANUP_POINTER (kdf_ctx, EVP_KDF_CTX *, EVP_KDF_CTX_free);
#define CLEANUP_KDF_CTX CLEANUP (kdf_ctx)

int
crypto_hkdf (const uint8_t *ikm, size_t ikmlen,
             const uint8_t *salt, size_t saltlen,
             const char *info, uint8_t *out, size_t outlen)
{
  CLEANUP_KDF_CTX EVP_KDF_CTX *kctx = NULL;
  OSSL_PARAM params[5], *p = params;

  if (get_thread () == NULL)
    return -1;

  *p++ = OSSL_PARAM_construct_utf8_string (OSSL_KDF_PARAM_DIGEST,
                                           (char *) "SHA256", 0);
  *p++ = OSSL_PARAM_construct_octet_string (OSSL_KDF_PARAM_KEY,
                                            (void *) ikm, ikmlen);
  if (salt && saltlen > 0)
    *p++ = OSSL_PARAM_construct_octet_string (OSSL_KDF_PARAM_SALT,
                                              (void *) salt, saltlen);
  if (info && *info)
    *p++ = OSSL_PARAM_construct_octet_string (OSSL_KDF_PARAM_INFO,
                                              (void *) info, strlen (info));
  *p = OSSL_PARAM_construct_end ();

  kctx = EVP_KDF_CTX_new (alg_hkdf);
  if (kctx == NULL)
    return ssl_fail ("HKDF: EVP_KDF_CTX_new");
  if (EVP_KDF_derive (kctx, out, outlen, params) != 1)
    return ssl_fail ("HKDF");
  return 0;
}

int
crypto_xts (const uint8_t key[CRYPTO_XTS_KEY_LEN], int encrypt,
            uint64_t tweak, const void *in, void *out, size_t len)
{
  return crypto_xts_units (key, encrypt, tweak, len, in, out, len);
}

int
crypto_xts_units (const uint8_t key[CRYPTO_XTS_KEY_LEN], int encrypt,
                  uint64_t first_tweak, size_t unit,
                  const void *in, void *out, size_t len)
{
  struct crypto_thread *t = get_thread ();
  EVP_CIPHER_CTX **ctx;
  uint8_t *held_key;
  bool *keyed;
  uint8_t iv[16];
  const uint8_t *new_key;
  const uint8_t *src = in;
  uint8_t *dst = out;
  uint64_t tweak;
  size_t done;
  int i, outl;

  if (t == NULL)
    return -1;
  if (unit < 16 || unit % 16 != 0 || unit > (1u << 24) ||
      len == 0 || len % unit != 0) {
    zerror ("AES-256-XTS: invalid data unit length %zu (of %zu bytes)",
            unit, len);
    errno = EINVAL;
    return -1;
  }

  if (encrypt) {
    ctx = &t->xts_enc;
    held_key = t->xts_enc_key;
    keyed = &t->xts_enc_keyed;
  }
  else {
    ctx = &t->xts_dec;
    held_key = t->xts_dec_key;
    keyed = &t->xts_dec_keyed;
  }
  if (cipher_ctx (ctx, alg_xts, encrypt ? 1 : 0) == -1)
    return -1;

  /* Only re-key when the key changes: the key schedule of two AES keys
   * costs as much as encrypting a good part of a sector.
   */
  new_key =
    *keyed && memcmp (held_key, key, CRYPTO_XTS_KEY_LEN) == 0 ? NULL : key;
  if (new_key) {
    *keyed = false;
    if (CRYPTO_memcmp (key, key + CRYPTO_XTS_KEY_LEN / 2,
                       CRYPTO_XTS_KEY_LEN / 2) == 0) {
      zerror ("AES-256-XTS: the two key halves are equal");
      errno = EINVAL;
      return -1;
    }
  }
  memset (iv + 8, 0, 8);
  for (done = 0, tweak = first_tweak; done < len; done += unit, tweak++) {
    for (i = 0; i < 8; i++)
      iv[i] = tweak >> (8 * i);
    if (!EVP_CipherInit_ex2 (*ctx, NULL, new_key, iv, encrypt ? 1 : 0, NULL))
      return ssl_fail ("AES-256-XTS: init");
    if (new_key) {
      memcpy (held_key, key, CRYPTO_XTS_KEY_LEN);
      *keyed = true;
      new_key = NULL;
    }
    /* XTS processes one data unit per update call. */
    if (!EVP_CipherUpdate (*ctx, dst + done, &outl, src + done, (int) unit) ||
        outl != (int) unit)
      return ssl_fail ("AES-256-XTS");
  }
  return 0;
}

/* The void functions abort on the failures described at the top. */
static void __attribute__ ((noreturn))
hash_abort (const char *what)
{
  ssl_fail (what);
  abort ();
}

/* MD points at the algorithm variable: it is set by the first call. */
static void
digest (EVP_MD *const *md, const char *what,
        const void *data, size_t len, uint8_t *out)
{
  struct crypto_thread *t = get_thread ();
  unsigned outl;

  if (t == NULL)
    hash_abort (what);
  if (t->md == NULL && (t->md = EVP_MD_CTX_new ()) == NULL)
    hash_abort (what);
  if (!EVP_DigestInit_ex2 (t->md, *md, NULL) ||
      !EVP_DigestUpdate (t->md, data, len) ||
      !EVP_DigestFinal_ex (t->md, out, &outl))
    hash_abort (what);
}

void
crypto_sha256 (const void *data, size_t len, uint8_t out[32])
{
  digest (&alg_sha256, "SHA-256", data, len, out);
}

void
crypto_md5 (const void *data, size_t len, uint8_t out[16])
{
  digest (&alg_md5, "MD5", data, len, out);
}

void
crypto_sha1 (const void *data, size_t len, uint8_t out[20])
{
  digest (&alg_sha1, "SHA-1", data, len, out);
}

void
crypto_hmac_sha256 (const void *key, size_t keylen,
                    const void *data, size_t len, uint8_t out[32])
{
  struct crypto_thread *t = get_thread ();
  OSSL_PARAM params[2];
  size_t outl;

  if (t == NULL)
    hash_abort ("HMAC-SHA256");
  if (t->hmac == NULL) {
    t->hmac = EVP_MAC_CTX_new (alg_hmac);
    params[0] = OSSL_PARAM_construct_utf8_string (OSSL_MAC_PARAM_DIGEST,
                                                  (char *) "SHA256", 0);
    params[1] = OSSL_PARAM_construct_end ();
    if (t->hmac == NULL || !EVP_MAC_CTX_set_params (t->hmac, params))
      hash_abort ("HMAC-SHA256");
  }
  if (!EVP_MAC_init (t->hmac, key, keylen, NULL) ||
      !EVP_MAC_update (t->hmac, data, len) ||
      !EVP_MAC_final (t->hmac, out, &outl, 32))
    hash_abort ("HMAC-SHA256");
}

void
crypto_hex (const void *data, size_t len, char *out)
{
  static const char digits[] = "0123456789abcdef";
  const uint8_t *p = data;
  size_t i;

  for (i = 0; i < len; i++) {
    out[2 * i] = digits[p[i] >> 4];
    out[2 * i + 1] = digits[p[i] & 15];
  }
  out[2 * len] = '\0';
}

void
crypto_base64 (const void *data, size_t len, char *out)
{
  static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const uint8_t *p = data;
  uint32_t v;
  size_t i;

  for (i = 0; i + 3 <= len; i += 3) {
    v = (uint32_t) p[i] << 16 | (uint32_t) p[i + 1] << 8 | p[i + 2];
    *out++ = alphabet[v >> 18];
    *out++ = alphabet[(v >> 12) & 63];
    *out++ = alphabet[(v >> 6) & 63];
    *out++ = alphabet[v & 63];
  }
  if (len - i == 1) {
    v = (uint32_t) p[i] << 16;
    *out++ = alphabet[v >> 18];
    *out++ = alphabet[(v >> 12) & 63];
    *out++ = '=';
    *out++ = '=';
  }
  else if (len - i == 2) {
    v = (uint32_t) p[i] << 16 | (uint32_t) p[i + 1] << 8;
    *out++ = alphabet[v >> 18];
    *out++ = alphabet[(v >> 12) & 63];
    *out++ = alphabet[(v >> 6) & 63];
    *out++ = '=';
  }
  *out = '\0';
}

int
crypto_memcmp (const void *a, const void *b, size_t len)
{
  return CRYPTO_memcmp (a, b, len) != 0;
}
