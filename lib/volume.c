/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: volumes, their keys, and the devices they hold (see volume.h).
 *
 * This file owns the volume header and the device meta objects: their
 * byte layouts, the key hierarchy (password -> KEK -> DEK -> subkeys),
 * and the object keys of a device.  Everything read from the store is
 * treated as hostile until checked: the header is parsed field by field
 * (a header may not ask scrypt for more than ZKDF_MEMORY_MAX bytes), and
 * a meta object opens only under this volume's meta key, this volume's
 * uuid and the name it was written for.
 *
 * Creating a device (and a volume) uses a conditional PUT (If-None-Match)
 * so that two creators cannot both win.  Stores without conditional PUT
 * (Swift answers ENOTSUP) fall back to HEAD then PUT, which is what the
 * store allows.
 *
 * Removing a device deletes in rounds: list up to one delete batch of
 * the device's keys (not the lease or the meta), delete them, list again
 * from the start.  Memory stays bounded for a device of any size, and no
 * backend has to tolerate deletions in the middle of its own listing.
 * The lease and then the meta go last, so an interrupted rm leaves a
 * device that "rm" can remove again.
 *
 * Secrets (the password-derived KEK, the DEK, a decoded meta payload)
 * live in SECRET_BUFFERs, wiped however the function is left; the
 * cryptography itself, wiping included, is crypto.c's: this file calls
 * no OpenSSL function.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "byteorder.h"
#include "cleanup.h"
#include "vector.h"

#include "chunk.h"
#include "conf.h"
#include "crypto.h"
#include "log.h"
#include "store/objstore.h"
#include "volume.h"

#define VOLUME_MAGIC "ZFSV"
#define VOLUME_VERSION 1
#define KDF_SCRYPT 1
#define WRAP_AAD_LEN 76         /* header bytes covered by the DEK's tag */

#define META_MAGIC "ZFSM"
#define META_VERSION 1          /* the key uuid is the device uuid */
#define META_VERSION_KEY 2      /* with a key uuid of its own (a clone) */
#define META_HEADER_LEN 20
#define META_PAYLOAD_FIXED 45   /* uuid, size, chunk size, created,
                                   generation, namelen */
#define META_KEY_UUID_LEN 16    /* version 2: the key uuid, before namelen */

/* What a header may ask of scrypt. */
#define ZKDF_LOG2_N_MIN 10
#define ZKDF_LOG2_N_MAX 22
#define ZKDF_R_MAX 32
#define ZKDF_P_MAX 16
#define ZKDF_MEMORY_MAX (UINT64_C (4) << 30)

/* A random RFC 4122 version 4 uuid. */
static int
random_uuid (uint8_t uuid[16])
{
  if (crypto_random (uuid, 16) == -1)
    return -1;
  uuid[6] = (uuid[6] & 0x0f) | 0x40;
  uuid[8] = (uuid[8] & 0x3f) | 0x80;
  return 0;
}

void
zuuid_format (const uint8_t uuid[16], char out[37])
{
  char hex[33];

  crypto_hex (uuid, 16, hex);
  snprintf (out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s",
            hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

/* Check KDF parameters, from the caller (EINVAL) or from a header. */
static int
kdf_params_check (const struct zkdf_params *kdf, const char *where, int err)
{
  uint64_t memory;

  if (kdf->log2_n < ZKDF_LOG2_N_MIN || kdf->log2_n > ZKDF_LOG2_N_MAX) {
    zerror ("%s: scrypt log2(N) = %u is outside %d..%d",
            where, kdf->log2_n, ZKDF_LOG2_N_MIN, ZKDF_LOG2_N_MAX);
    errno = err;
    return -1;
  }
  if (kdf->r == 0 || kdf->r > ZKDF_R_MAX) {
    zerror ("%s: scrypt r = %u is outside 1..%d", where, kdf->r, ZKDF_R_MAX);
    errno = err;
    return -1;
  }
  if (kdf->p == 0 || kdf->p > ZKDF_P_MAX) {
    zerror ("%s: scrypt p = %u is outside 1..%d", where, kdf->p, ZKDF_P_MAX);
    errno = err;
    return -1;
  }
  /* RFC 7914: N < 2^(128 r / 8); OpenSSL refuses more (found by
   * tests/fuzz/fuzz-volume-header: the refusal was an EIO).
   */
  if (kdf->log2_n >= 16 * kdf->r) {
    zerror ("%s: scrypt log2(N) = %u is too large for r = %u (scrypt needs "
            "N < 2^(16 r))", where, kdf->log2_n, kdf->r);
    errno = err;
    return -1;
  }
  memory = (UINT64_C (128) * kdf->r) << kdf->log2_n;
  if (memory > ZKDF_MEMORY_MAX) {
    zerror ("%s: scrypt log2(N) = %u, r = %u would need %" PRIu64
            " MiB of memory, more than the limit of %" PRIu64 " MiB",
            where, kdf->log2_n, kdf->r, memory >> 20, ZKDF_MEMORY_MAX >> 20);
    errno = err;
    return -1;
  }
  return 0;
}

/* Build the 124-byte header around DEK, sealed under a KEK derived from
 * PASSWORD with a fresh salt and nonce.
 */
static int
build_header (uint8_t header[ZVOLUME_HEADER_LEN], const uint8_t uuid[16],
              const uint8_t dek[CRYPTO_KEY_LEN], const char *password,
              const struct zkdf_params *kdf)
{
  SECRET_BUFFER (kek, CRYPTO_KEY_LEN);

  memcpy (header, VOLUME_MAGIC, 4);
  header[4] = VOLUME_VERSION;
  header[5] = KDF_SCRYPT;
  header[6] = kdf->log2_n;
  header[7] = 0;
  put_be32 (header + 8, kdf->r);
  put_be32 (header + 12, kdf->p);
  memcpy (header + 16, uuid, 16);
  if (crypto_random (header + 32, 32) == -1 ||     /* salt */
      crypto_random (header + 64, CRYPTO_NONCE_LEN) == -1)
    return -1;
  if (crypto_scrypt (password, strlen (password), header + 32, 32,
                     kdf->log2_n, kdf->r, kdf->p, kek, sizeof kek) == -1)
    return -1;
  return crypto_seal (kek, header + 64, header, WRAP_AAD_LEN,
                      dek, CRYPTO_KEY_LEN, header + WRAP_AAD_LEN);
}

/* Parse and check every field of a header read from STORE. */
static int
parse_header (struct objstore *store, const uint8_t *h, size_t len,
              uint8_t uuid[16], struct zkdf_params *kdf)
{
  char where[256];

  snprintf (where, sizeof where, "volume header %s in %s",
            ZVOLUME_HEADER_KEY, store->description);
  if (len != ZVOLUME_HEADER_LEN) {
    zerror ("%s has %zu bytes, expected %d",
            where, len, ZVOLUME_HEADER_LEN);
    errno = EBADMSG;
    return -1;
  }
  if (memcmp (h, VOLUME_MAGIC, 4) != 0) {
    zerror ("%s is not a zerofs volume header (bad magic)", where);
    errno = EBADMSG;
    return -1;
  }
  if (h[4] != VOLUME_VERSION) {
    zerror ("%s has format version %u, this zerofs reads version %d",
            where, h[4], VOLUME_VERSION);
    errno = ENOTSUP;
    return -1;
  }
  if (h[5] != KDF_SCRYPT) {
    zerror ("%s names unknown key derivation function %u (1 = scrypt)",
            where, h[5]);
    errno = ENOTSUP;
    return -1;
  }
  if (h[7] != 0) {
    zerror ("%s has a non-zero reserved byte", where);
    errno = EBADMSG;
    return -1;
  }
  kdf->log2_n = h[6];
  kdf->r = get_be32 (h + 8);
  kdf->p = get_be32 (h + 12);
  if (kdf_params_check (kdf, where, EBADMSG) == -1)
    return -1;
  memcpy (uuid, h + 16, 16);
  return 0;
}

/* Put OBJ at KEY only if KEY is absent: -1 with errno EEXIST (and no
 * message) if it is there.
 */
static int
put_if_absent (struct objstore *store, const char *key,
               const void *obj, size_t len)
{
  const struct objstore_cond cond = { .if_none_match = true };

  if (objstore_put_cond (store, key, obj, len, &cond, NULL) == 0)
    return 0;
  if (errno != ENOTSUP)
    return -1;

  /* No conditional PUT in this store: HEAD then PUT. */
  if (objstore_head (store, key, NULL) == 0) {
    errno = EEXIST;
    return -1;
  }
  if (errno != ENOENT)
    return -1;
  return objstore_put (store, key, obj, len);
}

int
zvolume_init (struct objstore *store, const char *password,
              const struct zkdf_params *kdf)
{
  struct zkdf_params params = kdf ? *kdf : ZKDF_DEFAULT;
  uint8_t header[ZVOLUME_HEADER_LEN];
  uint8_t uuid[16];
  SECRET_BUFFER (dek, CRYPTO_KEY_LEN);
  char where[256];

  if (password == NULL) {
    zerror ("volume %s: no password given", store->description);
    errno = EINVAL;
    return -1;
  }
  snprintf (where, sizeof where, "volume %s", store->description);
  if (kdf_params_check (&params, where, EINVAL) == -1)
    return -1;

  if (random_uuid (uuid) == -1 || crypto_random (dek, sizeof dek) == -1 ||
      build_header (header, uuid, dek, password, &params) == -1)
    return -1;

  if (put_if_absent (store, ZVOLUME_HEADER_KEY, header, sizeof header)
      == -1) {
    if (errno == EEXIST)
      zerror ("volume %s already exists", store->description);
    return -1;
  }
  return 0;
}

static int
derive_meta_key (struct zvolume *vol)
{
  return crypto_hkdf (vol->dek, sizeof vol->dek, vol->uuid, sizeof vol->uuid,
                      "zerofs meta v1", vol->meta_key, sizeof vol->meta_key);
}

/* A volume closed (keys wiped) when the scope ends, unless handed out. */
DEFINE_CLEANUP_POINTER (zvolume_close, struct zvolume *, zvolume_close);
#define CLEANUP_ZVOLUME_CLOSE CLEANUP (zvolume_close)

struct zvolume *
zvolume_open (struct objstore *store, const char *password)
{
  CLEANUP_ZVOLUME_CLOSE struct zvolume *vol = NULL;
  CLEANUP_FREE void *data = NULL;
  size_t len;
  const uint8_t *h;
  SECRET_BUFFER (kek, CRYPTO_KEY_LEN);
  struct zvolume *ret;

  if (password == NULL) {
    zerror ("volume %s: no password given", store->description);
    errno = EINVAL;
    return NULL;
  }

  if (objstore_get (store, ZVOLUME_HEADER_KEY, &data, &len) == -1) {
    if (errno == ENOENT)
      zerror ("no zerofs volume at %s (run zerofs-dev init)",
              store->description);
    return NULL;
  }
  h = data;

  vol = calloc (1, sizeof *vol);
  if (vol == NULL) {
    zerror ("calloc: %m");
    return NULL;
  }
  vol->store = store;
  if (parse_header (store, h, len, vol->uuid, &vol->kdf) == -1)
    return NULL;

  if (crypto_scrypt (password, strlen (password), h + 32, 32,
                     vol->kdf.log2_n, vol->kdf.r, vol->kdf.p,
                     kek, sizeof kek) == -1)
    return NULL;
  if (crypto_unseal (kek, h + 64, h, WRAP_AAD_LEN, h + WRAP_AAD_LEN,
                     CRYPTO_KEY_LEN + CRYPTO_TAG_LEN, vol->dek) == -1) {
    if (errno == EBADMSG) {
      zerror ("wrong password for volume %s", store->description);
      errno = EACCES;
    }
    return NULL;
  }
  if (derive_meta_key (vol) == -1)
    return NULL;

  ret = vol;
  vol = NULL;
  return ret;
}

int
zvolume_change_password (struct zvolume *vol, const char *new_password,
                         const struct zkdf_params *kdf)
{
  struct zkdf_params params = kdf ? *kdf : vol->kdf;
  uint8_t header[ZVOLUME_HEADER_LEN];
  char where[256];

  if (new_password == NULL) {
    zerror ("volume %s: no new password given", vol->store->description);
    errno = EINVAL;
    return -1;
  }
  snprintf (where, sizeof where, "volume %s", vol->store->description);
  if (kdf_params_check (&params, where, EINVAL) == -1)
    return -1;
  if (build_header (header, vol->uuid, vol->dek, new_password, &params)
      == -1)
    return -1;
  /* One PUT replaces the header atomically: the old password works
   * until it lands, the new one after.
   */
  if (objstore_put (vol->store, ZVOLUME_HEADER_KEY, header, sizeof header)
      == -1)
    return -1;
  vol->kdf = params;
  return 0;
}

void
zvolume_close (struct zvolume *vol)
{
  if (vol == NULL)
    return;
  explicit_bzero (vol, sizeof *vol);
  free (vol);
}

/* Device names. */

static bool
name_char_ok (char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

static bool
name_ok (const char *name)
{
  size_t i;

  if (name == NULL || name[0] == '\0' || name[0] == '.')
    return false;
  for (i = 0; name[i]; i++)
    if (i >= ZDEVICE_NAME_MAX || !name_char_ok (name[i]))
      return false;
  return true;
}

/* A name as it may safely appear in a message: printable ASCII as is,
 * anything else as \xNN, cut short if long.
 */
static const char *
printable_name (const char *name, char *buf, size_t size)
{
  size_t i, j = 0;
  unsigned char c;

  for (i = 0; name[i] && j + 8 < size; i++) {
    c = name[i];
    if (c >= 0x20 && c < 0x7f && c != '\\')
      buf[j++] = c;
    else
      j += snprintf (buf + j, size - j, "\\x%02x", c);
  }
  if (name[i])
    j += snprintf (buf + j, size - j, "...");
  buf[j] = '\0';
  return buf;
}

int
device_name_check (const char *name)
{
  char shown[128];
  size_t i, len;

  if (name == NULL || name[0] == '\0') {
    zerror ("device name is empty");
    errno = EINVAL;
    return -1;
  }
  printable_name (name, shown, sizeof shown);
  len = strlen (name);
  if (len > ZDEVICE_NAME_MAX) {
    zerror ("device name \"%s\" is too long (%zu bytes, at most %d)",
            shown, len, ZDEVICE_NAME_MAX);
    errno = EINVAL;
    return -1;
  }
  if (name[0] == '.') {
    zerror ("device name \"%s\" must not begin with '.'", shown);
    errno = EINVAL;
    return -1;
  }
  for (i = 0; i < len; i++)
    if (!name_char_ok (name[i])) {
      zerror ("device name \"%s\" has a character other than "
              "A-Z a-z 0-9 . _ - (at byte %zu)", shown, i);
      errno = EINVAL;
      return -1;
    }
  return 0;
}

static int
size_check (const char *name, uint64_t size)
{
  if (size == 0 || size % ZSECTOR_SIZE != 0 || size > ZDEVICE_SIZE_MAX) {
    zerror ("device %s: size %" PRIu64 " is not a positive multiple of "
            "%" PRIu32 " up to %" PRIu64,
            name, size, ZSECTOR_SIZE, ZDEVICE_SIZE_MAX);
    errno = EINVAL;
    return -1;
  }
  return 0;
}

/* Object keys. */

void
zkey_meta (char *buf, const char *name)
{
  snprintf (buf, OBJSTORE_KEY_MAX, "devices/%s/meta", name);
}

void
zkey_lease (char *buf, const char *name)
{
  snprintf (buf, OBJSTORE_KEY_MAX, "devices/%s/lease", name);
}

static void
zkey_device_prefix (char *buf, const char *name)
{
  snprintf (buf, OBJSTORE_KEY_MAX, "devices/%s/", name);
}

void
zkey_chunk (char *buf, const char *name, uint64_t index)
{
  snprintf (buf, OBJSTORE_KEY_MAX, "devices/%s/chunks/%016" PRIx64,
            name, index);
}

void
zkey_chunks_prefix (char *buf, const char *name)
{
  snprintf (buf, OBJSTORE_KEY_MAX, "devices/%s/chunks/", name);
}

void
zkey_journal (char *buf, const char *name, uint64_t seq)
{
  snprintf (buf, OBJSTORE_KEY_MAX, "devices/%s/journal/%016" PRIx64,
            name, seq);
}

void
zkey_journal_prefix (char *buf, const char *name)
{
  snprintf (buf, OBJSTORE_KEY_MAX, "devices/%s/journal/", name);
}

/* DIR (ending in '/') and 16 lower-case hex digits, the whole key or
 * after a '/': the number into *V.
 */
static int
parse_numbered_key (const char *key, const char *dir, uint64_t *v)
{
  size_t dirlen = strlen (dir), len = strlen (key), i;
  const char *hex;

  *v = 0;
  if (len < dirlen + 16 ||
      memcmp (key + len - 16 - dirlen, dir, dirlen) != 0 ||
      (len > dirlen + 16 && key[len - 16 - dirlen - 1] != '/')) {
    errno = EINVAL;
    return -1;
  }
  hex = key + len - 16;
  for (i = 0; i < 16; i++) {
    if (hex[i] >= '0' && hex[i] <= '9')
      *v = *v << 4 | (hex[i] - '0');
    else if (hex[i] >= 'a' && hex[i] <= 'f')
      *v = *v << 4 | (hex[i] - 'a' + 10);
    else {
      errno = EINVAL;
      return -1;
    }
  }
  return 0;
}

int
zkey_parse_chunk (const char *key, uint64_t *index)
{
  return parse_numbered_key (key, "chunks/", index);
}

int
zkey_parse_journal (const char *key, uint64_t *seq)
{
  return parse_numbered_key (key, "journal/", seq);
}

/* Device meta objects. */

static void
meta_aad (uint8_t *aad, const uint8_t *header, const struct zvolume *vol,
          const char *name, size_t namelen)
{
  memcpy (aad, header, META_HEADER_LEN);
  memcpy (aad + META_HEADER_LEN, vol->uuid, 16);
  memcpy (aad + META_HEADER_LEN + 16, name, namelen);
}

/* Seal META into OBJ (room for the largest meta object); *LEN gets its
 * size.
 */
#define META_OBJECT_MAX \
  (META_HEADER_LEN + META_PAYLOAD_FIXED + META_KEY_UUID_LEN + \
   ZDEVICE_NAME_MAX + CRYPTO_TAG_LEN)

static int
meta_encode (const struct zvolume *vol, const struct device_meta *meta,
             uint8_t obj[META_OBJECT_MAX], size_t *len)
{
  uint8_t payload[META_PAYLOAD_FIXED + META_KEY_UUID_LEN + ZDEVICE_NAME_MAX];
  uint8_t aad[META_HEADER_LEN + 16 + ZDEVICE_NAME_MAX];
  size_t namelen = strlen (meta->name), plen = META_PAYLOAD_FIXED + namelen;
  /* Version 1 unless the device has a key uuid of its own, so that a
   * zerofs that predates clones still opens every other device.
   */
  bool own_key = memcmp (meta->key_uuid, meta->uuid, 16) != 0;
  size_t off = 44;

  memcpy (obj, META_MAGIC, 4);
  obj[4] = own_key ? META_VERSION_KEY : META_VERSION;
  obj[5] = obj[6] = obj[7] = 0;
  if (crypto_random (obj + 8, CRYPTO_NONCE_LEN) == -1)
    return -1;

  memcpy (payload, meta->uuid, 16);
  put_be64 (payload + 16, meta->size);
  put_be32 (payload + 24, meta->chunk_size);
  put_be64 (payload + 28, meta->created);
  put_be64 (payload + 36, meta->generation);
  if (own_key) {
    memcpy (payload + off, meta->key_uuid, META_KEY_UUID_LEN);
    off += META_KEY_UUID_LEN;
    plen += META_KEY_UUID_LEN;
  }
  payload[off] = namelen;
  memcpy (payload + off + 1, meta->name, namelen);

  meta_aad (aad, obj, vol, meta->name, namelen);
  if (crypto_seal (vol->meta_key, obj + 8,
                   aad, META_HEADER_LEN + 16 + namelen,
                   payload, plen, obj + META_HEADER_LEN) == -1)
    return -1;
  *len = META_HEADER_LEN + plen + CRYPTO_TAG_LEN;
  return 0;
}

static int
meta_decode (const struct zvolume *vol, const char *name,
             const uint8_t *obj, size_t len, struct device_meta *meta)
{
  SECRET_BUFFER (payload,
                 META_PAYLOAD_FIXED + META_KEY_UUID_LEN + ZDEVICE_NAME_MAX);
  uint8_t aad[META_HEADER_LEN + 16 + ZDEVICE_NAME_MAX];
  size_t namelen = strlen (name);
  size_t plen = META_PAYLOAD_FIXED + namelen, off = 44;
  char key[OBJSTORE_KEY_MAX];

  zkey_meta (key, name);
  if (len >= 5 && obj[4] == META_VERSION_KEY)
    plen += META_KEY_UUID_LEN;
  if (len != META_HEADER_LEN + plen + CRYPTO_TAG_LEN) {
    /* The length follows from the name: another length is another
     * name's object or a damaged one.
     */
    if (len >= 4 && memcmp (obj, META_MAGIC, 4) != 0)
      zerror ("device meta %s in %s is not a zerofs device meta "
              "object (bad magic)", key, vol->store->description);
    else
      zerror ("device meta %s in %s failed authentication "
              "(%zu bytes, expected %zu)",
              key, vol->store->description, len,
              META_HEADER_LEN + plen + CRYPTO_TAG_LEN);
    errno = EBADMSG;
    return -1;
  }
  if (memcmp (obj, META_MAGIC, 4) != 0) {
    zerror ("device meta %s in %s is not a zerofs device meta object "
            "(bad magic)", key, vol->store->description);
    errno = EBADMSG;
    return -1;
  }
  if (obj[4] != META_VERSION && obj[4] != META_VERSION_KEY) {
    zerror ("device meta %s in %s has format version %u, "
            "this zerofs reads versions %d and %d",
            key, vol->store->description, obj[4], META_VERSION,
            META_VERSION_KEY);
    errno = EBADMSG;
    return -1;
  }
  if (obj[5] != 0 || obj[6] != 0 || obj[7] != 0) {
    zerror ("device meta %s in %s has non-zero reserved bytes",
            key, vol->store->description);
    errno = EBADMSG;
    return -1;
  }

  meta_aad (aad, obj, vol, name, namelen);
  if (crypto_unseal (vol->meta_key, obj + 8,
                     aad, META_HEADER_LEN + 16 + namelen,
                     obj + META_HEADER_LEN, plen + CRYPTO_TAG_LEN,
                     payload) == -1) {
    if (errno == EBADMSG)
      zerror ("device meta %s in %s failed authentication",
              key, vol->store->description);
    return -1;
  }

  /* Authenticated: these hold unless the writer was broken. */
  if (obj[4] == META_VERSION_KEY)
    off += META_KEY_UUID_LEN;
  if (payload[off] != namelen ||
      memcmp (payload + off + 1, name, namelen) != 0) {
    zerror ("device meta %s in %s names another device",
            key, vol->store->description);
    errno = EBADMSG;
    return -1;
  }
  memset (meta, 0, sizeof *meta);
  memcpy (meta->name, name, namelen + 1);
  memcpy (meta->uuid, payload, 16);
  meta->size = get_be64 (payload + 16);
  meta->chunk_size = get_be32 (payload + 24);
  meta->created = get_be64 (payload + 28);
  meta->generation = get_be64 (payload + 36);
  memcpy (meta->key_uuid, obj[4] == META_VERSION_KEY ? payload + 44 : payload,
          16);
  if (meta->chunk_size != ZCHUNK_SIZE) {
    zerror ("device meta %s in %s: chunk size %" PRIu32 " is not supported "
            "(this zerofs uses %" PRIu32 ")",
            key, vol->store->description, meta->chunk_size, ZCHUNK_SIZE);
    errno = ENOTSUP;
    return -1;
  }
  if (size_check (name, meta->size) == -1) {
    errno = EBADMSG;
    return -1;
  }
  return 0;
}

/* Stop a listing at its first key: *OPAQUE = true. */
static int
found_key (void *opaque, const char *key, uint64_t size, bool is_prefix)
{
  *(bool *) opaque = true;
  return 1;
}

int
zvolume_device_has_objects (struct zvolume *vol, const char *name)
{
  char prefix[OBJSTORE_KEY_MAX];
  bool found = false;

  zkey_device_prefix (prefix, name);
  if (objstore_list (vol->store, prefix, NULL, found_key, &found) == -1)
    return -1;
  return found;
}

/* Write META, a new device, unless NAME exists. */
static int
add_device (struct zvolume *vol, const struct device_meta *meta)
{
  uint8_t obj[META_OBJECT_MAX];
  size_t len;
  char key[OBJSTORE_KEY_MAX];

  if (meta_encode (vol, meta, obj, &len) == -1)
    return -1;
  zkey_meta (key, meta->name);
  if (put_if_absent (vol->store, key, obj, len) == -1) {
    if (errno == EEXIST)
      zerror ("device %s already exists", meta->name);
    return -1;
  }
  return 0;
}

/* A new device's meta: a fresh uuid, created now, generation 0. */
static int
new_meta (const char *name, uint64_t size, struct device_meta *meta)
{
  memset (meta, 0, sizeof *meta);
  strcpy (meta->name, name);
  if (random_uuid (meta->uuid) == -1)
    return -1;
  memcpy (meta->key_uuid, meta->uuid, 16);
  meta->size = size;
  meta->chunk_size = ZCHUNK_SIZE;
  meta->created = time (NULL);
  return 0;
}

int
zvolume_create_device (struct zvolume *vol, const char *name,
                       uint64_t size, struct device_meta *out)
{
  struct device_meta meta;
  char key[OBJSTORE_KEY_MAX];
  int r;

  if (device_name_check (name) == -1 || size_check (name, size) == -1)
    return -1;

  /* Objects without a meta are the remains of an interrupted clone (or
   * of a store that lost the meta): they do not open under a new
   * device's key, and would read as damaged chunks.
   */
  r = zvolume_device_has_objects (vol, name);
  if (r == -1)
    return -1;
  if (r == 1) {
    zkey_meta (key, name);
    if (objstore_head (vol->store, key, NULL) == 0)
      zerror ("device %s already exists", name);
    else if (errno == ENOENT)
      zerror ("device %s: the store still holds objects of a device of "
              "that name whose meta object is lost (objects of an "
              "interrupted clone are in the way, or the meta was deleted): "
              "run that clone again, or remove them first "
              "(zerofs-dev rm %s)", name, name);
    errno = EEXIST;
    return -1;
  }

  if (new_meta (name, size, &meta) == -1 || add_device (vol, &meta) == -1)
    return -1;
  if (out)
    *out = meta;
  return 0;
}

int
zvolume_clone_device (struct zvolume *vol, const struct device_meta *src,
                      const char *name, struct device_meta *out)
{
  struct device_meta meta;

  if (device_name_check (name) == -1 || new_meta (name, src->size, &meta)
      == -1)
    return -1;
  memcpy (meta.key_uuid, src->key_uuid, 16);
  if (add_device (vol, &meta) == -1)
    return -1;
  if (out)
    *out = meta;
  return 0;
}

int
zvolume_find_device (struct zvolume *vol, const char *name,
                     struct device_meta *out)
{
  char key[OBJSTORE_KEY_MAX];
  CLEANUP_FREE void *data = NULL;
  size_t len;

  if (device_name_check (name) == -1)
    return -1;
  zkey_meta (key, name);
  if (objstore_get (vol->store, key, &data, &len) == -1)
    return errno == ENOENT ? 1 : -1;
  return meta_decode (vol, name, data, len, out);
}

int
zvolume_get_device (struct zvolume *vol, const char *name,
                    struct device_meta *out)
{
  int r = zvolume_find_device (vol, name, out);

  if (r == 1) {
    /* Say so when the rest of the device is still there: "no device"
     * would send the user to create it again, over what is left.
     */
    if (zvolume_device_has_objects (vol, name) == 1)
      zerror ("device %s in volume %s has lost its meta object "
              "(devices/%s/meta), or is the copy of an interrupted clone: "
              "its other objects are still in the store but cannot be read "
              "without it; run that clone again, or zerofs-dev rm %s "
              "removes them",
              name, vol->store->description, name, name);
    else
      zerror ("no device %s in volume %s", name, vol->store->description);
    errno = ENOENT;
    return -1;
  }
  return r;
}

int
zvolume_put_device (struct zvolume *vol, const struct device_meta *old)
{
  uint8_t obj[META_OBJECT_MAX];
  size_t len;
  char key[OBJSTORE_KEY_MAX];
  struct device_meta m = *old, *meta = &m;

  /* Every rewrite is a new generation: caches compare it to know that
   * what they hold of the device may be stale.
   */
  m.generation++;

  if (device_name_check (meta->name) == -1 ||
      size_check (meta->name, meta->size) == -1)
    return -1;
  if (meta->chunk_size != ZCHUNK_SIZE) {
    zerror ("device %s: chunk size %" PRIu32 " is not supported",
            meta->name, meta->chunk_size);
    errno = EINVAL;
    return -1;
  }
  if (meta_encode (vol, meta, obj, &len) == -1)
    return -1;
  zkey_meta (key, meta->name);
  return objstore_put (vol->store, key, obj, len);
}

/* Listing devices: collect the names into a string_vector, then sort. */
static int
collect_name (void *opaque, const char *key, uint64_t size, bool is_prefix)
{
  static const char prefix[] = "devices/";
  string_vector *names = opaque;
  size_t len;
  CLEANUP_FREE char *name = NULL;

  if (!is_prefix || strncmp (key, prefix, sizeof prefix - 1) != 0)
    return 0;
  key += sizeof prefix - 1;
  len = strlen (key);
  if (len == 0 || key[len - 1] != '/')
    return 0;
  name = strndup (key, len - 1);
  if (name == NULL) {
    zerror ("strndup: %m");
    return -1;
  }
  if (!name_ok (name))          /* not ours: skip silently */
    return 0;
  if (string_vector_append (names, name) == -1) {
    zerror ("realloc: %m");
    return -1;
  }
  name = NULL;                  /* the vector owns it now */
  return 0;
}

static int
compare_names (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

int
zvolume_list_devices (struct zvolume *vol,
                      int (*fn) (void *opaque, const char *name),
                      void *opaque)
{
  CLEANUP_STRING_VECTOR string_vector names = EMPTY_VECTOR;
  size_t i;

  if (objstore_list (vol->store, "devices/", "/", collect_name, &names) == -1)
    return -1;
  string_vector_sort (&names, compare_names);
  for (i = 0; i < names.len; i++)
    if (fn (opaque, names.items[i]) == -1)
      return -1;
  return 0;
}

/* Removing a device: one round's batch of keys. */
struct delete_batch {
  const char *skip1, *skip2;    /* the meta and the lease: deleted last */
  char *keys[OBJSTORE_DELETE_BATCH];
  size_t n;
};

static int
collect_key (void *opaque, const char *key, uint64_t size, bool is_prefix)
{
  struct delete_batch *b = opaque;

  if (is_prefix || strcmp (key, b->skip1) == 0 || strcmp (key, b->skip2) == 0)
    return 0;
  b->keys[b->n] = strdup (key);
  if (b->keys[b->n] == NULL) {
    zerror ("strdup: %m");
    return -1;
  }
  b->n++;
  return b->n == OBJSTORE_DELETE_BATCH ? 1 : 0;
}

static void
free_batch (struct delete_batch *b)
{
  size_t i;

  for (i = 0; i < b->n; i++)
    free (b->keys[i]);
  b->n = 0;
}

/* The batch and the keys it holds, freed when the scope ends. */
static void
cleanup_batch (struct delete_batch **b)
{
  int saved_errno = errno;

  if (*b) {
    free_batch (*b);
    free (*b);
  }
  errno = saved_errno;
}
#define CLEANUP_BATCH __attribute__ ((cleanup (cleanup_batch)))

int
zvolume_remove_device (struct zvolume *vol, const char *name)
{
  char meta_key[OBJSTORE_KEY_MAX], lease_key[OBJSTORE_KEY_MAX];
  char prefix[OBJSTORE_KEY_MAX];
  CLEANUP_FREE char *previous_first = NULL;
  CLEANUP_BATCH struct delete_batch *batch = NULL;

  if (device_name_check (name) == -1)
    return -1;
  zkey_meta (meta_key, name);
  zkey_lease (lease_key, name);
  zkey_device_prefix (prefix, name);

  /* A device without a meta but with objects is what an interrupted
   * clone leaves: removed like a device.
   */
  if (objstore_head (vol->store, meta_key, NULL) == -1) {
    int r;

    if (errno != ENOENT || (r = zvolume_device_has_objects (vol, name)) == -1)
      return -1;
    if (r == 0) {
      zerror ("no device %s in volume %s", name, vol->store->description);
      errno = ENOENT;
      return -1;
    }
  }

  batch = calloc (1, sizeof *batch);
  if (batch == NULL) {
    zerror ("calloc: %m");
    return -1;
  }
  batch->skip1 = meta_key;
  batch->skip2 = lease_key;

  for (;;) {
    if (objstore_list (vol->store, prefix, NULL, collect_key, batch) == -1)
      return -1;
    if (batch->n == 0)
      break;
    /* A store that acknowledges deletes but keeps the objects would
     * make this loop forever.
     */
    if (previous_first && strcmp (previous_first, batch->keys[0]) == 0) {
      zerror ("device %s: %s is still listed after it was deleted",
              name, batch->keys[0]);
      errno = EIO;
      return -1;
    }
    if (objstore_delete_many (vol->store, (const char *const *) batch->keys,
                              batch->n) == -1)
      return -1;
    free (previous_first);
    previous_first = batch->keys[0];
    batch->keys[0] = NULL;
    free_batch (batch);
  }

  /* The meta before the lease: while the lease is there (held by the
   * one removing the device), no server opens the device for writing.
   */
  if (objstore_delete (vol->store, meta_key) == -1 ||
      objstore_delete (vol->store, lease_key) == -1)
    return -1;
  return 0;
}

static int
count_object (void *opaque, const char *key, uint64_t size, bool is_prefix)
{
  struct zdevice_usage *u = opaque;
  uint64_t n;

  if (is_prefix)
    return 0;
  if (zkey_parse_chunk (key, &n) == 0) {
    u->chunk_objects++;
    u->chunk_bytes += size;
  }
  else if (zkey_parse_journal (key, &n) == 0) {
    u->journal_objects++;
    u->journal_bytes += size;
  }
  return 0;
}

int
zvolume_device_usage (struct zvolume *vol, const char *name,
                      struct zdevice_usage *usage)
{
  char prefix[OBJSTORE_KEY_MAX];

  memset (usage, 0, sizeof *usage);
  if (device_name_check (name) == -1)
    return -1;
  zkey_device_prefix (prefix, name);
  return objstore_list (vol->store, prefix, NULL, count_object, usage);
}

/* Subkeys. */

int
zvolume_chunk_codec (const struct zvolume *vol,
                     const struct device_meta *meta,
                     int compression, int level,
                     struct zchunk_codec *codec)
{
  if (compression != ZCOMP_NONE && compression != ZCOMP_ZSTD) {
    zerror ("device %s: unknown compression id %d", meta->name, compression);
    errno = EINVAL;
    return -1;
  }
  memset (codec, 0, sizeof *codec);
  /* The key uuid, not the device uuid: a clone opens the objects it
   * was copied from byte for byte.
   */
  if (crypto_hkdf (vol->dek, sizeof vol->dek,
                   meta->key_uuid, sizeof meta->key_uuid,
                   "zerofs chunk v1", codec->key, sizeof codec->key) == -1)
    return -1;
  memcpy (codec->volume_uuid, vol->uuid, 16);
  memcpy (codec->device_uuid, meta->key_uuid, 16);
  codec->compression = compression;
  codec->level = level;
  return 0;
}

int
zvolume_cache_key (const struct zvolume *vol, const uint8_t instance[16],
                   uint8_t key[CRYPTO_XTS_KEY_LEN])
{
  if (crypto_hkdf (vol->dek, sizeof vol->dek, instance, 16,
                   "zerofs cache xts v1", key, CRYPTO_XTS_KEY_LEN) == -1)
    return -1;
  /* XTS refuses equal halves; HKDF output has them with probability
   * 2^-256, but say so rather than fail obscurely later.
   */
  if (crypto_memcmp (key, key + CRYPTO_XTS_KEY_LEN / 2, CRYPTO_XTS_KEY_LEN / 2)
      == 0) {
    zerror ("cache key derivation gave equal XTS key halves");
    errno = EIO;
    return -1;
  }
  return 0;
}
