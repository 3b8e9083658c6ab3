/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs fuzz target: the AWS shared credentials and config file parser
 * (lib/store/s3-creds-files.c, reached through creds_profile_source;
 * not through s3_creds_open, which would run a credential_process or
 * call STS that the input names).
 *
 * ~/.aws/credentials and ~/.aws/config are written by hand and by other
 * tools, and their lines end up as the secrets that sign every request:
 * the INI reader must take any bytes (long lines, NULs, no final
 * newline, stray brackets) and never return half a key pair.  The input
 * is the profile to look for (its first line; empty: the default), the
 * credentials file (up to the first NUL byte) and the config file (the
 * rest).  Both are written to a temporary directory named by
 * AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE; the AWS_* variables
 * that would take precedence are unset.
 *
 * Static credentials that are found must be a whole pair of non-empty
 * strings with no surrounding blanks; a role or a process must come
 * with what it needs (role ARN, source or token file; a command; the
 * SSO token cache and a portal URL with no blank in it).
 */
#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "store/s3-creds-source.h"

#include "fuzz.h"

static char cred_path[512], config_path[512];

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init ();
  snprintf (cred_path, sizeof cred_path, "%s/credentials", fuzz_tmpdir ());
  snprintf (config_path, sizeof config_path, "%s/config", fuzz_tmpdir ());
  setenv ("AWS_SHARED_CREDENTIALS_FILE", cred_path, 1);
  setenv ("AWS_CONFIG_FILE", config_path, 1);
  unsetenv ("AWS_ACCESS_KEY_ID");
  unsetenv ("AWS_SECRET_ACCESS_KEY");
  unsetenv ("AWS_SESSION_TOKEN");
  unsetenv ("AWS_PROFILE");
  return 0;
}

static bool
trimmed (const char *s)
{
  size_t n = s ? strlen (s) : 0;

  return n > 0 && !strchr (" \t", s[0]) && !strchr (" \t\r\n", s[n - 1]);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const uint8_t *nl = memchr (data, '\n', size), *nul;
  size_t plen = nl ? (size_t) (nl - data) : size;
  char *profile;
  struct zconf conf;
  struct creds_source *src;
  char *why;
  int r;

  profile = strndup ((const char *) data, plen);
  if (profile == NULL)
    fuzz_fail ("out of memory");
  data += nl ? plen + 1 : plen;
  size -= nl ? plen + 1 : plen;
  nul = memchr (data, '\0', size);
  if (nul) {
    fuzz_write_file (cred_path, data, nul - data);
    fuzz_write_file (config_path, nul + 1, size - (nul - data) - 1);
  }
  else {
    fuzz_write_file (cred_path, data, size);
    unlink (config_path);
  }

  zconf_init (&conf);
  conf.profile = profile;
  r = creds_profile_source (&conf, *profile ? profile : "default", &src,
                            &why);
  if (r == 1) {
    const struct creds_source *s = src;

    while (s->kind == CREDS_ASSUME_ROLE) {
      if (s->role_arn == NULL || s->source == NULL || s->sts_endpoint == NULL)
        fuzz_fail ("a role without its ARN, source or STS endpoint");
      s = s->source;
    }
    if (s->kind == CREDS_STATIC &&
        (!trimmed (s->fixed->access_key) || !trimmed (s->fixed->secret_key) ||
         (s->fixed->session_token && !trimmed (s->fixed->session_token))))
      fuzz_fail ("credentials with an empty or untrimmed field");
    if (s->kind == CREDS_PROCESS && !trimmed (s->command))
      fuzz_fail ("credential_process with an empty or untrimmed command");
    if (s->kind == CREDS_WEB_IDENTITY &&
        (!trimmed (s->token_file) || !trimmed (s->role_arn)))
      fuzz_fail ("web identity without its token file or role");
    if (s->kind == CREDS_SSO &&
        (s->sso_cache == NULL || s->sso_url == NULL ||
         s->sso_login == NULL || strpbrk (s->sso_url, " \t\r\n")))
      fuzz_fail ("SSO without its token cache, or a bad portal URL");
    if (s->name == NULL)
      fuzz_fail ("a source without a name");
    creds_source_free (src);
  }
  else if (r == 0) {
    if (why == NULL || src != NULL)
      fuzz_fail ("no credentials, but no reason or a source");
    free (why);
  }
  else if (errno != EACCES && errno != EINVAL)
    fuzz_fail ("creds_profile_source failed with errno %d", errno);
  free (profile);
  return 0;
}
