/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: the local chunk cache's slot file.
 *
 * One file, cache-dir/slots, of NSLOTS slots of ZCHUNK_SIZE bytes each.
 * A slot holds one chunk's bytes, encrypted at rest with AES-256-XTS per
 * 4 KiB sector (tweak = slot * ZSECTORS_PER_CHUNK + sector), the key
 * derived from the volume's DEK and this cache's instance id.  Which
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

struct zslots;

/* Open (creating if needed) PATH sized for NSLOTS slots.  The file is
 * sparse; it grows but never shrinks below what is there.
 */
extern struct zslots *zslots_open (const char *path, uint32_t nslots,
                                   const uint8_t key[CRYPTO_XTS_KEY_LEN]);
extern void zslots_close (struct zslots *s);

extern int zslots_read (struct zslots *s, uint32_t slot,
                        uint32_t offset, uint32_t len, void *buf);
extern int zslots_write (struct zslots *s, uint32_t slot,
                         uint32_t offset, uint32_t len, const void *buf);
/* Make every write so far durable (fdatasync). */
extern int zslots_sync (struct zslots *s);

#endif /* ZEROFS_CACHE_SLOTS_H */
