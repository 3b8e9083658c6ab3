/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: a device's byte-range operations (see device.h).
 *
 * The only knowledge here is geometry: where chunks begin and end, and
 * which requests cover whole chunks (those become discards: a whole-chunk
 * WRITE_ZEROES or TRIM deletes the object instead of storing zeros).
 * It also counts the requests it serves, for the statistics (struct
 * device_counters): a relaxed atomic addition each, and a clock read
 * around flushes only.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "cleanup.h"

#include "cache/cache.h"
#include "device.h"
#include "log.h"

/* Count a request that returned R: if it succeeded, one to COUNTER and
 * BYTES to BYTES_COUNTER (either may be NULL), else one error.  Returns R.
 */
static int
tally (struct device *dev, int r, _Atomic uint64_t *counter,
       _Atomic uint64_t *bytes_counter, uint64_t bytes)
{
  if (r == -1)
    counter = &dev->counters.errors;
  else if (bytes_counter)
    atomic_fetch_add_explicit (bytes_counter, bytes, memory_order_relaxed);
  if (counter)
    atomic_fetch_add_explicit (counter, 1, memory_order_relaxed);
  return r;
}

uint64_t
device_size (const struct device *dev)
{
  return dev->meta.size;
}

static int
check_range (const struct device *dev, uint32_t count, uint64_t offset,
             int err, const char *what)
{
  if (offset > dev->meta.size || count > dev->meta.size - offset) {
    zerror ("%s: %s of %" PRIu32 " bytes at offset %" PRIu64
            " is beyond the end of the device (%" PRIu64 " bytes)",
            dev->meta.name, what, count, offset, dev->meta.size);
    errno = err;
    return -1;
  }
  return 0;
}

/* Iterate over the chunk pieces of [OFFSET, OFFSET+COUNT). */
#define FOR_EACH_PIECE(offset, count, idx, off, len)                    \
  for (uint64_t pos_ = (offset), end_ = (offset) + (count);             \
       pos_ < end_ &&                                                   \
         ((idx) = pos_ >> ZCHUNK_SHIFT,                                 \
          (off) = pos_ & (ZCHUNK_SIZE - 1),                             \
          (len) = end_ - pos_ < ZCHUNK_SIZE - (off) ?                   \
            (uint32_t) (end_ - pos_) : ZCHUNK_SIZE - (off), 1);         \
       pos_ += (len))

static int
pread_chunks (struct device *dev, void *buf, uint32_t count, uint64_t offset)
{
  uint64_t idx;
  uint32_t off, len;
  uint8_t *p = buf;

  if (check_range (dev, count, offset, EINVAL, "read") == -1)
    return -1;
  zcache_readahead (dev->cd, offset, count);
  /* A read over several chunks starts all their GETs at once instead of
   * one after another (a failure here is left for the reads to meet).
   */
  if (count > 0 && offset / ZCHUNK_SIZE != (offset + count - 1) / ZCHUNK_SIZE)
    zcache_prefetch_range (dev->cd, offset / ZCHUNK_SIZE,
                           (offset + count - 1) / ZCHUNK_SIZE);
  FOR_EACH_PIECE (offset, count, idx, off, len) {
    if (zcache_read (dev->cd, idx, off, len, p) == -1)
      return -1;
    p += len;
  }
  return 0;
}

static int
sync_range (struct device *dev, uint32_t count, uint64_t offset)
{
  if (count == 0)
    return 0;
  return zcache_flush (dev->cd, offset >> ZCHUNK_SHIFT,
                       (offset + count - 1) >> ZCHUNK_SHIFT);
}

static int
pwrite_chunks (struct device *dev, const void *buf, uint32_t count,
               uint64_t offset, bool fua)
{
  uint64_t idx;
  uint32_t off, len;
  const uint8_t *p = buf;

  if (check_range (dev, count, offset, ENOSPC, "write") == -1)
    return -1;
  FOR_EACH_PIECE (offset, count, idx, off, len) {
    if (zcache_write (dev->cd, idx, off, len, p) == -1)
      return -1;
    p += len;
  }
  return fua ? sync_range (dev, count, offset) : 0;
}

static int
zero_chunks (struct device *dev, uint32_t count, uint64_t offset, bool fua)
{
  uint64_t idx;
  uint32_t off, len;
  int r;

  if (check_range (dev, count, offset, ENOSPC, "zero") == -1)
    return -1;
  FOR_EACH_PIECE (offset, count, idx, off, len) {
    if (off == 0 && len == cache_device_chunk_len (dev->cd, idx))
      r = zcache_discard (dev->cd, idx);
    else
      r = zcache_write (dev->cd, idx, off, len, NULL);
    if (r == -1)
      return -1;
  }
  return fua ? sync_range (dev, count, offset) : 0;
}

int
device_pread (struct device *dev, void *buf, uint32_t count, uint64_t offset)
{
  return tally (dev, pread_chunks (dev, buf, count, offset),
                &dev->counters.reads, &dev->counters.read_bytes, count);
}

int
device_pwrite (struct device *dev, const void *buf, uint32_t count,
               uint64_t offset, bool fua)
{
  int r = pwrite_chunks (dev, buf, count, offset, fua);

  if (r == 0 && fua)
    tally (dev, r, &dev->counters.fua, NULL, 0);
  return tally (dev, r, &dev->counters.writes, &dev->counters.write_bytes,
                count);
}

int
device_zero (struct device *dev, uint32_t count, uint64_t offset, bool fua)
{
  return tally (dev, zero_chunks (dev, count, offset, fua),
                &dev->counters.zeroes, &dev->counters.zero_bytes, count);
}

int
device_trim (struct device *dev, uint32_t count, uint64_t offset, bool fua)
{
  return tally (dev, zero_chunks (dev, count, offset, fua),
                &dev->counters.trims, &dev->counters.trim_bytes, count);
}

int
device_can_zero_fast (const struct device *dev, uint32_t count, uint64_t offset)
{
  /* Whole chunks are discards, aligned partial ones plain cache writes;
   * only an unaligned edge may need the store's copy of a sector.
   */
  if (offset % ZSECTOR_SIZE || count % ZSECTOR_SIZE) {
    errno = ENOTSUP;
    return -1;
  }
  return 0;
}

int
device_flush (struct device *dev)
{
  uint64_t start = zhist_now_us ();
  int r = zcache_flush (dev->cd, 0, UINT64_MAX);

  if (r == 0)
    zhist_record_since (&dev->counters.flush_latency, start);
  return tally (dev, r, NULL, NULL, 0);
}

int
device_prefetch (struct device *dev, uint32_t count, uint64_t offset)
{
  if (check_range (dev, count, offset, EINVAL, "cache") == -1)
    return -1;
  if (count == 0)
    return 0;
  return zcache_prefetch_range (dev->cd, offset / ZCHUNK_SIZE,
                                (offset + count - 1) / ZCHUNK_SIZE);
}

/* Report [START, END) clipped to the request [OFFSET, OFFSET+COUNT).
 * Never past the request: nbdkit merges adjacent extents, and 1.32
 * aborts on a merged extent longer than a 32-bit NBD descriptor that
 * ends inside the request (a 4 GiB request over a hole is exactly 2^32
 * bytes of chunks).
 */
static int
report_run (uint64_t start, uint64_t end, bool hole,
            uint32_t count, uint64_t offset,
            int (*fn) (void *opaque, uint64_t offset, uint64_t length,
                       bool hole),
            void *opaque)
{
  if (start < offset)
    start = offset;
  if (end > offset + count)
    end = offset + count;
  if (start >= end)
    return 0;
  return fn (opaque, start, end - start, hole);
}

int
device_extents (struct device *dev, uint32_t count, uint64_t offset,
                int (*fn) (void *opaque, uint64_t offset, uint64_t length,
                           bool hole),
                void *opaque)
{
  uint64_t first, last, pos;
  CLEANUP_FREE uint64_t *alloc = NULL;
  size_t n, i, j;

  if (check_range (dev, count, offset, EINVAL, "block status") == -1)
    return -1;
  if (count == 0)
    return 0;
  first = offset >> ZCHUNK_SHIFT;
  last = (offset + count - 1) >> ZCHUNK_SHIFT;
  if (zcache_allocated_chunks (dev->cd, first, last, &alloc, &n,
                               &last) == -1)
    return -1;
  /* Alternate holes and runs of consecutive allocated chunks. */
  pos = first;
  for (i = 0; i < n; i = j) {
    for (j = i + 1; j < n && alloc[j] == alloc[j - 1] + 1; j++)
      ;
    if (report_run (pos << ZCHUNK_SHIFT, alloc[i] << ZCHUNK_SHIFT, true,
                    count, offset, fn, opaque) == -1 ||
        report_run (alloc[i] << ZCHUNK_SHIFT,
                    (alloc[j - 1] + 1) << ZCHUNK_SHIFT,
                    false, count, offset, fn, opaque) == -1)
      return -1;
    pos = alloc[j - 1] + 1;
  }
  return report_run (pos << ZCHUNK_SHIFT, (last + 1) << ZCHUNK_SHIFT, true,
                     count, offset, fn, opaque);
}
