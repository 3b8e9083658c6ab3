/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: the S3 object store (struct objstore_ops over S3's REST API).
 *
 * The parts are in their own files: s3-sigv4.c signs, s3-http.c moves
 * bytes over a pool of curl handles, s3-xml.c reads and writes S3's XML,
 * s3-creds*.c find the credentials and keep them fresh.  This file
 * maps the objstore operations onto S3 requests and S3's answers onto
 * errno classes:
 *
 *   get          GetObject, with "Range: bytes=A-B" for a range
 *   put          PutObject, with If-None-Match: * / If-Match: ETAG
 *   head         HeadObject
 *   del          DeleteObject (absent is success)
 *   delete_many  DeleteObjects (POST ?delete, quiet, Content-MD5)
 *   copy         CopyObject (PUT with x-amz-copy-source, signed; an
 *                <Error> in a 200 answer is a failure, as AWS documents)
 *   list         ListObjectsV2 (list-type=2, start-after), every page
 *
 * Errors: S3's <Error> body gives the code (NoSuchBucket, AccessDenied,
 * SignatureDoesNotMatch, SlowDown, ...), which decides the errno class of
 * objstore.h; without a body (HEAD), the status does.  Messages name the
 * S3 operation, the key and the code.  Nothing is retried here: the
 * retry wrapper retries what is classed transient.
 *
 * Addressing: the bucket string is "NAME[/PREFIX]"; keys are PREFIX/KEY.
 * Path-style URLs (ENDPOINT/NAME/KEY) or virtual-hosted ones
 * (NAME.ENDPOINT-HOST/KEY); "auto" takes virtual-hosted for AWS endpoints
 * when the name is a DNS label that a TLS wildcard certificate covers,
 * path-style for every other endpoint (MinIO, Ceph, Swift, s3rver).  The
 * Host header is set explicitly and signed as sent.  The endpoint URL is
 * split by curl's URL API, the parser that reads the URLs built from it.
 *
 * Payloads are signed (SHA-256 of the body in x-amz-content-sha256),
 * unless unsigned-payload is set and the endpoint is https.
 *
 * Routing (s3-route.h): a 307 Temporary Redirect is followed on any
 * request (s3_send).  The bucket's region is learnt while the store is
 * opened, from the answers to its first requests, when region= is not
 * given for AWS or is "auto" (learn_region, switch_region): that may
 * change the region, the endpoint and so the Host, which is why it is
 * done only then, before other threads share the store.  An
 * AccessDenied says which IAM permission is missing.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "cleanup.h"
#include "conf.h"
#include "crypto.h"
#include "utils.h"
#include "vector.h"
#include "log.h"
#include "internal.h"
#include "s3-creds.h"
#include "s3-http.h"
#include "s3-route.h"
#include "s3-sigv4.h"
#include "s3-xml.h"

struct s3_store {
  struct objstore base;
  char *bucket;
  char *prefix;                   /* "" or "PREFIX/" */
  char *endpoint;                 /* as configured or the default: messages */
  char *origin;                   /* "scheme://host[:port]" of every URL */
  char *host;                     /* the Host header */
  char *base_path;                /* endpoint path, "/NAME" if path-style */
  char *region;
  bool https;
  bool virtual_host;
  bool sign_payload;
  enum zaddressing addressing;
  /* Region discovery (s3-route.h): DISCOVER while the store is being
   * opened, single-threaded, when the region is to be found; the
   * endpoint then follows the region if ENDPOINT_FOLLOWS_REGION.
   */
  bool discover;
  bool endpoint_follows_region;
  bool region_given;              /* neither absent nor "auto" */
  bool region_auto;
  struct s3_creds_provider *creds;
  struct s3_http *http;
  unsigned write_timeout_ms;      /* of PUT, DELETE and POST (lease.h) */
};

/* The errno class of an S3 error code, or of the status without one. */
static int
s3_errno (long status, const char *code)
{
  static const struct { const char *code; int err; } codes[] = {
    { "NoSuchBucket", ENODEV },
    { "NoSuchKey", ENOENT },
    { "AccessDenied", EACCES },
    { "SignatureDoesNotMatch", EACCES },
    { "InvalidAccessKeyId", EACCES },
    { "InvalidToken", EACCES },
    { "ExpiredToken", EACCES },
    { "TokenRefreshRequired", EACCES },
    { "AllAccessDisabled", EACCES },
    { "AccountProblem", EACCES },
    { "InvalidSecurity", EACCES },
    { "RequestTimeTooSkewed", EACCES },
    { "AuthorizationHeaderMalformed", EACCES },
    { "PreconditionFailed", EEXIST },
    { "NotImplemented", ENOTSUP },
    { "SlowDown", EAGAIN },
    { "RequestTimeout", EAGAIN },
    { "InternalError", EAGAIN },
    { "ServiceUnavailable", EAGAIN },
    { "OperationAborted", EAGAIN },
    { "ConditionalRequestConflict", EAGAIN },
    { "Throttling", EAGAIN },
    { "ThrottlingException", EAGAIN },
    { "RequestLimitExceeded", EAGAIN },
  };
  size_t i;

  if (code)
    for (i = 0; i < sizeof codes / sizeof codes[0]; i++)
      if (strcmp (code, codes[i].code) == 0)
        return codes[i].err;
  switch (status) {
  case 401: case 403: return EACCES;
  case 404: return ENOENT;
  case 412: return EEXIST;
  case 501: return ENOTSUP;
  case 408: case 429: return EAGAIN;
  default:
    return status >= 500 && status <= 599 ? EAGAIN : EIO;
  }
}

/* A hint to add to some codes' messages. */
static const char *
s3_hint (const struct s3_store *s, const char *code,
         const struct s3_error *err, const struct s3_http_response *resp,
         char *buf, size_t size)
{
  const char *region = resp->bucket_region[0] ? resp->bucket_region
    : err->region;

  if (region && *region && strcmp (region, s->region) != 0) {
    snprintf (buf, size, "; the bucket is in region %s: set region=%s",
              region, region);
    return buf;
  }
  if (code && strcmp (code, "PermanentRedirect") == 0 && err->endpoint) {
    snprintf (buf, size, "; the store says to use endpoint %s",
              err->endpoint);
    return buf;
  }
  if (code && strcmp (code, "RequestTimeTooSkewed") == 0)
    return "; check this machine's clock";
  if (code && strcmp (code, "SignatureDoesNotMatch") == 0)
    return "; check the secret key";
  if (code && strcmp (code, "InvalidAccessKeyId") == 0)
    return "; check the access key";
  return "";
}

/* Report a response with an error status: objstore_fail, -1.  WHAT
 * names the object ("devices/x/meta") or the bucket.
 */
static int
s3_fail (const struct s3_store *s, const char *op, const char *what,
         const struct s3_http_response *resp)
{
  struct s3_error err = { 0 };
  const char *code, *hint;
  char hintbuf[256];
  int e;

  if (resp->body_len > 0)
    s3_xml_parse_error (resp->body, resp->body_len, &err);
  code = err.code && *err.code ? err.code : NULL;
  e = s3_errno (resp->status, code);
  hint = s3_hint (s, code, &err, resp, hintbuf, sizeof hintbuf);
  /* An absent object is an answer the cache acts on (zeros, written
   * over): only S3's own NoSuchKey says so for a GET, not any 404 (a
   * proxy's or a wrong endpoint's page).  A HEAD has no body to tell.
   */
  if (e == ENOENT && strcmp (op, "GetObject") == 0 &&
      (code == NULL || strcmp (code, "NoSuchKey") != 0)) {
    e = EIO;
    hint = "; a 404 without S3's NoSuchKey is not taken for an absent "
      "object (a proxy's page, or the wrong endpoint?)";
  }

  if (e == ENODEV)
    objstore_fail (e, "%s %s: bucket \"%s\" does not exist at %s "
                   "(%s, HTTP %ld)", op, what, s->bucket, s->endpoint,
                   code ? code : "NoSuchBucket", resp->status);
  else if (resp->status == 403 &&
           (code == NULL || strcmp (code, "AccessDenied") == 0) &&
           *s3_route_permission (op, s->bucket, s->prefix, s->region,
                                 hintbuf, sizeof hintbuf))
    /* Say what is missing.  S3 refuses a GET or HEAD of an absent
     * object with AccessDenied, not NoSuchKey, to whoever may not list
     * the bucket.
     */
    objstore_fail (e, "AccessDenied on %s %s: the credentials need %s "
                   "(HTTP 403: %s)%s", op, what, hintbuf,
                   err.message && *err.message ? err.message
                   : "access denied",
                   strcmp (op, "GetObject") == 0 ||
                   strcmp (op, "HeadObject") == 0
                   ? "; or, if the object does not exist, s3:ListBucket "
                   "on the bucket" : "");
  else if (code)
    objstore_fail (e, "%s %s: %s: %s (HTTP %ld)%s", op, what, code,
                   err.message && *err.message ? err.message
                   : "no message", resp->status, hint);
  else
    objstore_fail (e, "%s %s: HTTP %ld%s%s", op, what, resp->status,
                   e == ENOENT ? " (not found)"
                   : e == EACCES ? " (access denied)"
                   : e == EAGAIN ? " (store unavailable)" : "",
                   hint);
  s3_error_free (&err);
  errno = e;
  return -1;
}

/* objstore_fail (ENOMEM, "out of memory"): -1. */
static int
out_of_memory (void)
{
  return objstore_fail (ENOMEM, "out of memory");
}

/* The header lines for the HTTP layer, "Name: value", one string each. */
static int
header_lines (const struct sigv4_header *headers, size_t n,
              string_vector *lines)
{
  size_t i;

  for (i = 0; i < n; i++) {
    char *line = format_string ("%s: %s", headers[i].name,
                                 headers[i].value);

    if (line == NULL || string_vector_append (lines, line) == -1) {
      free (line);
      return -1;
    }
  }
  return 0;
}

/* One request signed with C, sent to ORIGIN with the Host header HOST
 * (the store's own, or a 307's): see s3_request.
 */
static int
s3_request_once (struct s3_store *s, const struct s3_creds *c,
                 const char *origin, const char *host,
                 const char *op, const char *method, const char *key,
                 const struct sigv4_param *query, size_t nquery,
                 const struct sigv4_header *extra, size_t nextra,
                 const void *body, size_t body_len, uint64_t deadline_ms,
                 struct s3_http_response *resp)
{
  struct sigv4_header headers[8], sent[S3_HTTP_MAX_HEADERS];
  struct sigv4_credentials creds = {
    c->access_key, c->secret_key, c->session_token,
  };
  struct sigv4_request sreq = {
    .method = method, .query = query, .nquery = nquery,
    .headers = headers, .nheaders = 0, .sign_content_sha256 = true,
    .creds = &creds, .region = s->region, .service = "s3",
    .time = time (NULL),
  };
  CLEANUP_SIGV4_SIGNATURE struct sigv4_signature sig = { 0 };
  CLEANUP_STRING_VECTOR string_vector lines = EMPTY_VECTOR;
  CLEANUP_FREE char *path = NULL;
  CLEANUP_FREE char *url = NULL;
  struct s3_http_request hreq = { .method = method, .body = body,
                                  .body_len = body_len,
                                  .deadline_ms = deadline_ms };
  char hash_hex[65];
  const char *what = key ? key : s->bucket;
  bool has_body = strcmp (method, "PUT") == 0 || strcmp (method, "POST") == 0;
  size_t i, nsent = 0;

  memset (resp, 0, sizeof *resp);
  if (nextra + 1 > sizeof headers / sizeof headers[0]) {
    objstore_fail (EINVAL, "%s %s: too many headers", op, what);
    return -1;
  }

  if (key)
    path = format_string ("%s/%s%s", s->base_path, s->prefix, key);
  else
    path = strdup (s->base_path[0] ? s->base_path : "/");
  if (path == NULL)
    return objstore_fail (ENOMEM, "%s %s: out of memory", op, what);
  sreq.path = path;

  if (!has_body)
    sreq.payload_hash = SIGV4_EMPTY_SHA256;
  else if (!s->sign_payload)
    sreq.payload_hash = SIGV4_UNSIGNED_PAYLOAD;
  else {
    uint8_t hash[32];

    crypto_sha256 (body, body_len, hash);
    crypto_hex (hash, sizeof hash, hash_hex);
    sreq.payload_hash = hash_hex;
  }

  headers[sreq.nheaders].name = "host";
  headers[sreq.nheaders++].value = host;
  for (i = 0; i < nextra; i++)
    headers[sreq.nheaders++] = extra[i];
  if (sigv4_sign (&sreq, &sig) == -1)
    return objstore_fail (errno, "%s %s: cannot sign the request: %m",
                          op, what);

  /* What is sent is what was signed: at most 4 + 7 + 1 headers. */
  sent[nsent++] = (struct sigv4_header) { "Host", host };
  sent[nsent++] = (struct sigv4_header) { "x-amz-date", sig.amz_date };
  sent[nsent++] = (struct sigv4_header) { "x-amz-content-sha256",
                                          sreq.payload_hash };
  if (creds.session_token && *creds.session_token)
    sent[nsent++] = (struct sigv4_header) { "x-amz-security-token",
                                            creds.session_token };
  for (i = 0; i < nextra; i++)
    sent[nsent++] = extra[i];
  sent[nsent++] = (struct sigv4_header) { "Authorization",
                                          sig.authorization };

  url = format_string ("%s%s%s%s", origin, sig.canonical_uri,
                       nquery ? "?" : "", nquery ? sig.query : "");
  if (url == NULL || header_lines (sent, nsent, &lines) == -1)
    return objstore_fail (ENOMEM, "%s %s: out of memory", op, what);
  hreq.url = url;
  hreq.headers = (const char *const *) lines.items;
  hreq.nheaders = lines.len;

  if (s3_http_perform (s->http, &hreq, resp) == -1) {
    int e = errno;

    if (zerofs_debug_s3)
      zdebug ("s3: %s %s: failed after %.1f ms: %s",
              method, what, resp->seconds * 1000, resp->error);
    s3_http_response_free (resp);
    return objstore_fail (e, "%s %s: %s", op, what, resp->error);
  }
  if (zerofs_debug_s3)
    zdebug ("s3: %s %s -> %ld, %zu bytes sent, %zu received, %.1f ms",
            method, what, resp->status, has_body ? body_len : 0,
            resp->body_len, resp->seconds * 1000);
  if (resp->etag_too_long) {
    s3_http_response_free (resp);
    return objstore_fail (EBADMSG, "%s %s: the ETag is longer than %d "
                          "bytes", op, what, OBJSTORE_ETAG_MAX - 1);
  }
  return 0;
}

static int parse_endpoint (struct s3_store *s);

#define MAX_REDIRECTS 3

/* The bucket is in REGION (found as HOW says): sign for it from now on
 * and, if the endpoint follows the region, go to its endpoint.  One
 * line in the log.  Only while the store is being opened.
 */
static int
switch_region (struct s3_store *s, const char *region, const char *how)
{
  char *r = strdup (region);

  if (r == NULL)
    return out_of_memory ();
  free (s->region);
  s->region = r;
  if (s->endpoint_follows_region) {
    char *endpoint = s3_route_aws_endpoint (region);

    if (endpoint == NULL)
      return out_of_memory ();
    free (s->endpoint);
    s->endpoint = endpoint;
    if (parse_endpoint (s) == -1)
      return -1;
  }
  zwarning ("%s: the bucket is in region %s (%s): requests now go to %s "
            "(Host %s), signed for %s%s%s%s", s->base.description, region,
            how, s->endpoint, s->host, region,
            s->region_auto ? "" : "; region=",
            s->region_auto ? "" : region,
            s->region_auto ? "" : " saves this round trip at start");
  return 0;
}

/* While the store is being opened: does the answer in RESP say that the
 * bucket is in another region (s3-route.h)?  A 301 that does not say
 * which is followed by a HeadBucket, whose x-amz-bucket-region does.
 * Returns 1 if the region changed (send the request again), 0 if not,
 * -1 on error.
 */
static int
learn_region (struct s3_store *s, const struct s3_creds *c,
              const struct s3_http_response *resp)
{
  CLEANUP_S3_HTTP_RESPONSE struct s3_http_response head = { 0 };
  struct s3_error err = { 0 };
  char buf[64], how[160];
  const char *region;

  if (resp->status != 301 && resp->status != 400 && resp->status != 403)
    return 0;
  if (resp->body_len > 0)
    s3_xml_parse_error (resp->body, resp->body_len, &err);
  region = s3_route_region_from_answer (resp, &err, buf, sizeof buf,
                                        how, sizeof how);
  s3_error_free (&err);
  if (region == NULL && resp->status == 301) {
    if (s3_request_once (s, c, s->origin, s->host, "HeadBucket", "HEAD",
                         NULL, NULL, 0, NULL, 0, NULL, 0, 0, &head) == -1)
      return -1;
    region = s3_route_region_from_answer (&head, NULL, buf, sizeof buf,
                                          how, sizeof how);
    if (region) {
      size_t n = strlen (how);

      snprintf (how + n, sizeof how - n, " to HeadBucket after a 301");
    }
  }
  if (region == NULL || strcmp (region, s->region) == 0)
    return 0;
  return switch_region (s, region, how) == -1 ? -1 : 1;
}

/* s3_request_once, following 307 Temporary Redirects (the same request
 * to the Location's host, signed for it) and, while the store is being
 * opened, the bucket's region.
 */
static int
s3_send (struct s3_store *s, const struct s3_creds *c,
         const char *op, const char *method, const char *key,
         const struct sigv4_param *query, size_t nquery,
         const struct sigv4_header *extra, size_t nextra,
         const void *body, size_t body_len, uint64_t deadline_ms,
         struct s3_http_response *resp)
{
  CLEANUP_FREE char *origin = NULL;
  CLEANUP_FREE char *host = NULL;
  const char *what = key ? key : s->bucket;
  unsigned redirects = 0, regions = 0;
  int r;

  for (;;) {
    if (s3_request_once (s, c, origin ? origin : s->origin,
                         host ? host : s->host, op, method, key,
                         query, nquery, extra, nextra, body, body_len,
                         deadline_ms, resp) == -1)
      return -1;

    if (resp->status == 307 && redirects++ < MAX_REDIRECTS) {
      char msg[512];

      free (origin);
      free (host);
      if (s3_route_redirect (resp->location, s->https,
                             &origin, &host) == -1) {
        snprintf (msg, sizeof msg, "%s", objstore_last_error ());
        s3_http_response_free (resp);
        return objstore_fail (EIO, "%s %s: HTTP 307: %s", op, what, msg);
      }
      if (zerofs_debug_s3)
        zdebug ("s3: %s %s: 307 Temporary Redirect to %s: sending it "
                "there", method, what, origin);
      s3_http_response_free (resp);
      continue;
    }

    if (s->discover && regions++ < 2) {
      r = learn_region (s, c, resp);
      if (r == -1) {
        s3_http_response_free (resp);
        return -1;
      }
      if (r == 1) {
        /* A redirect was for the old region's endpoint. */
        free (origin);
        free (host);
        origin = host = NULL;
        s3_http_response_free (resp);
        continue;
      }
    }
    return 0;
  }
}

/* One signed request.  KEY is relative to the store (NULL: the bucket).
 * EXTRA headers are signed and sent.  Returns 0 with *RESP filled for any
 * HTTP status, or -1 (objstore_fail) if there was no response.
 *
 * The request is signed with a reference to the current credentials,
 * held until the answer is in.  If the store refuses them in a way that
 * says they are stale (s3_creds_refresh_after_refusal: ExpiredToken and
 * the like, or a 403 just after a rotation), they are refreshed and the
 * request is sent once more.
 *
 * A PUT, DELETE or POST (DeleteObjects) must end, every send of it
 * included, within write-timeout of this call, or it is abandoned
 * (ETIMEDOUT, retried by the retry layer after the lease's check): see
 * lib/lease.h.
 */
static int
s3_request (struct s3_store *s, const char *op, const char *method,
            const char *key,
            const struct sigv4_param *query, size_t nquery,
            const struct sigv4_header *extra, size_t nextra,
            const void *body, size_t body_len,
            struct s3_http_response *resp)
{
  /* A request that changes the store has an end, all its sends
   * included (lib/lease.h): from before credentials are fetched.
   */
  uint64_t deadline_ms = strcmp (method, "GET") == 0 ||
    strcmp (method, "HEAD") == 0 || s->write_timeout_ms == 0 ? 0 :
    s3_http_now_ms () + s->write_timeout_ms;
  struct s3_creds *c = s3_creds_get (s->creds);
  const char *what = key ? key : s->bucket;
  struct s3_error err = { 0 };
  bool again;
  int r;

  memset (resp, 0, sizeof *resp);
  if (c == NULL) {
    char msg[1024];

    snprintf (msg, sizeof msg, "%s", objstore_last_error ());
    return objstore_fail (EAGAIN, "%s %s: %s", op, what, msg);
  }
  r = s3_send (s, c, op, method, key, query, nquery, extra, nextra,
               body, body_len, deadline_ms, resp);
  if (r == -1 || (resp->status != 400 && resp->status != 403)) {
    s3_creds_put (c);
    return r;
  }
  if (resp->body_len > 0)
    s3_xml_parse_error (resp->body, resp->body_len, &err);
  again = s3_creds_refresh_after_refusal (s->creds, c, err.code,
                                          resp->status);
  s3_creds_put (c);
  if (again) {
    if (zerofs_debug_s3)
      zdebug ("s3: %s %s: refused (%s, HTTP %ld): sending it again with "
              "the current credentials", method, what,
              err.code ? err.code : "no code", resp->status);
    s3_http_response_free (resp);
    c = s3_creds_get (s->creds);
    if (c == NULL) {
      char msg[1024];

      snprintf (msg, sizeof msg, "%s", objstore_last_error ());
      s3_error_free (&err);
      return objstore_fail (EAGAIN, "%s %s: %s", op, what, msg);
    }
    r = s3_send (s, c, op, method, key, query, nquery, extra,
                 nextra, body, body_len, deadline_ms, resp);
    s3_creds_put (c);
  }
  s3_error_free (&err);
  return r;
}

static int s3_head (struct objstore *base, const char *key,
                    struct objstore_info *info);

static bool
is_success (long status)
{
  return status >= 200 && status <= 299;
}

static int
s3_get (struct objstore *base, const char *key,
        uint64_t offset, uint64_t length,
        void **data, size_t *len, struct objstore_info *info)
{
  struct s3_store *s = (struct s3_store *) base;
  CLEANUP_S3_HTTP_RESPONSE struct s3_http_response resp = { 0 };
  struct sigv4_header range = { "range", NULL };
  char rangebuf[64];
  bool ranged = offset > 0 || length > 0;

  *data = NULL;
  *len = 0;
  if (ranged) {
    if (length > 0 && offset + length < offset)
      return objstore_fail (EINVAL, "GetObject %s: range overflows", key);
    if (length > 0)
      snprintf (rangebuf, sizeof rangebuf, "bytes=%" PRIu64 "-%" PRIu64,
                offset, offset + length - 1);
    else
      snprintf (rangebuf, sizeof rangebuf, "bytes=%" PRIu64 "-", offset);
    range.value = rangebuf;
  }
  if (s3_request (s, "GetObject", "GET", key, NULL, 0,
                  &range, ranged ? 1 : 0, NULL, 0, &resp) == -1)
    return -1;

  if (resp.status == 416) {
    struct objstore_info head;

    /* The range starts at or past the end.  As in the directory store,
     * at the end is an empty read and past it is an error; which one
     * needs the size, which stores rarely send with a 416.
     */
    s3_http_response_free (&resp);
    if (s3_head (base, key, &head) == -1)
      return -1;
    if (offset > head.size)
      return objstore_fail (EINVAL, "GetObject %s: range starts at %"
                            PRIu64 ", beyond the object's %" PRIu64
                            " bytes", key, offset, head.size);
    if ((*data = malloc (1)) == NULL)
      return objstore_fail (ENOMEM, "GetObject %s: out of memory", key);
    if (info)
      *info = head;
    return 0;
  }
  if (!is_success (resp.status))
    return s3_fail (s, "GetObject", key, &resp);

  if (info) {
    info->size = resp.status == 206 && resp.has_range_total
      ? resp.range_total : resp.body_len;
    snprintf (info->etag, sizeof info->etag, "%s", resp.etag);
  }
  if (ranged && resp.status != 206) {
    /* The store ignored Range and sent it all: cut out the range. */
    size_t start = offset, n;

    if (offset > resp.body_len)
      return objstore_fail (EINVAL, "GetObject %s: range starts at %"
                            PRIu64 ", beyond the object's %zu bytes",
                            key, offset, resp.body_len);
    n = resp.body_len - start;
    if (length > 0 && n > length)
      n = length;
    memmove (resp.body, resp.body + start, n);
    resp.body_len = n;
  }
  if (resp.body == NULL && (resp.body = malloc (1)) == NULL)
    return objstore_fail (ENOMEM, "GetObject %s: out of memory", key);
  *data = resp.body;
  *len = resp.body_len;
  resp.body = NULL;
  return 0;
}

static int
s3_put (struct objstore *base, const char *key,
        const void *data, size_t len,
        const struct objstore_cond *cond, struct objstore_info *info)
{
  struct s3_store *s = (struct s3_store *) base;
  CLEANUP_S3_HTTP_RESPONSE struct s3_http_response resp = { 0 };
  struct sigv4_header extra[2];
  size_t nextra = 0;

  if (cond && cond->if_none_match) {
    extra[nextra].name = "if-none-match";
    extra[nextra++].value = "*";
  }
  if (cond && cond->if_match) {
    extra[nextra].name = "if-match";
    extra[nextra++].value = cond->if_match;
  }
  if (s3_request (s, "PutObject", "PUT", key, NULL, 0, extra, nextra,
                  data, len, &resp) == -1)
    return -1;

  if (is_success (resp.status)) {
    if (info) {
      info->size = len;
      snprintf (info->etag, sizeof info->etag, "%s", resp.etag);
    }
    return 0;
  }
  if (nextra > 0 && resp.status == 412)
    return objstore_fail (EEXIST, "PutObject %s: precondition failed (%s)",
                          key, cond->if_none_match && !cond->if_match
                          ? "the object exists" : "the object has changed");
  if (nextra > 0 && resp.status == 501)
    return objstore_fail (ENOTSUP, "PutObject %s: this store does not "
                          "implement conditional PUT (HTTP 501)", key);
  s3_fail (s, "PutObject", key, &resp);
  /* If-Match on an absent object: the condition failed. */
  if (errno == ENOENT && cond && cond->if_match)
    return objstore_fail (EEXIST, "PutObject %s: precondition failed "
                          "(the object is absent)", key);
  return -1;
}

static int
s3_head (struct objstore *base, const char *key, struct objstore_info *info)
{
  struct s3_store *s = (struct s3_store *) base;
  CLEANUP_S3_HTTP_RESPONSE struct s3_http_response resp = { 0 };

  if (s3_request (s, "HeadObject", "HEAD", key, NULL, 0, NULL, 0,
                  NULL, 0, &resp) == -1)
    return -1;
  if (!is_success (resp.status))
    return s3_fail (s, "HeadObject", key, &resp);
  if (!resp.has_content_length)
    return objstore_fail (EBADMSG, "HeadObject %s: no Content-Length in "
                          "the response", key);
  if (info) {
    info->size = resp.content_length;
    snprintf (info->etag, sizeof info->etag, "%s", resp.etag);
  }
  return 0;
}

static int
s3_copy (struct objstore *base, const char *src, const char *dst)
{
  struct s3_store *s = (struct s3_store *) base;
  CLEANUP_S3_HTTP_RESPONSE struct s3_http_response resp = { 0 };
  CLEANUP_FREE char *source = NULL;
  CLEANUP_FREE char *encoded = NULL;
  struct sigv4_header extra[1];
  struct s3_error err = { 0 };
  int r;

  /* "/BUCKET/PREFIX/SRC", URI-encoded ('/' kept). */
  source = format_string ("/%s/%s%s", s->bucket, s->prefix, src);
  if (source == NULL)
    return out_of_memory ();
  encoded = sigv4_uri_encode (source, strlen (source), true);
  if (encoded == NULL)
    return out_of_memory ();
  extra[0].name = "x-amz-copy-source";
  extra[0].value = encoded;
  if (s3_request (s, "CopyObject", "PUT", dst, NULL, 0, extra, 1,
                  "", 0, &resp) == -1)
    return -1;

  if (!is_success (resp.status)) {
    s3_fail (s, "CopyObject", dst, &resp);
    /* NoSuchKey names the source: the destination is not read. */
    if (errno == ENOENT)
      return objstore_fail (ENOENT, "CopyObject %s: no such object %s",
                            dst, src);
    return -1;
  }
  /* A copy that fails after the 200 was sent says so in the body. */
  if (resp.body_len > 0 &&
      s3_xml_parse_error (resp.body, resp.body_len, &err) == 0) {
    r = objstore_fail (s3_errno (500, err.code), "CopyObject %s: %s: %s",
                       dst, err.code ? err.code : "Error",
                       err.message ? err.message : "no message");
    s3_error_free (&err);
    return r;
  }
  return 0;
}

static int
s3_del (struct objstore *base, const char *key)
{
  struct s3_store *s = (struct s3_store *) base;
  CLEANUP_S3_HTTP_RESPONSE struct s3_http_response resp = { 0 };

  if (s3_request (s, "DeleteObject", "DELETE", key, NULL, 0, NULL, 0,
                  NULL, 0, &resp) == -1)
    return -1;
  /* Absent is success; a missing bucket is not. */
  if (!is_success (resp.status) &&
      s3_fail (s, "DeleteObject", key, &resp) == -1 && errno != ENOENT)
    return -1;
  return 0;
}

static int
s3_delete_many (struct objstore *base, const char *const *keys, size_t n)
{
  struct s3_store *s = (struct s3_store *) base;
  CLEANUP_S3_HTTP_RESPONSE struct s3_http_response resp = { 0 };
  CLEANUP_S3_DELETE_RESULT struct s3_delete_result result = { 0 };
  CLEANUP_FREE char *body = NULL;
  struct sigv4_param query = { "delete", NULL };
  struct sigv4_header extra[2];
  uint8_t md5[16];
  char md5_b64[25], what[64];
  size_t len, i, failed = 0, first = 0;

  if (n == 0)
    return 0;
  if (n > OBJSTORE_DELETE_BATCH)
    return objstore_fail (EINVAL, "DeleteObjects: %zu keys, at most %d "
                          "in one request", n, OBJSTORE_DELETE_BATCH);
  snprintf (what, sizeof what, "(%zu keys)", n);
  body = s3_xml_delete_request (s->prefix, keys, n, &len);
  if (body == NULL)
    return -1;
  crypto_md5 (body, len, md5);
  crypto_base64 (md5, sizeof md5, md5_b64);
  extra[0].name = "content-md5";
  extra[0].value = md5_b64;
  extra[1].name = "content-type";
  extra[1].value = "application/xml";
  if (s3_request (s, "DeleteObjects", "POST", NULL, &query, 1, extra, 2,
                  body, len, &resp) == -1)
    return -1;
  if (!is_success (resp.status))
    return s3_fail (s, "DeleteObjects", what, &resp);
  if (s3_xml_parse_delete (resp.body ? resp.body : "", resp.body_len,
                           &result) == -1) {
    struct s3_error err;
    char msg[512];

    /* Some stores send an <Error> with 200. */
    if (resp.body_len &&
        s3_xml_parse_error (resp.body, resp.body_len, &err) == 0) {
      s3_error_free (&err);
      resp.status = 500;
      return s3_fail (s, "DeleteObjects", what, &resp);
    }
    snprintf (msg, sizeof msg, "%s", objstore_last_error ());
    return objstore_fail (EBADMSG, "DeleteObjects %s: unexpected "
                          "response: %s", what, msg);
  }

  for (i = 0; i < result.nfailures; i++) {
    const char *code = result.failures[i].code;

    if (code && strcmp (code, "NoSuchKey") == 0)
      continue;                   /* absent is success */
    if (failed++ == 0)
      first = i;
  }
  if (failed) {
    const struct s3_delete_failure *f = &result.failures[first];
    const char *key = f->key ? f->key : "?";
    size_t plen = strlen (s->prefix);

    if (strncmp (key, s->prefix, plen) == 0)
      key += plen;
    return objstore_fail (s3_errno (0, f->code), "DeleteObjects %s: %zu "
                          "not deleted, the first: %s: %s: %s", what,
                          failed, key, f->code ? f->code : "no code",
                          f->message ? f->message : "no message");
  }
  return 0;
}

static int
s3_list (struct objstore *base, const char *prefix, const char *delimiter,
         const char *start_after, objstore_list_fn fn, void *opaque)
{
  struct s3_store *s = (struct s3_store *) base;
  CLEANUP_S3_HTTP_RESPONSE struct s3_http_response resp = { 0 };
  CLEANUP_S3_LIST_PAGE struct s3_list_page page = { 0 };
  CLEANUP_FREE char *full_prefix = NULL;
  CLEANUP_FREE char *token = NULL;
  CLEANUP_FREE char *full_after = NULL;
  struct sigv4_param query[5];
  size_t plen = strlen (s->prefix), nquery, i;
  char what[OBJSTORE_KEY_MAX + 32];
  int cb;

  snprintf (what, sizeof what, "prefix \"%s\"", prefix);
  full_prefix = format_string ("%s%s", s->prefix, prefix);
  if (full_prefix == NULL)
    return objstore_fail (ENOMEM, "ListObjectsV2 %s: out of memory", what);
  if (start_after &&
      (full_after = format_string ("%s%s", s->prefix, start_after)) == NULL)
    return objstore_fail (ENOMEM, "ListObjectsV2 %s: out of memory", what);

  for (;;) {
    nquery = 0;
    query[nquery].name = "list-type";
    query[nquery++].value = "2";
    query[nquery].name = "prefix";
    query[nquery++].value = full_prefix;
    if (delimiter) {
      query[nquery].name = "delimiter";
      query[nquery++].value = delimiter;
    }
    if (token) {
      query[nquery].name = "continuation-token";
      query[nquery++].value = token;
    }
    else if (full_after) {
      /* The token carries the position from the second page on. */
      query[nquery].name = "start-after";
      query[nquery++].value = full_after;
    }
    if (s3_request (s, "ListObjectsV2", "GET", NULL, query, nquery,
                    NULL, 0, NULL, 0, &resp) == -1)
      return -1;
    if (!is_success (resp.status))
      return s3_fail (s, "ListObjectsV2", what, &resp);
    if (s3_xml_parse_list (resp.body ? resp.body : "", resp.body_len,
                           &page) == -1) {
      char msg[512];

      snprintf (msg, sizeof msg, "%s", objstore_last_error ());
      return objstore_fail (EBADMSG, "ListObjectsV2 %s: %s", what, msg);
    }
    s3_http_response_free (&resp);

    for (i = 0; i < page.n; i++) {
      const struct s3_list_entry *e = &page.entries[i];

      if (strncmp (e->key, full_prefix, strlen (full_prefix)) != 0)
        return objstore_fail (EBADMSG, "ListObjectsV2 %s: the store "
                              "returned \"%s\", outside the prefix",
                              what, e->key);
      /* A store that ignores start-after (some S3-compatible ones do)
       * still lists in order: skip what it should have.
       */
      if (full_after && strcmp (e->key, full_after) <= 0)
        continue;
      cb = fn (opaque, e->key + plen, e->size, e->is_prefix);
      if (cb == -1)
        return -1;                /* reported by the callback */
      if (cb == 1)
        return 0;
    }
    if (!page.truncated)
      return 0;
    if (token && strcmp (token, page.next_token) == 0)
      return objstore_fail (EBADMSG, "ListObjectsV2 %s: the store "
                            "returned the same continuation token twice",
                            what);
    free (token);
    token = page.next_token;
    page.next_token = NULL;
    s3_list_page_free (&page);
  }
}

static void
s3_close (struct objstore *base)
{
  struct s3_store *s = (struct s3_store *) base;

  if (s == NULL)
    return;
  s3_http_free (s->http);
  s3_creds_close (s->creds);
  free (s->base.description);
  free (s->bucket);
  free (s->prefix);
  free (s->endpoint);
  free (s->origin);
  free (s->host);
  free (s->base_path);
  free (s->region);
  free (s);
}

static const struct objstore_ops s3_ops = {
  .name = "s3",
  .get = s3_get,
  .put = s3_put,
  .head = s3_head,
  .del = s3_del,
  .delete_many = s3_delete_many,
  .copy = s3_copy,
  .list = s3_list,
  .close = s3_close,
};

/* Could NAME be a DNS label under an AWS endpoint?  Lowercase letters,
 * digits, '-' and '.', 3 to 63 bytes, no empty label, not an IPv4
 * address.
 */
static bool
is_dns_bucket (const char *name)
{
  size_t len = strlen (name), i;
  bool all_digits_and_dots = true;

  if (len < 3 || len > 63)
    return false;
  for (i = 0; i < len; i++) {
    char c = name[i];

    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
          c == '-' || c == '.'))
      return false;
    if (c != '.' && (c < '0' || c > '9'))
      all_digits_and_dots = false;
    if (c == '.' || c == '-') {
      if (i == 0 || i == len - 1)
        return false;
      if (c == '.' && (name[i-1] == '.' || name[i-1] == '-' ||
                       name[i+1] == '-'))
        return false;
    }
  }
  return !all_digits_and_dots;
}

static bool
ends_with (const char *s, const char *suffix)
{
  size_t n = strlen (s), m = strlen (suffix);

  return n >= m && strcmp (s + n - m, suffix) == 0;
}

/* Split conf->bucket "[s3://]NAME[/PREFIX]". */
static int
parse_bucket (struct s3_store *s, const char *spec)
{
  const char *name = spec, *slash;
  size_t namelen, i;
  char *p, *seg;

  if (strncmp (name, "s3://", 5) == 0)
    name += 5;
  slash = strchr (name, '/');
  namelen = slash ? (size_t) (slash - name) : strlen (name);
  if (namelen == 0 || namelen > 255)
    return objstore_fail (EINVAL, "bucket=%s: the bucket name must be 1 "
                          "to 255 characters", spec);
  for (i = 0; i < namelen; i++)
    if (!strchr ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                 "0123456789.-_", name[i]))
      return objstore_fail (EINVAL, "bucket=%s: a bucket name is made of "
                            "letters, digits, '.', '-' and '_'", spec);
  s->bucket = strndup (name, namelen);
  s->prefix = strdup (slash ? slash + 1 : "");
  if (s->bucket == NULL || s->prefix == NULL)
    return out_of_memory ();

  /* PREFIX: no empty, "." or ".." segment; stored with one '/' after. */
  p = s->prefix;
  while (*p && p[strlen (p) - 1] == '/')
    p[strlen (p) - 1] = '\0';
  if (*p) {
    for (seg = p; ; ) {
      size_t n = strcspn (seg, "/");

      if (n == 0 || (n == 1 && seg[0] == '.') ||
          (n == 2 && seg[0] == '.' && seg[1] == '.'))
        return objstore_fail (EINVAL, "bucket=%s: the prefix has an empty, "
                              "\".\" or \"..\" segment", spec);
      if (seg[n] == '\0')
        break;
      seg += n + 1;
    }
    p = format_string ("%s/", s->prefix);
    if (p == NULL)
      return out_of_memory ();
    free (s->prefix);
    s->prefix = p;
  }
  return 0;
}

/* PART of U into *VALUE, NULL if the URL has none.  -1 if out of
 * memory (objstore_fail).
 */
static int
url_part (CURLU *u, CURLUPart part, char **value)
{
  CURLUcode rc = curl_url_get (u, part, value, 0);

  if (rc == CURLUE_OK)
    return 0;
  *value = NULL;
  return rc == CURLUE_OUT_OF_MEMORY ? out_of_memory () : 0;
}

/* Parse the endpoint URL and decide the addressing style.
 *
 * curl's URL parser splits the URL, so that the endpoint is read the way
 * curl reads the URLs built from it.  Checked here are what curl would
 * let through: a scheme other than http(s) or not followed by exactly
 * two slashes, a query or a fragment (even empty), credentials, an empty
 * port and port 0.  The path is kept as written (CURLU_PATH_AS_IS): it
 * is part of every key's path, signed as it is.
 */
static int
parse_endpoint (struct s3_store *s)
{
  const char *url = s->endpoint, *authority;
  CLEANUP_CURL_URL CURLU *u = NULL;
  CLEANUP_CURL_FREE char *url_host = NULL;
  CLEANUP_CURL_FREE char *zone = NULL;
  CLEANUP_CURL_FREE char *port = NULL;
  CLEANUP_CURL_FREE char *path = NULL;
  CLEANUP_FREE char *host = NULL;
  CLEANUP_FREE char *hostport = NULL;
  const char *endpoint_path;
  size_t authority_len, i, len;
  bool ip_literal, is_aws;
  CURLUcode rc;

  /* Again when the region changes the endpoint. */
  free (s->host);
  free (s->base_path);
  free (s->origin);
  s->host = s->base_path = s->origin = NULL;
  s->https = false;
  if (strncasecmp (url, "https://", 8) == 0) {
    s->https = true;
    authority = url + 8;
  }
  else if (strncasecmp (url, "http://", 7) == 0)
    authority = url + 7;
  else
    return objstore_fail (EINVAL, "endpoint=%s: the endpoint must begin "
                          "with https:// (or http://)", url);
  if (strpbrk (url, "?#"))
    return objstore_fail (EINVAL, "endpoint=%s: an endpoint has no query "
                          "or fragment", url);
  authority_len = strcspn (authority, "/");
  if (authority_len == 0)
    return objstore_fail (EINVAL, "endpoint=%s: no host name", url);

  u = curl_url ();
  if (u == NULL)
    return out_of_memory ();
  rc = curl_url_set (u, CURLUPART_URL, url,
                     CURLU_DISALLOW_USER | CURLU_PATH_AS_IS |
                     CURLU_ALLOW_SPACE);
  switch (rc) {
  case CURLUE_OK:
    break;
  case CURLUE_OUT_OF_MEMORY:
    return out_of_memory ();
  case CURLUE_USER_NOT_ALLOWED:
    return objstore_fail (EINVAL, "endpoint=%s: credentials do not go in "
                          "the endpoint URL", url);
  case CURLUE_NO_HOST:
    return objstore_fail (EINVAL, "endpoint=%s: no host name", url);
  case CURLUE_BAD_PORT_NUMBER:
    return objstore_fail (EINVAL, "endpoint=%s: bad port number", url);
  default:
    return objstore_fail (EINVAL, "endpoint=%s: %s", url,
                          curl_url_strerror (rc));
  }
  if (url_part (u, CURLUPART_HOST, &url_host) == -1 ||
      url_part (u, CURLUPART_ZONEID, &zone) == -1 ||
      url_part (u, CURLUPART_PORT, &port) == -1 ||
      url_part (u, CURLUPART_PATH, &path) == -1)
    return -1;
  if (url_host == NULL || *url_host == '\0')
    return objstore_fail (EINVAL, "endpoint=%s: no host name", url);
  /* "HOST:" has an empty port, which curl ignores. */
  if ((port == NULL && authority[authority_len - 1] == ':') ||
      (port && strcmp (port, "0") == 0))
    return objstore_fail (EINVAL, "endpoint=%s: bad port number", url);
  /* The default port is left out of the Host header. */
  if (port && strcmp (port, s->https ? "443" : "80") == 0) {
    curl_free (port);
    port = NULL;
  }

  /* The host as written: an IPv6 zone goes back inside the brackets. */
  if (zone)
    host = format_string ("%.*s%%25%s]", (int) strlen (url_host) - 1,
                          url_host, zone);
  else
    host = strdup (url_host);
  if (host == NULL)
    return out_of_memory ();
  for (i = 0; host[i]; i++)
    if (host[i] >= 'A' && host[i] <= 'Z')
      host[i] += 'a' - 'A';
  ip_literal = host[0] == '[' ||
    strspn (host, "0123456789.") == strlen (host);

  /* The endpoint's own path, without trailing slashes. */
  len = path ? strlen (path) : 0;
  while (len > 0 && path[len - 1] == '/')
    path[--len] = '\0';
  endpoint_path = path ? path : "";

  is_aws = ends_with (host, ".amazonaws.com") ||
    ends_with (host, ".amazonaws.com.cn");
  switch (s->addressing) {
  case ZADDR_PATH:
    s->virtual_host = false;
    break;
  case ZADDR_VIRTUAL:
    if (ip_literal || !is_dns_bucket (s->bucket))
      return objstore_fail (EINVAL, "addressing=virtual: bucket \"%s\" "
                            "cannot be a host name under %s (use "
                            "addressing=path)", s->bucket, host);
    s->virtual_host = true;
    break;
  default:
    s->virtual_host = is_aws && !ip_literal && is_dns_bucket (s->bucket) &&
      !(s->https && strchr (s->bucket, '.'));
  }

  hostport = port ? format_string ("%s:%s", host, port) : strdup (host);
  if (hostport == NULL)
    return out_of_memory ();
  if (s->virtual_host) {
    s->host = format_string ("%s.%s", s->bucket, hostport);
    s->base_path = strdup (endpoint_path);
  }
  else {
    s->host = strdup (hostport);
    s->base_path = format_string ("%s/%s", endpoint_path, s->bucket);
  }
  if (s->host == NULL || s->base_path == NULL)
    return out_of_memory ();
  s->origin = format_string ("%s://%s", s->https ? "https" : "http",
                             s->host);
  if (s->origin == NULL)
    return out_of_memory ();
  return 0;
}

/* Can we list the bucket with these credentials?  One small request. */
static int
check_bucket (struct s3_store *s)
{
  CLEANUP_S3_HTTP_RESPONSE struct s3_http_response resp = { 0 };
  struct sigv4_param query[] = {
    { "list-type", "2" }, { "max-keys", "1" }, { "prefix", s->prefix },
  };
  char msg[2048];
  int e;

  if (s3_request (s, "ListObjectsV2", "GET", NULL, query, 3, NULL, 0,
                  NULL, 0, &resp) == -1) {
    e = errno;
    snprintf (msg, sizeof msg, "%s", objstore_last_error ());
    return objstore_fail (e, "cannot reach the S3 store at %s: %s",
                          s->endpoint, msg);
  }
  if (is_success (resp.status))
    return 0;

  s3_fail (s, "ListObjectsV2", s->bucket, &resp);
  e = errno;
  snprintf (msg, sizeof msg, "%s", objstore_last_error ());
  if (e == ENODEV)
    return objstore_fail (e, "bucket \"%s\" does not exist at %s "
                          "(NoSuchBucket)",
                          s->bucket, s->endpoint);
  if (e == EACCES) {
    struct s3_creds *c = s3_creds_get (s->creds);

    objstore_fail (e, "s3://%s at %s refused access (credentials "
                   "from %s, access key %s): %s",
                   s->bucket, s->endpoint, s3_creds_source (s->creds),
                   c ? c->access_key : "?", msg);
    s3_creds_put (c);
    return -1;
  }
  return objstore_fail (e, "s3://%s at %s: %s", s->bucket, s->endpoint,
                        msg);
}

/* s3_close, keeping errno: for a store that is being opened. */
static void
cleanup_s3_close (struct s3_store **s)
{
  int saved_errno = errno;

  if (*s)
    s3_close (&(*s)->base);
  errno = saved_errno;
}
#define CLEANUP_S3_CLOSE __attribute__ ((cleanup (cleanup_s3_close)))

/* Fill in S from CONF: names, endpoint, credentials, the connection
 * pool; then one request to see that it all works.
 */
static int
s3_init (struct s3_store *s, const struct zconf *conf)
{
  struct s3_http_options opts = {
    .connections = conf->connections,
    .timeout = conf->timeout,
    .connect_timeout = conf->connect_timeout,
    .low_speed_limit = conf->low_speed_limit,
    .ca_bundle = conf->ca_bundle,
  };
  bool has_endpoint = conf->endpoint && *conf->endpoint;
  bool auto_region = conf->region && strcmp (conf->region, "auto") == 0;
  int r;

  /* 0: no bound (the default; see write-timeout in the plugin's pod). */
  s->write_timeout_ms = conf->write_timeout * 1000;
  s->base.write_bound_ms = s->write_timeout_ms;

  if (parse_bucket (s, conf->bucket) == -1)
    return -1;
  /* The region: as given; else, for AWS or region=auto, us-east-1 until
   * the first answer says otherwise (s3-route.h).
   */
  s->region_given = conf->region && *conf->region && !auto_region;
  s->region_auto = auto_region;
  s->region = strdup (s->region_given ? conf->region : "us-east-1");
  if (s->region == NULL)
    return out_of_memory ();
  s->endpoint = has_endpoint ? strdup (conf->endpoint)
    : s3_route_aws_endpoint (s->region);
  if (s->endpoint == NULL)
    return out_of_memory ();
  s->addressing = conf->addressing;
  if (parse_endpoint (s) == -1)
    return -1;
  s->discover = auto_region ||
    (!s->region_given &&
     (ends_with (s->host, ".amazonaws.com") ||
      ends_with (s->host, ".amazonaws.com.cn")));
  s->endpoint_follows_region = s->discover &&
    (!has_endpoint || s3_route_is_plain_aws_endpoint (s->endpoint));
  s->sign_payload = !(conf->unsigned_payload && s->https);
  s->base.description = format_string ("s3://%s%s%.*s", s->bucket,
                                       *s->prefix ? "/" : "",
                                       *s->prefix
                                       ? (int) strlen (s->prefix) - 1 : 0,
                                       s->prefix);
  if (s->base.description == NULL)
    return out_of_memory ();

  s->creds = s3_creds_open (conf);
  if (s->creds == NULL)
    return -1;
  s->http = s3_http_new (&opts);
  if (s->http == NULL)
    return -1;
  if (zerofs_debug_s3)
    zdebug ("s3: %s: endpoint %s, %s-style (Host %s), region %s%s, "
            "credentials from %s, %s payloads, %u connections",
            s->base.description, s->endpoint,
            s->virtual_host ? "virtual-hosted" : "path", s->host, s->region,
            !s->discover ? "" : s->endpoint_follows_region
            ? " until the bucket says otherwise (endpoint too)"
            : " until the bucket says otherwise",
            s3_creds_source (s->creds),
            s->sign_payload ? "signed" : "unsigned",
            conf->connections ? conf->connections : 32);

  r = check_bucket (s);
  /* From here on many threads share the store: the region is fixed. */
  s->discover = false;
  return r;
}

struct objstore *
objstore_s3_open (const struct zconf *conf)
{
  CLEANUP_S3_CLOSE struct s3_store *s = NULL;
  struct objstore *ret;

  if (conf->bucket == NULL || *conf->bucket == '\0') {
    objstore_fail (EINVAL, "no bucket given");
    return NULL;
  }
  s = calloc (1, sizeof *s);
  if (s == NULL) {
    out_of_memory ();
    return NULL;
  }
  s->base.ops = &s3_ops;
  if (s3_init (s, conf) == -1)
    return NULL;
  ret = &s->base;
  s = NULL;
  return ret;
}
