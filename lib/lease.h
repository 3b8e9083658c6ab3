/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: device leases, one writer per device.
 *
 * A server that opens a device for writing holds its lease object,
 * devices/NAME/lease.  It says who writes the device (the cache
 * instance, host and pid), since when, when it last renewed it, and a
 * generation that grows by one at every take.  A second writer is
 * refused with a message naming the holder; the same cache instance
 * (restarting after a crash, with the same cache-dir) takes its own
 * lease back; anyone else needs force=true, which the message says.
 * A read-only open takes nothing.
 *
 * Atomicity.  The lease is taken with a conditional PUT: If-None-Match *
 * when there is none, If-Match ETAG of the object read when there is
 * one, and renewed and released with If-Match.  Whether the store
 * honours them is found out at every take (zlease_take probes a key of
 * its own: s3rver ignores the headers, Swift refuses them with 501).
 * A store that does not honour them gets a checked take instead (write,
 * then read back) and a warning that two servers starting at the same
 * moment may both believe they hold it.  The directory store is atomic.
 *
 * Fencing.  zlease_check is called before a server changes the store
 * for the device (uploads, journal objects, deletes): when the lease was
 * last confirmed more than ZLEASE_CHECK_MS ago it is confirmed again
 * by reading it (still our generation, instance and pid).  A lease found taken by someone
 * else is lost for good: zlease_lost is then true, writes and flushes
 * fail with EIO, and nothing more is written for the device.  The
 * window in which a server that lost its lease can still write is
 * therefore one check interval plus one request; a forced take waits
 * ZLEASE_FORCE_WAIT_MS before the device is served, longer than that.
 *
 * Layout of the object (integers big-endian), like the device meta:
 *
 *        0    4  magic "ZFSL"
 *        4    1  format version, 1
 *        5    3  reserved, 0
 *        8   12  AES-256-GCM nonce
 *       20    n  sealed with the meta key (+16 tag):
 *                  generation (8), cache instance id (16),
 *                  since, unix seconds (8), renewed, unix seconds (8),
 *                  journal floor (8), inherited floor (8), inherited
 *                  generation (8), pid (4), flags (1: bit 0 =
 *                  released), host length (1), host (1..255 bytes)
 *
 * AAD = bytes 0..19 || volume uuid || "lease" || device name, so a lease
 * copied to another device or volume does not open.
 *
 * Stale journal objects.  A server fenced by a forced take may still have
 * a journal PUT under way, which lands after the new holder listed the
 * journal: data the new holder never saw, which a later replay must not
 * apply.  So every journal object carries its writer's epoch (the low 16
 * bits of its lease generation, lib/journal.h), and the holder records
 * in its lease the journal floor: the newest journal object it found
 * once it held the lease.  A replay that took the lease over from
 * PREVIOUS ignores (as stale) an object newer than PREVIOUS's floor
 * whose epoch is not PREVIOUS's.  Until a holder has recorded its floor
 * (a crash may come first), its lease carries the last known floor and
 * the generation it belongs to (inherited), and the rule uses those.
 * The replay deletes the stale objects it found before it records its
 * own floor, so that no later holder's floor covers them.
 */
#ifndef ZEROFS_LEASE_H
#define ZEROFS_LEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "volume.h"

#define ZLEASE_HOST_MAX 255
#define ZLEASE_OBJECT_MAX (20 + 70 + ZLEASE_HOST_MAX + 16)
#define ZLEASE_FLOOR_UNKNOWN UINT64_MAX
#define ZLEASE_CHECK_MS 1000       /* confirm again before writing after */
#define ZLEASE_RENEW_S 30          /* rewrite "renewed" this often */
#define ZLEASE_FORCE_WAIT_MS 3000  /* a forced take waits this long */

/* What a lease object says. */
struct zlease_info {
  uint64_t generation;
  uint8_t instance[16];
  uint64_t since, renewed;         /* unix seconds */
  uint64_t journal_floor;          /* newest journal object when taken,
                                      or ZLEASE_FLOOR_UNKNOWN */
  uint64_t inherited_floor;        /* until then, the last known floor */
  uint64_t inherited_generation;   /* and the generation it was of */
  uint32_t pid;
  bool released;                   /* given up by a clean shutdown */
  char host[ZLEASE_HOST_MAX + 1];
};

/* Seal INFO for device NAME into OBJ (ZLEASE_OBJECT_MAX bytes). */
extern int zlease_encode (const struct zvolume *vol, const char *name,
                          const struct zlease_info *info,
                          uint8_t *obj, size_t *len);
/* Open a lease object.  Anything that is not a lease of NAME in this
 * volume: -1, EBADMSG, with a zerror naming KEY.
 */
extern int zlease_decode (const struct zvolume *vol, const char *name,
                          const uint8_t *obj, size_t len,
                          struct zlease_info *info);

/* Read device NAME's lease: 0, or 1 when there is none, or -1.  ETAG
 * (OBJSTORE_ETAG_MAX bytes, may be NULL) gets the object's ETag.
 */
extern int zlease_read (struct zvolume *vol, const char *name,
                        struct zlease_info *info, char *etag);

/* "host H pid P (cache instance U), since DATE, renewed N s ago" */
extern void zlease_describe (const struct zlease_info *info,
                             char *buf, size_t size);

/* A live lease (not released).  */
static inline bool
zlease_is_live (const struct zlease_info *info)
{
  return !info->released;
}

/* A lease this process holds. */
struct zlease;

/* Flags of zlease_take. */
#define ZLEASE_FORCE 1       /* take it even from a live holder */
#define ZLEASE_ONLY_OURS 2   /* refuse (ESTALE, said) unless this cache
                                instance held it last, or nobody did */

/* Take device NAME's lease for cache instance INSTANCE.  Held by
 * another live writer and not ZLEASE_FORCE: NULL, EBUSY, with a zerror
 * naming the holder and the way out.  NULL on error.
 */
extern struct zlease *zlease_take (struct zvolume *vol, const char *name,
                                   const uint8_t instance[16],
                                   unsigned flags);

/* Was the lease taken over from another cache instance?  Then what a
 * cache knew of the device is older than the store: another server
 * wrote it meanwhile.
 */
extern bool zlease_took_over (const struct zlease *lease);

/* Before changing the store for the device: 0 if the lease is still
 * ours (confirmed with a request at most every ZLEASE_CHECK_MS), -1
 * (EIO) if it was lost, or the store's error.
 */
extern int zlease_check (struct zlease *lease);
/* The same, confirmed with a request begun at most MS ago.  A FLUSH is
 * acknowledged only if its uploads ended within ZLEASE_FORCE_WAIT_MS of
 * a confirmation begun before them: a forced take waits that long
 * before the new holder reads or writes the device.
 */
extern int zlease_confirm_within (struct zlease *lease, unsigned ms);

/* Rewrite the lease if it was last written ZLEASE_RENEW_S ago or more
 * (so that others see that the holder is alive).  0, or -1.
 */
extern int zlease_renew (struct zlease *lease);

/* The lease this one took over (its generation, holder, journal floor):
 * false if there was none.
 */
extern bool zlease_previous (const struct zlease *lease,
                             struct zlease_info *info);

/* Record the journal floor (see above) in the lease object. */
extern int zlease_set_journal_floor (struct zlease *lease, uint64_t floor);

/* The epoch journal objects of generation GEN carry. */
static inline uint16_t
zlease_epoch (uint64_t generation)
{
  return (uint16_t) generation;
}

/* True once the lease was found taken by someone else. */
extern bool zlease_lost (const struct zlease *lease);

extern uint64_t zlease_generation (const struct zlease *lease);

/* Give the lease up (marked released, so that any server may take it
 * without force) when RELEASE, else keep it (dirty data that only this
 * cache holds: the same cache instance takes it back), and free.
 */
extern void zlease_drop (struct zlease *lease, bool release);

#endif /* ZEROFS_LEASE_H */
