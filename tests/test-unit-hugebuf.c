/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: unit test of the huge-page buffers (common/hugebuf.c).
 *
 * A buffer is aligned to 2 MiB, zeroed, writable over its whole length
 * (the sanitizers and valgrind see a byte past it as unmapped memory,
 * not as this buffer), advised MADV_HUGEPAGE (the "hg" flag in
 * /proc/self/smaps, where the kernel has transparent huge pages), and
 * unmapped by hugebuf_free, head and tail of the first mapping
 * included.
 */
#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hugebuf.h"
#include "unit.h"

/* Whether the page at P is mapped: mincore fails with ENOMEM if not. */
static bool
mapped (const void *p)
{
  unsigned char vec;
  uintptr_t page = (uintptr_t) p & ~(uintptr_t) (sysconf (_SC_PAGESIZE) - 1);

  return mincore ((void *) page, 1, &vec) == 0;
}

/* The VmFlags of the mapping that holds P, from /proc/self/smaps, into
 * FLAGS; false if no mapping holds it.
 */
static bool
vm_flags (const void *p, char *flags, size_t size)
{
  FILE *fp = fopen ("/proc/self/smaps", "r");
  char line[512];
  bool in = false, found = false;
  unsigned long lo, hi;

  REQUIRE (fp != NULL, "/proc/self/smaps: %m");
  while (!found && fgets (line, sizeof line, fp)) {
    if (sscanf (line, "%lx-%lx ", &lo, &hi) == 2 && strchr (line, '-') <
        strchr (line, ' '))
      in = (uintptr_t) p >= lo && (uintptr_t) p < hi;
    else if (in && strncmp (line, "VmFlags:", 8) == 0) {
      snprintf (flags, size, "%s", line + 8);
      found = true;
    }
  }
  fclose (fp);
  return found;
}

int
main (void)
{
  const size_t len = 2 * ZCHUNK_SIZE + 4096;
  bool thp = access ("/sys/kernel/mm/transparent_hugepage", F_OK) == 0;
  char flags[512];
  uint8_t *buf;
  size_t i;

  errno = 0;
  CHECK (hugebuf_alloc (0) == NULL && errno == EINVAL, "0 bytes refused");
  errno = 0;
  CHECK (hugebuf_alloc (SIZE_MAX - 4096) == NULL && errno == EINVAL,
         "a length that overflows refused");
  hugebuf_free (NULL, len);

  buf = hugebuf_alloc (len);
  REQUIRE (buf != NULL, "hugebuf_alloc: %m");
  /* What the alignment mapped after the buffer is unmapped again
   * (checked before anything else may map memory there).
   */
  CHECK (!mapped (buf + len), "the page after the buffer is mapped");
  CHECK ((uintptr_t) buf % HUGEBUF_ALIGN == 0, "%p not 2 MiB-aligned",
         (void *) buf);
  for (i = 0; i < len; i++)
    if (buf[i] != 0)
      break;
  CHECK (i == len, "byte %zu is not zero", i);
  memset (buf, 0x5a, len);
  CHECK (buf[0] == 0x5a && buf[len - 1] == 0x5a);
  CHECK (vm_flags (buf, flags, sizeof flags), "no mapping holds the buffer");
  if (thp)
    CHECK (strstr (flags, " hg") != NULL,
           "the buffer is not advised MADV_HUGEPAGE: VmFlags:%s", flags);
  else
    printf ("no transparent huge pages in this kernel: the advice is "
            "not checked\n");
  hugebuf_free (buf, len);
  CHECK (!mapped (buf) && !mapped (buf + len - 1),
         "the buffer is still mapped after hugebuf_free");

  /* A short buffer is rounded up to whole pages, and freed whole. */
  buf = hugebuf_alloc (100);
  REQUIRE (buf != NULL, "hugebuf_alloc: %m");
  buf[sysconf (_SC_PAGESIZE) - 1] = 1;
  hugebuf_free (buf, 100);
  CHECK (!mapped (buf), "a short buffer is still mapped after hugebuf_free");

  return unit_exit_status ("test-unit-hugebuf");
}
