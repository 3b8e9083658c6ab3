/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: the local chunk cache's slot file (see slots.h).
 *
 * Encryption happens in bounded pieces (ZSLOT_IO_SECTORS sectors at a
 * time through a buffer on the stack) so that no request allocates and
 * a 1 MiB write costs a few pwrite calls, not 256.  Reads decrypt in
 * place in the caller's buffer.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "slots.h"
#include "chunk.h"
#include "log.h"

#define ZSLOT_IO_SECTORS 16     /* 64 KiB per pwrite */

struct zslots {
  int fd;
  uint32_t nslots;
  uint32_t unit;                /* XTS data unit: 512 or 4096 bytes */
  char *path;
  uint8_t key[CRYPTO_XTS_KEY_LEN];
};

/* zslots_close, errno preserved: for zslots_open's ways out. */
DEFINE_CLEANUP_POINTER (zslots_close, struct zslots *, zslots_close);
#define CLEANUP_ZSLOTS_CLOSE CLEANUP (zslots_close)

struct zslots *
zslots_open (const char *path, uint32_t nslots, uint32_t xts_unit,
             const uint8_t key[CRYPTO_XTS_KEY_LEN])
{
  CLEANUP_ZSLOTS_CLOSE struct zslots *s = NULL;
  struct zslots *ret;
  struct stat st;
  off_t want = (off_t) nslots * ZCHUNK_SIZE;

  s = calloc (1, sizeof *s);
  if (s == NULL) {
    zerror ("calloc: %m");
    return NULL;
  }
  s->fd = -1;
  s->nslots = nslots;
  if (xts_unit != ZSLOT_XTS_UNIT && xts_unit != ZSECTOR_SIZE) {
    zerror ("cache slots %s: unknown encryption unit %" PRIu32 " bytes "
            "(the index may be damaged)", path, xts_unit);
    errno = EINVAL;
    return NULL;
  }
  s->unit = xts_unit;
  s->path = strdup (path);
  if (s->path == NULL) {
    zerror ("strdup: %m");
    return NULL;
  }
  memcpy (s->key, key, CRYPTO_XTS_KEY_LEN);

  s->fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (s->fd == -1) {
    zerror ("open: %s: %m", path);
    return NULL;
  }
  if (fstat (s->fd, &st) == -1) {
    zerror ("fstat: %s: %m", path);
    return NULL;
  }
  if (st.st_size < want && ftruncate (s->fd, want) == -1) {
    zerror ("ftruncate: %s: %m", path);
    return NULL;
  }
  ret = s;
  s = NULL;
  return ret;
}

void
zslots_close (struct zslots *s)
{
  if (s == NULL)
    return;
  if (s->fd >= 0)
    close (s->fd);
  free (s->path);
  memset (s->key, 0, sizeof s->key);
  free (s);
}

static int
check_range (struct zslots *s, uint32_t slot, uint32_t offset, uint32_t len)
{
  if (slot >= s->nslots || offset % ZSECTOR_SIZE || len % ZSECTOR_SIZE ||
      offset > ZCHUNK_SIZE || len > ZCHUNK_SIZE - offset) {
    zerror ("internal error: slot I/O out of range "
            "(slot %u of %u, offset %u, length %u)",
            slot, s->nslots, offset, len);
    errno = EINVAL;
    return -1;
  }
  return 0;
}

static uint64_t
tweak_of (const struct zslots *s, uint32_t slot, uint32_t offset)
{
  return (uint64_t) slot * (ZCHUNK_SIZE / s->unit) + offset / s->unit;
}

int
zslots_read (struct zslots *s, uint32_t slot,
             uint32_t offset, uint32_t len, void *buf)
{
  off_t pos = (off_t) slot * ZCHUNK_SIZE + offset;
  uint8_t *p = buf;
  uint32_t done = 0;
  ssize_t r;

  if (check_range (s, slot, offset, len) == -1)
    return -1;
  while (done < len) {
    r = pread (s->fd, p + done, len - done, pos + done);
    if (r == -1) {
      if (errno == EINTR)
        continue;
      zerror ("pread: %s: %m", s->path);
      return -1;
    }
    if (r == 0) {
      /* Past the end of a sparse file cannot happen: we ftruncated. */
      zerror ("pread: %s: unexpected end of file", s->path);
      errno = EIO;
      return -1;
    }
    done += r;
  }
  return crypto_xts_units (s->key, 0, tweak_of (s, slot, offset), s->unit,
                           p, p, len);
}

/* -D zerofs.torn_write=N: the Nth write writes half a sector and the
 * process dies (see log.h).
 */
static void
maybe_tear (struct zslots *s, const uint8_t *cipher, off_t pos)
{
  static atomic_int writes;

  if (atomic_fetch_add (&writes, 1) + 1 != zerofs_debug_torn_write)
    return;
  zdebug ("cache: tearing the write at %s offset %jd and dying",
          s->path, (intmax_t) pos);
  if (pwrite (s->fd, cipher, ZSECTOR_SIZE / 2, pos) == -1)
    zerror ("pwrite: %s: %m", s->path);
  kill (getpid (), SIGKILL);
}

int
zslots_write (struct zslots *s, uint32_t slot,
              uint32_t offset, uint32_t len, const void *buf)
{
  uint8_t cipher[ZSLOT_IO_SECTORS * ZSECTOR_SIZE];
  const uint8_t *p = buf;
  uint32_t done = 0, piece, w;
  ssize_t r;

  if (check_range (s, slot, offset, len) == -1)
    return -1;
  while (done < len) {
    piece = len - done;
    if (piece > sizeof cipher)
      piece = sizeof cipher;
    if (crypto_xts_units (s->key, 1, tweak_of (s, slot, offset + done),
                          s->unit, p + done, cipher, piece) == -1)
      return -1;
    if (zerofs_debug_torn_write > 0)
      maybe_tear (s, cipher, (off_t) slot * ZCHUNK_SIZE + offset + done);
    for (w = 0; w < piece; ) {
      r = pwrite (s->fd, cipher + w, piece - w,
                  (off_t) slot * ZCHUNK_SIZE + offset + done + w);
      if (r == -1) {
        if (errno == EINTR)
          continue;
        zerror ("pwrite: %s: %m", s->path);
        return -1;
      }
      w += r;
    }
    done += piece;
  }
  return 0;
}

int
zslots_sync (struct zslots *s)
{
  if (fdatasync (s->fd) == -1) {
    zerror ("fdatasync: %s: %m", s->path);
    return -1;
  }
  return 0;
}
