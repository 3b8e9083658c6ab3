/* zerofs: the SigV4 signer (lib/s3-sigv4.c) against AWS's vectors.
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

#include "crypto.h"
#include "store/s3-sigv4.h"

#define MAX_HEADERS 32
#define MAX_PARAMS 32

static const char *datadir;
static unsigned failures, checks;

/* Read a whole file, NUL-terminated; NULL and a failure if missing. */
static char *
read_file (const char *dir, const char *name, size_t *lenp)
{
  char path[4096];
  FILE *fp;
  char *buf = NULL;
  long len;

  snprintf (path, sizeof path, "%s/%s/%s", datadir, dir, name);
  fp = fopen (path, "rb");
  if (fp == NULL) {
    fprintf (stderr, "FAIL: %s: %m\n", path);
    failures++;
    return NULL;
  }
  if (fseek (fp, 0, SEEK_END) == -1 || (len = ftell (fp)) == -1 ||
      fseek (fp, 0, SEEK_SET) == -1 ||
      (buf = malloc (len + 1)) == NULL ||
      fread (buf, 1, len, fp) != (size_t) len) {
    fprintf (stderr, "FAIL: reading %s: %m\n", path);
    failures++;
    free (buf);
    fclose (fp);
    return NULL;
  }
  fclose (fp);
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
  if (got && want && strcmp (got, want) == 0)
    return;
  failures++;
  fprintf (stderr, "FAIL: %s: %s differs\n--- expected:\n%s\n--- got:\n%s\n",
           where, what, want ? want : "(missing)", got ? got : "(none)");
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

static void
free_request (struct parsed_request *r)
{
  size_t i;

  for (i = 0; i < MAX_HEADERS; i++)
    free (r->unfolded[i]);
  free (r->text);
}

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
  char *want;

  if (sigv4_sign (&req, &sig) == -1) {
    fprintf (stderr, "FAIL: %s: sigv4_sign: %m\n", where);
    failures++;
    return;
  }
  if (r->amz_date)
    expect ("x-amz-date", where, sig.amz_date, r->amz_date);

  want = read_file (dir, creq_file, NULL);
  expect ("canonical request", where, sig.canonical_request, want);
  free (want);
  want = read_file (dir, sts_file, NULL);
  expect ("string to sign", where, sig.string_to_sign, want);
  free (want);
  if (sig_file) {
    want = read_file (dir, sig_file, NULL);
    expect ("signature", where, sig.signature, want);
    free (want);
  }
  if (authz_file) {
    char *text = read_file (dir, authz_file, NULL);
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
    free (text);
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
  struct parsed_request r;
  char file[256], hash[65];
  char *text;
  size_t len;

  snprintf (file, sizeof file, "%s.req", base);
  text = read_file (dir, file, &len);
  if (text == NULL)
    return;
  if (parse_request (text, len, &r) == -1) {
    fprintf (stderr, "FAIL: %s: cannot parse %s\n", dir, file);
    failures++;
    free (text);
    return;
  }
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
  free_request (&r);
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
  char *context, *text;
  char *ak = NULL, *sk = NULL, *token = NULL, *region = NULL;
  char *service = NULL, *timestamp = NULL, *sign_body = NULL;
  char *expires = NULL, *normalize = NULL;
  struct parsed_request r;
  size_t len;

  snprintf (dir, sizeof dir, "_aws-c-auth-v4/%s", name);
  context = read_file (dir, "context.json", NULL);
  text = read_file (dir, "request.txt", &len);
  if (context == NULL || text == NULL) {
    free (context);
    free (text);
    return;
  }
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
    fprintf (stderr, "FAIL: %s: context.json lacks a field\n", dir);
    failures++;
    free (text);
    goto out;
  }
  if (parse_request (text, len, &r) == -1) {
    fprintf (stderr, "FAIL: %s: cannot parse request.txt\n", dir);
    failures++;
    free (text);
    goto out;
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
  free_request (&r);
 out:
  free (context);
  free (ak);
  free (sk);
  free (token);
  free (region);
  free (service);
  free (timestamp);
  free (sign_body);
  free (expires);
  free (normalize);
}

/* The S3 worked examples. */
static void
run_s3_example (const char *name, unsigned presign_expires)
{
  struct sigv4_credentials creds = {
    "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", NULL
  };
  char dir[256], file[256], creq[256], sts[256], authz[256], hash[65];
  struct parsed_request r;
  char *text;
  size_t len;

  snprintf (dir, sizeof dir, "_s3-doc-examples/%s", name);
  snprintf (file, sizeof file, "%s.req", name);
  text = read_file (dir, file, &len);
  if (text == NULL)
    return;
  if (parse_request (text, len, &r) == -1) {
    fprintf (stderr, "FAIL: %s: cannot parse %s\n", dir, file);
    failures++;
    free (text);
    return;
  }
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
    char *want, *url;

    check_case (dir, dir, &r, &creds, "us-east-1", "s3", req.time,
                SIGV4_UNSIGNED_PAYLOAD, false, presign_expires,
                creq, sts, NULL, NULL, NULL);
    /* And the whole presigned URL. */
    snprintf (file, sizeof file, "%s.sreq", name);
    want = read_file (dir, file, NULL);
    if (sigv4_sign (&req, &sig) == 0) {
      static const char origin[] = "https://examplebucket.s3.amazonaws.com";

      url = malloc (sizeof origin + strlen (sig.canonical_uri) + 1 +
                    strlen (sig.query));
      if (url)
        sprintf (url, "%s%s?%s", origin, sig.canonical_uri, sig.query);
      expect ("presigned URL", dir, url, want);
      free (url);
      sigv4_signature_free (&sig);
    }
    else {
      fprintf (stderr, "FAIL: %s: sigv4_sign: %m\n", dir);
      failures++;
    }
    free (want);
  }
  free_request (&r);
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
    fprintf (stderr, "FAIL: S3 path rules: sigv4_sign: %m\n");
    failures++;
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
  if (sigv4_sign (&req, &sig) != -1 || errno != EINVAL) {
    fprintf (stderr, "FAIL: signing without credentials did not fail\n");
    failures++;
  }
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

  if (failures) {
    fprintf (stderr, "%u of %u checks failed (data in %s)\n",
             failures, checks, datadir);
    exit (EXIT_FAILURE);
  }
  printf ("%u checks passed (%zu classic, %zu aws-c-auth cases in two "
          "forms, 5 S3 examples)\n", checks,
          sizeof classic_cases / sizeof classic_cases[0],
          sizeof crt_cases / sizeof crt_cases[0]);
  exit (EXIT_SUCCESS);
}
