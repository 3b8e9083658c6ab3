/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: the local chunk cache's slot file.
 *
 * One file, cache-dir/slots, of NSLOTS slots of ZCHUNK_SIZE bytes each.
 * A slot holds one chunk's bytes, encrypted at rest with AES-256-XTS per
 * data unit of 512 bytes (tweak = slot * 2048 + unit), the key derived
 * from the volume's DEK and this cache's instance id.
 *
 * Why 512 bytes and not the cache's 4 KiB sectors: a write torn by a
 * power loss leaves each unit the disk wrote atomically either old or
 * new.  Disks promise that for 512-byte sectors at least.  Encrypted in
 * 4 KiB units, a torn 4 KiB write decrypted to 4 KiB of noise, over
 * bytes an earlier FLUSH may have acknowledged; in 512-byte units it
 * reads back as part old, part new, which is what a torn write on a
 * plain disk gives and what NBD allows for a write not yet flushed.
 * (dm-crypt keeps 512-byte sectors by default for the same reason.)
 * Caches made before this kept 4 KiB units; the index records which.  Which
 * chunk a slot holds, and which of its sectors are valid, is the index's
 * business (index.h); this file only moves sectors in and out.
 *
 * All offsets and lengths are multiples of ZSECTOR_SIZE within one slot.
 * Thread-safe: pread/pwrite on one fd; callers serialize access to a slot.
 */
#ifndef ZEROFS_CACHE_SLOTS_H
#define ZEROFS_CACHE_SLOTS_H

#include <stdint.h>

#include "crypto.h"

#define ZSLOT_NONE UINT32_MAX
#define ZSLOT_XTS_UNIT 512      /* new caches; older ones used 4096 */

struct zslots;

/* Open (creating if needed) PATH sized for NSLOTS slots, encrypted in
 * data units of XTS_UNIT bytes (ZSLOT_XTS_UNIT, or 4096 for caches made
 * before it).  The file grows but never shrinks below what is there.
 */
extern struct zslots *zslots_open (const char *path, uint32_t nslots,
                                   uint32_t xts_unit,
                                   const uint8_t key[CRYPTO_XTS_KEY_LEN]);
extern void zslots_close (struct zslots *s);

extern int zslots_read (struct zslots *s, uint32_t slot,
                        uint32_t offset, uint32_t len, void *buf);
extern int zslots_write (struct zslots *s, uint32_t slot,
                         uint32_t offset, uint32_t len, const void *buf);
/* Make every write so far durable (fdatasync). */
extern int zslots_sync (struct zslots *s);

#endif /* ZEROFS_CACHE_SLOTS_H */
