/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: AWS Signature Version 4 with S3's rules.
 *
 * The signer is a pure function of a request description: no clock, no
 * environment, no I/O.  That is what makes it testable byte for byte
 * against AWS's published vectors (tests/test-unit-sigv4.c), and it is
 * the same function that signs every real request (lib/store/s3.c).
 *
 * S3 rules, which differ from the generic SigV4 ones:
 *  - the path is URI-encoded once, segment by segment ('/' kept), and is
 *    never normalized: "." "..", "//" are part of an object key;
 *  - query names and values are RFC 3986 encoded and sorted by encoded
 *    name then value; a parameter without a value is "name=";
 *  - S3 requires x-amz-content-sha256 on every header-signed request and
 *    signs it (set sign_content_sha256);
 *  - a session token is sent as x-amz-security-token and signed.
 *
 * Strings in the request are raw (not encoded): the signer encodes them,
 * and returns the encoded path and query so that the URL that is sent is
 * exactly the one that was signed.
 */
#ifndef ZEROFS_S3_SIGV4_H
#define ZEROFS_S3_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
/* Hex SHA-256 of the empty string: the payload hash of a request without
 * a body.
 */
#define SIGV4_EMPTY_SHA256 \
  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct sigv4_param {
  const char *name;
  const char *value;              /* NULL or "": signed as "name=" */
};

struct sigv4_header {
  const char *name;               /* any case; lowercased for signing */
  const char *value;              /* trimmed, inner runs of blanks collapsed */
};

struct sigv4_credentials {
  const char *access_key;
  const char *secret_key;
  const char *session_token;      /* NULL if none */
};

struct sigv4_request {
  const char *method;             /* "GET", "PUT", ... */
  const char *path;               /* raw, begins with '/' */
  const struct sigv4_param *query;
  size_t nquery;
  /* Headers to sign, "host" among them.  Repeated names are joined with
   * ',' in the order given.  The signer adds x-amz-date,
   * x-amz-security-token (if a token is set) and, if
   * sign_content_sha256, x-amz-content-sha256: the caller sends those
   * with the values in struct sigv4_signature.
   */
  const struct sigv4_header *headers;
  size_t nheaders;
  /* Hex SHA-256 of the body, or SIGV4_UNSIGNED_PAYLOAD. */
  const char *payload_hash;
  bool sign_content_sha256;       /* S3: always true */
  const struct sigv4_credentials *creds;
  const char *region;
  const char *service;            /* "s3" */
  time_t time;
  /* 0: sign for an Authorization header.  Otherwise: a presigned URL
   * valid for this many seconds (the X-Amz-* parameters go into the
   * query, and no header is added).
   */
  unsigned presign_expires;
};

struct sigv4_signature {
  char amz_date[17];              /* YYYYMMDDTHHMMSSZ: send as x-amz-date */
  char signature[65];             /* lowercase hex */
  char *canonical_uri;            /* the encoded path, to put in the URL */
  /* The encoded, sorted query to put in the URL: presigned, it carries
   * the X-Amz-* parameters and ends with X-Amz-Signature.
   */
  char *query;
  char *canonical_request;
  char *string_to_sign;
  char *authorization;            /* header mode: the Authorization value */
};

/* Sign REQ into *SIG (free with sigv4_signature_free).  Returns 0, or -1
 * with errno set (ENOMEM, or EINVAL for a request missing its method,
 * path, credentials, region or service) and nothing to free.  Never logs:
 * the request holds a secret.
 */
extern int sigv4_sign (const struct sigv4_request *req,
                       struct sigv4_signature *sig);

/* Free what *SIG holds (it may be all zero).  errno is kept. */
extern void sigv4_signature_free (struct sigv4_signature *sig);
#define CLEANUP_SIGV4_SIGNATURE \
  __attribute__ ((cleanup (sigv4_signature_free)))

/* URI-encode LEN bytes of S the S3 way (unreserved kept, '/' kept if
 * KEEP_SLASH, everything else %XX uppercase).  Returns malloc'd string
 * or NULL (ENOMEM).
 */
extern char *sigv4_uri_encode (const char *s, size_t len, bool keep_slash);

#endif /* ZEROFS_S3_SIGV4_H */
