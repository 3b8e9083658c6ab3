/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: where S3 requests go (lib/store/s3-route.c).
 *
 * The bucket's region as AWS's answers name it (the x-amz-bucket-region
 * header first, then <Region>, then the message of an
 * AuthorizationHeaderMalformed), and names that must not become part of
 * a host name; which endpoints follow the region (AWS's own regional
 * and global ones, not FIPS, dual-stack or other hosts); the Location
 * of a 307 taken apart, and refused from https to http; the IAM
 * permission each S3 operation needs.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/internal.h"
#include "store/s3-route.h"

#include "unit.h"

/* The region in an answer with STATUS, header HEADER and error ERR. */
static const char *
region_of (long status, const char *header, const struct s3_error *err,
           char *buf, size_t size, char *how, size_t how_size)
{
  struct s3_http_response resp = { .status = status };

  snprintf (resp.bucket_region, sizeof resp.bucket_region, "%s", header);
  return s3_route_region_from_answer (&resp, err, buf, size,
                                      how, how_size);
}

static void
test_region_from_answer (void)
{
  char buf[64], how[160];
  struct s3_error malformed = {
    .code = (char *) "AuthorizationHeaderMalformed",
    .message = (char *) "The authorization header is malformed; the region "
      "'us-east-1' is wrong; expecting 'eu-west-1'",
  };
  struct s3_error with_region = {
    .code = (char *) "AuthorizationHeaderMalformed",
    .message = (char *) "the region 'us-east-1' is wrong; expecting "
      "'eu-west-1'",
    .region = (char *) "ap-south-2",
  };
  struct s3_error redirect = { .code = (char *) "PermanentRedirect" };
  struct s3_error bad = {
    .code = (char *) "AuthorizationHeaderMalformed",
    .message = (char *) "expecting 'evil.example.com/'",
    .region = (char *) "Not A Region",
  };

  /* The header wins, with or without a body. */
  CHECK_STR (region_of (301, "eu-central-1", &with_region, buf, sizeof buf,
                        how, sizeof how), "eu-central-1");
  CHECK (strstr (how, "x-amz-bucket-region header of an HTTP 301") != NULL);
  CHECK_STR (region_of (400, "us-west-2", NULL, buf, sizeof buf,
                        how, sizeof how), "us-west-2");
  /* Then <Region>, then the message. */
  CHECK_STR (region_of (400, "", &with_region, buf, sizeof buf,
                        how, sizeof how), "ap-south-2");
  CHECK (strstr (how, "<Region> of an HTTP 400 "
                 "AuthorizationHeaderMalformed") != NULL);
  CHECK_STR (region_of (400, "", &malformed, buf, sizeof buf,
                        how, sizeof how), "eu-west-1");
  CHECK (strstr (how, "message") != NULL);
  /* Nothing to go on. */
  CHECK (region_of (301, "", &redirect, buf, sizeof buf,
                    how, sizeof how) == NULL);
  CHECK (region_of (403, "", NULL, buf, sizeof buf, how, sizeof how) == NULL);
  /* What could not be a region is not taken. */
  CHECK (region_of (400, "", &bad, buf, sizeof buf, how, sizeof how) == NULL);
  CHECK (region_of (301, "eu-west-1.evil", NULL, buf, sizeof buf,
                    how, sizeof how) == NULL);
  CHECK (region_of (301, "-", NULL, buf, sizeof buf, how, sizeof how) == NULL);
  /* Too long for the caller's buffer. */
  CHECK (region_of (301, "eu-west-1", NULL, buf, 5, how, sizeof how) == NULL);

  CHECK (s3_route_region_valid ("us-gov-east-1"));
  CHECK (!s3_route_region_valid ("US-EAST-1"));
  CHECK (!s3_route_region_valid (""));
  CHECK (!s3_route_region_valid ("eu-west-1-"));
}

static void
test_endpoints (void)
{
  char *e;

  e = s3_route_aws_endpoint ("eu-west-1");
  CHECK_STR (e, "https://s3.eu-west-1.amazonaws.com");
  free (e);
  e = s3_route_aws_endpoint ("cn-north-1");
  CHECK_STR (e, "https://s3.cn-north-1.amazonaws.com.cn");
  free (e);

  CHECK (s3_route_is_plain_aws_endpoint ("https://s3.amazonaws.com"));
  CHECK (s3_route_is_plain_aws_endpoint ("https://s3.us-east-1.amazonaws.com"));
  CHECK (s3_route_is_plain_aws_endpoint ("https://S3.EU-West-1.amazonaws.com/"));
  CHECK (s3_route_is_plain_aws_endpoint ("https://s3.cn-north-1.amazonaws.com.cn"));
  CHECK (!s3_route_is_plain_aws_endpoint ("http://s3.us-east-1.amazonaws.com"));
  CHECK (!s3_route_is_plain_aws_endpoint ("https://s3-fips.us-east-1.amazonaws.com"));
  CHECK (!s3_route_is_plain_aws_endpoint ("https://s3.dualstack.us-east-1.amazonaws.com"));
  CHECK (!s3_route_is_plain_aws_endpoint ("https://s3.us-east-1.amazonaws.com:8443"));
  CHECK (!s3_route_is_plain_aws_endpoint ("https://s3.us-east-1.amazonaws.com/x"));
  CHECK (!s3_route_is_plain_aws_endpoint ("https://minio.example.com"));
  CHECK (!s3_route_is_plain_aws_endpoint ("https://s3.amazonaws.com.evil.com"));

  CHECK_STR (s3_route_partition ("cn-northwest-1"), "aws-cn");
  CHECK_STR (s3_route_partition ("us-gov-west-1"), "aws-us-gov");
  CHECK_STR (s3_route_partition ("eu-west-1"), "aws");
}

static void
test_redirect (void)
{
  char *origin, *host;

  CHECK (s3_route_redirect ("https://b.s3-eu-west-1.amazonaws.com/k?x=1",
                            true, &origin, &host) == 0);
  CHECK_STR (origin, "https://b.s3-eu-west-1.amazonaws.com");
  CHECK_STR (host, "b.s3-eu-west-1.amazonaws.com");
  free (origin);
  free (host);
  CHECK (s3_route_redirect ("http://127.0.0.1:8080/b/k", false,
                            &origin, &host) == 0);
  CHECK_STR (origin, "http://127.0.0.1:8080");
  CHECK_STR (host, "127.0.0.1:8080");
  free (origin);
  free (host);
  /* Not from https to http; only absolute http(s) URLs. */
  CHECK (s3_route_redirect ("http://b.example.com/k", true,
                            &origin, &host) == -1 && errno == EIO);
  CHECK (origin == NULL && host == NULL);
  CHECK (s3_route_redirect ("/b/k", false, &origin, &host) == -1);
  CHECK (s3_route_redirect ("", false, &origin, &host) == -1);
  CHECK (s3_route_redirect ("ftp://h/k", false, &origin, &host) == -1);
}

static void
test_permission (void)
{
  char buf[256];

  CHECK_STR (s3_route_permission ("PutObject", "b", "vol/", "eu-west-1",
                                  buf, sizeof buf),
             "s3:PutObject on arn:aws:s3:::b/vol/*");
  CHECK_STR (s3_route_permission ("HeadObject", "b", "", "us-east-1",
                                  buf, sizeof buf),
             "s3:GetObject on arn:aws:s3:::b/*");
  CHECK_STR (s3_route_permission ("DeleteObjects", "b", "p/q/", "cn-north-1",
                                  buf, sizeof buf),
             "s3:DeleteObject on arn:aws-cn:s3:::b/p/q/*");
  CHECK_STR (s3_route_permission ("ListObjectsV2", "b", "vol/", "us-east-1",
                                  buf, sizeof buf),
             "s3:ListBucket on arn:aws:s3:::b for the prefix vol/");
  CHECK_STR (s3_route_permission ("HeadBucket", "b", "", "us-east-1",
                                  buf, sizeof buf),
             "s3:ListBucket on arn:aws:s3:::b");
  CHECK_STR (s3_route_permission ("Other", "b", "", "us-east-1",
                                  buf, sizeof buf), "");
}

int
main (void)
{
  test_region_from_answer ();
  test_endpoints ();
  test_redirect ();
  test_permission ();
  return unit_exit_status ("test-unit-s3route");
}
