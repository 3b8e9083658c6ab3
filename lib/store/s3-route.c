/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: where S3 requests go (the bucket's region, 307 redirects) and
 * what they need to be allowed (see s3-route.h).
 *
 * Everything here reads answers or names; nothing sends a request.  The
 * decisions (when to look for the region, when to follow) are s3.c's.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "cleanup.h"
#include "utils.h"
#include "internal.h"
#include "s3-route.h"

bool
s3_route_region_valid (const char *name)
{
  size_t len = name ? strlen (name) : 0;

  return len >= 2 && len <= 63 &&
    strspn (name, "abcdefghijklmnopqrstuvwxyz0123456789-") == len &&
    name[0] != '-' && name[len - 1] != '-';
}

/* Copy the LEN bytes at P into BUF if they are a region name. */
static const char *
take_region (const char *p, size_t len, char *buf, size_t size)
{
  if (len == 0 || len >= size)
    return NULL;
  memcpy (buf, p, len);
  buf[len] = '\0';
  return s3_route_region_valid (buf) ? buf : NULL;
}

const char *
s3_route_region_from_answer (const struct s3_http_response *resp,
                             const struct s3_error *err,
                             char *buf, size_t size,
                             char *how, size_t how_size)
{
  const char *code = err && err->code ? err->code : NULL;
  const char *r;

  if ((r = take_region (resp->bucket_region, strlen (resp->bucket_region),
                        buf, size))) {
    snprintf (how, how_size, "the x-amz-bucket-region header of an HTTP "
              "%ld answer%s%s", resp->status, code ? ", " : "",
              code ? code : "");
    return r;
  }
  if (err && err->region &&
      (r = take_region (err->region, strlen (err->region), buf, size))) {
    snprintf (how, how_size, "the <Region> of an HTTP %ld %s",
              resp->status, code ? code : "error");
    return r;
  }
  /* "... the region 'us-east-1' is wrong; expecting 'eu-west-1'" */
  if (code && strcmp (code, "AuthorizationHeaderMalformed") == 0 &&
      err->message) {
    const char *p = strstr (err->message, "expecting '");

    if (p) {
      p += strlen ("expecting '");
      if ((r = take_region (p, strcspn (p, "'"), buf, size))) {
        snprintf (how, how_size, "the message of an HTTP %ld %s",
                  resp->status, code);
        return r;
      }
    }
  }
  return NULL;
}

char *
s3_route_aws_endpoint (const char *region)
{
  return format_string ("https://s3.%s.amazonaws.com%s", region,
                        strncmp (region, "cn-", 3) == 0 ? ".cn" : "");
}

bool
s3_route_is_plain_aws_endpoint (const char *endpoint)
{
  static const char *const suffixes[] = {
    ".amazonaws.com", ".amazonaws.com.cn",
  };
  char host[128], region[64];
  size_t len, i, rlen;

  if (strncasecmp (endpoint, "https://", 8) != 0)
    return false;
  endpoint += 8;
  len = strcspn (endpoint, "/");
  /* No port, no path but slashes. */
  if (len >= sizeof host ||
      strspn (endpoint + len, "/") != strlen (endpoint + len))
    return false;
  for (i = 0; i < len; i++)
    host[i] = endpoint[i] >= 'A' && endpoint[i] <= 'Z'
      ? endpoint[i] + ('a' - 'A') : endpoint[i];
  host[len] = '\0';
  if (strcmp (host, "s3.amazonaws.com") == 0)
    return true;
  if (strncmp (host, "s3.", 3) != 0)
    return false;
  rlen = strcspn (host + 3, ".");
  if (rlen >= sizeof region)
    return false;
  memcpy (region, host + 3, rlen);
  region[rlen] = '\0';
  for (i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++)
    if (strcmp (host + 3 + rlen, suffixes[i]) == 0)
      return s3_route_region_valid (region);
  return false;
}

const char *
s3_route_partition (const char *region)
{
  if (region && strncmp (region, "cn-", 3) == 0)
    return "aws-cn";
  if (region && strncmp (region, "us-gov-", 7) == 0)
    return "aws-us-gov";
  return "aws";
}

int
s3_route_redirect (const char *location, bool https,
                   char **origin, char **host)
{
  CLEANUP_CURL_URL CURLU *u = curl_url ();
  CLEANUP_CURL_FREE char *scheme = NULL;
  CLEANUP_CURL_FREE char *name = NULL;
  CLEANUP_CURL_FREE char *port = NULL;
  CLEANUP_FREE char *hostport = NULL;
  bool to_https;

  *origin = *host = NULL;
  if (u == NULL)
    return objstore_fail (ENOMEM, "out of memory");
  if (*location == '\0' ||
      curl_url_set (u, CURLUPART_URL, location, 0) != CURLUE_OK ||
      curl_url_get (u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
      curl_url_get (u, CURLUPART_HOST, &name, 0) != CURLUE_OK)
    return objstore_fail (EIO, "the redirect's Location \"%s\" is not an "
                          "absolute URL", location);
  if (strcasecmp (scheme, "https") != 0 && strcasecmp (scheme, "http") != 0)
    return objstore_fail (EIO, "the redirect's Location \"%s\" is not an "
                          "http(s) URL", location);
  to_https = strcasecmp (scheme, "https") == 0;
  if (https && !to_https)
    return objstore_fail (EIO, "refusing a redirect from https to \"%s\"",
                          location);
  if (curl_url_get (u, CURLUPART_PORT, &port, 0) != CURLUE_OK)
    port = NULL;                  /* the scheme's default */
  hostport = port ? format_string ("%s:%s", name, port) : strdup (name);
  if (hostport)
    *origin = format_string ("%s://%s", to_https ? "https" : "http",
                             hostport);
  if (hostport == NULL || *origin == NULL)
    return objstore_fail (ENOMEM, "out of memory");
  *host = hostport;
  hostport = NULL;
  return 0;
}

const char *
s3_route_permission (const char *op, const char *bucket, const char *prefix,
                     const char *region, char *buf, size_t size)
{
  static const struct { const char *op, *action; bool object; } perms[] = {
    { "GetObject", "s3:GetObject", true },
    { "HeadObject", "s3:GetObject", true },
    { "PutObject", "s3:PutObject", true },
    { "DeleteObject", "s3:DeleteObject", true },
    { "DeleteObjects", "s3:DeleteObject", true },
    { "ListObjectsV2", "s3:ListBucket", false },
    { "HeadBucket", "s3:ListBucket", false },
  };
  const char *partition = s3_route_partition (region);
  size_t i;

  for (i = 0; i < sizeof perms / sizeof perms[0]; i++) {
    if (strcmp (op, perms[i].op) != 0)
      continue;
    if (perms[i].object)
      snprintf (buf, size, "%s on arn:%s:s3:::%s/%s*", perms[i].action,
                partition, bucket, prefix);
    else if (*prefix)
      snprintf (buf, size, "%s on arn:%s:s3:::%s for the prefix %s",
                perms[i].action, partition, bucket, prefix);
    else
      snprintf (buf, size, "%s on arn:%s:s3:::%s", perms[i].action,
                partition, bucket);
    return buf;
  }
  snprintf (buf, size, "%s", "");
  return buf;
}
