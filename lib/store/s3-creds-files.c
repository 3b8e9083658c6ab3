/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: the AWS shared files, ~/.aws/credentials and ~/.aws/config
 * (see s3-creds.h for where they stand in the chain).
 *
 * The shared files are INI files as botocore reads them: "[section]"
 * headers, "key = value" lines, '#' and ';' comment lines, indented lines
 * continuing the previous value (nested settings such as "s3 =", never
 * credentials, so they are skipped).  Keys are compared without regard to
 * case; the last assignment in the section wins.  In the config file,
 * profiles other than "default" are "[profile NAME]".  A profile's
 * settings are read from both files, the credentials file winning.
 * Every line read is wiped once parsed, and the getline buffer before
 * it is freed; the secrets themselves are wiped when freed
 * (cleanup_wipe_string, also as CLEANUP_PROFILE_VALUES).
 *
 * What a profile gives, in the SDKs' order:
 *   role_arn           STS AssumeRole signed with source_profile's
 *                      credentials (a chain of at most MAX_CHAIN
 *                      profiles), or with those of credential_source
 *                      (Environment, Ec2InstanceMetadata, EcsContainer:
 *                      the chain's own providers, s3-creds.c), or
 *                      AssumeRoleWithWebIdentity with
 *                      web_identity_token_file; role_session_name and
 *                      external_id go with it
 *   sso_session or sso_start_url, with sso_account_id and sso_role_name
 *                      the SSO portal (s3-creds-fetch.c); the session's
 *                      settings are in "[sso-session NAME]" of the config
 *                      file, and the token cache is named by the SHA-1
 *                      of the session name, or of the start URL
 *   aws_access_key_id, aws_secret_access_key (, aws_session_token)
 *   credential_process
 * As in the SDKs, role_arn with both source_profile and
 * credential_source is an error, and so is a credential_source value
 * other than those three (compared as the SDKs do, case and all).
 */
#include <config.h>

#include <errno.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cleanup.h"
#include "conf.h"
#include "crypto.h"
#include "utils.h"
#include "internal.h"
#include "s3-creds-source.h"
#include "s3-creds.h"
#include "s3-sigv4.h"

/* How many profiles a role_arn -> source_profile chain may pass. */
#define MAX_CHAIN 4

static char *
trim (char *s)
{
  char *e;

  while (*s == ' ' || *s == '\t')
    s++;
  e = s + strlen (s);
  while (e > s && strchr (" \t\r\n", e[-1]))
    *--e = '\0';
  return s;
}

/* Is the section header S (inside the brackets, trimmed) NAME of KIND?
 * KIND is NULL in the credentials file, where sections are bare names;
 * in the config file it is "profile" (profiles other than "default" are
 * "profile NAME") or "sso-session" ("sso-session NAME").
 */
static bool
section_is (char *s, const char *name, const char *kind)
{
  size_t n = kind ? strlen (kind) : 0;

  if (kind && strncmp (s, kind, n) == 0 && (s[n] == ' ' || s[n] == '\t'))
    return strcmp (trim (s + n), name) == 0;
  if (kind && (strcmp (kind, "profile") != 0 ||
               strcmp (name, "default") != 0))
    return false;
  return strcmp (s, name) == 0;
}

/* The settings of one profile that matter here.  The first three are
 * secrets; the others are not, but are wiped the same way for
 * simplicity.
 */
enum {
  V_ACCESS_KEY, V_SECRET_KEY, V_SESSION_TOKEN, V_ROLE_ARN,
  V_SOURCE_PROFILE, V_CREDENTIAL_SOURCE, V_WEB_IDENTITY_TOKEN_FILE,
  V_ROLE_SESSION_NAME, V_EXTERNAL_ID, V_CREDENTIAL_PROCESS,
  V_SSO_SESSION, V_SSO_START_URL, V_SSO_REGION, V_SSO_ACCOUNT_ID,
  V_SSO_ROLE_NAME, NR_VALUES
};
static const char *const value_keys[NR_VALUES] = {
  "aws_access_key_id", "aws_secret_access_key", "aws_session_token",
  "role_arn", "source_profile", "credential_source",
  "web_identity_token_file", "role_session_name", "external_id",
  "credential_process",
  "sso_session", "sso_start_url", "sso_region", "sso_account_id",
  "sso_role_name",
};

struct profile_values {
  bool found;                     /* the section exists */
  char *v[NR_VALUES];
};

static void
profile_values_free (struct profile_values *v)
{
  size_t i;

  for (i = 0; i < NR_VALUES; i++)
    cleanup_wipe_string (&v->v[i]);
}
#define CLEANUP_PROFILE_VALUES __attribute__ ((cleanup (profile_values_free)))

static int
replace (char **slot, const char *value)
{
  char *copy = strdup (value);

  if (copy == NULL)
    return -1;
  cleanup_wipe_string (slot);
  *slot = copy;
  return 0;
}

/* One line of an INI file (modified in place): a section header sets
 * *IN_PROFILE, a key of section PROFILE (of KIND: see section_is) goes
 * into *V, unless KEEP says that key was already set by the file that
 * wins.  -1 on ENOMEM.
 */
static int
read_line (char *line, const char *profile, const char *kind,
           bool *in_profile, const bool *keep, struct profile_values *v)
{
  char *s, *eq, *key, *value;
  size_t i;

  if (*line == ' ' || *line == '\t')
    return 0;                   /* continuation of a nested value */
  s = trim (line);
  if (*s == '\0' || *s == '#' || *s == ';')
    return 0;
  if (*s == '[') {
    char *close = strrchr (s, ']');

    if (close == NULL) {
      *in_profile = false;
      return 0;
    }
    *close = '\0';
    *in_profile = section_is (trim (s + 1), profile, kind);
    if (*in_profile)
      v->found = true;
    return 0;
  }
  if (!*in_profile || (eq = strchr (s, '=')) == NULL)
    return 0;
  *eq = '\0';
  key = trim (s);
  value = trim (eq + 1);
  for (i = 0; i < NR_VALUES; i++)
    if (strcasecmp (key, value_keys[i]) == 0 && !keep[i])
      return replace (&v->v[i], value);
  return 0;
}

/* Read section PROFILE (of KIND: see section_is) from the INI file PATH
 * into *V; settings that KEEP marks are left as they are.  Returns 1 if
 * the file was read, 0 if it does not exist, -1 on error
 * (objstore_fail).
 */
static int
read_profile (const char *path, const char *profile, const char *kind,
              const bool *keep, struct profile_values *v)
{
  CLEANUP_FCLOSE FILE *fp = fopen (path, "r");
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  bool in_profile = false;
  int ret = 1;

  if (fp == NULL) {
    if (errno == ENOENT || errno == ENOTDIR)
      return 0;
    return objstore_fail (EINVAL, "cannot read the AWS shared file %s: %m",
                          path);
  }
  while ((len = getline (&line, &cap, fp)) != -1) {
    int r = read_line (line, profile, kind, &in_profile, keep, v);

    explicit_bzero (line, len);
    if (r == -1) {
      ret = objstore_fail (ENOMEM, "credentials: out of memory");
      break;
    }
  }
  if (ret == 1 && ferror (fp))
    ret = objstore_fail (EINVAL, "error reading the AWS shared file %s: %m",
                         path);
  if (line) {
    explicit_bzero (line, cap);
    free (line);
  }
  return ret;
}

/* $VAR if set (and VAR not NULL), else ~/.aws/NAME.  Returns malloc'd
 * path or NULL.
 */
static char *
shared_file_path (const char *var, const char *name)
{
  const char *env = var ? nonempty (getenv (var)) : NULL;
  const char *home = nonempty (getenv ("HOME"));
  struct passwd pw, *result = NULL;
  char buf[4096];

  if (env)
    return strdup (env);
  if (home == NULL) {
    if (getpwuid_r (getuid (), &pw, buf, sizeof buf, &result) == 0 &&
        result != NULL)
      home = pw.pw_dir;
    else
      home = "~";               /* only for the message: nothing is there */
  }
  return format_string ("%s/.aws/%s", home, name);
}

static int
out_of_memory (void)
{
  return objstore_fail (ENOMEM, "credentials: out of memory");
}

static int profile_source (const struct zconf *conf, const char *profile,
                           unsigned depth, struct creds_source **src,
                           char **why);

/* The credential_source values, the provider each names, and what it
 * needs when it is not configured.
 */
static const struct {
  const char *name;
  int (*find) (const struct zconf *conf, struct creds_source **src);
  const char *needs;
} credential_sources[] = {
  { "Environment", creds_env_source,
    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set" },
  { "Ec2InstanceMetadata", creds_imds_source,
    "AWS_EC2_METADATA_DISABLED=true" },
  { "EcsContainer", creds_container_source,
    "neither AWS_CONTAINER_CREDENTIALS_RELATIVE_URI nor "
    "AWS_CONTAINER_CREDENTIALS_FULL_URI is set" },
};

/* credential_source NAME of WHERE: its provider into *SRC. */
static int
credential_source (const struct zconf *conf, const char *name,
                   const char *where, struct creds_source **src)
{
  size_t i;
  int r;

  for (i = 0; i < sizeof credential_sources / sizeof credential_sources[0];
       i++) {
    if (strcmp (name, credential_sources[i].name) != 0)
      continue;
    r = credential_sources[i].find (conf, src);
    if (r == 0)
      return objstore_fail (EINVAL, "%s: credential_source = %s, but %s",
                            where, name, credential_sources[i].needs);
    return r;
  }
  return objstore_fail (EINVAL, "%s: credential_source = %s is not one of "
                        "Environment, Ec2InstanceMetadata, EcsContainer",
                        where, name);
}

/* role_arn in PROFILE (values V, found in WHERE): the role's source. */
static int
role_source (const struct zconf *conf, const char *profile, unsigned depth,
             struct profile_values *v, const char *where,
             struct creds_source **src)
{
  const char *source_profile = nonempty (v->v[V_SOURCE_PROFILE]);
  const char *cred_source = nonempty (v->v[V_CREDENTIAL_SOURCE]);
  const char *token_file = nonempty (v->v[V_WEB_IDENTITY_TOKEN_FILE]);
  CLEANUP_CREDS_SOURCE struct creds_source *s = NULL;
  CLEANUP_FREE char *why = NULL;
  int r;

  if (token_file) {
    s = creds_source_new (CREDS_WEB_IDENTITY, "role %s by web identity "
                          "(web_identity_token_file %s) of %s",
                          v->v[V_ROLE_ARN], token_file, where);
    if (s == NULL || (s->token_file = strdup (token_file)) == NULL)
      return out_of_memory ();
  }
  else if (source_profile && cred_source)
    return objstore_fail (EINVAL, "%s: role_arn with both source_profile "
                          "and credential_source: set one of them", where);
  else if (source_profile) {
    if (depth + 1 >= MAX_CHAIN)
      return objstore_fail (EINVAL, "%s: the role_arn -> source_profile "
                            "chain is longer than %d profiles (a loop?)",
                            where, MAX_CHAIN);
    s = creds_source_new (CREDS_ASSUME_ROLE, "role %s (source_profile "
                          "\"%s\") of %s", v->v[V_ROLE_ARN],
                          source_profile, where);
    if (s == NULL)
      return out_of_memory ();
    if (strcmp (source_profile, profile) == 0) {
      /* The profile's own keys sign: not a loop. */
      if (!nonempty (v->v[V_ACCESS_KEY]) || !nonempty (v->v[V_SECRET_KEY]))
        return objstore_fail (EINVAL, "%s: source_profile is the profile "
                              "itself, which has no keys", where);
      s->source = creds_source_new (CREDS_STATIC, "the keys of %s", where);
      if (s->source == NULL ||
          (s->source->fixed =
           s3_creds_new (v->v[V_ACCESS_KEY], v->v[V_SECRET_KEY],
                         nonempty (v->v[V_SESSION_TOKEN]), 0)) == NULL)
        return out_of_memory ();
    }
    else {
      r = profile_source (conf, source_profile, depth + 1, &s->source, &why);
      if (r == -1)
        return -1;
      if (r == 0)
        return objstore_fail (EACCES, "%s: source_profile \"%s\" has no "
                              "credentials (%s)", where, source_profile,
                              why);
    }
  }
  else if (cred_source) {
    CLEANUP_CREDS_SOURCE struct creds_source *from = NULL;

    if (credential_source (conf, cred_source, where, &from) == -1)
      return -1;
    s = creds_source_new (CREDS_ASSUME_ROLE, "role %s (credential_source "
                          "%s: %s) of %s", v->v[V_ROLE_ARN], cred_source,
                          from->name, where);
    if (s == NULL)
      return out_of_memory ();
    s->source = from;
    from = NULL;
  }
  else
    return objstore_fail (EINVAL, "%s: role_arn is set but none of "
                          "source_profile, credential_source and "
                          "web_identity_token_file", where);

  if ((s->role_arn = strdup (v->v[V_ROLE_ARN])) == NULL ||
      (nonempty (v->v[V_ROLE_SESSION_NAME]) &&
       (s->session_name = strdup (v->v[V_ROLE_SESSION_NAME])) == NULL) ||
      (nonempty (v->v[V_EXTERNAL_ID]) &&
       (s->external_id = strdup (v->v[V_EXTERNAL_ID])) == NULL) ||
      creds_source_set_sts (s, conf) == -1)
    return out_of_memory ();
  *src = s;
  s = NULL;
  return 1;
}

/* The SSO settings of PROFILE (values V, found in WHERE), with those of
 * its [sso-session NAME] in CONFIG_PATH: the SSO portal's source.
 */
static int
sso_source (const char *profile, struct profile_values *v,
            const char *where, const char *config_path,
            struct creds_source **src)
{
  static const int required[] = {
    V_SSO_START_URL, V_SSO_REGION, V_SSO_ACCOUNT_ID, V_SSO_ROLE_NAME,
  };
  const char *session = nonempty (v->v[V_SSO_SESSION]);
  const char *val[NR_VALUES];
  CLEANUP_PROFILE_VALUES struct profile_values sv = { 0 };
  CLEANUP_CREDS_SOURCE struct creds_source *s = NULL;
  CLEANUP_FREE char *account = NULL;
  CLEANUP_FREE char *role = NULL;
  CLEANUP_FREE char *endpoint = NULL;
  CLEANUP_FREE char *cache = NULL;
  bool keep[NR_VALUES] = { false };
  char missing[128] = "";
  const char *key_of;
  uint8_t hash[20];
  char hex[41];
  size_t i, n;

  for (i = 0; i < NR_VALUES; i++)
    val[i] = nonempty (v->v[i]);

  /* With sso_session, the start URL and region are the session's; the
   * profile may repeat them, but not differ (as the SDKs insist).
   */
  if (session) {
    if (read_profile (config_path, session, "sso-session", keep, &sv) == -1)
      return -1;
    if (!sv.found)
      return objstore_fail (EINVAL, "%s: sso_session = %s, but %s has no "
                            "[sso-session %s]", where, session, config_path,
                            session);
    for (i = V_SSO_START_URL; i <= V_SSO_REGION; i++) {
      const char *mine = val[i], *its = nonempty (sv.v[i]);

      if (mine && its && strcmp (mine, its) != 0)
        return objstore_fail (EINVAL, "%s: %s = %s differs from the %s of "
                              "[sso-session %s], %s", where, value_keys[i],
                              mine, value_keys[i], session, its);
      val[i] = its ? its : mine;
    }
  }
  for (i = 0; i < sizeof required / sizeof required[0]; i++)
    if (val[required[i]] == NULL)
      snprintf (missing + strlen (missing), sizeof missing - strlen (missing),
                "%s%s", missing[0] ? ", " : "", value_keys[required[i]]);
  if (missing[0])
    return objstore_fail (EINVAL, "%s: configured for SSO%s%s%s, but "
                          "without %s", where,
                          session ? " (sso_session " : "",
                          session ? session : "", session ? ")" : "",
                          missing);
  /* It names a host. */
  if (strspn (val[V_SSO_REGION], "abcdefghijklmnopqrstuvwxyz0123456789-")
      != strlen (val[V_SSO_REGION]))
    return objstore_fail (EINVAL, "%s: sso_region = %s is not a region name",
                          where, val[V_SSO_REGION]);

  /* The token that "aws sso login" cached, named by the SHA-1 of the
   * session name, or of the start URL without a session.
   */
  key_of = session ? session : val[V_SSO_START_URL];
  crypto_sha1 (key_of, strlen (key_of), hash);
  crypto_hex (hash, sizeof hash, hex);
  cache = format_string ("sso/cache/%s.json", hex);
  if (cache == NULL)
    return out_of_memory ();

  endpoint = nonempty (getenv ("AWS_ENDPOINT_URL_SSO"))
    ? strdup (getenv ("AWS_ENDPOINT_URL_SSO"))
    : format_string ("https://portal.sso.%s.amazonaws.com",
                     val[V_SSO_REGION]);
  account = sigv4_uri_encode (val[V_SSO_ACCOUNT_ID],
                              strlen (val[V_SSO_ACCOUNT_ID]), false);
  role = sigv4_uri_encode (val[V_SSO_ROLE_NAME],
                           strlen (val[V_SSO_ROLE_NAME]), false);
  if (endpoint == NULL || account == NULL || role == NULL)
    return out_of_memory ();
  n = strlen (endpoint);
  while (n > 0 && endpoint[n - 1] == '/')
    endpoint[--n] = '\0';

  s = creds_source_new (CREDS_SSO, "SSO role %s of account %s (start URL "
                        "%s) of %s", val[V_SSO_ROLE_NAME],
                        val[V_SSO_ACCOUNT_ID], val[V_SSO_START_URL], where);
  if (s == NULL ||
      (s->sso_cache = shared_file_path (NULL, cache)) == NULL ||
      (s->sso_url = format_string ("%s/federation/credentials?account_id=%s"
                                   "&role_name=%s", endpoint, account,
                                   role)) == NULL ||
      (s->sso_login = format_string ("aws sso login --%s %s",
                                     session ? "sso-session" : "profile",
                                     session ? session : profile)) == NULL)
    return out_of_memory ();
  *src = s;
  s = NULL;
  return 1;
}

static int
profile_source (const struct zconf *conf, const char *profile,
                unsigned depth, struct creds_source **src, char **why)
{
  CLEANUP_PROFILE_VALUES struct profile_values v = { 0 };
  CLEANUP_FREE char *cred_path = NULL;
  CLEANUP_FREE char *config_path = NULL;
  CLEANUP_FREE char *where = NULL;
  bool keep[NR_VALUES] = { false };
  bool in_cred, in_config;
  const char *cred_why, *config_why;
  const char *ak, *sk;
  int r1, r2;
  size_t i;

  *src = NULL;
  *why = NULL;
  cred_path = shared_file_path ("AWS_SHARED_CREDENTIALS_FILE", "credentials");
  config_path = shared_file_path ("AWS_CONFIG_FILE", "config");
  if (cred_path == NULL || config_path == NULL)
    return out_of_memory ();

  /* The credentials file first; the config file fills in the rest. */
  r1 = read_profile (cred_path, profile, NULL, keep, &v);
  if (r1 == -1)
    return -1;
  in_cred = v.found;
  for (i = 0; i < NR_VALUES; i++)
    keep[i] = v.v[i] != NULL;
  v.found = false;
  r2 = read_profile (config_path, profile, "profile", keep, &v);
  if (r2 == -1)
    return -1;
  in_config = v.found;
  cred_why = r1 == 0 ? "not found" : in_cred ? "no keys in the profile"
    : "no such profile";
  config_why = r2 == 0 ? "not found" : in_config ? "no keys in the profile"
    : "no such profile";

  if (in_cred && in_config)
    where = format_string ("profile \"%s\" in %s and %s", profile,
                           cred_path, config_path);
  else
    where = format_string ("profile \"%s\" in %s", profile,
                           in_cred ? cred_path : config_path);
  if (where == NULL)
    return out_of_memory ();

  if (nonempty (v.v[V_ROLE_ARN]))
    return role_source (conf, profile, depth, &v, where, src);

  if (nonempty (v.v[V_SSO_SESSION]) || nonempty (v.v[V_SSO_START_URL]) ||
      nonempty (v.v[V_SSO_ACCOUNT_ID]) || nonempty (v.v[V_SSO_ROLE_NAME]))
    return sso_source (profile, &v, where, config_path, src);

  ak = nonempty (v.v[V_ACCESS_KEY]);
  sk = nonempty (v.v[V_SECRET_KEY]);
  if (ak || sk) {
    if (!ak || !sk)
      return objstore_fail (EINVAL, "%s: %s is set but %s is not", where,
                            ak ? "aws_access_key_id"
                            : "aws_secret_access_key",
                            ak ? "aws_secret_access_key"
                            : "aws_access_key_id");
    *src = creds_source_new (CREDS_STATIC, "%s", where);
    if (*src == NULL ||
        ((*src)->fixed = s3_creds_new (ak, sk,
                                       nonempty (v.v[V_SESSION_TOKEN]),
                                       0)) == NULL) {
      creds_source_free (*src);
      *src = NULL;
      return out_of_memory ();
    }
    return 1;
  }

  if (nonempty (v.v[V_CREDENTIAL_PROCESS])) {
    *src = creds_source_new (CREDS_PROCESS, "credential_process of %s",
                             where);
    if (*src == NULL ||
        ((*src)->command = strdup (v.v[V_CREDENTIAL_PROCESS])) == NULL) {
      creds_source_free (*src);
      *src = NULL;
      return out_of_memory ();
    }
    return 1;
  }

  *why = format_string ("%s: %s; %s: %s", cred_path, cred_why,
                        config_path, config_why);
  return *why ? 0 : out_of_memory ();
}

int
creds_profile_source (const struct zconf *conf, const char *profile,
                      struct creds_source **src, char **why)
{
  return profile_source (conf, profile, 0, src, why);
}
