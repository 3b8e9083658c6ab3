/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: the chunk object codec (see chunk.h for the layout).
 *
 * This file turns a chunk's bytes into the object stored in the bucket
 * and back, and is the one place that decides whether an object is
 * genuine: everything that can be checked is checked before any byte
 * reaches the caller, and every failure is EBADMSG with a message naming
 * the object.  A chunk that does not open is never returned as data.
 *
 * A chunk is stored compressed only when that saves at least an eighth
 * of it (ZCHUNK_MIN_SAVING; ZFS keeps the same bound): zstd at level 1
 * spends about 5 ms on a MiB that compresses by a few percent, a third
 * of a 2-core machine's CPU during a sequential write, and every read of
 * the chunk would pay decompression too, all for a few percent of
 * storage.  Encoding compresses straight into the object buffer with a
 * capacity of an eighth less than the chunk, so zstd itself tells us
 * when compression does not help enough (dstSize_tooSmall) and the
 * chunk is then stored raw; the seal runs in place over the compressed
 * bytes.  zstd takes nearly as long to fail on incompressible data
 * (media, ciphertext, compressed database pages) as it takes to
 * succeed: half of the CPU time of a sequential write of such data.  So
 * a chunk is first judged by a sample (see zchunk_worth_compressing) and
 * stored raw without trying when the sample does not shrink by that
 * eighth either.  Decoding opens raw
 * chunks straight into the caller's buffer; compressed ones are opened
 * into a per-thread scratch buffer (the payload of a compressed chunk is
 * always smaller than the chunk) and decompressed from there.
 *
 * zstd contexts and the scratch buffer are cached per thread (freed by a
 * pthread_key destructor at thread exit), so encoding or decoding a chunk
 * allocates only the object it returns.  Like crypto.c (see "Lifetime"
 * there), the first use pins the object holding this code, so that a
 * thread exiting after the nbdkit plugin was dlclose()d still finds the
 * destructor.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <zstd.h>
#include <zstd_errors.h>

#include "byteorder.h"
#include "cleanup.h"

#include "chunk.h"
#include "conf.h"
#include "crypto.h"
#include "log.h"
#include "module.h"

#define MAGIC "ZFSC"
#define AAD_LEN (ZCHUNK_HEADER_LEN + 16 + 16 + 8)

/* The compressibility sample: SAMPLE_WINDOWS windows of SAMPLE_WINDOW
 * bytes spread over the chunk (see zchunk_worth_compressing).
 */
#define SAMPLE_WINDOW 512
#define SAMPLE_WINDOWS 32
#define SAMPLE_LEN (SAMPLE_WINDOW * SAMPLE_WINDOWS)
#define SAMPLE_PHASES 16

/* What compression must save of N bytes for them to be stored
 * compressed: an eighth, and at least a byte.
 */
#define ZCHUNK_MIN_SAVING(n) ((n) >= 16 ? (n) / 8 : 1)

struct chunk_thread {
  ZSTD_CCtx *cctx;
  ZSTD_DCtx *dctx;
  uint8_t *scratch;             /* ZCHUNK_SIZE bytes */
  uint8_t *sample;              /* 2 * SAMPLE_LEN bytes, with cctx: the
                                   sample, then its compressed form */
};

static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static int key_error;
static pthread_key_t thread_key;
static __thread struct chunk_thread *this_thread;

static void
free_thread (void *p)
{
  struct chunk_thread *t = p;

  ZSTD_freeCCtx (t->cctx);
  ZSTD_freeDCtx (t->dctx);
  free (t->scratch);
  free (t->sample);
  free (t);
  if (this_thread == t)
    this_thread = NULL;
}


static void
make_key (void)
{
  zmodule_pin ();
  key_error = pthread_key_create (&thread_key, free_thread);
}

static struct chunk_thread *
get_thread (void)
{
  struct chunk_thread *t;
  int r;

  if (this_thread)
    return this_thread;
  if ((r = pthread_once (&key_once, make_key)) != 0 ||
      (r = key_error) != 0) {
    errno = r;
    zerror ("chunk: pthread_key_create: %m");
    return NULL;
  }
  t = calloc (1, sizeof *t);
  if (t == NULL) {
    zerror ("chunk: calloc: %m");
    return NULL;
  }
  if ((r = pthread_setspecific (thread_key, t)) != 0) {
    free (t);
    errno = r;
    zerror ("chunk: pthread_setspecific: %m");
    return NULL;
  }
  this_thread = t;
  return t;
}

/* AAD = header || volume uuid || device uuid || index. */
static void
make_aad (uint8_t aad[AAD_LEN], const uint8_t *header,
          const struct zchunk_codec *codec, uint64_t index)
{
  memcpy (aad, header, ZCHUNK_HEADER_LEN);
  memcpy (aad + ZCHUNK_HEADER_LEN, codec->volume_uuid, 16);
  memcpy (aad + ZCHUNK_HEADER_LEN + 16, codec->device_uuid, 16);
  put_be64 (aad + ZCHUNK_HEADER_LEN + 32, index);
}

int
zsealed_header (uint8_t *o, const char *magic, uint8_t version,
                int compression, uint64_t seq, uint32_t len)
{
  memcpy (o, magic, 4);
  o[ZSEALED_OFF_VERSION] = version;
  o[ZSEALED_OFF_COMPRESSION] = compression;
  o[ZSEALED_OFF_RESERVED] = o[ZSEALED_OFF_RESERVED + 1] = 0;
  put_be64 (o + ZSEALED_OFF_SEQ, seq);
  put_be32 (o + ZSEALED_OFF_LENGTH, len);
  return crypto_random (o + ZSEALED_OFF_NONCE, CRYPTO_NONCE_LEN);
}

/* The calling thread's state with its compression context and sample
 * buffer (only threads that encode pay for them), or NULL.
 */
static struct chunk_thread *
get_compressor (void)
{
  struct chunk_thread *t = get_thread ();

  if (t == NULL)
    return NULL;
  if (t->cctx == NULL && (t->cctx = ZSTD_createCCtx ()) == NULL) {
    zerror ("chunk: ZSTD_createCCtx failed");
    errno = ENOMEM;
    return NULL;
  }
  if (t->sample == NULL && (t->sample = malloc (2 * SAMPLE_LEN)) == NULL) {
    zerror ("chunk: malloc: %m");
    return NULL;
  }
  return t;
}

/* Compress LEN bytes of SRC into DST, of capacity CAPACITY, at LEVEL.
 * Returns the compressed length, 0 when the result would not fit (the
 * data does not compress enough), or -1 on error.
 */
static ssize_t
compress_into (struct chunk_thread *t, void *dst, size_t capacity,
               const void *src, size_t len, int level)
{
  size_t r;

  r = ZSTD_compressCCtx (t->cctx, dst, capacity, src, len, level);
  if (!ZSTD_isError (r))
    return r;
  if (ZSTD_getErrorCode (r) == ZSTD_error_dstSize_tooSmall)
    return 0;
  zerror ("chunk: zstd compression (level %d): %s",
          level, ZSTD_getErrorName (r));
  errno = EIO;
  return -1;
}

/* The sample is SAMPLE_WINDOWS windows, window I at I * LEN/SAMPLE_WINDOWS
 * + (I % SAMPLE_PHASES) * SAMPLE_WINDOW: spread over the whole chunk, so
 * that a chunk compressible in one part only (a half-written chunk) shows
 * it; at SAMPLE_PHASES offsets into an 8 KiB page, so that pages with
 * their free space in one place (database pages) show it too, where an
 * even stride would see the same place of every page; and at offsets
 * that repeat, so that the same page written many times shows its
 * repeats within the sample.  The sample must shrink by an eighth
 * (ZCHUNK_MIN_SAVING), as the whole must; on the data measured (fio's
 * buffers, which compress by 4 to 10%) the sample's saving stays within
 * a point of the whole's.  A misjudged chunk only costs space or time,
 * never data.
 */
int
zchunk_worth_compressing (const void *data, size_t len, int level)
{
  struct chunk_thread *t;
  const uint8_t *p = data;
  size_t stride, i;
  ssize_t r;

  /* Small enough to just try; and every window lies within the chunk
   * (the last one ends SAMPLE_PHASES windows past its stride) only from
   * this length on.
   */
  if (len < SAMPLE_WINDOWS * SAMPLE_PHASES * SAMPLE_WINDOW)
    return 1;
  t = get_compressor ();
  if (t == NULL)
    return -1;
  stride = len / SAMPLE_WINDOWS;
  for (i = 0; i < SAMPLE_WINDOWS; i++)
    memcpy (t->sample + i * SAMPLE_WINDOW,
            p + i * stride + (i % SAMPLE_PHASES) * SAMPLE_WINDOW,
            SAMPLE_WINDOW);
  r = compress_into (t, t->sample + SAMPLE_LEN,
                     SAMPLE_LEN - ZCHUNK_MIN_SAVING (SAMPLE_LEN),
                     t->sample, SAMPLE_LEN, level);
  return r == -1 ? -1 : r > 0;
}

int
zchunk_encode_into (const struct zchunk_codec *codec, uint64_t index,
                    uint64_t seq, const void *data, size_t len,
                    void *obj, size_t objmax, size_t *objlen)
{
  struct chunk_thread *t;
  uint8_t *o = obj, *payload = o + ZCHUNK_HEADER_LEN;
  uint8_t aad[AAD_LEN];
  size_t n = len;               /* payload length */
  int compression = ZCOMP_NONE;

  if (len == 0 || len > ZCHUNK_SIZE) {
    zerror ("chunk %" PRIu64 ": invalid chunk length %zu", index, len);
    errno = EINVAL;
    return -1;
  }
  if (objmax < ZCHUNK_OBJECT_LEN (len)) {
    zerror ("chunk %" PRIu64 ": %zu bytes cannot hold the object of a "
            "%zu-byte chunk", index, objmax, len);
    errno = EINVAL;
    return -1;
  }
  if (codec->compression != ZCOMP_NONE && codec->compression != ZCOMP_ZSTD) {
    zerror ("chunk: unknown compression id %d", codec->compression);
    errno = EINVAL;
    return -1;
  }

  if (codec->compression == ZCOMP_ZSTD && len > 1) {
    ssize_t r;

    /* A result that fits is a result that saves enough. */
    r = zchunk_worth_compressing (data, len, codec->level);
    if (r == 1) {
      t = get_compressor ();
      r = t ? compress_into (t, payload, len - ZCHUNK_MIN_SAVING (len),
                             data, len, codec->level)
            : -1;
    }
    if (r == -1) {
      zerror ("chunk %" PRIu64 ": not encoded", index);
      return -1;
    }
    if (r > 0) {
      n = r;
      compression = ZCOMP_ZSTD;
    }
  }

  if (zsealed_header (o, MAGIC, ZCHUNK_VERSION, compression, seq, len) == -1)
    return -1;

  make_aad (aad, o, codec, index);
  if (crypto_seal (codec->key, o + ZSEALED_OFF_NONCE, aad, sizeof aad,
                   compression == ZCOMP_ZSTD ? payload : data, n,
                   payload) == -1)
    return -1;

  *objlen = ZCHUNK_HEADER_LEN + n + CRYPTO_TAG_LEN;
  return 0;
}

int
zchunk_encode (const struct zchunk_codec *codec, uint64_t index,
               uint64_t seq, const void *data, size_t len,
               void **obj, size_t *objlen)
{
  size_t objmax = ZCHUNK_OBJECT_LEN (len <= ZCHUNK_SIZE ? len : 0);
  CLEANUP_FREE void *o = malloc (objmax);

  if (o == NULL) {
    zerror ("chunk: malloc: %m");
    return -1;
  }
  if (zchunk_encode_into (codec, index, seq, data, len, o, objmax,
                          objlen) == -1)
    return -1;
  *obj = o;
  o = NULL;                     /* the caller's now */
  return 0;
}

/* Decompress the N-byte zstd frame SRC into exactly LEN bytes. */
static int
decompress (struct chunk_thread *t, const uint8_t *src, size_t n,
            void *data, size_t len, const char *description)
{
  unsigned long long content;
  size_t r;

  if (t->dctx == NULL && (t->dctx = ZSTD_createDCtx ()) == NULL) {
    zerror ("chunk: ZSTD_createDCtx failed");
    errno = ENOMEM;
    return -1;
  }
  content = ZSTD_getFrameContentSize (src, n);
  if (content != len) {
    zerror ("chunk object %s: compressed frame declares %s%llu bytes, "
            "expected %zu",
            description,
            content == ZSTD_CONTENTSIZE_UNKNOWN ? "unknown length, " : "",
            content == ZSTD_CONTENTSIZE_UNKNOWN ||
            content == ZSTD_CONTENTSIZE_ERROR ? 0 : content, len);
    errno = EBADMSG;
    return -1;
  }
  r = ZSTD_findFrameCompressedSize (src, n);
  if (ZSTD_isError (r) || r != n) {
    zerror ("chunk object %s: compressed payload is not one zstd frame",
            description);
    errno = EBADMSG;
    return -1;
  }
  r = ZSTD_decompressDCtx (t->dctx, data, len, src, n);
  if (ZSTD_isError (r)) {
    zerror ("chunk object %s: bad compressed data: %s",
            description, ZSTD_getErrorName (r));
    errno = EBADMSG;
    return -1;
  }
  if (r != len) {
    zerror ("chunk object %s: decompressed to %zu bytes, expected %zu",
            description, r, len);
    errno = EBADMSG;
    return -1;
  }
  return 0;
}

int
zchunk_decode (const struct zchunk_codec *codec, uint64_t index,
               const void *obj, size_t objlen,
               void *data, size_t len, uint64_t *seq,
               const char *description)
{
  const uint8_t *o = obj;
  const uint8_t *payload = o + ZCHUNK_HEADER_LEN;
  struct chunk_thread *t = NULL;
  uint8_t aad[AAD_LEN];
  uint32_t plen;
  size_t n;
  int compression, r;

  if (len == 0 || len > ZCHUNK_SIZE) {
    zerror ("chunk object %s: invalid expected length %zu", description, len);
    errno = EINVAL;
    return -1;
  }

  /* The structure, before any cryptography. */
  if (objlen < ZCHUNK_HEADER_LEN + CRYPTO_TAG_LEN) {
    zerror ("chunk object %s is truncated (%zu bytes)", description, objlen);
    errno = EBADMSG;
    return -1;
  }
  if (memcmp (o, MAGIC, 4) != 0) {
    zerror ("chunk object %s is not a zerofs chunk (bad magic)",
            description);
    errno = EBADMSG;
    return -1;
  }
  if (o[ZSEALED_OFF_VERSION] != ZCHUNK_VERSION) {
    zerror ("chunk object %s has format version %u, "
            "this zerofs reads version %u",
            description, o[ZSEALED_OFF_VERSION], ZCHUNK_VERSION);
    errno = EBADMSG;
    return -1;
  }
  compression = o[ZSEALED_OFF_COMPRESSION];
  if (compression != ZCOMP_NONE && compression != ZCOMP_ZSTD) {
    zerror ("chunk object %s has unknown compression id %d",
            description, compression);
    errno = EBADMSG;
    return -1;
  }
  if (o[ZSEALED_OFF_RESERVED] != 0 || o[ZSEALED_OFF_RESERVED + 1] != 0) {
    zerror ("chunk object %s has non-zero reserved bytes", description);
    errno = EBADMSG;
    return -1;
  }
  plen = get_be32 (o + ZSEALED_OFF_LENGTH);
  if (plen != len) {
    zerror ("chunk object %s holds %" PRIu32 " bytes, expected %zu",
            description, plen, len);
    errno = EBADMSG;
    return -1;
  }
  n = objlen - ZCHUNK_HEADER_LEN - CRYPTO_TAG_LEN;
  if (compression == ZCOMP_NONE ? n != len : n == 0 || n >= len) {
    zerror ("chunk object %s has the wrong size (%zu bytes)",
            description, objlen);
    errno = EBADMSG;
    return -1;
  }

  /* Raw chunks open straight into DATA, compressed ones into the
   * thread's scratch buffer.
   */
  make_aad (aad, o, codec, index);
  if (compression == ZCOMP_NONE)
    r = crypto_unseal (codec->key, o + ZSEALED_OFF_NONCE, aad, sizeof aad,
                       payload, n + CRYPTO_TAG_LEN, data);
  else {
    t = get_thread ();
    if (t == NULL)
      return -1;
    if (t->scratch == NULL && (t->scratch = malloc (ZCHUNK_SIZE)) == NULL) {
      zerror ("chunk: malloc: %m");
      return -1;
    }
    r = crypto_unseal (codec->key, o + ZSEALED_OFF_NONCE, aad, sizeof aad,
                       payload, n + CRYPTO_TAG_LEN, t->scratch);
  }
  if (r == -1) {
    if (errno == EBADMSG)
      zerror ("chunk object %s failed authentication", description);
    return -1;
  }
  if (compression == ZCOMP_ZSTD &&
      decompress (t, t->scratch, n, data, len, description) == -1) {
    memset (data, 0, len);
    return -1;
  }

  if (seq)
    *seq = get_be64 (o + ZSEALED_OFF_SEQ);
  return 0;
}

int
zchunk_peek_seq (const void *obj, size_t objlen, uint64_t *seq)
{
  const uint8_t *o = obj;

  if (objlen < ZCHUNK_HEADER_LEN + CRYPTO_TAG_LEN ||
      memcmp (o, MAGIC, 4) != 0 || o[ZSEALED_OFF_VERSION] != ZCHUNK_VERSION) {
    zerror ("malformed chunk object header (%zu bytes)", objlen);
    errno = EBADMSG;
    return -1;
  }
  *seq = get_be64 (o + ZSEALED_OFF_SEQ);
  return 0;
}

bool
zis_zero (const void *data, size_t len)
{
  const uint8_t *p = data;
  size_t i, head = len < 16 ? len : 16;

  /* The first 16 bytes are zero, and each byte equals the one 16 bytes
   * before it (one memcmp, which glibc vectorises): then all are zero.
   */
  for (i = 0; i < head; i++)
    if (p[i] != 0)
      return false;
  return len <= 16 || memcmp (p, p + 16, len - 16) == 0;
}
