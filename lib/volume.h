/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: volumes, their keys, and the devices they hold.
 *
 * A volume is an object store root (bucket + prefix, or a directory)
 * holding a header and any number of devices:
 *
 *   zerofs.volume                  the header (below)
 *   devices/NAME/meta              device metadata, sealed with the meta key
 *   devices/NAME/lease             who writes this device now (lease.h)
 *   devices/NAME/chunks/%016x      chunk objects (chunk.h)
 *
 * Header layout, 124 bytes, integers big-endian:
 *
 *   offset size  field
 *        0    4  magic "ZFSV"
 *        4    1  format version, 1
 *        5    1  KDF id: 1 = scrypt
 *        6    1  scrypt log2(N)
 *        7    1  reserved, 0
 *        8    4  scrypt r
 *       12    4  scrypt p
 *       16   16  volume uuid (random)
 *       32   32  KDF salt (random)
 *       64   12  AES-256-GCM nonce
 *       76   48  the 32-byte data key (DEK) sealed with the KEK (+16 tag)
 *
 * KEK = scrypt(password, salt); AAD of the wrap = header bytes 0..75.
 * A tag that does not verify means a wrong password (or a damaged
 * header): "wrong password for volume ...".  Changing the password
 * rewraps the DEK only; no chunk is rewritten.
 *
 * Subkeys, HKDF-SHA256 of the DEK:
 *   meta key   salt = volume uuid,  info = "zerofs meta v1"
 *   chunk key  salt = key uuid,     info = "zerofs chunk v1"   (per device;
 *                                                             see below)
 *   cache key  salt = cache instance id, info = "zerofs cache xts v1" (64 B)
 *
 * Device meta object, integers big-endian:
 *
 *        0    4  magic "ZFSM"
 *        4    1  format version, 1 or 2
 *        5    3  reserved, 0
 *        8   12  AES-256-GCM nonce
 *       20    n  sealed payload (+16 tag):
 *                  device uuid (16), size (8), chunk size (4),
 *                  created, unix seconds (8), generation (8),
 *                  version 2 only: key uuid (16),
 *                  name length (1), name
 *
 * The key uuid is the salt of the device's chunk key and the "device
 * uuid" of its chunk and journal objects' AAD (chunk.h, journal.h).
 * Version 1 has none: it is the device uuid.  A clone (zerofs-dev
 * clone) has a device uuid of its own, which is what caches know it by,
 * and the key uuid of the device it was copied from, so that the copied
 * objects open as they are.  A meta is written as version 1 whenever
 * the two are equal, so that older readers open every device but
 * clones.
 *
 * The generation starts at 0 and grows by one each time the meta object
 * is rewritten (zerofs-dev resize): a cache that knew an older generation
 * forgets what it knew of the device's chunks.
 *
 * AAD = meta bytes 0..19 || volume uuid || device name, so a meta object
 * copied to another name or volume fails to open.
 *
 * Device names: 1-64 of [A-Za-z0-9._-], not starting with '.'.
 * Sizes: a positive multiple of 4096, at most ZDEVICE_SIZE_MAX.
 */
#ifndef ZEROFS_VOLUME_H
#define ZEROFS_VOLUME_H

#include <stdbool.h>
#include <stdint.h>

#include "chunk.h"
#include "crypto.h"

struct objstore;
struct zconf;

#define ZVOLUME_HEADER_KEY "zerofs.volume"
#define ZVOLUME_HEADER_LEN 124
#define ZDEVICE_NAME_MAX 64
/* 2^62: far past the 2^50 required, and chunk index * chunk size and
 * offset + count never overflow a uint64_t.
 */
#define ZDEVICE_SIZE_MAX (UINT64_C (1) << 62)

struct zkdf_params {
  unsigned log2_n;                 /* default 17 (128 MiB, ~0.3 s) */
  unsigned r;                      /* default 8 */
  unsigned p;                      /* default 1 */
};
#define ZKDF_DEFAULT ((struct zkdf_params) { 17, 8, 1 })

struct zvolume {
  struct objstore *store;          /* not owned */
  uint8_t uuid[16];
  uint8_t dek[CRYPTO_KEY_LEN];
  uint8_t meta_key[CRYPTO_KEY_LEN];
  struct zkdf_params kdf;
};

struct device_meta {
  char name[ZDEVICE_NAME_MAX + 1];
  uint8_t uuid[16];                /* the device's identity (caches) */
  uint8_t key_uuid[16];            /* the chunk key's: = uuid, or the
                                      device's it was cloned from */
  uint64_t size;
  uint32_t chunk_size;             /* ZCHUNK_SIZE */
  uint64_t created;
  uint64_t generation;             /* bumped by every zvolume_put_device */
};

/* Write a new volume header.  Refuses (EEXIST, "volume ... already
 * exists") if there is one.  KDF may be NULL for the default.
 */
extern int zvolume_init (struct objstore *store, const char *password,
                         const struct zkdf_params *kdf);

/* Open: read and check the header, unwrap the DEK.  No header: ENOENT,
 * "no zerofs volume at DESC (run zerofs-dev init)".  Wrong password:
 * EACCES, "wrong password for volume DESC".  NULL on error (zerror).
 */
extern struct zvolume *zvolume_open (struct objstore *store,
                                     const char *password);

/* Rewrap the DEK under NEW_PASSWORD (KDF NULL: keep the parameters). */
extern int zvolume_change_password (struct zvolume *vol,
                                    const char *new_password,
                                    const struct zkdf_params *kdf);

/* Wipes the keys and frees; does not close the store. */
extern void zvolume_close (struct zvolume *vol);

/* 0 if NAME is a valid device name, else -1 with a zerror() naming it. */
extern int device_name_check (const char *name);

/* Create a device: EEXIST ("device NAME already exists") if it does,
 * or if objects without a meta (an interrupted clone) are under its
 * name.  SIZE is checked (multiple of 4096, 0 < SIZE <= ZDEVICE_SIZE_MAX).
 */
extern int zvolume_create_device (struct zvolume *vol, const char *name,
                                  uint64_t size, struct device_meta *out);

/* Write the meta of NAME, a clone of SRC: a device uuid of its own,
 * SRC's key uuid and size, created now.  The chunk and journal objects
 * must be in place already (they are copied first: zerofs-dev clone).
 * EEXIST if NAME exists.
 */
extern int zvolume_clone_device (struct zvolume *vol,
                                 const struct device_meta *src,
                                 const char *name, struct device_meta *out);

/* Whether anything is stored under devices/NAME/: 1 yes, 0 no, -1. */
extern int zvolume_device_has_objects (struct zvolume *vol, const char *name);

/* Read a device's meta.  Absent: -1, errno ENOENT, and a zerror()
 * "no device NAME in volume DESC" (or, if other objects of the device
 * remain, one saying that its meta was lost).  Tampered: EBADMSG.
 */
extern int zvolume_get_device (struct zvolume *vol, const char *name,
                               struct device_meta *out);
/* The same, but an absent device is 1, quietly. */
extern int zvolume_find_device (struct zvolume *vol, const char *name,
                                struct device_meta *out);

/* Rewrite a device's meta (resize), as the next generation. */
extern int zvolume_put_device (struct zvolume *vol,
                               const struct device_meta *meta);

/* Call FN for each device name, sorted.  FN returns 0 to go on, -1 to
 * abort (having reported its error).
 */
extern int zvolume_list_devices (struct zvolume *vol,
                                 int (*fn) (void *opaque, const char *name),
                                 void *opaque);

/* Delete every object of the device, then its meta, then its lease (an
 * interrupted rm can be run again: what is left without a meta is
 * removed too, like the objects of an interrupted clone).  ENOENT if
 * there is no such device.
 */
extern int zvolume_remove_device (struct zvolume *vol, const char *name);

/* What is stored for a device: its chunk and journal objects (not
 * the meta or the lease), by number and bytes.
 */
struct zdevice_usage {
  uint64_t chunk_objects, chunk_bytes;
  uint64_t journal_objects, journal_bytes;
};
extern int zvolume_device_usage (struct zvolume *vol, const char *name,
                                 struct zdevice_usage *usage);

/* Fill a chunk codec for this device (key, uuids, compression). */
extern int zvolume_chunk_codec (const struct zvolume *vol,
                                const struct device_meta *meta,
                                int compression, int level,
                                struct zchunk_codec *codec);

/* The local cache's XTS key for cache instance INSTANCE. */
extern int zvolume_cache_key (const struct zvolume *vol,
                              const uint8_t instance[16],
                              uint8_t key[CRYPTO_XTS_KEY_LEN]);

/* Object keys, into BUF of OBJSTORE_KEY_MAX bytes. */
extern void zkey_meta (char *buf, const char *name);
extern void zkey_lease (char *buf, const char *name);
extern void zkey_chunk (char *buf, const char *name, uint64_t index);
extern void zkey_chunks_prefix (char *buf, const char *name);
extern void zkey_journal (char *buf, const char *name, uint64_t seq);
extern void zkey_journal_prefix (char *buf, const char *name);
/* Parse the 16-hex index at the end of a chunk key, or the sequence at
 * the end of a journal key; -1 (EINVAL) if not one.
 */
extern int zkey_parse_chunk (const char *key, uint64_t *index);
extern int zkey_parse_journal (const char *key, uint64_t *seq);

/* Text form of a uuid (36 chars + NUL). */
extern void zuuid_format (const uint8_t uuid[16], char out[37]);

#endif /* ZEROFS_VOLUME_H */
