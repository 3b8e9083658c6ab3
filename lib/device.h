/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: a device's byte-range operations, as NBD asks for them.
 *
 * Requests are split at chunk boundaries and handed to the cache chunk by
 * chunk.  Ranges are checked here: a read or write past the end is an
 * error (EINVAL for reads, ENOSPC for writes, as NBD expects), never a
 * crash.  Every function returns 0 or -1 with errno set and the error
 * reported.
 */
#ifndef ZEROFS_DEVICE_H
#define ZEROFS_DEVICE_H

#include <stdbool.h>
#include <stdint.h>

#include "histogram.h"
#include "volume.h"

struct cache_device;

/* The NBD requests a device served, for the statistics (lib/stats.c):
 * relaxed atomics, counted when a request succeeds (ERRORS counts those
 * that failed).  The flush histogram's count is the number of flushes.
 */
struct device_counters {
  _Atomic uint64_t reads, read_bytes, writes, write_bytes;
  _Atomic uint64_t trims, trim_bytes, zeroes, zero_bytes;
  _Atomic uint64_t fua, errors;
  struct zhist flush_latency;
};

struct device {
  struct device *next;
  struct device_meta meta;
  struct cache_device *cd;
  struct device_counters counters;
};

extern uint64_t device_size (const struct device *dev);
extern int device_pread (struct device *dev, void *buf, uint32_t count,
                         uint64_t offset);
extern int device_pwrite (struct device *dev, const void *buf, uint32_t count,
                          uint64_t offset, bool fua);
/* Zeros: whole chunks lose their objects, partial ones are written.
 * TRIM does the same (it is counted apart).
 */
extern int device_zero (struct device *dev, uint32_t count, uint64_t offset,
                        bool fua);
extern int device_trim (struct device *dev, uint32_t count, uint64_t offset,
                        bool fua);
/* Fails with ENOTSUP (quietly) when zeroing would not be fast. */
extern int device_can_zero_fast (const struct device *dev, uint32_t count,
                                 uint64_t offset);
extern int device_flush (struct device *dev);
extern int device_prefetch (struct device *dev, uint32_t count, uint64_t offset);

/* Report the range as runs of data (HOLE false) and holes (known zeros)
 * to FN, at chunk granularity, covering exactly [OFFSET, OFFSET+COUNT).
 */
extern int device_extents (struct device *dev, uint32_t count, uint64_t offset,
                           int (*fn) (void *opaque, uint64_t offset,
                                      uint64_t length, bool hole),
                           void *opaque);

#endif /* ZEROFS_DEVICE_H */
