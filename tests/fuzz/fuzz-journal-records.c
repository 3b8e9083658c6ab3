/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs fuzz target: genuine journal objects (lib/journal.c), built
 * from records the input chooses, sealed, opened, and then damaged.
 *
 * fuzz-journal-open.c feeds raw objects, which fail authentication
 * unless they are a seed left whole; what zjournal_open does with a
 * payload it has authenticated (decompression, the record walk) is
 * reached here, where the objects are sealed with the key.  Byte 0 of
 * the input chooses the mode (bits 0-1, modulo 3) and the codec's
 * compression (bit 2: zstd); bytes 1-3 are a damage (a big-endian
 * position and an XOR mask); the rest is:
 *
 *   mode 0  records of 10 bytes: type, chunk (2 bytes), offset and
 *           length (2 bytes each, in units of 512 bytes, so that
 *           misaligned and oversized ones occur), sequence (2), and a
 *           fill byte for a data record's bytes.  zjournal_add may refuse
 *           some; the object sealed from the others must open to exactly
 *           those records, in order, with their bytes.
 *   mode 1  a payload as it is, sealed by zjournal_seal: any record
 *           list.  If it opens, adding its records to a new builder
 *           must give the same payload byte for byte.
 *   mode 2  a payload length (4 bytes) and a zstd frame, sealed by
 *           fuzz_seal with compression id 1: zstd on any frame.
 *
 * Then, if the mask is not 0, the object is damaged: the byte at the
 * position (if it is inside) XOR the mask, or else the object cut to
 * position % length bytes.  A damaged object, or the whole object under
 * the wrong sequence or another device's codec, must fail with EBADMSG
 * and hand out no record.
 */
#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "conf.h"
#include "journal.h"

#include "fuzz.h"

#define JSEQ 5
#define RECORD_LEN 10
/* Bytes of data records per input (one whole chunk), so that every run
 * stays fast.
 */
#define DATA_MAX ZCHUNK_SIZE

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init ();
  return 0;
}

/* The records that went in, to compare with what comes out. */
struct expect {
  struct zjournal_record recs[256];
  size_t n, seen;
};

static void
free_expect (struct expect *e)
{
  size_t i;

  for (i = 0; i < e->n; i++)
    free ((void *) e->recs[i].data);
}

static int
compare (void *opaque, const struct zjournal_record *rec)
{
  struct expect *e = opaque;
  const struct zjournal_record *want = &e->recs[e->seen];

  if (e->seen == e->n)
    fuzz_fail ("the journal opened to more records than were added");
  if (rec->type != want->type || rec->chunk != want->chunk ||
      rec->offset != want->offset || rec->length != want->length ||
      rec->seq != want->seq ||
      (rec->data == NULL) != (want->data == NULL) ||
      (rec->data && memcmp (rec->data, want->data, rec->length) != 0))
    fuzz_fail ("record %zu of the journal changed between add and open",
               e->seen);
  e->seen++;
  return 0;
}

static int
no_record (void *opaque, const struct zjournal_record *rec)
{
  fuzz_fail ("a damaged journal object handed out a record");
}

static int
add_again (void *opaque, const struct zjournal_record *rec)
{
  if (zjournal_add (opaque, rec) == -1)
    fuzz_fail ("a record that opened could not be added again");
  return 0;
}

/* Mode 0: records from descriptors. */
static void
records (const uint8_t *p, size_t n, struct zjournal_builder *b,
         struct expect *e)
{
  uint32_t data_bytes = 0;
  uint8_t *bytes, block[512];
  uint32_t i;

  for (; n >= RECORD_LEN && e->n < 256; p += RECORD_LEN, n -= RECORD_LEN) {
    struct zjournal_record rec = {
      .type = p[0],
      .chunk = fuzz_be16 (p + 1),
      .offset = fuzz_be16 (p + 3) * 512,
      .length = fuzz_be16 (p + 5) * 512,
      .seq = fuzz_be16 (p + 7),
    };

    bytes = NULL;
    if (rec.type == ZJOURNAL_DATA && rec.length <= ZCHUNK_SIZE) {
      if (data_bytes + rec.length > DATA_MAX)
        break;
      data_bytes += rec.length;
      bytes = malloc (rec.length ? rec.length : 1);
      if (bytes == NULL)
        fuzz_fail ("out of memory");
      /* A block (the fill byte, or a pattern if it is odd) repeated:
       * lengths are whole blocks.
       */
      for (i = 0; i < sizeof block; i++)
        block[i] = p[9] & 1 ? (uint8_t) ((i * 2654435761u) >> 13) ^ p[9]
          : p[9];
      for (i = 0; i < rec.length; i += sizeof block)
        memcpy (bytes + i, block, sizeof block);
      rec.data = bytes;
    }
    if (zjournal_add (b, &rec) == 0)
      e->recs[e->n++] = rec;
    else {
      if (errno != EINVAL)
        fuzz_fail ("zjournal_add failed with errno %d", errno);
      free (bytes);
    }
  }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct zjournal_builder b = { EMPTY_VECTOR, 0 };
  struct zjournal_builder again = { EMPTY_VECTOR, 0 };
  struct expect e = { .n = 0 };
  struct zchunk_codec c = fuzz_codec, other = fuzz_codec;
  uint8_t *obj = NULL;
  size_t objlen = 0;
  uint32_t pos;
  uint8_t mask;
  int mode, r;

  if (size < 4)
    return 0;
  mode = (data[0] & 3) % 3;
  c.compression = data[0] & 4 ? ZCOMP_ZSTD : ZCOMP_NONE;
  c.level = 1;
  pos = fuzz_be16 (data + 1);
  mask = data[3];
  data += 4;
  size -= 4;

  switch (mode) {
  case 0:
  case 1:
    if (mode == 0)
      records (data, size, &b, &e);
    else if (byte_vector_append_array (&b.payload, data, size) == -1)
      fuzz_fail ("out of memory");
    if (zjournal_seal (&c, JSEQ, &b, (void **) &obj, &objlen) == -1) {
      if (b.payload.len != 0 && b.payload.len <= ZJOURNAL_PAYLOAD_MAX)
        fuzz_fail ("a journal of %zu bytes could not be sealed",
                   b.payload.len);
      goto out;
    }
    if (mode == 0) {
      if (zjournal_open (&c, JSEQ, obj, objlen, "fuzz", compare, &e) == -1 ||
          e.seen != e.n)
        fuzz_fail ("a journal of %zu records opened to %zu", e.n, e.seen);
    }
    else if (zjournal_open (&c, JSEQ, obj, objlen, "fuzz", add_again,
                            &again) == 0 &&
             (again.payload.len != b.payload.len ||
              memcmp (again.payload.items, b.payload.items,
                      b.payload.len) != 0))
      fuzz_fail ("a journal's records did not add up to its payload");
    break;
  case 2:
    if (size < 4)
      return 0;
    obj = fuzz_seal (&c, "ZFSJ", ZJOURNAL_VERSION, ZCOMP_ZSTD, JSEQ,
                     get_be32 (data), data + 4, size - 4, "journal", 7,
                     &objlen);
    zjournal_open (&c, JSEQ, obj, objlen, "fuzz", add_again, &again);
    break;
  }

  /* The same object, under another name or another device's key. */
  memset (other.device_uuid, 0x23, 16);
  if (zjournal_open (&c, JSEQ + 1, obj, objlen, "fuzz", no_record,
                     NULL) == 0 ||
      zjournal_open (&other, JSEQ, obj, objlen, "fuzz", no_record,
                     NULL) == 0)
    fuzz_fail ("a journal object opened under another name or device");

  /* Damaged. */
  if (mask != 0) {
    if (pos < objlen)
      obj[pos] ^= mask;
    else
      objlen = pos % objlen;
    r = zjournal_open (&c, JSEQ, obj, objlen, "fuzz", no_record, NULL);
    if (r == 0 || errno != EBADMSG)
      fuzz_fail ("a damaged journal object did not fail with EBADMSG");
  }

 out:
  free (obj);
  free_expect (&e);
  zjournal_builder_reset (&b);
  zjournal_builder_reset (&again);
  return 0;
}
