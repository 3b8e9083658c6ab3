/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: device leases, one writer per device.
 *
 * A server that opens a device for writing holds its lease object,
 * devices/NAME/lease.  It says who writes the device (the cache
 * instance, host and pid), since when, when it last renewed it, and a
 * generation that grows by one at every take (a forced take that
 * replaces an object nobody can read starts it afresh at the time in
 * microseconds).  A second writer is
 * refused with a message naming the holder; the same cache instance
 * (restarting after a crash, with the same cache-dir) takes its own
 * lease back; anyone else needs force=true, which the message says.
 * A read-only open takes nothing.
 *
 * When.  A read-write open only looks at the lease (zlease_look): a live
 * holder elsewhere refuses it at once, but the lease is taken at the
 * first write (zlease_take_seen), so that a client that only reads, or
 * lists the exports (nbdkit opens every device read-write to answer
 * NBD_OPT_INFO), takes nothing.  The take is then let in only if the
 * lease is as the server first saw it: had anyone taken it meanwhile,
 * what the server read and cached since may be older than the store.
 * force=true, and a journal that must be replayed, take it at the open.
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
 * Fencing.  zlease_check is called before every attempt of a request
 * that changes the store for the device (chunk uploads and deletes,
 * journal objects and their deletion; retries included: the cache sends
 * them fenced, lib/store/objstore.h): when the lease was last confirmed
 * ZLEASE_CHECK_MS ago or more it is confirmed again by reading it (still
 * our generation, instance and pid).  A lease found taken by someone
 * else is lost for good: zlease_lost is then true, writes and flushes
 * fail with EIO, a request being retried is given up, and nothing more
 * is sent for the device.  The lease object's own PUTs are not fenced.
 *
 * Every attempt of such a request has a bound, B = the store's
 * write_bound_ms: the S3 store abandons a PUT, DELETE or DeleteObjects
 * that has not ended write-timeout after it began (curl's total
 * timeout, the wait for a connection included; not sent at all if that
 * wait used it up).  A forced take waits zlease_force_wait_ms =
 * ZLEASE_CHECK_MS + B + ZLEASE_MARGIN_MS before the new holder reads or
 * writes the device.  So an attempt of the old holder began at most
 * ZLEASE_CHECK_MS after a confirmation that read the lease before the
 * take's PUT, and has ended by then, landed or abandoned.  What that
 * guarantees, and what it does not:
 *
 *  - Guaranteed: the old holder begins no attempt, first or retry,
 *    once it has seen the lease lost, nor more than ZLEASE_CHECK_MS
 *    after the start of the last read that showed it as its own; and,
 *    on its side, every attempt has ended (answered, failed, or
 *    abandoned by curl) before the new holder serves.
 *  - Not guaranteed: that the store does nothing with a request whose
 *    client gave up.  S3 may still apply a PUT whose body it had
 *    received in full when the connection was dropped, a moment later;
 *    the margin (ZLEASE_MARGIN_MS) covers the usual moment, not every
 *    one.  Journal objects that land that late are recognisably stale
 *    (below); a chunk object that lands that late replaces the new
 *    holder's.  Worse, an abandoned chunk PUT may land after a newer PUT
 *    of the same chunk by the same server, so that the chunk goes back
 *    to older bytes after their flush: a soak of the crash test with
 *    write-timeout=5 on a busy machine read that.  So the bound is off
 *    by default (write-timeout=0: B = 0, the forced take waits
 *    ZLEASE_CHECK_MS + ZLEASE_MARGIN_MS), and only for stores that are
 *    known to answer well within it.
 *  - Assumed: that the old holder's bound is not longer than the new
 *    holder's (the same write-timeout: the wait is the taker's), that
 *    the old holder is not held up for longer than the margin between
 *    a check and the start of its request's bound (SIGSTOP, a paused
 *    VM, swap), and that the hosts' monotonic clocks run at the same
 *    rate.  The directory store has no bound (B = 0): its writes are a
 *    write and a rename, quick on a local disk, not bounded on a slow
 *    or network file system.  The fault wrapper's delays come after the
 *    check and are not bounded (tests model late requests with them).
 *
 * Restarts.  A cache instance that takes back its own lease, not
 * released (its server was killed, or the machine lost power), changes
 * nothing in the store for the device until ZLEASE_MARGIN_MS after the
 * take (zlease_wait_quiet): the dead server's connections
 * closed when it died, but the store may still apply a PUT or DELETE
 * whose request it had whole, a moment later.  Were the restart's
 * upload of a chunk to land first, the dead server's older copy would
 * replace it, and the journal records that the restart retires with it
 * would be gone from the store.  Reads and writes into the cache do not
 * wait; the first upload, journal object or flush that needs one does.
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
 * the generation it belongs to (inherited), and the rule uses those:
 * stale is newer than that floor and of neither that generation's epoch
 * nor PREVIOUS's own.  A holder changes nothing in the store for the
 * device (no chunk, no journal object) before its floor is recorded
 * (zlease_ensure_journal_floor, from the cache's guard: a failed PUT of
 * it at the open is tried again then, and the request fails if it
 * fails again).  The replay deletes the stale objects it found before
 * it records its own floor, so that no later holder's floor covers
 * them.
 *
 * What the rule cannot do: in a chain A -> B -> C where B was lost
 * between its take and recording its floor, C judges by A's floor and
 * epoch, and applies every object of A's newer than A's floor, late ones
 * (landed after B's take) included.  Nothing tells those from A's
 * objects that landed before B's take, which may be flushes A
 * acknowledged: neither the object's name (sequence), nor its epoch,
 * nor any lease says when an object landed.  Applying them is safe:
 * B wrote nothing of its own (nothing before its floor), C's writes
 * come after all it replayed, and an object of A's that lands after C
 * listed is judged by C's floor.
 */
#ifndef ZEROFS_LEASE_H
#define ZEROFS_LEASE_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "volume.h"

#define ZLEASE_HOST_MAX 255
#define ZLEASE_OBJECT_MAX (20 + 70 + ZLEASE_HOST_MAX + 16)
#define ZLEASE_FLOOR_UNKNOWN UINT64_MAX
#define ZLEASE_CHECK_MS 1000       /* confirm again before writing after */
#define ZLEASE_RENEW_S 30          /* rewrite "renewed" this often */
#define ZLEASE_MARGIN_MS 2000      /* a forced take waits this much more
                                      than CHECK_MS + the store's bound */

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
 * volume: -1, EBADMSG, with a zerror naming KEY; a lease of a format
 * this zerofs does not read: -1, EPROTONOSUPPORT (also said).
 */
extern int zlease_decode (const struct zvolume *vol, const char *name,
                          const uint8_t *obj, size_t len,
                          struct zlease_info *info);

/* Read device NAME's lease: 0, or 1 when there is none, or -1.  ETAG
 * (OBJSTORE_ETAG_MAX bytes, may be NULL) gets the object's ETag.  An
 * object that is there but cannot be read is -1 (said) with errno
 * EBADMSG (not a genuine lease of this device: damaged, or another
 * key's; a forced take replaces it) or EPROTONOSUPPORT (a format this
 * zerofs does not read, as a newer one's: never replaced); see
 * zlease_unreadable.
 */
extern int zlease_read (struct zvolume *vol, const char *name,
                        struct zlease_info *info, char *etag);

/* After zlease_read or zlease_look failed: was the lease object there
 * but unreadable (EBADMSG or EPROTONOSUPPORT), rather than the store
 * failing?
 */
static inline bool
zlease_unreadable (int err)
{
  return err == EBADMSG || err == EPROTONOSUPPORT;
}

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
#define ZLEASE_TOOL 4        /* the holder is zerofs-dev, not a server
                                (what its messages say) */

/* Take device NAME's lease for cache instance INSTANCE.  Held by
 * another live writer and not ZLEASE_FORCE: NULL, EBUSY, with a zerror
 * naming the holder and the way out.  NULL on error.
 */
extern struct zlease *zlease_take (struct zvolume *vol, const char *name,
                                   const uint8_t instance[16],
                                   unsigned flags);

/* How long a forced take of a live lease waits before it returns (see
 * "Fencing" above): ZLEASE_CHECK_MS + the store's write bound +
 * ZLEASE_MARGIN_MS.
 */
extern unsigned zlease_force_wait_ms (const struct zvolume *vol);

/* What a server saw of a device's lease when it first opened it. */
struct zlease_seen {
  bool exists;                 /* there was a lease object */
  bool held_by_other;          /* live, and another cache instance's */
  struct zlease_info info;     /* it, if EXISTS */
};

/* Read device NAME's lease into SEEN, as cache instance INSTANCE sees
 * it: 0, or -1 (with a zerror).
 */
extern int zlease_look (struct zvolume *vol, const char *name,
                        const uint8_t instance[16], struct zlease_seen *seen);

/* The refusal of a live holder INFO of device NAME (EBUSY): the zerror
 * naming it and the way out.  Returns -1.
 */
extern int zlease_refuse (const char *name, const struct zlease_info *info);

/* Is the lease NOW as SEEN says (nobody took it in between, and SEEN
 * was not another live server's)?  If not, zlease_refuse_changed says
 * so (zerror, ESTALE) and returns -1.
 */
extern bool zlease_seen_unchanged (const struct zlease_seen *seen,
                                   const struct zlease_seen *now);
extern int zlease_refuse_changed (const char *name,
                                  const struct zlease_seen *seen,
                                  const struct zlease_seen *now);

/* zlease_take, let in only if the lease is still as SEEN says (the same
 * generation of the same instance, or still none) and SEEN was not held
 * by another server: else NULL, ESTALE, with a zerror saying that the
 * device was written by another server since this one first looked.
 */
extern struct zlease *zlease_take_seen (struct zvolume *vol,
                                        const char *name,
                                        const uint8_t instance[16],
                                        unsigned flags,
                                        const struct zlease_seen *seen);

/* Before changing the store for the device: 0 if the lease is still
 * ours (confirmed with a request at most every ZLEASE_CHECK_MS), -1
 * (EIO) if it was lost, or the store's error.
 */
extern int zlease_check (struct zlease *lease);
/* Before changing the store for the device, too: sleep out what is left
 * of the quiet time of a take of this cache's own lease after a crash
 * ("Restarts" above); at once otherwise.
 */
extern void zlease_wait_quiet (struct zlease *lease);
/* The same, confirmed with a request begun at most MS ago.  A FLUSH is
 * acknowledged only if its uploads ended within ZLEASE_MARGIN_MS of a
 * confirmation begun before them: a forced take waits longer than that
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
/* Before this holder changes the store for the device: the floor last
 * given to zlease_set_journal_floor is recorded, tried again if it
 * failed then (else a later holder would judge this holder's objects,
 * and the old holder's late ones, by the floor it inherited).  No
 * request when it is recorded (or none was given yet).  0 (also
 * when none was given yet), or -1: EIO when lost, or the store's error.
 */
extern int zlease_ensure_journal_floor (struct zlease *lease);

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
