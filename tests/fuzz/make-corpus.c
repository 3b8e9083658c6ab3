/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: write the fuzz targets' seed corpus ("make fuzz-corpus").
 *
 *   make-corpus DIR     writes DIR/TARGET/NAME for every target
 *
 * A seed is an input a target starts mutating from, so each target gets
 * genuine inputs, made by lib/'s own writers under the fixtures of
 * fuzz.h (chunk, journal and meta objects sealed with the test keys, a
 * volume header written by zvolume_init with FUZZ_PASSWORD), documents
 * and files as S3, the AWS tools and a user write them, and edge cases
 * (empty, truncated, one field wrong).  The seeds of the binary targets
 * start with the mode bytes that their fuzz-*.c describes.  Nonces are
 * random, so running this again changes the binary seeds but not what
 * they exercise.
 */
#include <config.h>

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <zstd.h>

#include "byteorder.h"
#include "conf.h"
#include "journal.h"
#include "lease.h"
#include "volume.h"

#include "fuzz.h"

static const char *top;

/* Write TARGET/NAME: a prefix of NPREFIX bytes, then N bytes of DATA. */
static void
seed_prefixed (const char *target, const char *name,
               const void *prefix, size_t nprefix,
               const void *data, size_t n)
{
  char path[1024];
  uint8_t *buf = malloc (nprefix + n + 1);

  if (buf == NULL)
    fuzz_fail ("out of memory");
  snprintf (path, sizeof path, "%s/%s", top, target);
  if (mkdir (path, 0755) == -1 && errno != EEXIST)
    fuzz_fail ("mkdir %s: %m", path);
  snprintf (path, sizeof path, "%s/%s/%s", top, target, name);
  if (nprefix)
    memcpy (buf, prefix, nprefix);
  if (n)
    memcpy (buf + nprefix, data, n);
  fuzz_write_file (path, buf, nprefix + n);
  free (buf);
}

static void
seed (const char *target, const char *name, const void *data, size_t n)
{
  seed_prefixed (target, name, NULL, 0, data, n);
}

static void
seed_text (const char *target, const char *name, const char *text)
{
  seed (target, name, text, strlen (text));
}

/* A string literal that may hold NUL bytes (seed_text would stop at
 * the first), without its terminating NUL.
 */
#define seed_literal(target, name, lit) \
  seed ((target), (name), (lit), sizeof (lit) - 1)

/* Bytes that compress (text-like) or not (pseudo-random). */
static void
fill (uint8_t *p, size_t n, bool compressible)
{
  uint32_t x = 2463534242u;
  size_t i;

  for (i = 0; i < n; i++) {
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    p[i] = compressible ? "zerofs chunk "[i % 13] : (uint8_t) x;
  }
}

/* fuzz-chunk: mode 0 objects, mode 1 sealed payloads, mode 2 chunks. */
static void
chunk_seeds (void)
{
  const char *t = "chunk";
  static uint8_t data[ZCHUNK_SIZE];
  struct zchunk_codec raw, zstd;
  uint8_t mode, hdr[6];
  void *obj, *frame;
  size_t objlen, n;

  raw = zstd = fuzz_codec;
  zstd.compression = ZCOMP_ZSTD;

  mode = 0;
  fill (data, 4096, false);
  if (zchunk_encode (&raw, FUZZ_CHUNK_INDEX, 1, data, 4096, &obj, &objlen))
    fuzz_fail ("zchunk_encode");
  seed_prefixed (t, "object-raw-4k", &mode, 1, obj, objlen);
  seed_prefixed (t, "object-truncated", &mode, 1, obj, 40);
  seed_prefixed (t, "object-header-only", &mode, 1, obj, ZCHUNK_HEADER_LEN);
  free (obj);
  fill (data, ZCHUNK_SIZE, true);
  if (zchunk_encode (&zstd, FUZZ_CHUNK_INDEX, 2, data, ZCHUNK_SIZE,
                     &obj, &objlen))
    fuzz_fail ("zchunk_encode");
  seed_prefixed (t, "object-zstd-1m", &mode, 1, obj, objlen);
  free (obj);
  if (zchunk_encode (&zstd, FUZZ_CHUNK_INDEX, 3, data, 12288, &obj, &objlen))
    fuzz_fail ("zchunk_encode");
  seed_prefixed (t, "object-zstd-12k", &mode, 1, obj, objlen);
  ((uint8_t *) obj)[ZSEALED_OFF_COMPRESSION] = 2;
  seed_prefixed (t, "object-unknown-compression", &mode, 1, obj, objlen);
  free (obj);
  seed_prefixed (t, "object-empty", &mode, 1, NULL, 0);

  /* Sealed payloads: a zstd frame of 8192 bytes, raw 4096 bytes. */
  hdr[0] = 1;
  hdr[1] = ZCOMP_ZSTD;
  put_be32 (hdr + 2, 8192 - 1);
  frame = malloc (ZSTD_compressBound (8192));
  n = ZSTD_compress (frame, ZSTD_compressBound (8192), data, 8192, 1);
  if (frame == NULL || ZSTD_isError (n))
    fuzz_fail ("ZSTD_compress");
  seed_prefixed (t, "sealed-zstd-frame", hdr, 6, frame, n);
  free (frame);
  hdr[1] = ZCOMP_NONE;
  put_be32 (hdr + 2, 4096 - 1);
  seed_prefixed (t, "sealed-raw", hdr, 6, data, 4096);

  /* Round trips. */
  hdr[0] = 2;
  hdr[1] = 1 | 3 << 1;          /* zstd, level 1 */
  seed_prefixed (t, "round-trip-zstd", hdr, 2, data, 5000);
  hdr[1] = 0;
  fill (data, 4096, false);
  seed_prefixed (t, "round-trip-raw", hdr, 2, data, 4096);
}

/* A journal of a data, a zero and a trim record, sealed by CODEC. */
static void *
journal (const struct zchunk_codec *codec, struct zjournal_builder *b,
         size_t *objlen)
{
  static uint8_t data[8192];
  struct zjournal_record recs[] = {
    { ZJOURNAL_DATA, 3, 4096, 8192, 10, data },
    { ZJOURNAL_ZERO, 4, 0, ZCHUNK_SIZE, 11, NULL },
    { ZJOURNAL_TRIM, 0, ZCHUNK_SIZE - 4096, 4096, 12, NULL },
  };
  size_t i;
  void *obj;

  fill (data, sizeof data, true);
  for (i = 0; i < sizeof recs / sizeof recs[0]; i++)
    if (zjournal_add (b, &recs[i]) == -1)
      fuzz_fail ("zjournal_add");
  if (zjournal_seal (codec, 5, b, &obj, objlen) == -1)
    fuzz_fail ("zjournal_seal");
  return obj;
}

static void
journal_seeds (void)
{
  struct zjournal_builder b = { EMPTY_VECTOR, 0 };
  struct zchunk_codec raw, zstd;
  uint8_t h[4], desc[30];
  size_t objlen, n;
  void *obj, *frame;

  raw = zstd = fuzz_codec;
  zstd.compression = ZCOMP_ZSTD;

  /* fuzz-journal-open: objects. */
  obj = journal (&raw, &b, &objlen);
  seed ("journal-open", "raw", obj, objlen);
  seed ("journal-open", "truncated", obj, 60);
  seed ("journal-open", "empty", "", 0);
  free (obj);
  zjournal_builder_reset (&b);
  obj = journal (&zstd, &b, &objlen);
  seed ("journal-open", "zstd", obj, objlen);
  free (obj);

  /* fuzz-journal-records, mode 1: the payload as it is, and with a
   * reserved byte set.
   */
  h[0] = 1; h[1] = h[2] = h[3] = 0;
  seed_prefixed ("journal-records", "payload", h, 4,
                 b.payload.items, b.payload.len);
  h[0] = 1 | 4;
  seed_prefixed ("journal-records", "payload-zstd", h, 4,
                 b.payload.items, b.payload.len);
  b.payload.items[1] = 1;
  h[0] = 1;
  seed_prefixed ("journal-records", "payload-reserved", h, 4,
                 b.payload.items, b.payload.len);
  b.payload.items[1] = 0;

  /* Mode 2: the payload as a zstd frame. */
  n = ZSTD_compressBound (b.payload.len);
  frame = malloc (4 + n);
  if (frame == NULL)
    fuzz_fail ("out of memory");
  put_be32 (frame, b.payload.len);
  n = ZSTD_compress ((uint8_t *) frame + 4, n, b.payload.items,
                     b.payload.len, 1);
  if (ZSTD_isError (n))
    fuzz_fail ("ZSTD_compress");
  h[0] = 2;
  seed_prefixed ("journal-records", "frame", h, 4, frame, 4 + n);
  free (frame);
  zjournal_builder_reset (&b);

  /* Mode 0: descriptors of a data, a zero and a trim record; damaged at
   * byte 40 (zstd), or cut to 3 bytes.
   */
  memcpy (desc,
          "\1\0\3\0\10\0\20\0\12\1"       /* data, chunk 3, 4K+8K, fill 1 */
          "\2\0\4\0\0\10\0\0\13\0"        /* zero, chunk 4, whole chunk */
          "\3\0\0\7\370\0\10\0\14\0",     /* trim, the last 4K */
          sizeof desc);
  h[0] = 0;
  seed_prefixed ("journal-records", "records", h, 4, desc, sizeof desc);
  h[0] = 4; h[1] = 0; h[2] = 40; h[3] = 0x80;
  seed_prefixed ("journal-records", "records-zstd-damaged", h, 4,
                 desc, sizeof desc);
  h[0] = 0; h[1] = 0xff; h[2] = 0xff; h[3] = 1;
  seed_prefixed ("journal-records", "records-cut", h, 4, desc, sizeof desc);
}

static void
volume_seeds (void)
{
  static const struct { const char *name, *password;
                        struct zkdf_params kdf; } headers[] = {
    { "valid", FUZZ_PASSWORD, { 10, 1, 1 } },
    { "valid-r8p2", FUZZ_PASSWORD, { 10, 8, 2 } },
    { "wrong-password", "another password", { 10, 1, 1 } },
  };
  struct fuzz_store store;
  const uint8_t *h;
  uint8_t copy[ZVOLUME_HEADER_LEN];
  size_t i, len;

  fuzz_store_init (&store);
  for (i = 0; i < sizeof headers / sizeof headers[0]; i++) {
    if (zvolume_init (&store.base, headers[i].password,
                      &headers[i].kdf) == -1)
      fuzz_fail ("zvolume_init");
    h = fuzz_store_find (&store, ZVOLUME_HEADER_KEY, &len);
    seed ("volume-header", headers[i].name, h, len);
    if (i == 0) {
      memcpy (copy, h, len);
      seed ("volume-header", "truncated", h, 100);
      copy[6] = 23;             /* log2(N) above the limit */
      seed ("volume-header", "kdf-over-limit", copy, len);
      copy[6] = 10;
      copy[7] = 1;              /* the reserved byte */
      seed ("volume-header", "reserved", copy, len);
    }
    fuzz_store_clear (&store);
  }
  seed ("volume-header", "empty", "", 0);
}

/* A meta payload as volume.h lays it out. */
static size_t
meta_payload (uint8_t *p, const char *name, uint64_t size,
              uint32_t chunk_size)
{
  size_t namelen = strlen (name);

  memset (p, 0xab, 16);
  put_be64 (p + 16, size);
  put_be32 (p + 24, chunk_size);
  put_be64 (p + 28, 1700000000);
  put_be64 (p + 36, 0);
  p[44] = namelen;
  memcpy (p + 45, name, namelen);
  return 45 + namelen;
}

static void
meta_seeds (void)
{
  static const size_t lengths[] = { 3, 16, ZDEVICE_NAME_MAX };
  struct fuzz_store store;
  struct zvolume vol;
  char name[ZDEVICE_NAME_MAX + 1], key[OBJSTORE_KEY_MAX], file[64];
  uint8_t mode, payload[128];
  const void *obj;
  size_t i, len, n;

  fuzz_store_init (&store);
  fuzz_make_volume (&vol, &store.base);
  for (i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
    memcpy (name, FUZZ_DEVICE_NAME, lengths[i]);
    name[lengths[i]] = '\0';
    if (zvolume_create_device (&vol, name, UINT64_C (1) << 30, NULL) == -1)
      fuzz_fail ("zvolume_create_device");
    zkey_meta (key, name);
    obj = fuzz_store_find (&store, key, &len);
    mode = lengths[i] - 1;
    snprintf (file, sizeof file, "object-name-%zu", lengths[i]);
    seed_prefixed ("device-meta", file, &mode, 1, obj, len);
    if (i == 0) {
      /* Under a name one longer: another name's object. */
      mode = lengths[i];
      seed_prefixed ("device-meta", "object-other-name", &mode, 1, obj, len);
    }
    fuzz_store_clear (&store);
  }

  /* A clone's meta (format version 2, with a key uuid). */
  {
    struct device_meta src;

    if (zvolume_create_device (&vol, "src", 4096, &src) == -1 ||
        zvolume_clone_device (&vol, &src, "dev", NULL) == -1)
      fuzz_fail ("zvolume_clone_device");
    zkey_meta (key, "dev");
    obj = fuzz_store_find (&store, key, &len);
    mode = 2;
    seed_prefixed ("device-meta", "object-clone", &mode, 1, obj, len);
    fuzz_store_clear (&store);
  }

  /* Sealed payloads: good, then one field wrong each. */
  mode = 128 | 2;
  n = meta_payload (payload, "dev", UINT64_C (1) << 30, ZCHUNK_SIZE);
  seed_prefixed ("device-meta", "sealed", &mode, 1, payload, n);
  n = meta_payload (payload, "dev", 12345, ZCHUNK_SIZE);
  seed_prefixed ("device-meta", "sealed-bad-size", &mode, 1, payload, n);
  n = meta_payload (payload, "dev", 4096, 65536);
  seed_prefixed ("device-meta", "sealed-chunk-size", &mode, 1, payload, n);
  n = meta_payload (payload, "deV", 4096, ZCHUNK_SIZE);
  seed_prefixed ("device-meta", "sealed-other-name", &mode, 1, payload, n);
  /* Version 2: the key uuid before the name length. */
  mode = 128 | 64 | 2;
  n = meta_payload (payload, "dev", UINT64_C (1) << 30, ZCHUNK_SIZE);
  memmove (payload + 60, payload + 44, n - 44);
  memset (payload + 44, 0xcd, 16);
  seed_prefixed ("device-meta", "sealed-v2", &mode, 1, payload, n + 16);
}

/* Lease objects: a held and a released one, each as the object and
 * as its payload; one under another name.
 */
static void
lease_seeds (void)
{
  struct fuzz_store store;
  struct zvolume vol;
  struct zlease_info info = {
    .generation = 7, .since = 1700000000, .renewed = 1700000030,
    .journal_floor = 0x18ed34c65d32d308, .pid = 4711, .host = "db1",
  };
  uint8_t obj[ZLEASE_OBJECT_MAX], mode;
  size_t len;

  fuzz_store_init (&store);
  fuzz_make_volume (&vol, &store.base);
  memset (info.instance, 0xab, 16);
  mode = 2;                             /* "dev" */
  if (zlease_encode (&vol, "dev", &info, obj, &len) == -1)
    fuzz_fail ("zlease_encode");
  seed_prefixed ("lease", "object", &mode, 1, obj, len);
  mode = 3;
  seed_prefixed ("lease", "object-other-name", &mode, 1, obj, len);
  /* The payloads, laid out by hand as lease.h says. */
  {
    uint8_t p[70 + 3];

    put_be64 (p, info.generation);
    memcpy (p + 8, info.instance, 16);
    put_be64 (p + 24, info.since);
    put_be64 (p + 32, info.renewed);
    put_be64 (p + 40, info.journal_floor);
    put_be64 (p + 48, UINT64_MAX);      /* inherited floor: none */
    put_be64 (p + 56, 0);
    put_be32 (p + 64, info.pid);
    p[68] = 0;
    p[69] = 3;
    memcpy (p + 70, "db1", 3);
    mode = 128 | 2;
    seed_prefixed ("lease", "sealed", &mode, 1, p, sizeof p);
    p[68] = 1;
    seed_prefixed ("lease", "sealed-released", &mode, 1, p, sizeof p);
    p[68] = 2;
    seed_prefixed ("lease", "sealed-bad-flags", &mode, 1, p, sizeof p);
    p[68] = 0;
    p[69] = 4;
    seed_prefixed ("lease", "sealed-bad-host-length", &mode, 1, p, sizeof p);
  }
  info.released = true;
  mode = 2;
  if (zlease_encode (&vol, "dev", &info, obj, &len) == -1)
    fuzz_fail ("zlease_encode");
  seed_prefixed ("lease", "object-released", &mode, 1, obj, len);
  fuzz_store_clear (&store);
}

static void
xml_seeds (void)
{
  const char *t = "s3-xml";

  seed_text (t, "list",
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n"
    "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
    "<Name>bucket</Name><Prefix>vols/</Prefix><KeyCount>3</KeyCount>"
    "<MaxKeys>1000</MaxKeys><Delimiter>/</Delimiter>"
    "<IsTruncated>true</IsTruncated>"
    "<NextContinuationToken>1ueGcxLPRx1Tr/XYE&amp;+=</NextContinuationToken>"
    "<Contents><Key>vols/a&amp;b</Key><LastModified>2024-01-01T00:00:00"
    ".000Z</LastModified><ETag>&quot;d41d8cd98f00b204e9800998ecf8427e"
    "&quot;</ETag><Size>12</Size><StorageClass>STANDARD</StorageClass>"
    "</Contents>\n"
    "<Contents><Key>vols/&#xFC;&#8364;&#x1D11E;&lt;&gt;&apos;</Key>"
    "<Size>18446744073709551615</Size></Contents>"
    "<CommonPrefixes><Prefix>vols/devices/</Prefix></CommonPrefixes>"
    "</ListBucketResult>");
  seed_text (t, "list-misc",
    "\xEF\xBB\xBF<!-- s3rver --><!DOCTYPE ListBucketResult>"
    "<ListBucketResult><IsTruncated>false</IsTruncated>"
    "<ContinuationToken/>"
    "<Contents><Key><![CDATA[cdata<&>]]>x</Key><?pi?><Size>1</Size>"
    "</Contents>"
    "<Contents><Key>cr\r\nlf\rend&#13;&#10;</Key><Size>2</Size></Contents>"
    "<s3:Contents a='1' b=\"2\"><s3:Key>ns</s3:Key><s3:Size>3</s3:Size>"
    "</s3:Contents></ListBucketResult>\n<!-- trailer -->\n");
  seed_text (t, "list-empty",
    "<ListBucketResult><KeyCount>0</KeyCount>"
    "<IsTruncated>false</IsTruncated></ListBucketResult>");
  seed_text (t, "error",
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<Error><Code>PermanentRedirect</Code><Message>Use the endpoint"
    "</Message><Endpoint>b.s3.eu-west-1.amazonaws.com</Endpoint>"
    "<BucketName>b</BucketName><Region>eu-west-1</Region>"
    "<Key>k</Key><RequestId>4442587FB7D0A2F9</RequestId></Error>");
  seed_text (t, "delete-result",
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
    "<Error><Key>p/b&amp;c</Key><Code>AccessDenied</Code>"
    "<Message>Access Denied</Message></Error>"
    "<Deleted><Key>d</Key></Deleted></DeleteResult>");
  seed_text (t, "not-s3", "<html><body>502 Bad Gateway</body></html>");
  seed_text (t, "malformed",
    "<ListBucketResult><Contents><Key>a</Contents></Key></ListBucketResult>");
  seed_text (t, "keys", "devices/a/chunks/0000000000000001\n"
             "with space \n&<>\"'\n\xc3\xbc\n");
}

static void
creds_seeds (void)
{
  static const char creds[] =
    "\n"                                      /* the default profile */
    "# a comment\n"
    "[default]\n"
    "aws_access_key_id = AKIDEXAMPLE\n"
    "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\r\n"
    "aws_session_token =  token\n"
    "s3 =\n"
    "  addressing_style = path\n"
    "[other]\n"
    "AWS_ACCESS_KEY_ID = x\n"
    "\0"
    "[profile work]\n"
    "aws_access_key_id = AKIDWORK\n"
    "aws_secret_access_key = secret\n";
  static const char config_default[] =
    "\n\0[default]\naws_access_key_id=a\naws_secret_access_key=b";

  seed ("s3-creds", "default", creds, sizeof creds - 1);
  seed_prefixed ("s3-creds", "profile-work", "work", 4,
                 creds, sizeof creds - 1);
  seed_text ("s3-creds", "half-pair",
             "other\n[other]\naws_access_key_id = only-the-id\n");
  seed ("s3-creds", "config-default", config_default,
        sizeof config_default - 1);
  seed_text ("s3-creds", "brackets", "x\n[x\n]\n[ x ]\n[]\n=\n[x]]\n=y\n");
  seed_text ("s3-creds", "role",
             "work\n[base]\naws_access_key_id = a\naws_secret_access_key = b\n"
             "[work]\nrole_arn = arn:aws:iam::1:role/r\n"
             "source_profile = base\n");
  seed_text ("s3-creds", "role-loop",
             "a\n[a]\nrole_arn = r\nsource_profile = b\n"
             "[b]\nrole_arn = r\nsource_profile = a\n");
  seed_literal ("s3-creds", "process",
                "\n\0[default]\ncredential_process = \"/bin/x\" --y\n");
  seed_literal ("s3-creds", "credential-source",
                "work\n\0[profile work]\nrole_arn = arn:aws:iam::1:role/r\n"
                "credential_source = Ec2InstanceMetadata\n"
                "[profile both]\nrole_arn = r\nsource_profile = work\n"
                "credential_source = Environment\n");
  seed_literal ("s3-creds", "sso-session",
                "work\n\0[profile work]\nsso_session = corp\n"
                "sso_account_id = 111122223333\nsso_role_name = Admin\n"
                "[sso-session corp]\n"
                "sso_start_url = https://example.awsapps.com/start\n"
                "sso_region = eu-west-1\n"
                "sso_registration_scopes = sso:account:access\n");
  seed_literal ("s3-creds", "sso-legacy",
                "\n\0[default]\nsso_start_url = https://x.awsapps.com/start\n"
                "sso_region = us-east-1\nsso_account_id = 1\n"
                "sso_role_name = R&x y\n");
}

/* fuzz-s3-json: what the credential services answer. */
static void
json_seeds (void)
{
  seed_text ("s3-json", "imds",
             "{\n  \"Code\" : \"Success\",\n  \"LastUpdated\" : "
             "\"2024-05-01T11:00:00Z\",\n  \"Type\" : \"AWS-HMAC\",\n"
             "  \"AccessKeyId\" : \"ASIAEXAMPLE\",\n  \"SecretAccessKey\" "
             ": \"wJalrXUtnFEMI/K7MDENG\",\n  \"Token\" : \"token\",\n"
             "  \"Expiration\" : \"2024-05-01T17:00:00Z\"\n}");
  seed_text ("s3-json", "process",
             "{\"Version\": 1, \"AccessKeyId\": \"a\", \"SecretAccessKey\": "
             "\"b\", \"SessionToken\": \"c\", \"Expiration\": "
             "\"2022-05-26T12:34:56.789+02:00\"}");
  seed_text ("s3-json", "nested",
             "{\"a\": [1, -2.5e+3, true, false, null, {\"b\": [[]]}], "
             "\"c\": {}, \"d\": \"\\u00fc\\ud83d\\ude00\\n\\\"\"}");
  seed_text ("s3-json", "sso-portal",
             "{\"roleCredentials\": {\"accessKeyId\": \"ASIAEXAMPLE\", "
             "\"secretAccessKey\": \"secret\", \"sessionToken\": \"t\", "
             "\"expiration\": 1714564800000}}");
  seed_text ("s3-json", "sso-cache",
             "{\"startUrl\": \"https://example.awsapps.com/start\", "
             "\"region\": \"eu-west-1\", \"accessToken\": \"aoa\", "
             "\"expiresAt\": \"2024-05-01T12:00:00Z\", \"clientId\": "
             "\"c\", \"clientSecret\": \"s\", \"refreshToken\": \"r\"}");
  seed_text ("s3-json", "duplicate", "{\"a\": 1, \"a\": 2}");
  seed_text ("s3-json", "trailing", "{\"a\": 1,}");
  seed_text ("s3-json", "deep", "{\"a\": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
             "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}");
}

/* fuzz-s3-sts: STS's answers. */
static void
sts_seeds (void)
{
  seed_text ("s3-sts", "web-identity",
             "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts."
             "amazonaws.com/doc/2011-06-15/\"><AssumeRoleWithWebIdentityResult>"
             "<SubjectFromWebIdentityToken>x</SubjectFromWebIdentityToken>"
             "<Credentials><SessionToken>tok</SessionToken>"
             "<SecretAccessKey>secret</SecretAccessKey>"
             "<Expiration>2014-10-24T23:00:23Z</Expiration>"
             "<AccessKeyId>ASIAEXAMPLE</AccessKeyId></Credentials>"
             "</AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentity"
             "Response>");
  seed_text ("s3-sts", "assume-role",
             "<?xml version=\"1.0\"?><AssumeRoleResponse><AssumeRoleResult>"
             "<Credentials><AccessKeyId>A</AccessKeyId><SecretAccessKey>"
             "S&amp;</SecretAccessKey><SessionToken><![CDATA[T]]>"
             "</SessionToken><Expiration>2030-01-01T00:00:00Z</Expiration>"
             "</Credentials></AssumeRoleResult></AssumeRoleResponse>");
  seed_text ("s3-sts", "error",
             "<ErrorResponse><Error><Type>Sender</Type><Code>ExpiredToken"
             "</Code><Message>m</Message></Error></ErrorResponse>");
  seed_text ("s3-sts", "half",
             "<AssumeRoleResponse><AssumeRoleResult><Credentials>"
             "<AccessKeyId>A</AccessKeyId></Credentials></AssumeRoleResult>"
             "</AssumeRoleResponse>");
}

/* fuzz-conf-set: the option's index, then a value. */
static void
conf_set_seed (const char *name, const char *key, const char *value)
{
  const struct zopt *opts;
  size_t n;
  uint8_t index;

  opts = zconf_options (&n);
  for (index = 0; index < n; index++)
    if (strcmp (opts[index].key, key) == 0)
      break;
  if (index == n)
    fuzz_fail ("no option %s", key);
  seed_prefixed ("conf-set", name, &index, 1, value, strlen (value));
}

static void
conf_seeds (void)
{
  size_t i;
  static const struct { const char *key, *value; } values[] = {
    { "bucket", "file:///tmp/vol" }, { "export", "disk0" },
    { "password", "secret" }, { "password-file", "pw.txt" },
    { "cache-dir", "/var/cache/zerofs" }, { "cache-size", "10GiB" },
    { "compression", "zstd:19" }, { "durability", "local" },
    { "writeback-threads", "256" }, { "writeback-max-age", "1" },
    { "journal-max-bytes", "0" },
    { "journal-max-objects", "16" },
    { "endpoint", "http://127.0.0.1:9000" }, { "region", "eu-west-1" },
    { "addressing", "virtual" }, { "access-key", "AKID" },
    { "secret-key", "+secret" }, { "session-token", "token" },
    { "profile", "work" }, { "ca-bundle", "ca.pem" },
    { "unsigned-payload", "yes" }, { "connections", "1024" },
    { "timeout", "3600" }, { "connect-timeout", "1" },
    { "low-speed-limit", "1073741824" }, { "retry-time", "0" },
    { "fault-file", "faults" },
  };

  seed_text ("conf-file", "all",
    "# zerofs configuration\n"
    "bucket = \"my-bucket/prefix\";\n"
    "password = \"correct horse\";\n"
    "cache-dir = \"cache\";\n"
    "cache-size = \"2G\";\n"
    "compression = \"zstd:3\";\n"
    "durability = \"remote\";\n"
    "writeback-threads = 8;\n"
    "journal-max-bytes = 1073741824L;\n"
    "endpoint = \"https://s3.example.com\";\n"
    "region = \"us-east-1\";\n"
    "addressing = \"path\";\n"
    "unsigned-payload = true;\n"
    "connections = 64;\n"
    "timeout = 30; connect-timeout = 10;\n"
    "retry-time = 0x78;\n");
  seed_text ("conf-file", "password-file",
    "password-file = \"/etc/zerofs/password\"\n"
    "export = \"disk0\"\ncache-size = 16777216\n");
  seed_text ("conf-file", "wrong-types",
    "bucket = 12;\nconnections = \"many\";\ncompression = true;\n");
  seed_text ("conf-file", "unknown", "no-such-option = 1;\n");
  seed_text ("conf-file", "group", "s3 = { region = \"x\"; };\n");
  seed_text ("conf-file", "syntax", "bucket = \"unterminated;\n");
  seed_text ("conf-file", "password-stdin", "password = \"-\";\n");
  /* An inherited descriptor (run-fuzz.sh leaves 3 open on a pipe). */
  seed_text ("conf-file", "password-fd", "password = \"-3\";\n");

  for (i = 0; i < sizeof values / sizeof values[0]; i++)
    conf_set_seed (values[i].key, values[i].key, values[i].value);
  conf_set_seed ("size-overflow", "cache-size", "18446744073709551616");
  conf_set_seed ("size-unit-overflow", "journal-max-bytes", "16E");
  conf_set_seed ("size-fraction", "cache-size", "1.5T");
  conf_set_seed ("uint-overflow", "connections", "4294967297");
  conf_set_seed ("password-fd", "password", "-0");
  conf_set_seed ("password-inherited-fd", "password", "-3");
}

int
main (int argc, char *argv[])
{
  if (argc != 2) {
    fprintf (stderr, "usage: make-corpus DIR\n");
    exit (EXIT_FAILURE);
  }
  top = argv[1];
  fuzz_init ();
  if (mkdir (top, 0755) == -1 && errno != EEXIST)
    fuzz_fail ("mkdir %s: %m", top);
  chunk_seeds ();
  journal_seeds ();
  volume_seeds ();
  meta_seeds ();
  lease_seeds ();
  xml_seeds ();
  creds_seeds ();
  json_seeds ();
  sts_seeds ();
  conf_seeds ();
  return 0;
}
