/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: fetching credentials from the providers that hand out
 * temporary ones (see s3-creds-source.h).  The protocols, as the AWS
 * SDKs speak them:
 *
 * credential_process: the command runs with /bin/sh -c, as the Go and
 * Rust SDKs run it (so that quoting is the shell's), stdin /dev/null,
 * stderr inherited.  It must exit 0 and print one JSON object:
 * "Version": 1, "AccessKeyId", "SecretAccessKey", optional
 * "SessionToken" and "Expiration" (RFC 3339).  No Expiration: they do
 * not expire.
 *
 * STS (AWS_ENDPOINT_URL_STS, else https://sts.amazonaws.com, or
 * https://sts.REGION.amazonaws.com with AWS_STS_REGIONAL_ENDPOINTS=
 * regional): a POST of the form-encoded query Action=..., Version=
 * 2011-06-15.  AssumeRoleWithWebIdentity is unsigned and carries the
 * token file's contents (read again at every fetch: Kubernetes rotates
 * it) as WebIdentityToken; AssumeRole is SigV4-signed (service "sts")
 * with the source profile's credentials.  The answer is XML
 * (s3_xml_parse_sts).
 *
 * Container endpoint: GET the URL, with "Authorization: TOKEN" from
 * AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (read at every fetch) or
 * AWS_CONTAINER_AUTHORIZATION_TOKEN.  The answer is JSON: AccessKeyId,
 * SecretAccessKey, Token, Expiration.
 *
 * IMDSv2: PUT /latest/api/token with X-aws-ec2-metadata-token-ttl-seconds
 * (21600) for a session token, kept until its TTL (the smaller of the
 * one asked for and the one the service answers with) is nearly over;
 * then, with X-aws-ec2-metadata-token: TOKEN, GET
 * /latest/meta-data/iam/security-credentials/ for the role name and GET
 * .../ROLE for the JSON (Code "Success", AccessKeyId, SecretAccessKey,
 * Token, Expiration).  A 401 means the token lapsed: a new one is
 * fetched, once.  IMDSv1 (no token) only with imds-v1=true, when the
 * token PUT fails.
 *
 * SSO (IAM Identity Center): the access token that "aws sso login"
 * cached in ~/.aws/sso/cache/SHA1.json ("accessToken", "expiresAt"),
 * read at every fetch so that a new login is picked up; expired, it is
 * an error that says to log in again (it is not refreshed here with the
 * cached refresh token, as the SDKs do for sso-session profiles).  Then
 * GET PORTAL/federation/credentials?account_id=A&role_name=R with
 * "x-amz-sso_bearer_token: TOKEN"; PORTAL is AWS_ENDPOINT_URL_SSO or
 * https://portal.sso.REGION.amazonaws.com.  The answer is JSON:
 * "roleCredentials": { accessKeyId, secretAccessKey, sessionToken,
 * expiration (milliseconds since the epoch) }.
 *
 * Every answer is read as text from a bounded buffer, and what held a
 * secret is wiped.
 */
#define _GNU_SOURCE             /* pipe2, vasprintf */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "conf.h"
#include "crypto.h"
#include "utils.h"
#include "vector.h"
#include "internal.h"
#include "s3-creds-source.h"
#include "s3-json.h"
#include "s3-sigv4.h"
#include "s3-xml.h"

extern char **environ;

#define IMDS_TOKEN_TTL 21600
#define MAX_ANSWER (64 * 1024)
#define STS_VERSION "2011-06-15"

static int
out_of_memory (void)
{
  return objstore_fail (ENOMEM, "credentials: out of memory");
}

struct creds_source *
creds_source_new (enum creds_kind kind, const char *fmt, ...)
{
  struct creds_source *src = calloc (1, sizeof *src);
  va_list args;
  int r;

  if (src == NULL) {
    out_of_memory ();
    return NULL;
  }
  src->kind = kind;
  va_start (args, fmt);
  r = vasprintf (&src->name, fmt, args);
  va_end (args);
  if (r == -1) {
    free (src);
    out_of_memory ();
    return NULL;
  }
  return src;
}

void
creds_source_free (struct creds_source *src)
{
  if (src == NULL)
    return;
  free (src->name);
  s3_creds_free (src->fixed);
  free (src->command);
  free (src->role_arn);
  free (src->session_name);
  free (src->token_file);
  free (src->external_id);
  free (src->sts_endpoint);
  free (src->sts_region);
  creds_source_free (src->source);
  free (src->url);
  cleanup_wipe_string (&src->auth_token);
  free (src->auth_token_file);
  free (src->imds_endpoint);
  cleanup_wipe_string (&src->imds_token);
  free (src->sso_cache);
  free (src->sso_url);
  free (src->sso_login);
  free (src);
}

int
creds_source_set_sts (struct creds_source *src, const struct zconf *conf)
{
  const char *url = nonempty (getenv ("AWS_ENDPOINT_URL_STS"));
  const char *regional = nonempty (getenv ("AWS_STS_REGIONAL_ENDPOINTS"));
  /* region=auto is found later, by the S3 store: STS's own default. */
  const char *region = conf->region && *conf->region &&
    strcmp (conf->region, "auto") != 0 ? conf->region : "us-east-1";
  size_t n;

  if (url) {
    src->sts_endpoint = strdup (url);
    src->sts_region = strdup (region);
  }
  else if (regional && strcmp (regional, "regional") == 0) {
    src->sts_endpoint = format_string ("https://sts.%s.amazonaws.com",
                                       region);
    src->sts_region = strdup (region);
  }
  else {
    src->sts_endpoint = strdup ("https://sts.amazonaws.com");
    src->sts_region = strdup ("us-east-1");
  }
  if (src->sts_endpoint == NULL || src->sts_region == NULL)
    return -1;
  n = strlen (src->sts_endpoint);
  while (n > 0 && src->sts_endpoint[n - 1] == '/')
    src->sts_endpoint[--n] = '\0';
  return 0;
}

/* Days from 1970-01-01 to Y-M-D (proleptic Gregorian). */
static int64_t
days_from_civil (int64_t y, unsigned m, unsigned d)
{
  int64_t era;
  unsigned yoe, doy, doe;

  y -= m <= 2;
  era = (y >= 0 ? y : y - 399) / 400;
  yoe = (unsigned) (y - era * 400);
  doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t) doe - 719468;
}

int
creds_parse_time (const char *s, time_t *t)
{
  int y, mo, d, h, mi, sec, n = 0, oh, om;
  int64_t v;
  const char *p;

  if (sscanf (s, "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n",
              &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n != 19)
    return -1;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
      sec > 60 || y < 1970)
    return -1;
  p = s + 19;
  if (*p == '.') {
    p++;
    if (*p < '0' || *p > '9')
      return -1;
    while (*p >= '0' && *p <= '9')
      p++;
  }
  v = days_from_civil (y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
  if ((p[0] == 'Z' || p[0] == 'z') && p[1] == '\0')
    ;
  else if ((p[0] == '+' || p[0] == '-') &&
           sscanf (p + 1, "%2d:%2d%n", &oh, &om, &n) == 2 && n == 5 &&
           p[6] == '\0' && oh < 24 && om < 60)
    v -= (p[0] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
  else
    return -1;
  *t = (time_t) v;
  return 0;
}

/* Credentials from a JSON answer.  TOKEN_NAME is "Token" or
 * "SessionToken".  WHAT names the provider for messages.
 */
static int
creds_from_json (const char *what, const char *doc, size_t len,
                 const char *token_name, struct s3_creds **out)
{
  CLEANUP_JSON_OBJECT json_object obj = EMPTY_VECTOR;
  const char *ak, *sk, *token, *exp, *code;
  time_t expiration = 0;

  if (s3_json_parse_object (doc, len, &obj) == -1) {
    char msg[256];

    snprintf (msg, sizeof msg, "%s", objstore_last_error ());
    return objstore_fail (EBADMSG, "%s: %s", what, msg);
  }
  code = s3_json_get (&obj, "Code", JSON_STRING);
  if (code && strcmp (code, "Success") != 0)
    return objstore_fail (EACCES, "%s: the answer's Code is %s%s%s",
                          what, code,
                          s3_json_get (&obj, "Message", JSON_STRING)
                          ? ": " : "",
                          s3_json_get (&obj, "Message", JSON_STRING)
                          ? s3_json_get (&obj, "Message", JSON_STRING)
                          : "");
  ak = nonempty (s3_json_get (&obj, "AccessKeyId", JSON_STRING));
  sk = nonempty (s3_json_get (&obj, "SecretAccessKey", JSON_STRING));
  token = nonempty (s3_json_get (&obj, token_name, JSON_STRING));
  exp = nonempty (s3_json_get (&obj, "Expiration", JSON_STRING));
  if (ak == NULL || sk == NULL)
    return objstore_fail (EBADMSG, "%s: the answer has no AccessKeyId "
                          "and SecretAccessKey strings", what);
  if (exp && creds_parse_time (exp, &expiration) == -1)
    return objstore_fail (EBADMSG, "%s: cannot read the Expiration "
                          "\"%.40s\"", what, exp);
  *out = s3_creds_new (ak, sk, token, expiration);
  return *out ? 0 : -1;
}

/* The first line of a small file, trimmed, into a malloc'd string
 * (wiped when freed by the caller).
 */
static char *
read_token_file (const char *what, const char *path)
{
  CLEANUP_CLOSE int fd = open (path, O_RDONLY | O_CLOEXEC);
  char buf[16384];
  ssize_t r;
  size_t len = 0;
  char *ret;

  if (fd == -1) {
    objstore_fail (EACCES, "%s: cannot open %s: %m", what, path);
    return NULL;
  }
  while (len < sizeof buf - 1 &&
         (r = read (fd, buf + len, sizeof buf - 1 - len)) > 0)
    len += r;
  while (len > 0 && strchr (" \t\r\n", buf[len - 1]))
    len--;
  buf[len] = '\0';
  if (len == 0) {
    objstore_fail (EACCES, "%s: %s is empty", what, path);
    return NULL;
  }
  ret = strdup (buf);
  explicit_bzero (buf, sizeof buf);
  if (ret == NULL)
    out_of_memory ();
  return ret;
}

/* One HTTP request; -1 (objstore_fail) only if there was no answer. */
static int
http_call (struct s3_http *http, const char *what, const char *method,
           const char *url, const char *const *headers, size_t nheaders,
           const void *body, size_t len, struct s3_http_response *resp)
{
  struct s3_http_request req = {
    .method = method, .url = url, .headers = headers, .nheaders = nheaders,
    .body = body, .body_len = len,
  };

  if (s3_http_perform (http, &req, resp) == -1) {
    int e = errno;

    return objstore_fail (objstore_err_is_transient (e) ? e : EAGAIN,
                          "%s: %s %s: %s", what, method, url, resp->error);
  }
  if (resp->body_len > MAX_ANSWER)
    return objstore_fail (EBADMSG, "%s: %s %s: the answer is more than "
                          "%d bytes", what, method, url, MAX_ANSWER);
  return 0;
}

/* The errno class of an HTTP error status from a credentials service. */
static int
status_errno (long status)
{
  return status == 408 || status == 429 || status >= 500 ? EAGAIN : EACCES;
}

/* Wipe a response body (it may hold secrets), then free it. */
static void
wipe_response (struct s3_http_response *resp)
{
  if (resp->body)
    explicit_bzero (resp->body, resp->body_len);
  s3_http_response_free (resp);
}
#define CLEANUP_WIPE_RESPONSE __attribute__ ((cleanup (wipe_response)))

/* credential_process. */
static int
fetch_process (struct creds_source *src, struct s3_creds **out)
{
  CLEANUP_CLOSE int rfd = -1;
  int pipefd[2], status, r;
  posix_spawn_file_actions_t fa;
  char *argv[] = { (char *) "sh", (char *) "-c", src->command, NULL };
  char *buf;
  size_t len = 0;
  ssize_t n;
  pid_t pid;
  CLEANUP_JSON_OBJECT json_object obj = EMPTY_VECTOR;
  const char *version;

  if (pipe2 (pipefd, O_CLOEXEC) == -1)
    return objstore_fail (EAGAIN, "%s: pipe: %m", src->name);
  rfd = pipefd[0];
  if (posix_spawn_file_actions_init (&fa) != 0) {
    close (pipefd[1]);
    return out_of_memory ();
  }
  posix_spawn_file_actions_adddup2 (&fa, pipefd[1], 1);
  posix_spawn_file_actions_addopen (&fa, 0, "/dev/null", O_RDONLY, 0);
  r = posix_spawn (&pid, "/bin/sh", &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy (&fa);
  close (pipefd[1]);
  if (r != 0) {
    errno = r;
    return objstore_fail (EAGAIN, "%s: cannot run /bin/sh: %m", src->name);
  }

  buf = malloc (MAX_ANSWER + 1);
  if (buf != NULL)
    while (len < MAX_ANSWER &&
           ((n = read (rfd, buf + len, MAX_ANSWER - len)) > 0 ||
            (n == -1 && errno == EINTR)))
      if (n > 0)
        len += n;
  close (rfd);
  rfd = -1;
  while (waitpid (pid, &status, 0) == -1 && errno == EINTR)
    ;
  if (buf == NULL)
    return out_of_memory ();
  buf[len] = '\0';

  r = 0;
  if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
    r = objstore_fail (EACCES, "%s: the command %s %d", src->name,
                       WIFEXITED (status) ? "exited with status"
                       : "was killed by signal",
                       WIFEXITED (status) ? WEXITSTATUS (status)
                       : WTERMSIG (status));
  else if (len == MAX_ANSWER)
    r = objstore_fail (EBADMSG, "%s: the command printed more than %d "
                       "bytes", src->name, MAX_ANSWER);
  else if (s3_json_parse_object (buf, len, &obj) == -1) {
    char msg[256];

    snprintf (msg, sizeof msg, "%s", objstore_last_error ());
    r = objstore_fail (EBADMSG, "%s: %s", src->name, msg);
  }
  else if ((version = s3_json_get (&obj, "Version", JSON_NUMBER)) == NULL ||
           strcmp (version, "1") != 0)
    r = objstore_fail (EBADMSG, "%s: the output's \"Version\" is not 1",
                       src->name);
  else
    r = creds_from_json (src->name, buf, len, "SessionToken", out);
  explicit_bzero (buf, len);
  free (buf);
  return r;
}

/* Append "&NAME=VALUE" (form-encoded) to *BODY. */
static int
form_add (char **body, const char *name, const char *value)
{
  CLEANUP_WIPE_STRING char *enc = sigv4_uri_encode (value, strlen (value),
                                                    false);
  char *more;

  if (enc == NULL)
    return out_of_memory ();
  more = format_string ("%s%s%s=%s", *body ? *body : "", *body ? "&" : "",
                        name, enc);
  if (more == NULL)
    return out_of_memory ();
  cleanup_wipe_string (body);
  *body = more;
  return 0;
}

/* The STS answer into *OUT. */
static int
sts_answer (struct creds_source *src, const char *action,
            const struct s3_http_response *resp, struct s3_creds **out)
{
  CLEANUP_S3_STS_RESULT struct s3_sts_result res = { 0 };
  time_t expiration;

  if (resp->body_len == 0 ||
      s3_xml_parse_sts (resp->body, resp->body_len, &res) == -1) {
    char msg[256];
    bool ok = resp->status >= 200 && resp->status <= 299;

    snprintf (msg, sizeof msg, "%s", ok && resp->body_len
              ? objstore_last_error () : "no STS answer");
    return objstore_fail (ok ? EBADMSG : status_errno (resp->status),
                          "%s: STS %s at %s: HTTP %ld%s%s", src->name,
                          action, src->sts_endpoint, resp->status,
                          ok ? ": " : "", ok ? msg : "");
  }
  if (res.code)
    return objstore_fail (strcmp (res.code, "Throttling") == 0 ||
                          strcmp (res.code, "ServiceUnavailable") == 0 ||
                          strcmp (res.code, "InternalFailure") == 0 ||
                          strcmp (res.code, "IDPCommunicationError") == 0
                          ? EAGAIN : EACCES,
                          "%s: STS %s at %s: %s: %s (HTTP %ld)", src->name,
                          action, src->sts_endpoint, res.code,
                          res.message ? res.message : "no message",
                          resp->status);
  if (creds_parse_time (res.expiration, &expiration) == -1)
    return objstore_fail (EBADMSG, "%s: STS %s: cannot read the "
                          "Expiration \"%.40s\"", src->name, action,
                          res.expiration);
  *out = s3_creds_new (res.access_key, res.secret_key, res.session_token,
                       expiration);
  return *out ? 0 : -1;
}

static const char *
session_name (struct creds_source *src, char *buf, size_t size)
{
  if (src->session_name)
    return src->session_name;
  snprintf (buf, size, "zerofs-%lld", (long long) time (NULL));
  return buf;
}

/* STS AssumeRoleWithWebIdentity: unsigned. */
static int
fetch_web_identity (struct creds_source *src, struct s3_http *http,
                    struct s3_creds **out)
{
  CLEANUP_WIPE_STRING char *token = NULL;
  CLEANUP_WIPE_STRING char *body = NULL;
  CLEANUP_FREE char *url = NULL;
  CLEANUP_WIPE_RESPONSE struct s3_http_response resp = { 0 };
  const char *headers[] = {
    "Content-Type: application/x-www-form-urlencoded; charset=utf-8",
    "Accept: application/xml",
  };
  char namebuf[64];

  token = read_token_file (src->name, src->token_file);
  if (token == NULL)
    return -1;
  if (form_add (&body, "Action", "AssumeRoleWithWebIdentity") == -1 ||
      form_add (&body, "RoleArn", src->role_arn) == -1 ||
      form_add (&body, "RoleSessionName",
                session_name (src, namebuf, sizeof namebuf)) == -1 ||
      form_add (&body, "Version", STS_VERSION) == -1 ||
      form_add (&body, "WebIdentityToken", token) == -1)
    return -1;
  url = format_string ("%s/", src->sts_endpoint);
  if (url == NULL)
    return out_of_memory ();
  if (http_call (http, src->name, "POST", url, headers, 2, body,
                 strlen (body), &resp) == -1)
    return -1;
  return sts_answer (src, "AssumeRoleWithWebIdentity", &resp, out);
}

/* scheme://AUTHORITY/... of URL: malloc'd AUTHORITY, or NULL. */
static char *
url_authority (const char *url)
{
  const char *p = strstr (url, "://");

  if (p == NULL)
    return NULL;
  p += 3;
  return strndup (p, strcspn (p, "/?#"));
}

/* STS AssumeRole, signed with the source's credentials. */
static int
fetch_assume_role (struct creds_source *src, struct s3_http *http,
                   struct s3_creds **out)
{
  CLEANUP_S3_CREDS struct s3_creds *base = NULL;
  CLEANUP_WIPE_STRING char *body = NULL;
  CLEANUP_FREE char *url = NULL;
  CLEANUP_FREE char *host = NULL;
  CLEANUP_WIPE_RESPONSE struct s3_http_response resp = { 0 };
  CLEANUP_SIGV4_SIGNATURE struct sigv4_signature sig = { 0 };
  CLEANUP_STRING_VECTOR string_vector lines = EMPTY_VECTOR;
  const char *ctype = "application/x-www-form-urlencoded; charset=utf-8";
  struct sigv4_header headers[2];
  struct sigv4_credentials creds;
  struct sigv4_request sreq = { 0 };
  char namebuf[64], hash_hex[65];
  uint8_t hash[32];
  char *line;

  if (creds_source_fetch (src->source, http, &base) == -1)
    return -1;
  if (form_add (&body, "Action", "AssumeRole") == -1 ||
      (src->external_id &&
       form_add (&body, "ExternalId", src->external_id) == -1) ||
      form_add (&body, "RoleArn", src->role_arn) == -1 ||
      form_add (&body, "RoleSessionName",
                session_name (src, namebuf, sizeof namebuf)) == -1 ||
      form_add (&body, "Version", STS_VERSION) == -1)
    return -1;
  host = url_authority (src->sts_endpoint);
  url = format_string ("%s/", src->sts_endpoint);
  if (host == NULL || url == NULL)
    return out_of_memory ();

  crypto_sha256 (body, strlen (body), hash);
  crypto_hex (hash, sizeof hash, hash_hex);
  headers[0] = (struct sigv4_header) { "host", host };
  headers[1] = (struct sigv4_header) { "content-type", ctype };
  creds = (struct sigv4_credentials) {
    base->access_key, base->secret_key, base->session_token,
  };
  sreq.method = "POST";
  sreq.path = "/";
  sreq.headers = headers;
  sreq.nheaders = 2;
  sreq.payload_hash = hash_hex;
  sreq.creds = &creds;
  sreq.region = src->sts_region;
  sreq.service = "sts";
  sreq.time = time (NULL);
  if (sigv4_sign (&sreq, &sig) == -1)
    return objstore_fail (errno, "%s: cannot sign the STS request: %m",
                          src->name);

#define ADD(...)                                                        \
  do {                                                                  \
    line = format_string (__VA_ARGS__);                                 \
    if (line == NULL || string_vector_append (&lines, line) == -1) {    \
      free (line);                                                      \
      return out_of_memory ();                                          \
    }                                                                   \
  } while (0)
  ADD ("Content-Type: %s", ctype);
  ADD ("x-amz-date: %s", sig.amz_date);
  if (base->session_token)
    ADD ("x-amz-security-token: %s", base->session_token);
  ADD ("Authorization: %s", sig.authorization);
  ADD ("Accept: application/xml");
#undef ADD
  if (http_call (http, src->name, "POST", url,
                 (const char *const *) lines.items, lines.len, body,
                 strlen (body), &resp) == -1)
    return -1;
  return sts_answer (src, "AssumeRole", &resp, out);
}

/* The container endpoint. */
static int
fetch_container (struct creds_source *src, struct s3_http *http,
                 struct s3_creds **out)
{
  CLEANUP_WIPE_STRING char *token = NULL;
  CLEANUP_WIPE_STRING char *auth = NULL;
  CLEANUP_WIPE_RESPONSE struct s3_http_response resp = { 0 };
  const char *headers[2] = { "Accept: application/json", NULL };
  size_t nheaders = 1;

  if (src->auth_token_file) {
    token = read_token_file (src->name, src->auth_token_file);
    if (token == NULL)
      return -1;
  }
  else if (src->auth_token && (token = strdup (src->auth_token)) == NULL)
    return out_of_memory ();
  if (token) {
    if (strpbrk (token, "\r\n"))
      return objstore_fail (EINVAL, "%s: the authorization token has a "
                            "line break", src->name);
    auth = format_string ("Authorization: %s", token);
    if (auth == NULL)
      return out_of_memory ();
    headers[nheaders++] = auth;
  }
  if (http_call (http, src->name, "GET", src->url, headers, nheaders,
                 NULL, 0, &resp) == -1)
    return -1;
  if (resp.status != 200)
    return objstore_fail (status_errno (resp.status), "%s: GET %s: "
                          "HTTP %ld", src->name, src->url, resp.status);
  return creds_from_json (src->name, resp.body ? resp.body : "",
                          resp.body_len, "Token", out);
}

/* An IMDSv2 session token, unless the current one is still good (or
 * FORCE).  IMDSv1 (no token) if allowed and the PUT failed.
 */
static int
imds_token (struct creds_source *src, struct s3_http *http, bool force)
{
  CLEANUP_WIPE_RESPONSE struct s3_http_response resp = { 0 };
  CLEANUP_FREE char *url = NULL;
  char ttl_header[64];
  const char *headers[1] = { ttl_header };
  time_t now = time (NULL);
  uint64_t ttl = IMDS_TOKEN_TTL;
  size_t len;

  if (!force && src->imds_token && now < src->imds_token_expires)
    return 0;
  cleanup_wipe_string (&src->imds_token);
  src->imds_token = NULL;
  snprintf (ttl_header, sizeof ttl_header,
            "X-aws-ec2-metadata-token-ttl-seconds: %d", IMDS_TOKEN_TTL);
  url = format_string ("%s/latest/api/token", src->imds_endpoint);
  if (url == NULL)
    return out_of_memory ();
  if (http_call (http, src->name, "PUT", url, headers, 1, NULL, 0,
                 &resp) == -1 || resp.status != 200) {
    if (src->imds_v1)
      return 0;                 /* IMDSv1: no token */
    if (resp.status != 0)
      return objstore_fail (status_errno (resp.status), "%s: PUT %s: HTTP "
                            "%ld (IMDSv2 refused; imds-v1=true allows "
                            "IMDSv1)", src->name, url, resp.status);
    return -1;
  }
  len = resp.body_len;
  while (len > 0 && strchr (" \t\r\n", resp.body[len - 1]))
    len--;
  if (len == 0 || memchr (resp.body, '\n', len) || memchr (resp.body, '\r',
                                                           len))
    return objstore_fail (EBADMSG, "%s: PUT %s: not a token", src->name,
                          url);
  src->imds_token = strndup (resp.body, len);
  if (src->imds_token == NULL)
    return out_of_memory ();
  if (resp.token_ttl > 0 && resp.token_ttl < ttl)
    ttl = resp.token_ttl;
  /* Renewed a little before it lapses: a minute, or a quarter of a
   * short TTL.
   */
  src->imds_token_expires = now + ttl - (ttl >= 240 ? 60 : ttl / 4);
  src->imds_token_fetches++;
  return 0;
}

/* GET PATH from the metadata service with the session token; a 401
 * gets a new token, once.
 */
static int
imds_get (struct creds_source *src, struct s3_http *http, const char *path,
          struct s3_http_response *resp)
{
  CLEANUP_FREE char *url = format_string ("%s%s", src->imds_endpoint, path);
  int attempt;

  if (url == NULL)
    return out_of_memory ();
  for (attempt = 0; attempt < 2; attempt++) {
    CLEANUP_WIPE_STRING char *header = NULL;
    const char *headers[1];

    if (imds_token (src, http, attempt > 0) == -1)
      return -1;
    if (src->imds_token) {
      header = format_string ("X-aws-ec2-metadata-token: %s",
                              src->imds_token);
      if (header == NULL)
        return out_of_memory ();
      headers[0] = header;
    }
    if (http_call (http, src->name, "GET", url, headers,
                   src->imds_token ? 1 : 0, NULL, 0, resp) == -1)
      return -1;
    if (resp->status != 401 || src->imds_token == NULL)
      break;
    wipe_response (resp);
  }
  if (resp->status != 200)
    return objstore_fail (resp->status == 404 ? EACCES
                          : status_errno (resp->status),
                          "%s: GET %s: HTTP %ld%s", src->name, url,
                          resp->status, resp->status == 404
                          ? " (no IAM role attached to the instance?)" : "");
  return 0;
}

static int
fetch_imds (struct creds_source *src, struct s3_http *http,
            struct s3_creds **out)
{
  CLEANUP_WIPE_RESPONSE struct s3_http_response roles = { 0 };
  CLEANUP_WIPE_RESPONSE struct s3_http_response resp = { 0 };
  CLEANUP_FREE char *role = NULL;
  CLEANUP_FREE char *path = NULL;
  const char *base = "/latest/meta-data/iam/security-credentials/";
  size_t n;

  if (imds_get (src, http, base, &roles) == -1)
    return -1;
  n = roles.body ? strcspn (roles.body, "\r\n") : 0;
  while (n > 0 && roles.body[n - 1] == ' ')
    n--;
  if (n == 0 || memchr (roles.body, '/', n) || memchr (roles.body, '?', n))
    return objstore_fail (EACCES, "%s: no IAM role attached to the "
                          "instance", src->name);
  role = strndup (roles.body, n);
  if (role == NULL || (path = format_string ("%s%s", base, role)) == NULL)
    return out_of_memory ();
  if (imds_get (src, http, path, &resp) == -1)
    return -1;
  return creds_from_json (src->name, resp.body ? resp.body : "",
                          resp.body_len, "Token", out);
}

/* The access token that "aws sso login" cached, if it has not expired. */
static char *
sso_cached_token (struct creds_source *src)
{
  CLEANUP_WIPE_STRING char *doc = NULL;
  CLEANUP_JSON_OBJECT json_object obj = EMPTY_VECTOR;
  const char *token, *expires;
  char when[64], t[32];
  time_t expiration;
  size_t n;
  char *ret;

  doc = read_token_file (src->name, src->sso_cache);
  if (doc == NULL) {
    char msg[512];

    snprintf (msg, sizeof msg, "%s", objstore_last_error ());
    objstore_fail (EACCES, "%s (no SSO token cached: run %s)", msg,
                   src->sso_login);
    return NULL;
  }
  if (s3_json_parse_object (doc, strlen (doc), &obj) == -1) {
    char msg[256];

    snprintf (msg, sizeof msg, "%s", objstore_last_error ());
    objstore_fail (EBADMSG, "%s: %s: %s", src->name, src->sso_cache, msg);
    return NULL;
  }
  token = nonempty (s3_json_get (&obj, "accessToken", JSON_STRING));
  expires = nonempty (s3_json_get (&obj, "expiresAt", JSON_STRING));
  if (token == NULL || expires == NULL) {
    objstore_fail (EBADMSG, "%s: %s has no accessToken and expiresAt "
                   "strings (run %s)", src->name, src->sso_cache,
                   src->sso_login);
    return NULL;
  }
  /* Early AWS CLI v2 releases wrote "...T12:00:00UTC". */
  snprintf (when, sizeof when, "%s", expires);
  n = strlen (when);
  if (n > 3 && strcmp (when + n - 3, "UTC") == 0)
    strcpy (when + n - 3, "Z");
  if (creds_parse_time (when, &expiration) == -1) {
    objstore_fail (EBADMSG, "%s: %s: cannot read the expiresAt \"%.40s\"",
                   src->name, src->sso_cache, expires);
    return NULL;
  }
  if (time (NULL) >= expiration) {
    struct tm tm;

    gmtime_r (&expiration, &tm);
    strftime (t, sizeof t, "%Y-%m-%d %H:%M:%S UTC", &tm);
    objstore_fail (EACCES, "%s: the SSO token cached in %s expired at %s: "
                   "run %s", src->name, src->sso_cache, t, src->sso_login);
    return NULL;
  }
  ret = strdup (token);
  if (ret == NULL)
    out_of_memory ();
  return ret;
}

/* The SSO portal's GetRoleCredentials, with the cached token. */
static int
fetch_sso (struct creds_source *src, struct s3_http *http,
           struct s3_creds **out)
{
  CLEANUP_WIPE_STRING char *token = NULL;
  CLEANUP_WIPE_STRING char *header = NULL;
  CLEANUP_WIPE_RESPONSE struct s3_http_response resp = { 0 };
  CLEANUP_JSON_OBJECT json_object obj = EMPTY_VECTOR;
  CLEANUP_JSON_OBJECT json_object rc = EMPTY_VECTOR;
  const char *headers[2] = { NULL, "Accept: application/json" };
  const char *inner = NULL, *ak, *sk, *session, *exp;
  char *end;
  long long ms;

  token = sso_cached_token (src);
  if (token == NULL)
    return -1;
  if (strpbrk (token, "\r\n"))
    return objstore_fail (EBADMSG, "%s: the SSO token in %s has a line "
                          "break", src->name, src->sso_cache);
  header = format_string ("x-amz-sso_bearer_token: %s", token);
  if (header == NULL)
    return out_of_memory ();
  headers[0] = header;
  if (http_call (http, src->name, "GET", src->sso_url, headers, 2, NULL, 0,
                 &resp) == -1)
    return -1;
  /* The portal's UnauthorizedException and ForbiddenException. */
  if (resp.status == 401)
    return objstore_fail (EACCES, "%s: GET %s: HTTP 401: the SSO portal "
                          "refused the cached token (run %s)", src->name,
                          src->sso_url, src->sso_login);
  if (resp.status == 403)
    return objstore_fail (EACCES, "%s: GET %s: HTTP 403: the SSO portal "
                          "refused the role (is it assigned to you in that "
                          "account?)", src->name, src->sso_url);
  if (resp.status != 200)
    return objstore_fail (status_errno (resp.status), "%s: GET %s: HTTP %ld",
                          src->name, src->sso_url, resp.status);
  if (s3_json_parse_object (resp.body ? resp.body : "", resp.body_len,
                            &obj) == 0 &&
      (inner = s3_json_get (&obj, "roleCredentials", JSON_NESTED)) == NULL)
    return objstore_fail (EBADMSG, "%s: GET %s: no roleCredentials object",
                          src->name, src->sso_url);
  if (inner == NULL ||
      s3_json_parse_object (inner, strlen (inner), &rc) == -1) {
    char msg[256];

    snprintf (msg, sizeof msg, "%s", objstore_last_error ());
    return objstore_fail (EBADMSG, "%s: GET %s: %s", src->name,
                          src->sso_url, msg);
  }
  ak = nonempty (s3_json_get (&rc, "accessKeyId", JSON_STRING));
  sk = nonempty (s3_json_get (&rc, "secretAccessKey", JSON_STRING));
  session = nonempty (s3_json_get (&rc, "sessionToken", JSON_STRING));
  exp = s3_json_get (&rc, "expiration", JSON_NUMBER);
  if (ak == NULL || sk == NULL || exp == NULL)
    return objstore_fail (EBADMSG, "%s: GET %s: the roleCredentials have "
                          "no accessKeyId, secretAccessKey and expiration",
                          src->name, src->sso_url);
  /* Milliseconds since the epoch. */
  errno = 0;
  ms = strtoll (exp, &end, 10);
  if (errno || *end || ms <= 0)
    return objstore_fail (EBADMSG, "%s: GET %s: cannot read the expiration "
                          "\"%.40s\"", src->name, src->sso_url, exp);
  *out = s3_creds_new (ak, sk, session, (time_t) (ms / 1000));
  return *out ? 0 : -1;
}

int
creds_source_fetch (struct creds_source *src, struct s3_http *http,
                    struct s3_creds **out)
{
  *out = NULL;
  switch (src->kind) {
  case CREDS_STATIC:
    *out = s3_creds_new (src->fixed->access_key, src->fixed->secret_key,
                         src->fixed->session_token, 0);
    return *out ? 0 : -1;
  case CREDS_PROCESS:
    return fetch_process (src, out);
  case CREDS_WEB_IDENTITY:
    return fetch_web_identity (src, http, out);
  case CREDS_ASSUME_ROLE:
    return fetch_assume_role (src, http, out);
  case CREDS_CONTAINER:
    return fetch_container (src, http, out);
  case CREDS_IMDS:
    return fetch_imds (src, http, out);
  case CREDS_SSO:
    return fetch_sso (src, http, out);
  }
  abort ();
}
