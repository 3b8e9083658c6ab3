/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: a device's byte-range operations (see device.h).
 *
 * The only knowledge here is geometry: where chunks begin and end, and
 * which requests cover whole chunks (those become discards: a whole-chunk
 * WRITE_ZEROES or TRIM deletes the object instead of storing zeros).
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "cleanup.h"

#include "cache/cache.h"
#include "device.h"
#include "log.h"

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

int
device_pread (struct device *dev, void *buf, uint32_t count, uint64_t offset)
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

int
device_pwrite (struct device *dev, const void *buf, uint32_t count,
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

int
device_zero (struct device *dev, uint32_t count, uint64_t offset, bool fua)
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
  return zcache_flush (dev->cd, 0, UINT64_MAX);
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
  if (zcache_allocated_chunks (dev->cd, first, last, &alloc, &n) == -1)
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
