/* zerofs: a device's byte-range operations, as NBD asks for them.
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

#include "volume.h"

struct zcdev;

struct zdev {
  struct zdev *next;
  struct zdevice_meta meta;
  struct zcdev *cd;
};

extern uint64_t zdev_size (const struct zdev *dev);
extern int zdev_pread (struct zdev *dev, void *buf, uint32_t count,
                       uint64_t offset);
extern int zdev_pwrite (struct zdev *dev, const void *buf, uint32_t count,
                        uint64_t offset, bool fua);
/* Zeros: whole chunks lose their objects, partial ones are written. */
extern int zdev_zero (struct zdev *dev, uint32_t count, uint64_t offset,
                      bool fua);
/* Fails with ENOTSUP (quietly) when zeroing would not be fast. */
extern int zdev_can_zero_fast (const struct zdev *dev, uint32_t count,
                               uint64_t offset);
extern int zdev_flush (struct zdev *dev);
extern int zdev_prefetch (struct zdev *dev, uint32_t count, uint64_t offset);

/* Report the range as runs of data (HOLE false) and holes (known zeros)
 * to FN, at chunk granularity, covering exactly [OFFSET, OFFSET+COUNT).
 */
extern int zdev_extents (struct zdev *dev, uint32_t count, uint64_t offset,
                         int (*fn) (void *opaque, uint64_t offset,
                                    uint64_t length, bool hole),
                         void *opaque);

#endif /* ZEROFS_DEVICE_H */
