/* zerofs: AWS Signature Version 4 with S3's rules (see s3-sigv4.h).
 *
 * Built as one pure function so that the exact bytes it hashes can be
 * compared with AWS's vectors: the canonical request, the string to sign
 * and the signature are all returned.  Strings are assembled with
 * open_memstream; the few allocations per request are nothing next to a
 * 1 MiB body.  HMAC and SHA-256 come from crypto.c.
 */
#include <config.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "utils.h"
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

static void
free_pairs (struct pair *pairs, size_t n)
{
  size_t i;

  if (pairs == NULL)
    return;
  for (i = 0; i < n; i++) {
    free (pairs[i].name);
    free (pairs[i].value);
  }
  free (pairs);
}

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

static int
add_param (struct pair *pairs, size_t *n, const char *name, const char *value)
{
  struct pair *p = &pairs[*n];

  if (value == NULL)
    value = "";
  p->name = sigv4_uri_encode (name, strlen (name), false);
  p->value = sigv4_uri_encode (value, strlen (value), false);
  p->order = *n;
  (*n)++;
  return p->name && p->value ? 0 : -1;
}

/* Lowercase name; value trimmed and inner runs of blanks collapsed. */
static int
add_header (struct pair *pairs, size_t *n, const char *name, const char *value)
{
  struct pair *p = &pairs[*n];
  size_t i, j, len;

  p->order = *n;
  (*n)++;
  if (value == NULL)
    value = "";
  p->name = strdup (name);
  p->value = malloc (strlen (value) + 1);
  if (p->name == NULL || p->value == NULL)
    return -1;
  for (i = 0; p->name[i]; i++)
    if (p->name[i] >= 'A' && p->name[i] <= 'Z')
      p->name[i] += 'a' - 'A';

  for (i = j = 0; value[i]; i++) {
    bool blank = strchr (" \t\r\n", value[i]) != NULL;

    if (!blank)
      p->value[j++] = value[i];
    else if (j > 0 && p->value[j-1] != ' ')
      p->value[j++] = ' ';
  }
  len = j;
  if (len > 0 && p->value[len-1] == ' ')
    len--;
  p->value[len] = '\0';
  return 0;
}

static void
hmac (const uint8_t *key, size_t keylen, const char *data, uint8_t out[32])
{
  crypto_hmac_sha256 (key, keylen, data, strlen (data), out);
}

int
sigv4_sign (const struct sigv4_request *req, struct sigv4_signature *sig)
{
  const struct sigv4_credentials *creds = req->creds;
  const char *token;
  struct pair *params = NULL, *headers = NULL;
  size_t nparams = 0, nheaders = 0, i, size;
  char date[9], expires[24], hash_hex[65];
  char *scope = NULL, *credential = NULL, *signed_headers = NULL;
  char *buf = NULL, *kdate_key = NULL;
  uint8_t hash[32], key[32];
  FILE *fp = NULL;
  struct tm tm;
  int ret = -1, saved_errno;

  memset (sig, 0, sizeof *sig);
  if (req->method == NULL || req->path == NULL || req->path[0] != '/' ||
      creds == NULL || creds->access_key == NULL ||
      creds->secret_key == NULL || req->region == NULL ||
      req->service == NULL || req->payload_hash == NULL) {
    errno = EINVAL;
    return -1;
  }
  token = creds->session_token && *creds->session_token
    ? creds->session_token : NULL;

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
    goto out;

  /* Headers: the caller's and ours, sorted by name, stable. */
  headers = calloc (req->nheaders + 3, sizeof *headers);
  if (headers == NULL)
    goto out;
  for (i = 0; i < req->nheaders; i++)
    if (add_header (headers, &nheaders,
                    req->headers[i].name, req->headers[i].value) == -1)
      goto out;
  if (!req->presign_expires) {
    if (add_header (headers, &nheaders, "x-amz-date", sig->amz_date) == -1)
      goto out;
    if (token &&
        add_header (headers, &nheaders, "x-amz-security-token", token) == -1)
      goto out;
    if (req->sign_content_sha256 &&
        add_header (headers, &nheaders, "x-amz-content-sha256",
                    req->payload_hash) == -1)
      goto out;
  }
  qsort (headers, nheaders, sizeof *headers, compare_headers);

  fp = open_memstream (&buf, &size);
  if (fp == NULL)
    goto out;
  for (i = 0; i < nheaders; i++)
    if (i == 0 || strcmp (headers[i].name, headers[i-1].name) != 0)
      fprintf (fp, "%s%s", i ? ";" : "", headers[i].name);
  signed_headers = close_stream (fp, &buf);
  fp = NULL;
  buf = NULL;
  if (signed_headers == NULL)
    goto out;

  /* Query: the caller's and, presigned, the X-Amz-* parameters. */
  params = calloc (req->nquery + 6, sizeof *params);
  if (params == NULL)
    goto out;
  for (i = 0; i < req->nquery; i++)
    if (add_param (params, &nparams,
                   req->query[i].name, req->query[i].value) == -1)
      goto out;
  if (req->presign_expires) {
    credential = format_string ("%s/%s", creds->access_key, scope);
    if (credential == NULL)
      goto out;
    snprintf (expires, sizeof expires, "%u", req->presign_expires);
    if (add_param (params, &nparams, "X-Amz-Algorithm", ALGORITHM) == -1 ||
        add_param (params, &nparams, "X-Amz-Credential", credential) == -1 ||
        add_param (params, &nparams, "X-Amz-Date", sig->amz_date) == -1 ||
        add_param (params, &nparams, "X-Amz-Expires", expires) == -1 ||
        (token &&
         add_param (params, &nparams, "X-Amz-Security-Token", token) == -1) ||
        add_param (params, &nparams, "X-Amz-SignedHeaders",
                   signed_headers) == -1)
      goto out;
  }
  qsort (params, nparams, sizeof *params, compare_params);

  fp = open_memstream (&buf, &size);
  if (fp == NULL)
    goto out;
  for (i = 0; i < nparams; i++)
    fprintf (fp, "%s%s=%s", i ? "&" : "", params[i].name, params[i].value);
  sig->query = close_stream (fp, &buf);
  fp = NULL;
  buf = NULL;
  if (sig->query == NULL)
    goto out;

  sig->canonical_uri = sigv4_uri_encode (req->path, strlen (req->path), true);
  if (sig->canonical_uri == NULL)
    goto out;

  /* The canonical request. */
  fp = open_memstream (&buf, &size);
  if (fp == NULL)
    goto out;
  fprintf (fp, "%s\n%s\n%s\n", req->method, sig->canonical_uri, sig->query);
  for (i = 0; i < nheaders; i++) {
    if (i == 0 || strcmp (headers[i].name, headers[i-1].name) != 0)
      fprintf (fp, "%s%s:%s", i ? "\n" : "",
               headers[i].name, headers[i].value);
    else
      fprintf (fp, ",%s", headers[i].value);
  }
  fprintf (fp, "%s%s\n%s", nheaders ? "\n\n" : "\n",
           signed_headers, req->payload_hash);
  sig->canonical_request = close_stream (fp, &buf);
  fp = NULL;
  buf = NULL;
  if (sig->canonical_request == NULL)
    goto out;

  /* The string to sign. */
  crypto_sha256 (sig->canonical_request, strlen (sig->canonical_request), hash);
  crypto_hex (hash, sizeof hash, hash_hex);
  sig->string_to_sign = format_string ("%s\n%s\n%s\n%s", ALGORITHM,
                                       sig->amz_date, scope, hash_hex);
  if (sig->string_to_sign == NULL)
    goto out;

  /* The signing key, then the signature. */
  kdate_key = format_string ("AWS4%s", creds->secret_key);
  if (kdate_key == NULL)
    goto out;
  hmac ((const uint8_t *) kdate_key, strlen (kdate_key), date, key);
  hmac (key, sizeof key, req->region, key);
  hmac (key, sizeof key, req->service, key);
  hmac (key, sizeof key, "aws4_request", key);
  hmac (key, sizeof key, sig->string_to_sign, hash);
  crypto_hex (hash, sizeof hash, sig->signature);

  if (req->presign_expires) {
    char *q = format_string ("%s&X-Amz-Signature=%s",
                             sig->query, sig->signature);

    if (q == NULL)
      goto out;
    free (sig->query);
    sig->query = q;
  }
  else {
    sig->authorization =
      format_string (ALGORITHM " Credential=%s/%s, SignedHeaders=%s, "
                     "Signature=%s", creds->access_key, scope,
                     signed_headers, sig->signature);
    if (sig->authorization == NULL)
      goto out;
  }
  ret = 0;

 out:
  saved_errno = errno;
  if (fp)
    close_stream (fp, &buf);
  free (buf);
  if (kdate_key) {
    explicit_bzero (kdate_key, strlen (kdate_key));
    free (kdate_key);
  }
  explicit_bzero (key, sizeof key);
  free (scope);
  free (credential);
  free (signed_headers);
  free_pairs (params, nparams);
  free_pairs (headers, nheaders);
  if (ret == -1) {
    sigv4_signature_free (sig);
    errno = saved_errno ? saved_errno : ENOMEM;
  }
  return ret;
}

void
sigv4_signature_free (struct sigv4_signature *sig)
{
  free (sig->canonical_uri);
  free (sig->query);
  free (sig->canonical_request);
  free (sig->string_to_sign);
  free (sig->authorization);
  sig->canonical_uri = sig->query = sig->canonical_request = NULL;
  sig->string_to_sign = sig->authorization = NULL;
}
