/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: AWS Signature Version 4 with S3's rules (see s3-sigv4.h).
 *
 * Built as one pure function so that the exact bytes it hashes can be
 * compared with AWS's vectors: the canonical request, the string to sign
 * and the signature are all returned.  The headers and query parameters
 * are collected in a vector of (name, value) pairs and sorted; strings
 * are assembled with open_memstream; the few allocations per request are
 * nothing next to a 1 MiB body.  HMAC and SHA-256 come from crypto.c.
 * The signing key and the "AWS4" + secret key it is derived from live
 * in buffers that are wiped when the signing function returns.
 */
#include <config.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "crypto.h"
#include "utils.h"
#include "vector.h"
#include "s3-sigv4.h"

#define ALGORITHM "AWS4-HMAC-SHA256"

static bool
is_unreserved (unsigned char c)
{
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
}

/* Encode into FP; the caller checks ferror. */
static void
put_encoded (FILE *fp, const char *s, size_t len, bool keep_slash)
{
  static const char hex[] = "0123456789ABCDEF";
  size_t i;

  for (i = 0; i < len; i++) {
    unsigned char c = s[i];

    if (is_unreserved (c) || (keep_slash && c == '/'))
      putc (c, fp);
    else {
      putc ('%', fp);
      putc (hex[c >> 4], fp);
      putc (hex[c & 15], fp);
    }
  }
}

/* Close a memstream, returning its buffer, or NULL (errno set). */
static char *
close_stream (FILE *fp, char **buf)
{
  bool failed = ferror (fp);

  if (fclose (fp) == EOF)
    failed = true;
  if (failed) {
    free (*buf);
    *buf = NULL;
    errno = ENOMEM;
  }
  return *buf;
}

char *
sigv4_uri_encode (const char *s, size_t len, bool keep_slash)
{
  char *buf = NULL;
  size_t size;
  FILE *fp = open_memstream (&buf, &size);

  if (fp == NULL)
    return NULL;
  put_encoded (fp, s, len, keep_slash);
  return close_stream (fp, &buf);
}

struct pair {
  char *name;
  char *value;
  size_t order;                   /* position in the input, for stable sorts */
};

DEFINE_VECTOR_TYPE (pair_list, struct pair);

static void
pair_list_free_all (pair_list *pairs)
{
  int saved_errno = errno;
  size_t i;

  for (i = 0; i < pairs->len; i++) {
    free (pairs->items[i].name);
    free (pairs->items[i].value);
  }
  pair_list_reset (pairs);
  errno = saved_errno;
}
#define CLEANUP_PAIR_LIST __attribute__ ((cleanup (pair_list_free_all)))

static int
compare_params (const void *a, const void *b)
{
  const struct pair *p = a, *q = b;
  int r = strcmp (p->name, q->name);

  if (r == 0)
    r = strcmp (p->value, q->value);
  return r;
}

static int
compare_headers (const void *a, const void *b)
{
  const struct pair *p = a, *q = b;
  int r = strcmp (p->name, q->name);

  if (r == 0)
    r = p->order < q->order ? -1 : p->order > q->order;
  return r;
}

/* Append (NAME, VALUE), malloc'd strings that the list takes even on
 * failure; either may be NULL (the allocation failed): -1, ENOMEM.
 */
static int
add_pair (pair_list *pairs, char *name, char *value)
{
  CLEANUP_FREE char *n = name;
  CLEANUP_FREE char *v = value;
  struct pair p = { .name = n, .value = v, .order = pairs->len };

  if (n == NULL || v == NULL || pair_list_append (pairs, p) == -1)
    return -1;
  n = v = NULL;
  return 0;
}

static int
add_param (pair_list *params, const char *name, const char *value)
{
  if (value == NULL)
    value = "";
  return add_pair (params,
                   sigv4_uri_encode (name, strlen (name), false),
                   sigv4_uri_encode (value, strlen (value), false));
}

/* A copy of NAME in lowercase. */
static char *
lowercase (const char *name)
{
  char *copy = strdup (name);
  size_t i;

  if (copy)
    for (i = 0; copy[i]; i++)
      if (copy[i] >= 'A' && copy[i] <= 'Z')
        copy[i] += 'a' - 'A';
  return copy;
}

/* A copy of VALUE trimmed, inner runs of blanks collapsed to one space. */
static char *
canonical_value (const char *value)
{
  char *copy = malloc (strlen (value) + 1);
  size_t i, j;

  if (copy == NULL)
    return NULL;
  for (i = j = 0; value[i]; i++) {
    bool blank = strchr (" \t\r\n", value[i]) != NULL;

    if (!blank)
      copy[j++] = value[i];
    else if (j > 0 && copy[j-1] != ' ')
      copy[j++] = ' ';
  }
  if (j > 0 && copy[j-1] == ' ')
    j--;
  copy[j] = '\0';
  return copy;
}

static int
add_header (pair_list *headers, const char *name, const char *value)
{
  return add_pair (headers, lowercase (name),
                   canonical_value (value ? value : ""));
}

static void
hmac (const uint8_t *key, size_t keylen, const char *data, uint8_t out[32])
{
  crypto_hmac_sha256 (key, keylen, data, strlen (data), out);
}

/* The caller's headers and the signer's, sorted by name, stable. */
static int
collect_headers (const struct sigv4_request *req, const char *amz_date,
                 const char *token, pair_list *headers)
{
  size_t i;

  for (i = 0; i < req->nheaders; i++)
    if (add_header (headers, req->headers[i].name,
                    req->headers[i].value) == -1)
      return -1;
  if (!req->presign_expires) {
    if (add_header (headers, "x-amz-date", amz_date) == -1)
      return -1;
    if (token &&
        add_header (headers, "x-amz-security-token", token) == -1)
      return -1;
    if (req->sign_content_sha256 &&
        add_header (headers, "x-amz-content-sha256",
                    req->payload_hash) == -1)
      return -1;
  }
  pair_list_sort (headers, compare_headers);
  return 0;
}

/* The sorted header names, each once, ';'-separated. */
static char *
signed_header_names (const pair_list *headers)
{
  char *buf = NULL;
  size_t size, i;
  FILE *fp = open_memstream (&buf, &size);

  if (fp == NULL)
    return NULL;
  for (i = 0; i < headers->len; i++)
    if (i == 0 || strcmp (headers->items[i].name,
                          headers->items[i-1].name) != 0)
      fprintf (fp, "%s%s", i ? ";" : "", headers->items[i].name);
  return close_stream (fp, &buf);
}

/* The encoded, sorted query: the caller's parameters and, presigned,
 * the X-Amz-* ones (without the signature).
 */
static char *
canonical_query (const struct sigv4_request *req, const char *amz_date,
                 const char *token, const char *scope,
                 const char *signed_headers)
{
  CLEANUP_PAIR_LIST pair_list params = EMPTY_VECTOR;
  CLEANUP_FREE char *credential = NULL;
  char expires[24], *buf = NULL;
  size_t size, i;
  FILE *fp;

  for (i = 0; i < req->nquery; i++)
    if (add_param (&params, req->query[i].name, req->query[i].value) == -1)
      return NULL;
  if (req->presign_expires) {
    credential = format_string ("%s/%s", req->creds->access_key, scope);
    if (credential == NULL)
      return NULL;
    snprintf (expires, sizeof expires, "%u", req->presign_expires);
    if (add_param (&params, "X-Amz-Algorithm", ALGORITHM) == -1 ||
        add_param (&params, "X-Amz-Credential", credential) == -1 ||
        add_param (&params, "X-Amz-Date", amz_date) == -1 ||
        add_param (&params, "X-Amz-Expires", expires) == -1 ||
        (token &&
         add_param (&params, "X-Amz-Security-Token", token) == -1) ||
        add_param (&params, "X-Amz-SignedHeaders", signed_headers) == -1)
      return NULL;
  }
  pair_list_sort (&params, compare_params);

  fp = open_memstream (&buf, &size);
  if (fp == NULL)
    return NULL;
  for (i = 0; i < params.len; i++)
    fprintf (fp, "%s%s=%s", i ? "&" : "",
             params.items[i].name, params.items[i].value);
  return close_stream (fp, &buf);
}

static char *
canonical_request (const struct sigv4_request *req,
                   const struct sigv4_signature *sig,
                   const pair_list *headers, const char *signed_headers)
{
  const struct pair *h = headers->items;
  char *buf = NULL;
  size_t size, i;
  FILE *fp = open_memstream (&buf, &size);

  if (fp == NULL)
    return NULL;
  fprintf (fp, "%s\n%s\n%s\n", req->method, sig->canonical_uri, sig->query);
  for (i = 0; i < headers->len; i++) {
    if (i == 0 || strcmp (h[i].name, h[i-1].name) != 0)
      fprintf (fp, "%s%s:%s", i ? "\n" : "", h[i].name, h[i].value);
    else
      fprintf (fp, ",%s", h[i].value);
  }
  fprintf (fp, "%s%s\n%s", headers->len ? "\n\n" : "\n",
           signed_headers, req->payload_hash);
  return close_stream (fp, &buf);
}

/* The signature of sig->string_to_sign, with the key derived from the
 * secret key for DATE, region and service.
 */
static int
compute_signature (const struct sigv4_request *req, const char *date,
                   struct sigv4_signature *sig)
{
  CLEANUP_WIPE_STRING char *kdate_key =
    format_string ("AWS4%s", req->creds->secret_key);
  SECRET_BUFFER (key, 32);
  uint8_t hash[32];

  if (kdate_key == NULL)
    return -1;
  hmac ((const uint8_t *) kdate_key, strlen (kdate_key), date, key);
  hmac (key, sizeof key, req->region, key);
  hmac (key, sizeof key, req->service, key);
  hmac (key, sizeof key, "aws4_request", key);
  hmac (key, sizeof key, sig->string_to_sign, hash);
  crypto_hex (hash, sizeof hash, sig->signature);
  return 0;
}

/* sigv4_sign once the request is known to be complete: on failure, the
 * caller frees what is in *SIG.
 */
static int
sign (const struct sigv4_request *req, struct sigv4_signature *sig)
{
  const struct sigv4_credentials *creds = req->creds;
  const char *token = creds->session_token && *creds->session_token
    ? creds->session_token : NULL;
  CLEANUP_PAIR_LIST pair_list headers = EMPTY_VECTOR;
  CLEANUP_FREE char *scope = NULL;
  CLEANUP_FREE char *signed_headers = NULL;
  char date[9], hash_hex[65];
  uint8_t hash[32];
  struct tm tm;

  if (gmtime_r (&req->time, &tm) == NULL ||
      strftime (sig->amz_date, sizeof sig->amz_date,
                "%Y%m%dT%H%M%SZ", &tm) != 16) {
    errno = EINVAL;
    return -1;
  }
  memcpy (date, sig->amz_date, 8);
  date[8] = '\0';
  scope = format_string ("%s/%s/%s/aws4_request",
                         date, req->region, req->service);
  if (scope == NULL)
    return -1;

  if (collect_headers (req, sig->amz_date, token, &headers) == -1)
    return -1;
  signed_headers = signed_header_names (&headers);
  if (signed_headers == NULL)
    return -1;
  sig->query = canonical_query (req, sig->amz_date, token, scope,
                                signed_headers);
  if (sig->query == NULL)
    return -1;
  sig->canonical_uri = sigv4_uri_encode (req->path, strlen (req->path), true);
  if (sig->canonical_uri == NULL)
    return -1;
  sig->canonical_request = canonical_request (req, sig, &headers,
                                              signed_headers);
  if (sig->canonical_request == NULL)
    return -1;

  /* The string to sign, then the signature. */
  crypto_sha256 (sig->canonical_request, strlen (sig->canonical_request), hash);
  crypto_hex (hash, sizeof hash, hash_hex);
  sig->string_to_sign = format_string ("%s\n%s\n%s\n%s", ALGORITHM,
                                       sig->amz_date, scope, hash_hex);
  if (sig->string_to_sign == NULL)
    return -1;
  if (compute_signature (req, date, sig) == -1)
    return -1;

  if (req->presign_expires) {
    char *q = format_string ("%s&X-Amz-Signature=%s",
                             sig->query, sig->signature);

    if (q == NULL)
      return -1;
    free (sig->query);
    sig->query = q;
  }
  else {
    sig->authorization =
      format_string (ALGORITHM " Credential=%s/%s, SignedHeaders=%s, "
                     "Signature=%s", creds->access_key, scope,
                     signed_headers, sig->signature);
    if (sig->authorization == NULL)
      return -1;
  }
  return 0;
}

int
sigv4_sign (const struct sigv4_request *req, struct sigv4_signature *sig)
{
  const struct sigv4_credentials *creds = req->creds;

  memset (sig, 0, sizeof *sig);
  if (req->method == NULL || req->path == NULL || req->path[0] != '/' ||
      creds == NULL || creds->access_key == NULL ||
      creds->secret_key == NULL || req->region == NULL ||
      req->service == NULL || req->payload_hash == NULL) {
    errno = EINVAL;
    return -1;
  }
  if (sign (req, sig) == -1) {
    sigv4_signature_free (sig);
    return -1;
  }
  return 0;
}

void
sigv4_signature_free (struct sigv4_signature *sig)
{
  int saved_errno = errno;

  free (sig->canonical_uri);
  free (sig->query);
  free (sig->canonical_request);
  free (sig->string_to_sign);
  free (sig->authorization);
  sig->canonical_uri = sig->query = sig->canonical_request = NULL;
  sig->string_to_sign = sig->authorization = NULL;
  errno = saved_errno;
}
