/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: big-endian integers in on-disk and in-bucket formats.
 *
 * Every format zerofs writes to the store (volume.h, chunk.h) and the
 * keys of its index (cache/index.h) are big-endian, byte by byte, so the
 * code never depends on the host's order or on alignment.
 */
#ifndef ZEROFS_BYTEORDER_H
#define ZEROFS_BYTEORDER_H

#include <stdint.h>

static inline void
put_be16 (uint8_t *p, uint16_t v)
{
  p[0] = v >> 8;
  p[1] = v;
}

static inline uint16_t
get_be16 (const uint8_t *p)
{
  return (uint16_t) (p[0] << 8 | p[1]);
}

static inline void
put_be32 (uint8_t *p, uint32_t v)
{
  p[0] = v >> 24;
  p[1] = v >> 16;
  p[2] = v >> 8;
  p[3] = v;
}

static inline void
put_be64 (uint8_t *p, uint64_t v)
{
  put_be32 (p, v >> 32);
  put_be32 (p + 4, (uint32_t) v);
}

static inline uint32_t
get_be32 (const uint8_t *p)
{
  return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 |
    (uint32_t) p[2] << 8 | p[3];
}

static inline uint64_t
get_be64 (const uint8_t *p)
{
  return (uint64_t) get_be32 (p) << 32 | get_be32 (p + 4);
}

#endif /* ZEROFS_BYTEORDER_H */
