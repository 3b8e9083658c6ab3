/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: unit test of lib/volume.c over the directory object store.
 *
 * A volume in a fresh temporary directory: init, open with the right and
 * wrong passwords, damaged headers, password change, device names and
 * sizes, create/get/put/list/remove/usage, and device meta objects that
 * were tampered with or copied to another name or volume.  The KDF runs
 * at a low cost (log2 N = 10) except for one volume at the default cost.
 */
#include <config.h>

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1           /* nftw */
#endif
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chunk.h"
#include "conf.h"
#include "crypto.h"
#include "log.h"
#include "store/internal.h"
#include "volume.h"

#include "unit.h"

static const struct zkdf_params fast_kdf = { 10, 8, 1 };
static char root[256];          /* the temporary directory */

static struct objstore *
open_store (const char *sub)
{
  char dir[512];
  struct objstore *s;

  snprintf (dir, sizeof dir, "%s/%s", root, sub);
  s = objstore_dir_open (dir, true);
  REQUIRE (s != NULL, "objstore_dir_open %s: %s", dir, objstore_last_error ());
  return s;
}

/* Read, change and write back one object. */
static void *
get_object (struct objstore *s, const char *key, size_t *len)
{
  void *data;

  REQUIRE (objstore_get (s, key, &data, len) == 0, "get %s: %s", key,
           last_error);
  return data;
}

static void
put_object (struct objstore *s, const char *key, const void *data, size_t len)
{
  REQUIRE (objstore_put (s, key, data, len) == 0, "put %s: %s", key,
           last_error);
}

static void
test_volume (void)
{
  struct objstore *s = open_store ("v1");
  struct zvolume *vol, *vol2;
  uint8_t *header, *bad;
  size_t len;
  char want[1024];
  static const struct { size_t offset; uint8_t value; int err;
                        const char *what; } damage[] = {
    { 0, 'X', EBADMSG, "bad magic" },
    { 4, 2, ENOTSUP, "format version 2" },
    { 5, 2, ENOTSUP, "key derivation function 2" },
    { 6, 9, EBADMSG, "log2(N) = 9" },
    { 6, 23, EBADMSG, "log2(N) = 23" },
    { 7, 1, EBADMSG, "reserved" },
    { 11, 0, EBADMSG, "r = 0" },
    { 11, 33, EBADMSG, "r = 33" },
    { 15, 0, EBADMSG, "p = 0" },
    { 15, 17, EBADMSG, "p = 17" },
    { 9, 1, EBADMSG, "r = 65544" },
    { 16, 0x55, EACCES, "wrong password" },  /* uuid: in the AAD */
    { 40, 0x55, EACCES, "wrong password" },  /* salt */
    { 70, 0x55, EACCES, "wrong password" },  /* nonce */
    { 80, 0x55, EACCES, "wrong password" },  /* wrapped DEK */
    { 123, 0x55, EACCES, "wrong password" }, /* tag */
  };
  size_t i;

  errno = 0;
  CHECK (zvolume_open (s, "pw") == NULL && errno == ENOENT,
         "open before init: errno %d", errno);
  snprintf (want, sizeof want, "no zerofs volume at %s (run zerofs-dev init)",
            s->description);
  CHECK (strcmp (last_error, want) == 0, "message: %s", last_error);

  CHECK (zvolume_init (s, "pw", &fast_kdf) == 0, "init: %s", last_error);
  errno = 0;
  CHECK (zvolume_init (s, "other", &fast_kdf) == -1 && errno == EEXIST,
         "init twice: errno %d", errno);
  snprintf (want, sizeof want, "volume %s already exists", s->description);
  CHECK (strcmp (last_error, want) == 0, "message: %s", last_error);

  header = get_object (s, ZVOLUME_HEADER_KEY, &len);
  CHECK (len == ZVOLUME_HEADER_LEN && memcmp (header, "ZFSV", 4) == 0 &&
         header[4] == 1 && header[5] == 1 && header[6] == 10 &&
         header[7] == 0 && header[11] == 8 && header[15] == 1,
         "header layout");

  vol = zvolume_open (s, "pw");
  CHECK (vol != NULL, "open: %s", last_error);
  if (vol) {
    CHECK (vol->kdf.log2_n == 10 && vol->kdf.r == 8 && vol->kdf.p == 1,
           "kdf params");
    CHECK (memcmp (vol->uuid, header + 16, 16) == 0, "uuid");
    CHECK ((vol->uuid[6] >> 4) == 4 && (vol->uuid[8] >> 6) == 2,
           "uuid version 4");
  }

  errno = 0;
  CHECK (zvolume_open (s, "pW") == NULL && errno == EACCES,
         "wrong password: errno %d", errno);
  snprintf (want, sizeof want, "wrong password for volume %s",
            s->description);
  CHECK (strcmp (last_error, want) == 0, "message: %s", last_error);
  errno = 0;
  CHECK (zvolume_open (s, "") == NULL && errno == EACCES,
         "empty password: errno %d", errno);

  /* Every field of the header is checked. */
  bad = malloc (ZVOLUME_HEADER_LEN + 1);
  REQUIRE (bad != NULL, "malloc");
  for (i = 0; i < sizeof damage / sizeof damage[0]; i++) {
    memcpy (bad, header, ZVOLUME_HEADER_LEN);
    /* Fixed fields are set; random ones (uuid, salt, nonce, wrapped
     * DEK) are flipped, since setting could leave them as they were.
     */
    if (damage[i].err == EACCES)
      bad[damage[i].offset] ^= damage[i].value;
    else
      bad[damage[i].offset] = damage[i].value;
    put_object (s, ZVOLUME_HEADER_KEY, bad, ZVOLUME_HEADER_LEN);
    errno = 0;
    unit_clear_errors ();
    CHECK (zvolume_open (s, "pw") == NULL && errno == damage[i].err,
           "%s: errno %d", damage[i].what, errno);
    CHECK (strstr (last_error, damage[i].what) != NULL,
           "%s: message: %s", damage[i].what, last_error);
    if (damage[i].err != EACCES)
      CHECK (strstr (last_error, "zerofs.volume") != NULL &&
             strstr (last_error, s->description) != NULL,
             "%s: the message names the object: %s", damage[i].what,
             last_error);
  }
  {
    size_t lens[] = { 0, 4, 123, 125 };
    for (i = 0; i < 4; i++) {
      memcpy (bad, header, ZVOLUME_HEADER_LEN);
      bad[ZVOLUME_HEADER_LEN] = 0;
      put_object (s, ZVOLUME_HEADER_KEY, bad, lens[i]);
      errno = 0;
      CHECK (zvolume_open (s, "pw") == NULL && errno == EBADMSG &&
             strstr (last_error, "expected 124"),
             "header of %zu bytes: errno %d: %s", lens[i], errno, last_error);
    }
  }
  /* A header asking for 8 GiB of scrypt memory is refused unread. */
  memcpy (bad, header, ZVOLUME_HEADER_LEN);
  bad[6] = 22;
  bad[11] = 16;
  put_object (s, ZVOLUME_HEADER_KEY, bad, ZVOLUME_HEADER_LEN);
  errno = 0;
  CHECK (zvolume_open (s, "pw") == NULL && errno == EBADMSG &&
         strstr (last_error, "memory"), "8 GiB of scrypt: %s", last_error);
  /* N = 2^16 with r = 1: scrypt allows N < 2^(16 r) only. */
  memcpy (bad, header, ZVOLUME_HEADER_LEN);
  bad[6] = 16;
  bad[11] = 1;
  put_object (s, ZVOLUME_HEADER_KEY, bad, ZVOLUME_HEADER_LEN);
  errno = 0;
  CHECK (zvolume_open (s, "pw") == NULL && errno == EBADMSG &&
         strstr (last_error, "too large for r"), "N = 2^16, r = 1: %s",
         last_error);

  put_object (s, ZVOLUME_HEADER_KEY, header, ZVOLUME_HEADER_LEN);
  free (bad);
  free (header);

  /* Change the password: rewraps the same DEK. */
  if (vol) {
    struct zkdf_params k11 = { 11, 4, 2 };

    CHECK (zvolume_change_password (vol, "new pw", NULL) == 0, "passwd: %s",
           last_error);
    errno = 0;
    CHECK (zvolume_open (s, "pw") == NULL && errno == EACCES,
           "old password after change: errno %d", errno);
    vol2 = zvolume_open (s, "new pw");
    CHECK (vol2 != NULL, "new password: %s", last_error);
    if (vol2) {
      CHECK (memcmp (vol2->dek, vol->dek, CRYPTO_KEY_LEN) == 0 &&
             memcmp (vol2->uuid, vol->uuid, 16) == 0 &&
             memcmp (vol2->meta_key, vol->meta_key, CRYPTO_KEY_LEN) == 0,
             "same keys after a password change");
      zvolume_close (vol2);
    }

    CHECK (zvolume_change_password (vol, "third", &k11) == 0, "passwd: %s",
           last_error);
    vol2 = zvolume_open (s, "third");
    CHECK (vol2 != NULL && vol2->kdf.log2_n == 11 && vol2->kdf.r == 4 &&
           vol2->kdf.p == 2, "new KDF parameters: %s", last_error);
    zvolume_close (vol2);
    k11.log2_n = 40;
    errno = 0;
    CHECK (zvolume_change_password (vol, "x", &k11) == -1 && errno == EINVAL,
           "log2 N 40 refused");
    vol2 = zvolume_open (s, "third");
    CHECK (vol2 != NULL, "a refused change leaves the header alone");
    zvolume_close (vol2);
  }
  zvolume_close (vol);
  objstore_close (s);
}

static void
test_default_cost (void)
{
  struct objstore *s = open_store ("v-default");
  struct zvolume *vol;
  uint8_t *header;
  size_t len;

  CHECK (zvolume_init (s, "pw", NULL) == 0, "init default: %s", last_error);
  header = get_object (s, ZVOLUME_HEADER_KEY, &len);
  CHECK (len == ZVOLUME_HEADER_LEN && header[6] == 17 && header[11] == 8 &&
         header[15] == 1, "default KDF in the header");
  free (header);
  vol = zvolume_open (s, "pw");
  CHECK (vol != NULL && vol->kdf.log2_n == 17, "open default: %s",
         last_error);
  zvolume_close (vol);
  objstore_close (s);
}

static void
test_names (void)
{
  static const char *valid[] = {
    "a", "db-1.x_Y", "0", "A.b-c_9",
    "1234567890123456789012345678901234567890123456789012345678901234",
  };
  static const char *invalid[] = {
    "", ".hidden", "..", ".",
    "12345678901234567890123456789012345678901234567890123456789012345",
    "a/b", "a b", "\xc3\xa4", "a\n", "a\\b", "a:b", "*",
  };
  size_t i;

  for (i = 0; i < sizeof valid / sizeof valid[0]; i++)
    CHECK (device_name_check (valid[i]) == 0, "valid name \"%s\": %s",
           valid[i], last_error);
  for (i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
    errno = 0;
    unit_clear_errors ();
    CHECK (device_name_check (invalid[i]) == -1 && errno == EINVAL,
           "invalid name \"%s\" accepted", invalid[i]);
    CHECK (strstr (last_error, "device name") != NULL, "message: %s",
           last_error);
  }
  errno = 0;
  CHECK (device_name_check (NULL) == -1 && errno == EINVAL, "NULL name");
  /* Non-printable bytes are not echoed raw. */
  device_name_check ("a\033[2Jb");
  CHECK (strchr (last_error, '\033') == NULL && strstr (last_error, "\\x1b"),
         "escape in message: %s", last_error);
}

static void
test_keys (void)
{
  char buf[OBJSTORE_KEY_MAX], text[37];
  uint64_t index;
  static const uint8_t uuid[16] = {
    0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0,
    0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
  };
  static const char *not_chunks[] = {
    "devices/db/meta", "devices/db/chunks/000000000000123",
    "devices/db/chunks/000000000000123G", "devices/db/chunks/00000000000012AB",
    "devices/db/xchunks/0000000000001234", "devices/db/chunks0000000000001234",
    "", "chunks/000000000000123x",
  };
  size_t i;

  zkey_meta (buf, "db");
  CHECK (strcmp (buf, "devices/db/meta") == 0, "%s", buf);
  zkey_chunk (buf, "db", 0x1234abcd);
  CHECK (strcmp (buf, "devices/db/chunks/000000001234abcd") == 0, "%s", buf);
  CHECK (zkey_parse_chunk (buf, &index) == 0 && index == 0x1234abcd,
         "parse %s", buf);
  zkey_chunk (buf, "db", UINT64_MAX);
  CHECK (zkey_parse_chunk (buf, &index) == 0 && index == UINT64_MAX,
         "parse %s", buf);
  CHECK (zkey_parse_chunk ("chunks/0000000000000007", &index) == 0 &&
         index == 7, "bare chunks/ key");
  zkey_chunks_prefix (buf, "db");
  CHECK (strcmp (buf, "devices/db/chunks/") == 0, "%s", buf);
  for (i = 0; i < sizeof not_chunks / sizeof not_chunks[0]; i++)
    CHECK (zkey_parse_chunk (not_chunks[i], &index) == -1,
           "\"%s\" parsed as a chunk key", not_chunks[i]);

  zuuid_format (uuid, text);
  CHECK (strcmp (text, "12345678-9abc-def0-0123-456789abcdef") == 0, "%s",
         text);
}

/* Listing. */
struct names {
  char text[1024];
  int calls, stop_after;
};

static int
add_name (void *opaque, const char *name)
{
  struct names *n = opaque;

  if (n->stop_after && n->calls == n->stop_after)
    return -1;
  n->calls++;
  if (n->text[0])
    strcat (n->text, " ");
  strcat (n->text, name);
  return 0;
}

/* Regular files under DIR (nftw cannot pass an argument). */
static int file_count;

static int
count_file (const char *path, const struct stat *st, int type,
            struct FTW *ftw)
{
  if (type == FTW_F)
    file_count++;
  return 0;
}

static int
remove_entry (const char *path, const struct stat *st, int type,
              struct FTW *ftw)
{
  if (remove (path) == -1)
    fprintf (stderr, "remove %s: %m\n", path);
  return 0;
}

static int
files_under (const char *sub)
{
  char dir[1024];

  snprintf (dir, sizeof dir, "%s/%s", root, sub);
  file_count = 0;
  if (access (dir, F_OK) == 0)
    nftw (dir, count_file, 16, FTW_PHYS);
  return file_count;
}

static int
count_keys (void *opaque, const char *key, uint64_t size, bool is_prefix)
{
  (*(int *) opaque)++;
  return 0;
}

static void
test_devices (void)
{
  struct objstore *s = open_store ("v2"), *s3 = open_store ("v3");
  struct zvolume *vol, *vol3;
  struct device_meta meta, meta2;
  struct zchunk_codec codec, codec2;
  struct names names = { "", 0, 0 };
  static const char *unsorted[] = { "zeta", "Alpha", "a0", "a.b", "a-b", "b" };
  static const struct { uint64_t size; bool ok; } sizes[] = {
    { 4096, true }, { UINT64_C (1) << 50, true },
    { ZDEVICE_SIZE_MAX, true }, { 0, false }, { 4095, false },
    { 5000, false }, { ZDEVICE_SIZE_MAX + 4096, false },
    { UINT64_MAX - 4095, false }, { UINT64_C (1) << 63, false },
  };
  char key[OBJSTORE_KEY_MAX], name[32], want[1024];
  uint8_t *obj, *data;
  size_t len, i, total_bytes = 0;
  struct zdevice_usage usage;
  time_t now = time (NULL);
  int n;

  REQUIRE (zvolume_init (s, "pw", &fast_kdf) == 0, "init: %s", last_error);
  vol = zvolume_open (s, "pw");
  REQUIRE (vol != NULL, "open: %s", last_error);

  /* Sizes. */
  for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    snprintf (name, sizeof name, "size%zu", i);
    errno = 0;
    n = zvolume_create_device (vol, name, sizes[i].size, &meta);
    if (sizes[i].ok) {
      CHECK (n == 0, "size %" PRIu64 ": %s", sizes[i].size, last_error);
      CHECK (zvolume_get_device (vol, name, &meta2) == 0 &&
             meta2.size == sizes[i].size, "get size %" PRIu64,
             sizes[i].size);
    }
    else {
      CHECK (n == -1 && errno == EINVAL, "size %" PRIu64 " accepted",
             sizes[i].size);
      zkey_meta (key, name);
      CHECK (objstore_head (s, key, NULL) == -1 && errno == ENOENT,
             "refused size %" PRIu64 " left an object", sizes[i].size);
    }
  }
  errno = 0;
  CHECK (zvolume_create_device (vol, "bad/name", 4096, NULL) == -1 &&
         errno == EINVAL, "create with a bad name");

  /* Create, get, create twice. */
  CHECK (zvolume_create_device (vol, "db", UINT64_C (10) << 30, &meta) == 0,
         "create db: %s", last_error);
  CHECK (strcmp (meta.name, "db") == 0 && meta.size == UINT64_C (10) << 30 &&
         meta.chunk_size == ZCHUNK_SIZE && meta.created >= (uint64_t) now &&
         meta.created <= (uint64_t) time (NULL) + 1, "create's meta");
  memset (&meta2, 0xff, sizeof meta2);
  CHECK (zvolume_get_device (vol, "db", &meta2) == 0, "get db: %s",
         last_error);
  CHECK (memcmp (&meta, &meta2, sizeof meta) == 0, "get == create");
  errno = 0;
  CHECK (zvolume_create_device (vol, "db", 4096, NULL) == -1 &&
         errno == EEXIST, "create twice: errno %d", errno);
  CHECK (strcmp (last_error, "device db already exists") == 0, "message: %s",
         last_error);
  CHECK (zvolume_get_device (vol, "db", &meta2) == 0 &&
         meta2.size == UINT64_C (10) << 30, "create twice changed nothing");

  errno = 0;
  CHECK (zvolume_get_device (vol, "absent", &meta2) == -1 && errno == ENOENT,
         "get absent: errno %d", errno);
  snprintf (want, sizeof want, "no device absent in volume %s",
            s->description);
  CHECK (strcmp (last_error, want) == 0, "message: %s", last_error);

  /* Resize. */
  meta2 = meta;
  meta2.size = UINT64_C (20) << 30;
  CHECK (zvolume_put_device (vol, &meta2) == 0, "put: %s", last_error);
  CHECK (zvolume_get_device (vol, "db", &meta2) == 0 &&
         meta2.size == UINT64_C (20) << 30 &&
         memcmp (meta2.uuid, meta.uuid, 16) == 0, "resized");
  /* Each rewrite is a new generation, so caches notice it. */
  CHECK (meta.generation == 0 && meta2.generation == 1,
         "generation %" PRIu64 " -> %" PRIu64, meta.generation,
         meta2.generation);
  CHECK (zvolume_put_device (vol, &meta2) == 0 &&
         zvolume_get_device (vol, "db", &meta2) == 0 &&
         meta2.generation == 2, "second rewrite");
  meta2.size = 100;
  errno = 0;
  CHECK (zvolume_put_device (vol, &meta2) == -1 && errno == EINVAL,
         "put of a bad size");

  /* Tampered meta. */
  zkey_meta (key, "db");
  obj = get_object (s, key, &len);
  CHECK (len == 20 + 45 + 2 + 16, "meta object is %zu bytes", len);
  data = malloc (len);
  REQUIRE (data != NULL, "malloc");
  for (i = 0; i < len; i++) {
    memcpy (data, obj, len);
    data[i] ^= 0x04;
    put_object (s, key, data, len);
    errno = 0;
    unit_clear_errors ();
    CHECK (zvolume_get_device (vol, "db", &meta2) == -1 && errno == EBADMSG,
           "meta byte %zu flipped: errno %d", i, errno);
    CHECK (strstr (last_error, key) != NULL, "message: %s", last_error);
  }
  put_object (s, key, obj, len - 1);
  errno = 0;
  CHECK (zvolume_get_device (vol, "db", &meta2) == -1 && errno == EBADMSG,
         "truncated meta: errno %d", errno);
  put_object (s, key, obj, len);
  CHECK (zvolume_get_device (vol, "db", &meta2) == 0, "restored meta");

  /* Copied to another name (same length and longer), another volume. */
  put_object (s, "devices/dc/meta", obj, len);
  errno = 0;
  CHECK (zvolume_get_device (vol, "dc", &meta2) == -1 && errno == EBADMSG,
         "meta copied to dc: errno %d", errno);
  CHECK (strstr (last_error, "failed authentication") != NULL, "message: %s",
         last_error);
  put_object (s, "devices/dbx/meta", obj, len);
  errno = 0;
  CHECK (zvolume_get_device (vol, "dbx", &meta2) == -1 && errno == EBADMSG,
         "meta copied to dbx: errno %d", errno);
  CHECK (objstore_delete (s, "devices/dc/meta") == 0 &&
         objstore_delete (s, "devices/dbx/meta") == 0, "delete copies");

  REQUIRE (zvolume_init (s3, "pw", &fast_kdf) == 0, "init v3: %s",
           last_error);
  vol3 = zvolume_open (s3, "pw");
  REQUIRE (vol3 != NULL, "open v3: %s", last_error);
  put_object (s3, key, obj, len);
  errno = 0;
  CHECK (zvolume_get_device (vol3, "db", &meta2) == -1 && errno == EBADMSG,
         "meta copied to another volume: errno %d", errno);
  free (data);
  free (obj);

  /* Chunk and cache keys. */
  CHECK (zvolume_chunk_codec (vol, &meta, ZCOMP_ZSTD, 3, &codec) == 0 &&
         zvolume_chunk_codec (vol, &meta, ZCOMP_ZSTD, 3, &codec2) == 0 &&
         memcmp (&codec, &codec2, sizeof codec) == 0, "codec deterministic");
  CHECK (memcmp (codec.volume_uuid, vol->uuid, 16) == 0 &&
         memcmp (codec.device_uuid, meta.uuid, 16) == 0 &&
         codec.compression == ZCOMP_ZSTD && codec.level == 3, "codec fields");
  CHECK (memcmp (codec.key, vol->dek, CRYPTO_KEY_LEN) != 0 &&
         memcmp (codec.key, vol->meta_key, CRYPTO_KEY_LEN) != 0, "chunk subkey");
  meta2 = meta;
  meta2.uuid[0] ^= 1;
  meta2.key_uuid[0] ^= 1;
  CHECK (zvolume_chunk_codec (vol, &meta2, ZCOMP_NONE, 0, &codec2) == 0 &&
         memcmp (codec.key, codec2.key, CRYPTO_KEY_LEN) != 0,
         "another device, another key");

  /* A clone: a uuid of its own, its source's key uuid (meta version 2),
   * so its codec is its source's; the source's meta stays version 1.
   */
  {
    struct device_meta clone, back;
    CLEANUP_FREE void *mobj = NULL;
    size_t mlen;

    CHECK (zvolume_clone_device (vol, &meta, "db-clone", &clone) == 0,
           "clone: %s", last_error);
    CHECK (memcmp (clone.uuid, meta.uuid, 16) != 0 &&
           memcmp (clone.key_uuid, meta.key_uuid, 16) == 0 &&
           clone.size == meta.size && clone.generation == 0,
           "clone meta fields");
    CHECK (zvolume_get_device (vol, "db-clone", &back) == 0 &&
           memcmp (&back, &clone, sizeof back) == 0, "clone meta round trip");
    CHECK (zvolume_chunk_codec (vol, &back, ZCOMP_ZSTD, 3, &codec2) == 0 &&
           memcmp (&codec, &codec2, sizeof codec) == 0,
           "a clone's codec is its source's");
    CHECK (objstore_get (s, "devices/db-clone/meta", &mobj, &mlen) == 0 &&
           mlen > 4 && ((uint8_t *) mobj)[4] == 2, "clone meta version 2");
    free (mobj);
    mobj = NULL;
    CHECK (objstore_get (s, "devices/db/meta", &mobj, &mlen) == 0 &&
           mlen > 4 && ((uint8_t *) mobj)[4] == 1, "plain meta version 1");
    CHECK (memcmp (meta.key_uuid, meta.uuid, 16) == 0,
           "a new device's key uuid is its uuid");
    errno = 0;
    CHECK (zvolume_clone_device (vol, &meta, "db-clone", NULL) == -1 &&
           errno == EEXIST, "clone onto an existing device");
    CHECK (zvolume_remove_device (vol, "db-clone") == 0, "%s", last_error);
  }
  errno = 0;
  CHECK (zvolume_chunk_codec (vol, &meta, 5, 0, &codec2) == -1 &&
         errno == EINVAL, "compression 5");
  {
    uint8_t inst1[16] = { 1 }, inst2[16] = { 2 };
    uint8_t k1[64], k1b[64], k2[64];

    CHECK (zvolume_cache_key (vol, inst1, k1) == 0 &&
           zvolume_cache_key (vol, inst1, k1b) == 0 &&
           zvolume_cache_key (vol, inst2, k2) == 0, "cache keys");
    CHECK (memcmp (k1, k1b, 64) == 0 && memcmp (k1, k2, 64) != 0 &&
           memcmp (k1, k1 + 32, 32) != 0, "cache keys differ per instance");
  }

  /* Listing: sorted, strays skipped. */
  for (i = 0; i < sizeof unsorted / sizeof unsorted[0]; i++)
    CHECK (zvolume_create_device (vol, unsorted[i], 1 << 20, NULL) == 0,
           "create %s: %s", unsorted[i], last_error);
  put_object (s, "devices/.hidden/meta", "x", 1);
  put_object (s, "devices/has space/meta", "x", 1);
  put_object (s, "devices/stray-object", "x", 1);
  CHECK (zvolume_list_devices (vol, add_name, &names) == 0, "list: %s",
         last_error);
  CHECK (strcmp (names.text, "Alpha a-b a.b a0 b db size0 size1 size2 zeta")
         == 0, "list: %s", names.text);
  names.text[0] = '\0';
  names.calls = 0;
  names.stop_after = 2;
  CHECK (zvolume_list_devices (vol, add_name, &names) == -1 &&
         names.calls == 2, "a callback's -1 stops the listing");

  /* Usage and remove: more objects than one delete batch. */
  CHECK (zvolume_create_device (vol, "victim", UINT64_C (4) << 40, &meta)
         == 0, "create victim: %s", last_error);
  CHECK (zvolume_chunk_codec (vol, &meta, ZCOMP_ZSTD, 3, &codec) == 0, "%s", last_error);
  data = calloc (1, ZCHUNK_SIZE);
  REQUIRE (data != NULL, "calloc");
  for (i = 0; i < OBJSTORE_DELETE_BATCH + 5; i++) {
    uint64_t index = i * 7919;

    memcpy (data, &index, sizeof index);
    REQUIRE (zchunk_encode (&codec, index, 1, data, ZCHUNK_SIZE,
                            (void **) &obj, &len) == 0, "encode");
    zkey_chunk (key, "victim", index);
    put_object (s, key, obj, len);
    total_bytes += len;
    free (obj);
  }
  put_object (s, "devices/victim/lease", "holder", 6);
  put_object (s, "devices/victim/journal/0000000000000001", "j", 1);
  CHECK (zvolume_device_usage (vol, "victim", &usage) == 0 &&
         usage.chunk_objects == OBJSTORE_DELETE_BATCH + 5 &&
         usage.chunk_bytes == total_bytes &&
         usage.journal_objects == 1 && usage.journal_bytes == 1,
         "usage: %" PRIu64 " objects, %" PRIu64 " bytes",
         usage.chunk_objects, usage.chunk_bytes);
  CHECK (zvolume_device_usage (vol, "db", &usage) == 0 &&
         usage.chunk_objects == 0 && usage.chunk_bytes == 0 &&
         usage.journal_objects == 0, "usage of an empty device");
  free (data);

  /* A device whose name is a prefix of the victim's must survive. */
  CHECK (zvolume_create_device (vol, "victim2", 4096, NULL) == 0, "%s", last_error);
  zkey_chunk (key, "victim2", 0);
  put_object (s, key, "keep", 4);

  CHECK (zvolume_remove_device (vol, "victim") == 0, "remove: %s",
         last_error);
  n = 0;
  CHECK (objstore_list (s, "devices/victim/", NULL, count_keys, &n) == 0 &&
         n == 0, "%d objects left after remove", n);
  CHECK (files_under ("v2/devices/victim") == 0,
         "%d files left in the directory", file_count);
  CHECK (objstore_head (s, key, NULL) == 0, "victim2's chunk survives");
  CHECK (zvolume_get_device (vol, "victim2", &meta2) == 0, "victim2 survives");
  errno = 0;
  CHECK (zvolume_get_device (vol, "victim", &meta2) == -1 && errno == ENOENT,
         "removed device: errno %d", errno);
  errno = 0;
  CHECK (zvolume_remove_device (vol, "victim") == -1 && errno == ENOENT,
         "remove twice: errno %d", errno);
  snprintf (want, sizeof want, "no device victim in volume %s",
            s->description);
  CHECK (strcmp (last_error, want) == 0, "message: %s", last_error);

  /* An interrupted rm (meta still there, chunks gone) runs again. */
  CHECK (zvolume_create_device (vol, "again", 4096, NULL) == 0, "%s", last_error);
  CHECK (zvolume_remove_device (vol, "again") == 0 &&
         files_under ("v2/devices/again") == 0, "remove a bare device");

  zvolume_close (vol3);
  zvolume_close (vol);
  objstore_close (s3);
  objstore_close (s);
}

int
main (void)
{
  const char *tmp = getenv ("TMPDIR");

  unit_capture_errors ();
  snprintf (root, sizeof root, "%s/zerofs-test-volume.XXXXXX",
            tmp && *tmp ? tmp : "/tmp");
  REQUIRE (mkdtemp (root) != NULL, "mkdtemp %s: %m", root);

  test_names ();
  test_keys ();
  test_volume ();
  test_devices ();
  test_default_cost ();

  nftw (root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);

  return unit_exit_status ("test-unit-volume");
}
