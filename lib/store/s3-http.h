/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: HTTP requests for the S3 backend, over a pool of curl handles.
 *
 * A curl easy handle keeps its connection alive between requests, so the
 * pool keeps up to "connections" handles and lends one to each request:
 * that number bounds the requests in flight, and a caller beyond it
 * waits for a handle to come back.  Handles are made on first need and
 * reused most-recently-returned first, so that the warm connections are
 * the ones that get used.  The DNS cache and TLS sessions are shared
 * between the handles.
 *
 * The credential providers (s3-creds-fetch.c) use it too, for the
 * metadata services and STS.
 *
 * This layer moves bytes and nothing else: it knows no S3, signs
 * nothing, retries nothing.  A request that got an HTTP response of any
 * status succeeds here; the caller reads the status.
 */
#ifndef ZEROFS_S3_HTTP_H
#define ZEROFS_S3_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "cleanup.h"
#include "objstore.h"

#define S3_HTTP_MAX_HEADERS 16

struct s3_http;

struct s3_http_options {
  unsigned connections;           /* handles = requests in flight */
  unsigned timeout;               /* seconds a request may stall */
  unsigned connect_timeout;       /* seconds to connect */
  unsigned low_speed_limit;       /* bytes/s below which it stalls */
  const char *ca_bundle;          /* NULL: the system's CA store */
};

struct s3_http_request {
  const char *method;             /* GET, HEAD, PUT, POST or DELETE */
  const char *url;
  const char *const *headers;     /* "Name: value" (S3_HTTP_MAX_HEADERS) */
  size_t nheaders;
  const void *body;               /* PUT, POST: sent from here, not copied */
  size_t body_len;
  /* CLOCK_MONOTONIC ms by which the request must have ended (sent,
   * answered, or abandoned: ETIMEDOUT), waiting for a handle included;
   * 0: none, only the stall timeout.
   */
  uint64_t deadline_ms;
};

struct s3_http_response {
  long status;
  char *body;                     /* malloc'd, NUL after body_len bytes */
  size_t body_len;
  char etag[OBJSTORE_ETAG_MAX];   /* "" if none */
  bool etag_too_long;
  bool has_content_length;
  uint64_t content_length;
  bool has_range_total;           /* Content-Range: bytes A-B/TOTAL */
  uint64_t range_total;
  char bucket_region[64];         /* x-amz-bucket-region, "" if none */
  char location[512];             /* Location (of a 307), "" if none or
                                     too long */
  uint64_t token_ttl;             /* the EC2 metadata service's
                                     x-aws-ec2-metadata-token-ttl-seconds,
                                     0 if none */
  double seconds;                 /* the transfer, excluding pool waits */
  char error[320];                /* on failure: what went wrong */
};

/* NULL on error (objstore_fail). */
extern struct s3_http *s3_http_new (const struct s3_http_options *opts);
/* No request may be in flight. */
extern void s3_http_free (struct s3_http *http);

/* CLOCK_MONOTONIC, in ms: what deadline_ms counts in. */
extern uint64_t s3_http_now_ms (void);

/* Perform REQ.  Returns 0 when a response arrived (any status), or -1
 * with errno set to the errno class of the failure (ETIMEDOUT,
 * ECONNREFUSED, ECONNRESET, EHOSTUNREACH, ENOMEM, EIO...) and RESP->error
 * saying what it was.  Either way RESP must be freed afterwards.
 */
extern int s3_http_perform (struct s3_http *http,
                            const struct s3_http_request *req,
                            struct s3_http_response *resp);

/* Free the body (the rest is inline).  errno is kept. */
extern void s3_http_response_free (struct s3_http_response *resp);
#define CLEANUP_S3_HTTP_RESPONSE \
  __attribute__ ((cleanup (s3_http_response_free)))

/* curl's URL API, for the URLs that the S3 code takes apart. */
DEFINE_CLEANUP_POINTER (curl_url, CURLU *, curl_url_cleanup);
#define CLEANUP_CURL_URL CLEANUP (curl_url)
/* For the strings that curl_url_get returns. */
DEFINE_CLEANUP_POINTER (curl_free, char *, curl_free);
#define CLEANUP_CURL_FREE CLEANUP (curl_free)

#endif /* ZEROFS_S3_HTTP_H */
