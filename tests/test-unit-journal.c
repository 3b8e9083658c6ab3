/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs tests: the flush journal's object codec (lib/journal.c).
 *
 * Round trips of data, zero and trim records, with and without zstd;
 * the builder's rules and its size bound; and every way an object can be
 * wrong (a flipped byte anywhere, truncated, padded, empty, renamed to
 * another sequence, another device's or volume's, a genuine object with
 * a malformed record inside): each must fail with EBADMSG, name the
 * object, and hand no record to the caller.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "cleanup.h"
#include "conf.h"
#include "crypto.h"
#include "journal.h"
#include "log.h"

#include "unit.h"

/* What the walk saw. */
struct seen {
  size_t n;
  struct zjournal_record recs[8];
  uint8_t data[8][8192];
};

static int
collect (void *opaque, const struct zjournal_record *rec)
{
  struct seen *s = opaque;

  if (s->n < 8) {
    s->recs[s->n] = *rec;
    if (rec->data)
      memcpy (s->data[s->n], rec->data,
              rec->length < 8192 ? rec->length : 8192);
  }
  s->n++;
  return 0;
}

/* OBJ must not open as journal JSEQ with CODEC: EBADMSG, the key named,
 * no record handed out.
 */
static void
expect_bad (const struct zchunk_codec *codec, uint64_t jseq,
            const void *obj, size_t len, const char *what)
{
  struct seen s = { .n = 0 };
  int r;

  unit_clear_errors ();
  r = zjournal_open (codec, jseq, obj, len, "devices/d/journal/x",
                     collect, &s);
  CHECK (r == -1 && errno == EBADMSG, "%s: opened (r %d, errno %d)",
         what, r, errno);
  CHECK (s.n == 0, "%s: %zu records handed out", what, s.n);
  CHECK (strstr (last_error, "devices/d/journal/x") != NULL,
         "%s: the error does not name the object: %s", what, last_error);
}

static void
test_round_trip (int compression)
{
  struct zchunk_codec codec;
  struct zjournal_builder b = { .nrecords = 0 };
  uint8_t data[8192];
  CLEANUP_FREE void *obj = NULL;
  size_t len, i;
  struct seen s = { .n = 0 };
  struct zjournal_record recs[] = {
    { ZJOURNAL_DATA, 7, 4096, 8192, 100, data },
    { ZJOURNAL_ZERO, 7, 0, 4096, 101, NULL },
    { ZJOURNAL_TRIM, UINT64_C (1) << 40, 0, ZCHUNK_SIZE, 102, NULL },
    { ZJOURNAL_DATA, 0, ZCHUNK_SIZE - 4096, 4096, 103, data + 4096 },
  };

  unit_make_codec (&codec, compression);
  for (i = 0; i < sizeof data; i++)
    data[i] = compression ? (uint8_t) (i / 64) : (uint8_t) (i * 131 + 7);
  for (i = 0; i < 4; i++)
    REQUIRE (zjournal_add (&b, &recs[i]) == 0, "add %zu: %s", i, last_error);
  CHECK (b.nrecords == 4);
  b.epoch = 0xabcd;                     /* the writer's lease epoch */
  REQUIRE (zjournal_seal (&codec, 0x1234, &b, &obj, &len) == 0, "%s",
           last_error);
  CHECK (zjournal_epoch (obj, len) == 0xabcd);
  CHECK (zjournal_epoch (obj, 10) == 0);
  CHECK (memcmp (obj, "ZFSJ", 4) == 0);
  CHECK (((uint8_t *) obj)[5] == (compression ? 1 : 0),
         "compression id %u", ((uint8_t *) obj)[5]);
  CHECK (get_be64 ((uint8_t *) obj + 8) == 0x1234);
  REQUIRE (zjournal_open (&codec, 0x1234, obj, len, "j", collect, &s) == 0,
           "%s", last_error);
  REQUIRE (s.n == 4, "%zu records", s.n);
  for (i = 0; i < 4; i++) {
    CHECK (s.recs[i].type == recs[i].type && s.recs[i].chunk == recs[i].chunk &&
           s.recs[i].offset == recs[i].offset &&
           s.recs[i].length == recs[i].length && s.recs[i].seq == recs[i].seq,
           "record %zu differs", i);
    CHECK ((s.recs[i].data != NULL) == (recs[i].data != NULL));
  }
  CHECK (memcmp (s.data[0], data, 8192) == 0);
  CHECK (memcmp (s.data[3], data + 4096, 4096) == 0);
  zjournal_builder_reset (&b);
}

static void
test_tampering (void)
{
  struct zchunk_codec codec, other;
  struct zjournal_builder b = { .nrecords = 0 };
  uint8_t data[4096];
  CLEANUP_FREE uint8_t *obj = NULL;
  CLEANUP_FREE uint8_t *copy = NULL;
  size_t len, i;
  struct zjournal_record rec = { ZJOURNAL_DATA, 3, 0, 4096, 9, data };

  unit_make_codec (&codec, ZCOMP_NONE);
  memset (data, 0x5a, sizeof data);
  REQUIRE (zjournal_add (&b, &rec) == 0);
  REQUIRE (zjournal_seal (&codec, 77, &b, (void **) &obj, &len) == 0);
  copy = malloc (len + 16);
  REQUIRE (copy != NULL);

  /* A flipped bit anywhere. */
  for (i = 0; i < len; i += (i < 64 ? 1 : 97)) {
    memcpy (copy, obj, len);
    copy[i] ^= 0x04;
    expect_bad (&codec, 77, copy, len, "a flipped bit");
  }
  /* Truncated, padded, empty. */
  expect_bad (&codec, 77, obj, len - 1, "truncated by a byte");
  expect_bad (&codec, 77, obj, 40, "truncated to 40 bytes");
  expect_bad (&codec, 77, obj, 0, "empty");
  memcpy (copy, obj, len);
  memset (copy + len, 0, 16);
  expect_bad (&codec, 77, copy, len + 16, "padded");
  /* Renamed: another sequence's name. */
  expect_bad (&codec, 78, obj, len, "under another sequence's name");
  /* Another device, another volume, another key. */
  other = codec;
  other.device_uuid[0] ^= 1;
  expect_bad (&other, 77, obj, len, "another device's");
  other = codec;
  other.volume_uuid[15] ^= 1;
  expect_bad (&other, 77, obj, len, "another volume's");
  other = codec;
  other.key[3] ^= 1;
  expect_bad (&other, 77, obj, len, "another key's");
  zjournal_builder_reset (&b);
}

/* Genuine objects (sealed with the right key) whose records break the
 * rules: the walk must refuse them before handing any record out.
 */
static void
test_malformed_records (void)
{
  struct zchunk_codec codec;
  struct zjournal_builder b = { .nrecords = 0 };
  uint8_t data[4096] = { 0 };
  struct zjournal_record good = { ZJOURNAL_DATA, 1, 0, 4096, 5, data };
  static const struct { size_t off; uint8_t value; const char *what; }
  cases[] = {
    { 0, 9, "an unknown type" },
    { 1, 1, "reserved bytes" },
    { 7, 1, "an offset that is not a sector's" },
    { 18, 0x20, "a range past the chunk" },
    { 22, 1, "reserved bytes after the length" },
  };
  size_t i;

  unit_make_codec (&codec, ZCOMP_NONE);
  for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    CLEANUP_FREE void *obj = NULL;
    size_t len;

    REQUIRE (zjournal_add (&b, &good) == 0);
    REQUIRE (zjournal_add (&b, &good) == 0);
    /* Break the second record. */
    b.payload.items[32 + 4096 + cases[i].off] = cases[i].value;
    REQUIRE (zjournal_seal (&codec, 5, &b, &obj, &len) == 0);
    expect_bad (&codec, 5, obj, len, cases[i].what);
    zjournal_builder_reset (&b);
  }
  /* A record cut short: data missing from the end. */
  {
    CLEANUP_FREE void *obj = NULL;
    size_t len;

    REQUIRE (zjournal_add (&b, &good) == 0);
    b.payload.len -= 100;
    REQUIRE (zjournal_seal (&codec, 5, &b, &obj, &len) == 0);
    expect_bad (&codec, 5, obj, len, "data cut short");
    zjournal_builder_reset (&b);
  }
}

static void
test_builder_rules (void)
{
  struct zjournal_builder b = { .nrecords = 0 };
  static uint8_t big[ZCHUNK_SIZE];
  struct zjournal_record rec;
  size_t i;

  rec = (struct zjournal_record) { ZJOURNAL_DATA, 1, 100, 4096, 1, big };
  CHECK (zjournal_add (&b, &rec) == -1 && errno == EINVAL, "unaligned");
  rec = (struct zjournal_record) { ZJOURNAL_DATA, 1, 4096, ZCHUNK_SIZE, 1,
                                   big };
  CHECK (zjournal_add (&b, &rec) == -1 && errno == EINVAL, "past the chunk");
  rec = (struct zjournal_record) { ZJOURNAL_TRIM, 1, 0, 4096, 1, big };
  CHECK (zjournal_add (&b, &rec) == -1 && errno == EINVAL,
         "data with a trim");
  rec = (struct zjournal_record) { ZJOURNAL_DATA, 1, 0, 4096, 1, NULL };
  CHECK (zjournal_add (&b, &rec) == -1 && errno == EINVAL, "no data");
  CHECK (b.payload.len == 0 && b.nrecords == 0, "a refused record stayed");

  /* The size bound: whole chunks until the next would pass 8 MiB. */
  rec = (struct zjournal_record) { ZJOURNAL_DATA, 0, 0, ZCHUNK_SIZE, 1, big };
  for (i = 0; i < 7; i++) {
    rec.chunk = i;
    REQUIRE (zjournal_add (&b, &rec) == 0);
  }
  rec.chunk = 7;
  CHECK (zjournal_add (&b, &rec) == -1 && errno == EFBIG, "past the bound");
  CHECK (b.nrecords == 7);
  zjournal_builder_reset (&b);
}

int
main (void)
{
  unit_capture_errors ();
  test_round_trip (ZCOMP_NONE);
  test_round_trip (ZCOMP_ZSTD);
  test_tampering ();
  test_malformed_records ();
  test_builder_rules ();
  return unit_exit_status ("test-unit-journal");
}
