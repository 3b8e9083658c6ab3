/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: the SigV4 signer (lib/store/s3-sigv4.c) against AWS's vectors.
 *
 * The data is under $srcdir/sigv4/ (Apache-2.0, see LICENSE and NOTICE
 * there; sigv4/README.txt says where each suite comes from).  Every case
 * that applies to S3's rules is run, and the canonical request, the
 * string to sign and the signature or Authorization header are compared
 * byte for byte.  A missing file is a failure, not a skip.
 *
 * Which cases apply.  S3 encodes the path once and never normalizes it,
 * and signs x-amz-content-sha256; the generic rules (the classic suite,
 * and the aws-c-auth cases with "normalize": true) normalize the path.
 * So:
 *  - aws-c-auth: every "*-unnormalized" case; every "normalize": true
 *    case whose path normalization leaves unchanged (no ".", "..", "//"
 *    segments: the only such case kept, get-space-normalized, signs the
 *    same bytes as get-space-unnormalized); the "sign_body" cases, which
 *    sign x-amz-content-sha256 as S3 does.  Both the header form and the
 *    presigned (query) form are checked.  Left out: the six
 *    "*-normalized" cases with dot segments or "//" (S3 would sign the
 *    path as written) and post-sts-header-after (the token added after
 *    signing; S3 signs it).
 *  - classic suite: the same reasoning keeps every top-level case but
 *    get-header-value-multiline, plus normalize-path/get-space and
 *    post-sts-token/post-sts-header-before.  Left out: the other
 *    normalize-path cases (normalization), post-sts-header-after (as
 *    above), and the classic get-header-value-multiline, whose reading of
 *    an obsolete folded header ("value1,value2,value3") contradicts the
 *    aws-c-auth copy of the same case ("value1 value2 value3", RFC 7230's
 *    replace-the-fold-with-a-space rule, which is run); zerofs never
 *    sends folded headers.
 *  - the S3 worked examples, all of them.
 *
 * Reading the .req files: the request line is METHOD TARGET HTTP/1.1 with
 * spaces allowed in TARGET; path and query are percent-decoded (no
 * vector has a literal '%' in a path: s3-put-object writes "test$file"
 * as "test%24file"), and the signer encodes them again.  A header line
 * starting with a blank continues the previous one.  x-amz-date,
 * x-amz-content-sha256 and x-amz-security-token headers in a .req are
 * taken out and checked against what the signer adds itself.
 */
#include <config.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cleanup.h"
#include "crypto.h"
#include "store/s3-sigv4.h"
#include "utils.h"

#include "unit.h"

#define MAX_HEADERS 32
#define MAX_PARAMS 32

static const char *datadir;
static unsigned checks;

/* Read a whole file, NUL-terminated; NULL and a failure if missing. */
static char *
read_file (const char *dir, const char *name, size_t *lenp)
{
  char path[4096];
  CLEANUP_FCLOSE FILE *fp = NULL;
  char *buf;
  long len;

  snprintf (path, sizeof path, "%s/%s/%s", datadir, dir, name);
  fp = fopen (path, "rb");
  if (fp == NULL) {
    FAIL ("%s: %m", path);
    return NULL;
  }
  if (fseek (fp, 0, SEEK_END) == -1 || (len = ftell (fp)) == -1 ||
      fseek (fp, 0, SEEK_SET) == -1) {
    FAIL ("reading %s: %m", path);
    return NULL;
  }
  buf = malloc (len + 1);
  if (buf == NULL || fread (buf, 1, len, fp) != (size_t) len) {
    FAIL ("reading %s: %m", path);
    free (buf);
    return NULL;
  }
  buf[len] = '\0';
  if (lenp)
    *lenp = len;
  return buf;
}

static void
expect (const char *what, const char *where, const char *got,
        const char *want)
{
  checks++;
  if (got == NULL || want == NULL || strcmp (got, want) != 0)
    FAIL ("%s: %s differs\n--- expected:\n%s\n--- got:\n%s",
          where, what, want ? want : "(missing)", got ? got : "(none)");
}

/* expect () with the contents of DIR/FILE. */
static void
expect_file (const char *what, const char *where, const char *got,
             const char *dir, const char *file)
{
  CLEANUP_FREE char *want = read_file (dir, file, NULL);

  expect (what, where, got, want);
}

static void
percent_decode (char *s)
{
  char *out = s;

  for (; *s; s++) {
    unsigned v;

    if (*s == '%' && sscanf (s + 1, "%2x", &v) == 1 &&
        strspn (s + 1, "0123456789abcdefABCDEF") >= 2) {
      *out++ = v;
      s += 2;
    }
    else
      *out++ = *s;
  }
  *out = '\0';
}

struct parsed_request {
  char *text;                     /* the .req, cut up in place */
  char *method, *path;
  struct sigv4_param params[MAX_PARAMS];
  size_t nparams;
  struct sigv4_header headers[MAX_HEADERS];
  size_t nheaders;
  /* Folded header values, rebuilt. */
  char *unfolded[MAX_HEADERS];
  const char *body;
  size_t body_len;
  /* Taken out of the headers. */
  const char *amz_date, *content_sha256, *token;
};

/* Free what R owns and empty it (so it can be freed again). */
static void
free_request (struct parsed_request *r)
{
  size_t i;

  for (i = 0; i < MAX_HEADERS; i++)
    free (r->unfolded[i]);
  free (r->text);
  memset (r, 0, sizeof *r);
}
#define CLEANUP_REQUEST __attribute__ ((cleanup (free_request)))

static bool
name_is (const char *a, const char *b)
{
  return strcasecmp (a, b) == 0;
}

static int
parse_request (char *text, size_t len, struct parsed_request *r)
{
  char *line, *next, *sp, *q, *end = text + len;

  memset (r, 0, sizeof *r);
  r->text = text;

  /* Request line. */
  next = strchr (text, '\n');
  if (next)
    *next++ = '\0';
  else
    next = end;
  line = text;
  sp = strchr (line, ' ');
  q = strrchr (line, ' ');
  if (sp == NULL || q == sp)
    return -1;
  *sp = *q = '\0';
  r->method = line;
  r->path = sp + 1;
  q = strchr (r->path, '?');
  if (q) {
    char *param, *save = NULL;

    *q++ = '\0';
    for (param = strtok_r (q, "&", &save); param;
         param = strtok_r (NULL, "&", &save)) {
      char *eq = strchr (param, '=');

      if (r->nparams == MAX_PARAMS)
        return -1;
      if (eq)
        *eq++ = '\0';
      percent_decode (param);
      if (eq)
        percent_decode (eq);
      r->params[r->nparams].name = param;
      r->params[r->nparams].value = eq;
      r->nparams++;
    }
  }
  percent_decode (r->path);

  /* Headers, up to an empty line or the end. */
  while (next < end) {
    line = next;
    next = strchr (line, '\n');
    if (next)
      *next++ = '\0';
    else
      next = end;
    if (*line == '\0') {
      r->body = next;
      r->body_len = end - next;
      break;
    }
    if ((*line == ' ' || *line == '\t') && r->nheaders > 0) {
      size_t i = r->nheaders - 1;
      size_t oldlen = strlen (r->headers[i].value);
      char *v = malloc (oldlen + 1 + strlen (line) + 1);

      if (v == NULL)
        return -1;
      memcpy (v, r->headers[i].value, oldlen);
      v[oldlen] = ' ';
      strcpy (v + oldlen + 1, line);
      free (r->unfolded[i]);
      r->unfolded[i] = v;
      r->headers[i].value = v;
      continue;
    }
    q = strchr (line, ':');
    if (q == NULL || r->nheaders == MAX_HEADERS)
      return -1;
    *q++ = '\0';
    if (name_is (line, "x-amz-date"))
      r->amz_date = q;
    else if (name_is (line, "x-amz-content-sha256"))
      r->content_sha256 = q;
    else if (name_is (line, "x-amz-security-token"))
      r->token = q;
    else {
      r->headers[r->nheaders].name = line;
      r->headers[r->nheaders].value = q;
      r->nheaders++;
    }
  }
  if (r->body == NULL) {
    r->body = "";
    r->body_len = 0;
  }
  return 0;
}

/* Read DIR/NAME and parse it into R, which owns the text from then on.
 * A file that is missing or cannot be parsed is a failure.
 */
static int
load_request (const char *dir, const char *name, struct parsed_request *r)
{
  size_t len;
  char *text = read_file (dir, name, &len);

  if (text == NULL)
    return -1;
  if (parse_request (text, len, r) == -1) {
    FAIL ("%s: cannot parse %s", dir, name);
    free_request (r);
    return -1;
  }
  return 0;
}

static time_t
parse_time (const char *s)
{
  struct tm tm;

  memset (&tm, 0, sizeof tm);
  if (sscanf (s, "%4d-%2d-%2dT%2d:%2d:%2dZ", &tm.tm_year, &tm.tm_mon,
              &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6 &&
      sscanf (s, "%4d%2d%2dT%2d%2d%2dZ", &tm.tm_year, &tm.tm_mon,
              &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
    return (time_t) -1;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return timegm (&tm);
}

/* The value of "KEY": "..." or "KEY": true in a flat JSON document, good
 * enough for context.json (no escapes in these files but \/ and \").
 */
static char *
json_value (const char *doc, const char *key)
{
  char pattern[64];
  const char *p, *e;
  char *v, *o;

  snprintf (pattern, sizeof pattern, "\"%s\"", key);
  p = strstr (doc, pattern);
  if (p == NULL)
    return NULL;
  p += strlen (pattern);
  p += strspn (p, " \t\r\n");
  if (*p++ != ':')
    return NULL;
  p += strspn (p, " \t\r\n");
  if (*p == '"') {
    p++;
    for (e = p; *e && *e != '"'; e++)
      if (*e == '\\' && e[1])
        e++;
  }
  else
    e = p + strcspn (p, ",}\r\n \t");
  v = strndup (p, e - p);
  if (v == NULL)
    return NULL;
  for (o = v, p = v; *p; p++) {
    if (*p == '\\' && p[1])
      p++;
    *o++ = *p;
  }
  *o = '\0';
  return v;
}

static void
payload_hash_of (const struct parsed_request *r, char out[65])
{
  uint8_t h[32];

  crypto_sha256 (r->body, r->body_len, h);
  crypto_hex (h, sizeof h, out);
}

/* Sign R and compare with the vector's files. */
static void
check_case (const char *where, const char *dir,
            const struct parsed_request *r,
            const struct sigv4_credentials *creds,
            const char *region, const char *service, time_t t,
            const char *payload_hash, bool sign_content_sha256,
            unsigned presign_expires,
            const char *creq_file, const char *sts_file,
            const char *sig_file, const char *authz_file,
            const char *authz_prefix)
{
  struct sigv4_request req = {
    .method = r->method, .path = r->path,
    .query = r->params, .nquery = r->nparams,
    .headers = r->headers, .nheaders = r->nheaders,
    .payload_hash = payload_hash,
    .sign_content_sha256 = sign_content_sha256,
    .creds = creds, .region = region, .service = service, .time = t,
    .presign_expires = presign_expires,
  };
  struct sigv4_signature sig;

  if (sigv4_sign (&req, &sig) == -1) {
    FAIL ("%s: sigv4_sign: %m", where);
    return;
  }
  if (r->amz_date)
    expect ("x-amz-date", where, sig.amz_date, r->amz_date);

  expect_file ("canonical request", where, sig.canonical_request,
               dir, creq_file);
  expect_file ("string to sign", where, sig.string_to_sign, dir, sts_file);
  if (sig_file)
    expect_file ("signature", where, sig.signature, dir, sig_file);
  if (authz_file) {
    CLEANUP_FREE char *text = read_file (dir, authz_file, NULL);
    char *line = NULL;

    /* Either the bare value (.authz) or a line of a signed request. */
    if (text && authz_prefix) {
      line = strstr (text, authz_prefix);
      if (line) {
        line += strlen (authz_prefix);
        line[strcspn (line, "\r\n")] = '\0';
      }
    }
    else
      line = text;
    expect ("Authorization", where, sig.authorization, line);
  }
  sigv4_signature_free (&sig);
}

/* The classic suite (2015). */
static const char *classic_cases[] = {
  "get-header-key-duplicate", "get-header-value-order",
  "get-header-value-trim", "get-unreserved", "get-utf8", "get-vanilla",
  "get-vanilla-empty-query-key", "get-vanilla-query",
  "get-vanilla-query-order-key", "get-vanilla-query-order-key-case",
  "get-vanilla-query-order-value", "get-vanilla-query-unreserved",
  "get-vanilla-utf8-query", "post-header-key-case", "post-header-key-sort",
  "post-header-value-case", "post-vanilla", "post-vanilla-empty-query-value",
  "post-vanilla-query", "post-x-www-form-urlencoded",
  "post-x-www-form-urlencoded-parameters",
  "normalize-path/get-space", "post-sts-token/post-sts-header-before",
};

static void
run_classic (const char *dir)
{
  const char *base = strrchr (dir, '/') ? strrchr (dir, '/') + 1 : dir;
  struct sigv4_credentials creds = {
    "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", NULL
  };
  CLEANUP_REQUEST struct parsed_request r = { 0 };
  char file[256], hash[65];

  snprintf (file, sizeof file, "%s.req", base);
  if (load_request (dir, file, &r) == -1)
    return;
  creds.session_token = r.token;
  payload_hash_of (&r, hash);
  {
    char creq[256], sts[256], authz[256];

    snprintf (creq, sizeof creq, "%s.creq", base);
    snprintf (sts, sizeof sts, "%s.sts", base);
    snprintf (authz, sizeof authz, "%s.authz", base);
    check_case (dir, dir, &r, &creds, "us-east-1", "service",
                parse_time ("20150830T123600Z"), hash, false, 0,
                creq, sts, NULL, authz, NULL);
  }
}

/* aws-c-auth's suite: header and presigned forms. */
static const char *crt_cases[] = {
  "get-header-key-duplicate", "get-header-value-multiline",
  "get-header-value-order", "get-header-value-trim",
  "get-relative-relative-unnormalized", "get-relative-unnormalized",
  "get-slash-dot-slash-unnormalized", "get-slash-pointless-dot-unnormalized",
  "get-slash-unnormalized", "get-slashes-unnormalized",
  "get-space-normalized", "get-space-unnormalized", "get-unreserved",
  "get-utf8", "get-vanilla", "get-vanilla-empty-query-key",
  "get-vanilla-query", "get-vanilla-query-order-encoded",
  "get-vanilla-query-order-key-case", "get-vanilla-query-unreserved",
  "get-vanilla-utf8-query", "get-vanilla-with-session-token",
  "post-header-key-case", "post-header-key-sort", "post-header-value-case",
  "post-sts-header-before", "post-vanilla", "post-vanilla-empty-query-value",
  "post-vanilla-query", "post-x-www-form-urlencoded",
  "post-x-www-form-urlencoded-parameters",
};

static void
run_crt (const char *name)
{
  char dir[256], where[300], hash[65];
  CLEANUP_FREE char *context = NULL;
  CLEANUP_FREE char *ak = NULL;
  CLEANUP_FREE char *sk = NULL;
  CLEANUP_FREE char *token = NULL;
  CLEANUP_FREE char *region = NULL;
  CLEANUP_FREE char *service = NULL;
  CLEANUP_FREE char *timestamp = NULL;
  CLEANUP_FREE char *sign_body = NULL;
  CLEANUP_FREE char *expires = NULL;
  CLEANUP_FREE char *normalize = NULL;
  CLEANUP_REQUEST struct parsed_request r = { 0 };

  snprintf (dir, sizeof dir, "_aws-c-auth-v4/%s", name);
  context = read_file (dir, "context.json", NULL);
  if (load_request (dir, "request.txt", &r) == -1 || context == NULL)
    return;
  ak = json_value (context, "access_key_id");
  sk = json_value (context, "secret_access_key");
  token = json_value (context, "token");
  region = json_value (context, "region");
  service = json_value (context, "service");
  timestamp = json_value (context, "timestamp");
  sign_body = json_value (context, "sign_body");
  expires = json_value (context, "expiration_in_seconds");
  normalize = json_value (context, "normalize");
  if (!ak || !sk || !region || !service || !timestamp || !sign_body ||
      !expires || !normalize) {
    FAIL ("%s: context.json lacks a field", dir);
    return;
  }
  {
    struct sigv4_credentials creds = { ak, sk, token };
    time_t t = parse_time (timestamp);

    payload_hash_of (&r, hash);
    snprintf (where, sizeof where, "%s (header)", dir);
    check_case (where, dir, &r, &creds, region, service, t, hash,
                strcmp (sign_body, "true") == 0, 0,
                "header-canonical-request.txt", "header-string-to-sign.txt",
                "header-signature.txt", "header-signed-request.txt",
                "\nAuthorization:");
    snprintf (where, sizeof where, "%s (presigned)", dir);
    check_case (where, dir, &r, &creds, region, service, t, hash, false,
                (unsigned) atoi (expires),
                "query-canonical-request.txt", "query-string-to-sign.txt",
                "query-signature.txt", NULL, NULL);
  }
}

/* The S3 worked examples. */
static void
run_s3_example (const char *name, unsigned presign_expires)
{
  struct sigv4_credentials creds = {
    "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", NULL
  };
  char dir[256], file[256], creq[256], sts[256], authz[256], hash[65];
  CLEANUP_REQUEST struct parsed_request r = { 0 };

  snprintf (dir, sizeof dir, "_s3-doc-examples/%s", name);
  snprintf (file, sizeof file, "%s.req", name);
  if (load_request (dir, file, &r) == -1)
    return;
  payload_hash_of (&r, hash);
  snprintf (creq, sizeof creq, "%s.creq", name);
  snprintf (sts, sizeof sts, "%s.sts", name);
  snprintf (authz, sizeof authz, "%s.authz", name);
  if (!presign_expires) {
    /* The example's x-amz-content-sha256 is the body's hash. */
    expect ("x-amz-content-sha256 of the body", dir, hash, r.content_sha256);
    check_case (dir, dir, &r, &creds, "us-east-1", "s3",
                parse_time ("20130524T000000Z"), hash, true, 0,
                creq, sts, NULL, authz, NULL);
  }
  else {
    struct sigv4_request req = {
      .method = r.method, .path = r.path,
      .query = r.params, .nquery = r.nparams,
      .headers = r.headers, .nheaders = r.nheaders,
      .payload_hash = SIGV4_UNSIGNED_PAYLOAD,
      .creds = &creds, .region = "us-east-1", .service = "s3",
      .time = parse_time ("20130524T000000Z"),
      .presign_expires = presign_expires,
    };
    struct sigv4_signature sig;

    check_case (dir, dir, &r, &creds, "us-east-1", "s3", req.time,
                SIGV4_UNSIGNED_PAYLOAD, false, presign_expires,
                creq, sts, NULL, NULL, NULL);
    /* And the whole presigned URL. */
    snprintf (file, sizeof file, "%s.sreq", name);
    if (sigv4_sign (&req, &sig) == 0) {
      CLEANUP_FREE char *url =
        format_string ("https://examplebucket.s3.amazonaws.com%s?%s",
                       sig.canonical_uri, sig.query);

      expect_file ("presigned URL", dir, url, dir, file);
      sigv4_signature_free (&sig);
    }
    else
      FAIL ("%s: sigv4_sign: %m", dir);
  }
}

/* S3 keys are signed as written: no normalization, one encoding. */
static void
run_s3_path_rules (void)
{
  struct sigv4_credentials creds = { "AK", "SK", NULL };
  struct sigv4_header host = { "Host", "b.example.com" };
  struct sigv4_param params[] = {
    { "prefix", "a b/c+d=e&f" }, { "delete", NULL }, { "list-type", "2" },
  };
  struct sigv4_request req = {
    .method = "GET", .path = "/b/./x/../a b+c=d//\xe2\x82\xac%",
    .query = params, .nquery = 3, .headers = &host, .nheaders = 1,
    .payload_hash = SIGV4_EMPTY_SHA256, .sign_content_sha256 = true,
    .creds = &creds, .region = "us-east-1", .service = "s3", .time = 0,
  };
  struct sigv4_signature sig;
  char *enc;

  if (sigv4_sign (&req, &sig) == -1) {
    FAIL ("S3 path rules: sigv4_sign: %m");
    return;
  }
  expect ("canonical URI", "S3 path rules", sig.canonical_uri,
          "/b/./x/../a%20b%2Bc%3Dd//%E2%82%AC%25");
  expect ("canonical query", "S3 path rules", sig.query,
          "delete=&list-type=2&prefix=a%20b%2Fc%2Bd%3De%26f");
  expect ("x-amz-date", "S3 path rules", sig.amz_date, "19700101T000000Z");
  expect ("canonical request", "S3 path rules", sig.canonical_request,
          "GET\n"
          "/b/./x/../a%20b%2Bc%3Dd//%E2%82%AC%25\n"
          "delete=&list-type=2&prefix=a%20b%2Fc%2Bd%3De%26f\n"
          "host:b.example.com\n"
          "x-amz-content-sha256:" SIGV4_EMPTY_SHA256 "\n"
          "x-amz-date:19700101T000000Z\n"
          "\n"
          "host;x-amz-content-sha256;x-amz-date\n"
          SIGV4_EMPTY_SHA256);
  sigv4_signature_free (&sig);

  enc = sigv4_uri_encode ("a/b c~", 6, false);
  expect ("sigv4_uri_encode", "S3 path rules", enc, "a%2Fb%20c~");
  free (enc);

  /* Incomplete requests are refused, not signed. */
  req.creds = NULL;
  checks++;
  CHECK (sigv4_sign (&req, &sig) == -1 && errno == EINVAL,
         "signing without credentials did not fail");
}

int
main (void)
{
  const char *srcdir = getenv ("srcdir");
  static char dir[4096];
  size_t i;

  snprintf (dir, sizeof dir, "%s/sigv4", srcdir ? srcdir : ".");
  datadir = dir;

  for (i = 0; i < sizeof classic_cases / sizeof classic_cases[0]; i++)
    run_classic (classic_cases[i]);
  for (i = 0; i < sizeof crt_cases / sizeof crt_cases[0]; i++)
    run_crt (crt_cases[i]);
  run_s3_example ("s3-get-object-range", 0);
  run_s3_example ("s3-put-object", 0);
  run_s3_example ("s3-get-bucket-lifecycle", 0);
  run_s3_example ("s3-list-objects", 0);
  run_s3_example ("s3-presigned-get", 86400);
  run_s3_path_rules ();

  if (failures)
    fprintf (stderr, "%d of %u checks failed (data in %s)\n",
             failures, checks, datadir);
  else
    printf ("%u checks passed (%zu classic, %zu aws-c-auth cases in two "
            "forms, 5 S3 examples)\n", checks,
            sizeof classic_cases / sizeof classic_cases[0],
            sizeof crt_cases / sizeof crt_cases[0]);
  return unit_exit_status ("test-unit-sigv4");
}
