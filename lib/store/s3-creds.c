/* zerofs: where the S3 credentials come from (see s3-creds.h).
 *
 * The shared files are INI files as botocore reads them: "[section]"
 * headers, "key = value" lines, '#' and ';' comment lines, indented lines
 * continuing the previous value (nested settings such as "s3 =", never
 * credentials, so they are skipped).  Keys are compared without regard to
 * case; the last assignment in the section wins.  Lines that held a
 * secret are wiped before their buffer is freed.
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

#include "conf.h"
#include "internal.h"
#include "s3-creds.h"

static void
wipe_free (char *s)
{
  if (s) {
    explicit_bzero (s, strlen (s));
    free (s);
  }
}

void
s3_creds_free (struct s3_creds *creds)
{
  wipe_free (creds->access_key);
  wipe_free (creds->secret_key);
  wipe_free (creds->session_token);
  free (creds->source);
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
  wipe_free (v->access_key);
  wipe_free (v->secret_key);
  wipe_free (v->session_token);
}

static int
replace (char **slot, const char *value)
{
  char *copy = strdup (value);

  if (copy == NULL)
    return -1;
  wipe_free (*slot);
  *slot = copy;
  return 0;
}

/* Read PROFILE from the INI file PATH.  Returns 1 if the file was read,
 * 0 if it does not exist, -1 on error (objstore_fail).
 */
static int
read_profile (const char *path, const char *profile, bool config_file,
              struct profile_values *v)
{
  FILE *fp = fopen (path, "r");
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
    char *s = line, *eq, *key, *value;

    if (*s == ' ' || *s == '\t')
      goto next;                  /* continuation of a nested value */
    s = trim (s);
    if (*s == '\0' || *s == '#' || *s == ';')
      goto next;
    if (*s == '[') {
      char *close = strrchr (s, ']');

      if (close == NULL) {
        in_profile = false;
        goto next;
      }
      *close = '\0';
      in_profile = section_is (trim (s + 1), profile, config_file);
      if (in_profile)
        v->found = true;
      goto next;
    }
    if (!in_profile || (eq = strchr (s, '=')) == NULL)
      goto next;
    *eq = '\0';
    key = trim (s);
    value = trim (eq + 1);
    if ((strcasecmp (key, "aws_access_key_id") == 0 &&
         replace (&v->access_key, value) == -1) ||
        (strcasecmp (key, "aws_secret_access_key") == 0 &&
         replace (&v->secret_key, value) == -1) ||
        (strcasecmp (key, "aws_session_token") == 0 &&
         replace (&v->session_token, value) == -1)) {
      ret = objstore_fail (ENOMEM, "credentials: out of memory");
      break;
    }
  next:
    explicit_bzero (line, len);
  }
  if (ret == 1 && ferror (fp))
    ret = objstore_fail (EINVAL, "error reading the AWS shared file %s: %m",
                         path);
  if (line) {
    explicit_bzero (line, cap);
    free (line);
  }
  fclose (fp);
  return ret;
}

/* $VAR if set, else ~/.aws/NAME.  Returns malloc'd path or NULL. */
static char *
shared_file_path (const char *var, const char *name)
{
  const char *env = nonempty (getenv (var));
  const char *home = nonempty (getenv ("HOME"));
  struct passwd pw, *result = NULL;
  char buf[4096], *path;
  size_t len;

  if (env)
    return strdup (env);
  if (home == NULL) {
    if (getpwuid_r (getuid (), &pw, buf, sizeof buf, &result) == 0 &&
        result != NULL)
      home = pw.pw_dir;
    else
      home = "~";               /* only for the message: nothing is there */
  }
  len = strlen (home) + strlen ("/.aws/") + strlen (name) + 1;
  path = malloc (len);
  if (path)
    snprintf (path, len, "%s/.aws/%s", home, name);
  return path;
}

/* Look in one shared file.  Returns 1 found, 0 not there (*WHY says
 * why), -1 error.
 */
static int
try_shared_file (const char *path, const char *profile, bool config_file,
                 struct s3_creds *creds, const char **why)
{
  struct profile_values v = { 0 };
  char *source = NULL;
  size_t len;
  int r;

  r = read_profile (path, profile, config_file, &v);
  if (r <= 0) {
    *why = "not found";
    goto out;
  }
  if (!v.found) {
    *why = "no such profile";
    r = 0;
    goto out;
  }
  if (!nonempty (v.access_key) && !nonempty (v.secret_key)) {
    *why = "no keys in the profile";
    r = 0;
    goto out;
  }
  if (!nonempty (v.access_key) || !nonempty (v.secret_key)) {
    r = objstore_fail (EINVAL, "%s, profile \"%s\": %s is set but %s "
                       "is not", path, profile,
                       nonempty (v.access_key) ? "aws_access_key_id"
                       : "aws_secret_access_key",
                       nonempty (v.access_key) ? "aws_secret_access_key"
                       : "aws_access_key_id");
    goto out;
  }
  len = strlen (path) + strlen (profile) + 32;
  source = malloc (len);
  if (source == NULL) {
    r = objstore_fail (ENOMEM, "credentials: out of memory");
    goto out;
  }
  snprintf (source, len, "%s, profile \"%s\"", path, profile);
  r = set_creds (creds, v.access_key, v.secret_key,
                 nonempty (v.session_token), source) == 0 ? 1 : -1;

 out:
  free (source);
  profile_values_free (&v);
  return r;
}

int
s3_creds_resolve (const struct zconf *conf, struct s3_creds *creds)
{
  const char *ak, *sk, *profile;
  const char *cred_why = NULL, *config_why = NULL;
  char *cred_path = NULL, *config_path = NULL;
  bool explicit_profile = nonempty (conf->profile) != NULL;
  int r, ret = -1;

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
  if (cred_path == NULL || config_path == NULL) {
    objstore_fail (ENOMEM, "credentials: out of memory");
    goto out;
  }
  r = try_shared_file (cred_path, profile, false, creds, &cred_why);
  if (r == 0)
    r = try_shared_file (config_path, profile, true, creds, &config_why);
  if (r == -1)
    goto out;
  if (r == 1) {
    ret = 0;
    goto out;
  }

  if (explicit_profile)
    objstore_fail (EACCES, "no S3 credentials for profile \"%s\" (from "
                   "profile=): %s: %s; %s: %s",
                   profile, cred_path, cred_why, config_path, config_why);
  else
    objstore_fail (EACCES, "no S3 credentials found: not in the access-key "
                   "and secret-key options, not in the environment "
                   "(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), and for "
                   "profile \"%s\"%s: %s: %s; %s: %s",
                   profile, getenv ("AWS_PROFILE") && *getenv ("AWS_PROFILE")
                   ? " (from AWS_PROFILE)" : "",
                   cred_path, cred_why, config_path, config_why);

 out:
  free (cred_path);
  free (config_path);
  return ret;
}
