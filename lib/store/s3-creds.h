/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: where the S3 credentials come from, and keeping them fresh.
 *
 * The chain is the AWS SDKs' default one; the first provider that is
 * configured is the one used:
 *
 *  1. the access-key= / secret-key= (/ session-token=) options;
 *  2. the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 *     AWS_SESSION_TOKEN;
 *  3. web identity: AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN
 *     (AWS_ROLE_SESSION_NAME): STS AssumeRoleWithWebIdentity;
 *  4. the shared files (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials,
 *     AWS_CONFIG_FILE or ~/.aws/config), profile from profile=, else
 *     AWS_PROFILE, else "default": role_arn (with source_profile,
 *     credential_source = Environment / EcsContainer / Ec2InstanceMetadata
 *     (the providers of 2, 5 and 6) or web_identity_token_file: STS
 *     AssumeRole / AssumeRoleWithWebIdentity), else SSO (sso_session or
 *     sso_start_url: the portal's GetRoleCredentials with the token that
 *     "aws sso login" cached), else static keys, else credential_process;
 *  5. container credentials: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or
 *     AWS_CONTAINER_CREDENTIALS_FULL_URI (ECS, EKS Pod Identity);
 *  6. the EC2 instance metadata service (IMDSv2), unless
 *     AWS_EC2_METADATA_DISABLED=true.
 *
 * profile= given explicitly goes straight to 4, as the CLI's --profile
 * wins over the environment.  Half a key pair is an error, not a reason
 * to look further: it is almost always a mistake.  A provider that is
 * configured but fails at start is an error naming it; when nothing is
 * found, the error lists every place that was looked at.
 *
 * Credentials are an immutable, reference-counted struct: a request
 * takes a reference with s3_creds_get, signs with it, and drops it;
 * a refresh publishes a new struct under the provider's lock, so that
 * every request signs with one consistent set.  Temporary credentials
 * are refreshed on demand, by the first request that finds them within
 * the refresh window of their expiry (5 minutes, or half their lifetime
 * if that is shorter); meanwhile the others keep using the old ones.
 * A refresh that fails is retried with backoff (1 s doubling to 60 s)
 * while the old credentials work; once they have expired, s3_creds_get
 * fails with EAGAIN (which the retry wrapper retries).
 *
 * Secrets are never put in a message, and are wiped from memory when
 * freed.  -D zerofs.s3=1 logs where credentials came from, their access
 * key id and expiry, and every refresh.
 */
#ifndef ZEROFS_S3_CREDS_H
#define ZEROFS_S3_CREDS_H

#include <stdbool.h>
#include <time.h>

#include "cleanup.h"

struct zconf;

struct s3_creds {
  char *access_key;
  char *secret_key;
  char *session_token;            /* NULL if none */
  time_t expiration;              /* 0: does not expire */
  time_t issued;                  /* when they were fetched */
  unsigned refs;                  /* atomic */
};

struct s3_creds_provider;

/* Find the provider (see the order above) and get the first
 * credentials from it.  Returns NULL with objstore_fail (EACCES when
 * none were found, EINVAL for half a pair or an unreadable file, the
 * failure's errno class when a configured provider failed).
 */
extern struct s3_creds_provider *s3_creds_open (const struct zconf *conf);
extern void s3_creds_close (struct s3_creds_provider *p);

/* Where the credentials come from, for messages. */
extern const char *s3_creds_source (const struct s3_creds_provider *p);

/* A reference to the current credentials, refreshed first if they are
 * due.  NULL with objstore_fail (EAGAIN) if they have expired and
 * cannot be refreshed now.  Drop it with s3_creds_put.
 */
extern struct s3_creds *s3_creds_get (struct s3_creds_provider *p);
extern void s3_creds_put (struct s3_creds *creds);

/* A request signed with USED was refused with CODE (NULL if the answer
 * had no body) and HTTP STATUS.  If that looks like stale credentials
 * (ExpiredToken, InvalidToken, TokenRefreshRequired, or any 403 when
 * USED were already replaced, have expired, or were issued less than a
 * minute ago), refresh them unless another request already did.
 * True if the request should be sent once more with s3_creds_get's.
 */
extern bool s3_creds_refresh_after_refusal (struct s3_creds_provider *p,
                                            const struct s3_creds *used,
                                            const char *code, long status);

/* Wipe and free a struct s3_creds that nobody else holds (refs
 * ignored): for the providers that build them.
 */
extern void s3_creds_free (struct s3_creds *creds);
DEFINE_CLEANUP_POINTER (s3_creds_free, struct s3_creds *, s3_creds_free);
#define CLEANUP_S3_CREDS CLEANUP (s3_creds_free)

/* A struct s3_creds with copies of the strings (TOKEN may be NULL),
 * refs = 1.  NULL with objstore_fail (ENOMEM).
 */
extern struct s3_creds *s3_creds_new (const char *ak, const char *sk,
                                      const char *token, time_t expiration);

#endif /* ZEROFS_S3_CREDS_H */
