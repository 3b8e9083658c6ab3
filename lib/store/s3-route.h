/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: where S3 requests go, and what they need to be allowed.
 *
 * A bucket lives in one region, and AWS refuses a request signed for
 * another one or sent to another region's endpoint.  When region= is
 * not given for AWS (or is "auto", for any store), the S3 store starts
 * with us-east-1 and learns the bucket's region from the first answer
 * that names it:
 *
 *   - the x-amz-bucket-region header (HeadBucket, and AWS's 301 and 400
 *     answers, even those without a body such as a HEAD's);
 *   - the <Region> of an <Error> (AuthorizationHeaderMalformed, 301
 *     PermanentRedirect);
 *   - the message of an AuthorizationHeaderMalformed: "the region
 *     'us-east-1' is wrong; expecting 'eu-west-1'" (S3-compatible stores
 *     such as Swift's s3api say it only there).
 *
 * s3_route_region_from_answer() reads them, in that order.  Whatever it
 * returns is checked to be a region name (letters, digits and '-'),
 * since it becomes part of a host name.  The regional endpoint of AWS
 * is https://s3.REGION.amazonaws.com (.amazonaws.com.cn in China).
 *
 * A 307 Temporary Redirect (AWS sends them for a new bucket while DNS
 * catches up) is followed by sending the request again, signed for the
 * host in its Location, with the same path and query:
 * s3_route_redirect() takes that host apart.  A redirect from https to
 * http is refused: the request carries a session token.
 *
 * s3_route_permission() says which IAM permission an S3 operation needs,
 * for the message of an AccessDenied (the policy is documented in
 * nbdkit-zerofs-plugin(1), "LEAST PRIVILEGE").
 */
#ifndef ZEROFS_S3_ROUTE_H
#define ZEROFS_S3_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "s3-http.h"
#include "s3-xml.h"

/* Is NAME a plausible region name ("eu-west-1", "us-gov-east-1")? */
extern bool s3_route_region_valid (const char *name);

/* The bucket's region as an error answer names it, copied into BUF, or
 * NULL.  *HOW says where it was found, for the log: "the
 * x-amz-bucket-region header of a 301 answer", ...  ERR may be NULL.
 */
extern const char *s3_route_region_from_answer
  (const struct s3_http_response *resp, const struct s3_error *err,
   char *buf, size_t size, char *how, size_t how_size);

/* "https://s3.REGION.amazonaws.com", or ".com.cn" for cn-*: malloc'd,
 * NULL if out of memory.
 */
extern char *s3_route_aws_endpoint (const char *region);

/* Is ENDPOINT AWS's global or a regional endpoint as
 * s3_route_aws_endpoint() makes it (so that it may be replaced by the
 * bucket's region's)?  Other AWS endpoints (FIPS, dual-stack, access
 * points, VPC endpoints) are kept as they are.
 */
extern bool s3_route_is_plain_aws_endpoint (const char *endpoint);

/* The partition of REGION in an ARN: "aws", "aws-cn", "aws-us-gov". */
extern const char *s3_route_partition (const char *region);

/* From the Location of a 307: *ORIGIN "scheme://host[:port]" and *HOST
 * "host[:port]" (malloc'd).  -1 (objstore_fail, EIO) if the Location is
 * not an absolute http(s) URL, or goes from https to http.
 */
extern int s3_route_redirect (const char *location, bool https,
                              char **origin, char **host);

/* "s3:PutObject on arn:aws:s3:::BUCKET/PREFIX*" for OP (the S3
 * operation: GetObject, HeadObject, PutObject, DeleteObject,
 * DeleteObjects, ListObjectsV2, HeadBucket), in BUF; "" for another.
 * PREFIX is "" or ends with '/'.
 */
extern const char *s3_route_permission (const char *op, const char *bucket,
                                        const char *prefix,
                                        const char *region,
                                        char *buf, size_t size);

#endif /* ZEROFS_S3_ROUTE_H */
