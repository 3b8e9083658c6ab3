/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: where the S3 credentials come from.
 *
 * The order is AWS's (as the AWS CLI and SDKs use it):
 *
 *  1. the access-key= / secret-key= (/ session-token=) options;
 *  2. profile= given explicitly: that profile of the shared files, as the
 *     CLI's --profile wins over the environment;
 *  3. the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 *     AWS_SESSION_TOKEN;
 *  4. the shared credentials file (AWS_SHARED_CREDENTIALS_FILE or
 *     ~/.aws/credentials), then the shared config file (AWS_CONFIG_FILE
 *     or ~/.aws/config, "[profile NAME]" sections), profile from
 *     profile=, else AWS_PROFILE, else "default".
 *
 * Half a pair (a key id without its secret) is an error, not a reason to
 * look further: it is almost always a mistake.  When nothing is found the
 * error lists every place that was looked at.  Secrets are never put in a
 * message, and are wiped from memory when freed.
 */
#ifndef ZEROFS_S3_CREDS_H
#define ZEROFS_S3_CREDS_H

struct zconf;

struct s3_creds {
  char *access_key;
  char *secret_key;
  char *session_token;            /* NULL if none */
  char *source;                   /* where they came from, for messages */
};

/* Fill *CREDS.  Returns 0, or -1 with objstore_fail (EACCES when none
 * were found, EINVAL for half a pair or an unreadable file).
 */
extern int s3_creds_resolve (const struct zconf *conf, struct s3_creds *creds);

/* Wipe and free what *CREDS holds; the fields become NULL. */
extern void s3_creds_free (struct s3_creds *creds);

#endif /* ZEROFS_S3_CREDS_H */
