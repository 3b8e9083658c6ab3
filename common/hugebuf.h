/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: large buffers backed by transparent huge pages.
 *
 * A thread that works on whole chunks keeps a few MiB of buffers.  Each
 * first touch of a 4 KiB page of them is a page fault, and on a virtual
 * machine a fault costs 10-15 us: the first touches of the 32
 * uploaders' buffers alone took about a sixth of the plugin's CPU in a
 * 256 MiB sequential write.  A buffer from here is aligned to 2 MiB and
 * advised as huge (MADV_HUGEPAGE), so a kernel with transparent huge
 * pages set to "madvise" or "always" faults it in 2 MiB at a time.
 * Where huge pages are not available it is an ordinary anonymous
 * mapping: the advice is only advice.
 */
#ifndef ZEROFS_HUGEBUF_H
#define ZEROFS_HUGEBUF_H

#include <stddef.h>

#define HUGEBUF_ALIGN ((size_t) 2 << 20)

/* LEN bytes of zeroed memory aligned to HUGEBUF_ALIGN, or NULL with
 * errno set.  Only the 2 MiB-aligned ranges that LEN covers whole can
 * be huge pages.
 */
extern void *hugebuf_alloc (size_t len);

/* Give back a buffer of LEN bytes from hugebuf_alloc; NULL is fine. */
extern void hugebuf_free (void *buf, size_t len);

#endif /* ZEROFS_HUGEBUF_H */
