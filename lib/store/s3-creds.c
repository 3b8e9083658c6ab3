/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: where the S3 credentials come from (see s3-creds.h).
 *
 * The shared files are INI files as botocore reads them: "[section]"
 * headers, "key = value" lines, '#' and ';' comment lines, indented lines
 * continuing the previous value (nested settings such as "s3 =", never
 * credentials, so they are skipped).  Keys are compared without regard to
 * case; the last assignment in the section wins.  Every line read is
 * wiped once parsed, and the getline buffer before it is freed; the
 * secrets themselves are wiped when freed (cleanup_wipe_string, also
 * as the CLEANUP_WIPE_STRING / CLEANUP_PROFILE_VALUES attributes).
 */
#include <config.h>

#include <errno.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cleanup.h"
#include "conf.h"
#include "utils.h"
#include "internal.h"
#include "s3-creds.h"

void
s3_creds_free (struct s3_creds *creds)
{
  cleanup_wipe_string (&creds->access_key);
  cleanup_wipe_string (&creds->secret_key);
  cleanup_wipe_string (&creds->session_token);
  cleanup_free (&creds->source);
  creds->access_key = creds->secret_key = NULL;
  creds->session_token = creds->source = NULL;
}

static const char *
nonempty (const char *s)
{
  return s && *s ? s : NULL;
}

static int
set_creds (struct s3_creds *creds, const char *ak, const char *sk,
           const char *token, const char *source)
{
  creds->access_key = strdup (ak);
  creds->secret_key = strdup (sk);
  creds->session_token = token ? strdup (token) : NULL;
  creds->source = strdup (source);
  if (!creds->access_key || !creds->secret_key || !creds->source ||
      (token && !creds->session_token)) {
    s3_creds_free (creds);
    return objstore_fail (ENOMEM, "credentials: out of memory");
  }
  return 0;
}

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

/* Is the section header S (inside the brackets, trimmed) PROFILE?  In
 * the config file, profiles other than "default" are "profile NAME".
 */
static bool
section_is (char *s, const char *profile, bool config_file)
{
  if (config_file && strncmp (s, "profile", 7) == 0 &&
      (s[7] == ' ' || s[7] == '\t'))
    return strcmp (trim (s + 7), profile) == 0;
  if (config_file && strcmp (profile, "default") != 0)
    return false;
  return strcmp (s, profile) == 0;
}

struct profile_values {
  bool found;                     /* the section exists */
  char *access_key, *secret_key, *session_token;
};

static void
profile_values_free (struct profile_values *v)
{
  cleanup_wipe_string (&v->access_key);
  cleanup_wipe_string (&v->secret_key);
  cleanup_wipe_string (&v->session_token);
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
 * *IN_PROFILE, a key of PROFILE's section goes into *V.  -1 on ENOMEM.
 */
static int
read_line (char *line, const char *profile, bool config_file,
           bool *in_profile, struct profile_values *v)
{
  char *s, *eq, *key, *value;

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
    *in_profile = section_is (trim (s + 1), profile, config_file);
    if (*in_profile)
      v->found = true;
    return 0;
  }
  if (!*in_profile || (eq = strchr (s, '=')) == NULL)
    return 0;
  *eq = '\0';
  key = trim (s);
  value = trim (eq + 1);
  if (strcasecmp (key, "aws_access_key_id") == 0)
    return replace (&v->access_key, value);
  if (strcasecmp (key, "aws_secret_access_key") == 0)
    return replace (&v->secret_key, value);
  if (strcasecmp (key, "aws_session_token") == 0)
    return replace (&v->session_token, value);
  return 0;
}

/* Read PROFILE from the INI file PATH.  Returns 1 if the file was read,
 * 0 if it does not exist, -1 on error (objstore_fail).
 */
static int
read_profile (const char *path, const char *profile, bool config_file,
              struct profile_values *v)
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
    int r = read_line (line, profile, config_file, &in_profile, v);

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

/* $VAR if set, else ~/.aws/NAME.  Returns malloc'd path or NULL. */
static char *
shared_file_path (const char *var, const char *name)
{
  const char *env = nonempty (getenv (var));
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

/* Look in one shared file.  Returns 1 found, 0 not there (*WHY says
 * why), -1 error.
 */
static int
try_shared_file (const char *path, const char *profile, bool config_file,
                 struct s3_creds *creds, const char **why)
{
  CLEANUP_PROFILE_VALUES struct profile_values v = { 0 };
  CLEANUP_FREE char *source = NULL;
  int r;

  r = read_profile (path, profile, config_file, &v);
  if (r <= 0) {
    *why = "not found";
    return r;
  }
  if (!v.found) {
    *why = "no such profile";
    return 0;
  }
  if (!nonempty (v.access_key) && !nonempty (v.secret_key)) {
    *why = "no keys in the profile";
    return 0;
  }
  if (!nonempty (v.access_key) || !nonempty (v.secret_key))
    return objstore_fail (EINVAL, "%s, profile \"%s\": %s is set but %s "
                          "is not", path, profile,
                          nonempty (v.access_key) ? "aws_access_key_id"
                          : "aws_secret_access_key",
                          nonempty (v.access_key) ? "aws_secret_access_key"
                          : "aws_access_key_id");
  source = format_string ("%s, profile \"%s\"", path, profile);
  if (source == NULL)
    return objstore_fail (ENOMEM, "credentials: out of memory");
  return set_creds (creds, v.access_key, v.secret_key,
                    nonempty (v.session_token), source) == 0 ? 1 : -1;
}

int
s3_creds_resolve (const struct zconf *conf, struct s3_creds *creds)
{
  const char *ak, *sk, *profile;
  const char *cred_why = NULL, *config_why = NULL;
  CLEANUP_FREE char *cred_path = NULL;
  CLEANUP_FREE char *config_path = NULL;
  bool explicit_profile = nonempty (conf->profile) != NULL;
  int r;

  creds->access_key = creds->secret_key = NULL;
  creds->session_token = creds->source = NULL;

  /* 1. The options. */
  if (nonempty (conf->access_key) || nonempty (conf->secret_key)) {
    if (!nonempty (conf->access_key) || !nonempty (conf->secret_key))
      return objstore_fail (EINVAL, "%s is set but %s is not",
                            nonempty (conf->access_key)
                            ? "access-key" : "secret-key",
                            nonempty (conf->access_key)
                            ? "secret-key" : "access-key");
    return set_creds (creds, conf->access_key, conf->secret_key,
                      nonempty (conf->session_token),
                      "the access-key and secret-key options");
  }
  if (nonempty (conf->session_token))
    return objstore_fail (EINVAL, "session-token is set but access-key "
                          "and secret-key are not");

  /* 3. The environment, unless profile= asks for the shared files. */
  ak = nonempty (getenv ("AWS_ACCESS_KEY_ID"));
  sk = nonempty (getenv ("AWS_SECRET_ACCESS_KEY"));
  if (!explicit_profile && (ak || sk)) {
    if (!ak || !sk)
      return objstore_fail (EINVAL, "%s is set in the environment "
                            "but %s is not",
                            ak ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
                            ak ? "AWS_SECRET_ACCESS_KEY"
                            : "AWS_ACCESS_KEY_ID");
    return set_creds (creds, ak, sk, nonempty (getenv ("AWS_SESSION_TOKEN")),
                      "the environment (AWS_ACCESS_KEY_ID)");
  }

  /* 2 and 4. The shared files. */
  profile = explicit_profile ? conf->profile
    : nonempty (getenv ("AWS_PROFILE")) ? getenv ("AWS_PROFILE") : "default";
  cred_path = shared_file_path ("AWS_SHARED_CREDENTIALS_FILE", "credentials");
  config_path = shared_file_path ("AWS_CONFIG_FILE", "config");
  if (cred_path == NULL || config_path == NULL)
    return objstore_fail (ENOMEM, "credentials: out of memory");
  r = try_shared_file (cred_path, profile, false, creds, &cred_why);
  if (r == 0)
    r = try_shared_file (config_path, profile, true, creds, &config_why);
  if (r != 0)
    return r == 1 ? 0 : -1;

  if (explicit_profile)
    return objstore_fail (EACCES, "no S3 credentials for profile \"%s\" "
                          "(from profile=): %s: %s; %s: %s",
                          profile, cred_path, cred_why,
                          config_path, config_why);
  return objstore_fail (EACCES, "no S3 credentials found: not in the "
                        "access-key and secret-key options, not in the "
                        "environment (AWS_ACCESS_KEY_ID, "
                        "AWS_SECRET_ACCESS_KEY), and for profile \"%s\"%s: "
                        "%s: %s; %s: %s",
                        profile,
                        getenv ("AWS_PROFILE") && *getenv ("AWS_PROFILE")
                        ? " (from AWS_PROFILE)" : "",
                        cred_path, cred_why, config_path, config_why);
}
