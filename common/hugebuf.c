/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: large buffers backed by transparent huge pages (hugebuf.h).
 *
 * mmap gives no alignment beyond a page, so a buffer maps LEN +
 * HUGEBUF_ALIGN bytes and unmaps what lies before the first aligned
 * address and after the buffer's end.
 */
#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hugebuf.h"

static size_t
page_round_up (size_t len)
{
  size_t page = (size_t) sysconf (_SC_PAGESIZE);

  return (len + page - 1) / page * page;
}

void *
hugebuf_alloc (size_t len)
{
  uint8_t *map, *buf;
  size_t maplen, head, tail;

  if (len == 0 || len > SIZE_MAX - 2 * HUGEBUF_ALIGN) {
    errno = EINVAL;
    return NULL;
  }
  len = page_round_up (len);
  maplen = len + HUGEBUF_ALIGN;
  map = mmap (NULL, maplen, PROT_READ | PROT_WRITE,
              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (map == MAP_FAILED)
    return NULL;
  buf = (uint8_t *) (((uintptr_t) map + HUGEBUF_ALIGN - 1) &
                     ~(uintptr_t) (HUGEBUF_ALIGN - 1));
  head = buf - map;
  tail = maplen - head - len;
  if (head > 0)
    munmap (map, head);
  if (tail > 0)
    munmap (buf + len, tail);
#ifdef MADV_HUGEPAGE
  /* EINVAL: a kernel without transparent huge pages.  Small pages do. */
  madvise (buf, len, MADV_HUGEPAGE);
#endif
  return buf;
}

void
hugebuf_free (void *buf, size_t len)
{
  if (buf != NULL)
    munmap (buf, page_round_up (len));
}
