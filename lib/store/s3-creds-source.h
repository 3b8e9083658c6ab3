/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: the credential providers, as s3-creds.c drives them.
 *
 * A struct creds_source says where credentials are fetched from (one
 * kind of provider and its settings); s3-creds.c picks one by the chain
 * of s3-creds.h and fetches from it at start and at every refresh.
 *
 *   s3-creds.c         the chain; the environment, container and IMDS
 *                      providers, also for credential_source
 *   s3-creds-files.c   the shared files: a profile's keys, role_arn +
 *                      source_profile or credential_source,
 *                      web_identity_token_file, SSO, credential_process
 *   s3-creds-fetch.c   fetching: credential_process, STS AssumeRole and
 *                      AssumeRoleWithWebIdentity, the container
 *                      endpoint, IMDSv2, the SSO portal
 *
 * Only these files include this header.
 */
#ifndef ZEROFS_S3_CREDS_SOURCE_H
#define ZEROFS_S3_CREDS_SOURCE_H

#include <stdbool.h>
#include <time.h>

#include "s3-creds.h"
#include "s3-http.h"

struct zconf;

enum creds_kind {
  CREDS_STATIC,                   /* keys given once: never refreshed */
  CREDS_PROCESS,                  /* credential_process */
  CREDS_WEB_IDENTITY,             /* STS AssumeRoleWithWebIdentity */
  CREDS_ASSUME_ROLE,              /* STS AssumeRole, signed by source */
  CREDS_CONTAINER,                /* ECS / EKS container endpoint */
  CREDS_IMDS,                     /* EC2 instance metadata, IMDSv2 */
  CREDS_SSO,                      /* IAM Identity Center: GetRoleCredentials */
};

struct creds_source {
  enum creds_kind kind;
  char *name;                     /* for messages: where, never a secret */
  struct s3_creds *fixed;         /* STATIC */
  char *command;                  /* PROCESS: run with /bin/sh -c */
  /* WEB_IDENTITY and ASSUME_ROLE. */
  char *role_arn, *session_name, *token_file, *external_id;
  char *sts_endpoint;             /* "https://sts.amazonaws.com", no '/' */
  char *sts_region;               /* for signing AssumeRole */
  struct creds_source *source;    /* ASSUME_ROLE: whose keys sign it */
  /* CONTAINER. */
  char *url, *auth_token, *auth_token_file;
  /* IMDS. */
  char *imds_endpoint;            /* "http://169.254.169.254", no '/' */
  bool imds_v1;                   /* fall back to IMDSv1 if v2 fails */
  char *imds_token;               /* the session token, NULL if none */
  time_t imds_token_expires;
  unsigned imds_token_fetches;    /* for the debug log */
  /* SSO. */
  char *sso_cache;                /* ~/.aws/sso/cache/SHA1.json */
  char *sso_url;                  /* GetRoleCredentials, with its query */
  char *sso_login;                /* "aws sso login --profile P", for messages */
};

extern void creds_source_free (struct creds_source *src);
DEFINE_CLEANUP_POINTER (creds_source_free, struct creds_source *,
                        creds_source_free);
#define CLEANUP_CREDS_SOURCE CLEANUP (creds_source_free)

/* A new source of KIND named NAME (printf-like), all else zero.  NULL
 * with objstore_fail (ENOMEM).
 */
extern struct creds_source *creds_source_new (enum creds_kind kind,
                                              const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));

/* The STS endpoint and signing region (AWS_ENDPOINT_URL_STS,
 * AWS_STS_REGIONAL_ENDPOINTS, region=) into SRC.  -1 on ENOMEM.
 */
extern int creds_source_set_sts (struct creds_source *src,
                                 const struct zconf *conf);

/* The shared files' answer for PROFILE.  Returns 1 with *SRC set, 0 if
 * the profile has no credentials (*WHY says what was looked at, a
 * malloc'd string), -1 on error (objstore_fail).
 */
extern int creds_profile_source (const struct zconf *conf,
                                 const char *profile,
                                 struct creds_source **src, char **why);

/* The providers of the chain that a profile's credential_source can
 * also name (s3-creds.c): the environment (AWS_ACCESS_KEY_ID ...), the
 * container endpoint (AWS_CONTAINER_CREDENTIALS_*_URI) and the EC2
 * instance metadata service (unless AWS_EC2_METADATA_DISABLED=true).
 * One signature for all three (CONF is for IMDS's imds-v1): 1 with
 * *SRC, 0 if the provider is not configured, -1 on error (objstore_fail:
 * half a key pair, a container URL not allowed).
 */
extern int creds_env_source (const struct zconf *conf,
                             struct creds_source **src);
extern int creds_container_source (const struct zconf *conf,
                                   struct creds_source **src);
extern int creds_imds_source (const struct zconf *conf,
                              struct creds_source **src);

/* Fetch credentials from SRC with HTTP.  Returns 0 with *OUT (refs 1),
 * or -1 with objstore_fail (the errno class of the failure: EAGAIN and
 * the network ones for a service that is down, EACCES for a refusal,
 * EBADMSG for a bad answer).
 */
extern int creds_source_fetch (struct creds_source *src,
                               struct s3_http *http,
                               struct s3_creds **out);

/* S if it is a non-empty string, else NULL: unset and empty settings
 * are the same to the AWS SDKs.
 */
static inline const char *
nonempty (const char *s)
{
  return s && *s ? s : NULL;
}

/* "2024-05-01T12:00:00Z" (fraction and a numeric offset allowed): 0 and
 * *T, or -1.
 */
extern int creds_parse_time (const char *s, time_t *t);

#endif /* ZEROFS_S3_CREDS_SOURCE_H */
