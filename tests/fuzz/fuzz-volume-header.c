/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs fuzz target: the volume header parser (lib/volume.c,
 * parse_header, reached through zvolume_open), fed the input as the
 * zerofs.volume object.
 *
 * The header is the first thing zerofs reads from a bucket, before it
 * knows anything: its fields choose the key derivation's cost, and a
 * header that asks too much must be refused rather than obeyed.  The
 * input is the only object of an in-memory store (fuzz_store), and the
 * volume is opened with FUZZ_PASSWORD, which the seeds (make-corpus.c)
 * were written with at a low scrypt cost, so that the unwrapping of the
 * data key and the derivation of the meta key are reached too.
 *
 * A header whose scrypt parameters are within zerofs's limits but would
 * cost more than 8 MiB of scrypt work is skipped (and kept out of the
 * corpus): the limits let a header ask for up to 4 GiB, which is the
 * point of them, but at that price a fuzzer would do nothing else.
 */
#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "byteorder.h"
#include "volume.h"

#include "fuzz.h"

/* 128 * r * N * p bytes of scrypt work, at most. */
#define WORK_MAX (UINT64_C (8) << 20)

static struct fuzz_store store;

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init ();
  fuzz_store_init (&store);
  return 0;
}

/* Would scrypt run with costly parameters?  The header's layout is in
 * volume.h: log2(N) at byte 6, r and p at 8 and 12.
 */
static bool
too_costly (const uint8_t *h, size_t len)
{
  unsigned log2_n, r, p;

  if (len != ZVOLUME_HEADER_LEN)
    return false;
  log2_n = h[6];
  r = get_be32 (h + 8);
  p = get_be32 (h + 12);
  return log2_n >= 10 && log2_n <= 22 && r >= 1 && r <= 32 &&
    p >= 1 && p <= 16 && ((UINT64_C (128) * r * p) << log2_n) > WORK_MAX;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct zvolume *vol;

  if (too_costly (data, size))
    return -1;
  fuzz_store_set (&store, ZVOLUME_HEADER_KEY, data, size);
  vol = zvolume_open (&store.base, FUZZ_PASSWORD);
  if (vol == NULL && errno != EBADMSG && errno != ENOTSUP &&
      errno != EACCES)
    fuzz_fail ("a bad volume header failed with errno %d", errno);
  zvolume_close (vol);
  fuzz_store_clear (&store);
  return 0;
}
