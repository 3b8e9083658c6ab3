/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: the credential provider chain and the refresh of temporary
 * credentials (see s3-creds.h).
 *
 * Concurrency.  p->current is the published struct s3_creds; it is
 * replaced, never changed, under p->lock, and a request holds a
 * reference (an atomic count) for as long as it signs and sends, so a
 * refresh never changes what a request in flight signed with.  One
 * request at a time refreshes (p->refreshing), with the lock dropped
 * while it talks to the provider; the others go on with the current
 * credentials while those are valid, and wait on p->done only when
 * they have expired.  Refreshing on demand rather than in a thread of
 * our own keeps nbdkit's fork after .get_ready harmless (no thread to
 * lose) and costs nothing while the device is idle; the price is that
 * one request in every refresh window waits for the provider.
 *
 * When a refresh fails, p->next_attempt spaces the attempts out (1 s,
 * doubling to 60 s), and the old credentials are used until they
 * expire; then s3_creds_get fails with EAGAIN, which the retry wrapper
 * retries until retry-time runs out.
 */
#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cleanup.h"
#include "conf.h"
#include "log.h"
#include "utils.h"
#include "internal.h"
#include "s3-creds-source.h"
#include "s3-creds.h"
#include "s3-http.h"

/* Refresh this long before the expiry, or at half the lifetime. */
#define REFRESH_AHEAD 300
/* A 403 this soon after new credentials were issued may be the new
 * keys not yet known everywhere: worth one more try.
 */
#define FRESH_SECONDS 60
#define BACKOFF_MAX 60

struct s3_creds_provider {
  pthread_mutex_t lock;
  pthread_cond_t done;            /* a refresh finished */
  struct creds_source *src;
  struct s3_http *http;
  struct s3_creds *current;
  bool refreshing;
  unsigned failures;              /* refreshes failed in a row */
  time_t next_attempt;            /* no refresh before this */
  char last_error[512];           /* of the last failed refresh */
};

struct s3_creds *
s3_creds_new (const char *ak, const char *sk, const char *token,
              time_t expiration)
{
  struct s3_creds *c = calloc (1, sizeof *c);

  if (c == NULL) {
    objstore_fail (ENOMEM, "credentials: out of memory");
    return NULL;
  }
  c->access_key = strdup (ak);
  c->secret_key = strdup (sk);
  c->session_token = token ? strdup (token) : NULL;
  c->expiration = expiration;
  c->issued = time (NULL);
  c->refs = 1;
  if (!c->access_key || !c->secret_key || (token && !c->session_token)) {
    s3_creds_free (c);
    objstore_fail (ENOMEM, "credentials: out of memory");
    return NULL;
  }
  return c;
}

void
s3_creds_free (struct s3_creds *c)
{
  if (c == NULL)
    return;
  cleanup_wipe_string (&c->access_key);
  cleanup_wipe_string (&c->secret_key);
  cleanup_wipe_string (&c->session_token);
  free (c);
}

void
s3_creds_put (struct s3_creds *c)
{
  if (c && __atomic_sub_fetch (&c->refs, 1, __ATOMIC_ACQ_REL) == 0)
    s3_creds_free (c);
}

static struct s3_creds *
ref (struct s3_creds *c)
{
  __atomic_add_fetch (&c->refs, 1, __ATOMIC_RELAXED);
  return c;
}

const char *
s3_creds_source (const struct s3_creds_provider *p)
{
  return p->src->name;
}

/* "2024-05-01 12:00:00 UTC" for the debug log. */
static const char *
show_time (time_t t, char *buf, size_t size)
{
  struct tm tm;

  if (t == 0)
    return "never";
  gmtime_r (&t, &tm);
  strftime (buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

/* When C is due for a refresh: 0 never. */
static time_t
refresh_time (const struct s3_creds *c)
{
  time_t ahead;

  if (c->expiration == 0)
    return 0;
  ahead = (c->expiration - c->issued) / 2;
  if (ahead > REFRESH_AHEAD)
    ahead = REFRESH_AHEAD;
  if (ahead < 0)
    ahead = 0;
  return c->expiration - ahead;
}

/* Fetch new credentials and publish them.  Called and returns with
 * p->lock held and p->refreshing false; drops the lock meanwhile.
 * WHY is for the debug log.
 */
static int
refresh_locked (struct s3_creds_provider *p, const char *why)
{
  struct s3_creds *fresh = NULL, *old;
  const struct creds_source *imds;
  char t1[32], t2[32];
  time_t now;
  int r;

  p->refreshing = true;
  pthread_mutex_unlock (&p->lock);
  r = creds_source_fetch (p->src, p->http, &fresh);
  pthread_mutex_lock (&p->lock);
  p->refreshing = false;
  pthread_cond_broadcast (&p->done);
  now = time (NULL);
  if (r == -1) {
    unsigned backoff;

    snprintf (p->last_error, sizeof p->last_error, "%s",
              objstore_last_error ());
    p->failures++;
    backoff = p->failures >= 7 ? BACKOFF_MAX : 1u << (p->failures - 1);
    if (backoff > BACKOFF_MAX)
      backoff = BACKOFF_MAX;
    p->next_attempt = now + backoff;
    zerror ("S3 credentials: refresh failed: %s; the current ones "
            "expire at %s; next attempt in %u s", p->last_error,
            show_time (p->current->expiration, t1, sizeof t1), backoff);
    return -1;
  }
  old = p->current;
  p->current = fresh;
  p->failures = 0;
  p->next_attempt = 0;
  if (zerofs_debug_s3)
    zdebug ("s3: credentials refreshed (%s) from %s: access key %s, "
            "expire at %s (the old ones at %s)",
            why, p->src->name, fresh->access_key,
            show_time (fresh->expiration, t1, sizeof t1),
            show_time (old->expiration, t2, sizeof t2));
  for (imds = p->src; imds && imds->kind != CREDS_IMDS; imds = imds->source)
    ;
  if (zerofs_debug_s3 && imds)
    zdebug ("s3: IMDS session tokens fetched so far: %u",
            imds->imds_token_fetches);
  s3_creds_put (old);
  return 0;
}

struct s3_creds *
s3_creds_get (struct s3_creds_provider *p)
{
  LOCK_FOR_SCOPE (&p->lock);
  char t[32];

  for (;;) {
    struct s3_creds *c = p->current;
    time_t now = time (NULL), due = refresh_time (c);

    if (due == 0 || now < due)
      return ref (c);
    if (p->refreshing) {
      if (now < c->expiration)
        return ref (c);           /* another request is on it */
      pthread_cond_wait (&p->done, &p->lock);
      continue;
    }
    if (now >= p->next_attempt &&
        refresh_locked (p, now < c->expiration ? "due" : "expired") == 0)
      continue;
    if (time (NULL) < p->current->expiration)
      return ref (p->current);
    objstore_fail (EAGAIN, "the S3 credentials from %s expired at %s and "
                   "cannot be refreshed: %s", p->src->name,
                   show_time (p->current->expiration, t, sizeof t),
                   p->last_error);
    return NULL;
  }
}

bool
s3_creds_refresh_after_refusal (struct s3_creds_provider *p,
                                const struct s3_creds *used,
                                const char *code, long status)
{
  LOCK_FOR_SCOPE (&p->lock);
  time_t now = time (NULL);
  bool token_code = code && (strcmp (code, "ExpiredToken") == 0 ||
                             strcmp (code, "InvalidToken") == 0 ||
                             strcmp (code, "TokenRefreshRequired") == 0);
  bool stale = used != p->current ||
    (used->expiration && now >= used->expiration);
  bool fresh = p->src->kind != CREDS_STATIC &&
    now - used->issued < FRESH_SECONDS;

  if (!token_code && !(status == 403 && (stale || fresh)))
    return false;
  if (used != p->current)
    return true;                  /* already replaced: use the new ones */
  if (p->src->kind == CREDS_STATIC)
    return false;                 /* nothing to refresh from */
  while (p->refreshing)
    pthread_cond_wait (&p->done, &p->lock);
  if (used != p->current)
    return true;
  if (!token_code && !stale)
    return true;                  /* just issued: try them once more */
  if (zerofs_debug_s3)
    zdebug ("s3: the store refused the credentials (%s, HTTP %ld): "
            "refreshing them", code ? code : "no code", status);
  return refresh_locked (p, code ? code : "refused") == 0;
}

void
s3_creds_close (struct s3_creds_provider *p)
{
  if (p == NULL)
    return;
  s3_creds_put (p->current);
  creds_source_free (p->src);
  s3_http_free (p->http);
  pthread_cond_destroy (&p->done);
  pthread_mutex_destroy (&p->lock);
  free (p);
}
DEFINE_CLEANUP_POINTER (s3_creds_close, struct s3_creds_provider *,
                        s3_creds_close);

/* Half a pair of options or variables: an error. */
static int
half_pair (const char *a_name, const char *a, const char *b_name,
           const char *where)
{
  return objstore_fail (EINVAL, "%s is set%s but %s is not",
                        a ? a_name : b_name, where, a ? b_name : a_name);
}

static bool
is_true (const char *s)
{
  return s && strcasecmp (s, "true") == 0;
}

/* May the container endpoint be this URL?  https, or a host that is
 * loopback or one of the container agents' link-local addresses (as
 * the SDKs insist, so that a token is not sent anywhere).
 */
static bool
container_url_allowed (const char *url)
{
  static const char *const hosts[] = {
    "127.0.0.1", "localhost", "[::1]", "169.254.170.2", "169.254.170.23",
    "[fd00:ec2::23]",
  };
  const char *host;
  size_t n, i;

  if (strncasecmp (url, "https://", 8) == 0)
    return true;
  if (strncasecmp (url, "http://", 7) != 0)
    return false;
  host = url + 7;
  n = host[0] == '[' ? strcspn (host, "]") + 1 : strcspn (host, ":/?#");
  for (i = 0; i < sizeof hosts / sizeof hosts[0]; i++)
    if (strlen (hosts[i]) == n && strncasecmp (host, hosts[i], n) == 0)
      return true;
  return strncmp (host, "127.", 4) == 0 && n <= 15;
}

int
creds_env_source (const struct zconf *conf __attribute__ ((unused)),
                  struct creds_source **src)
{
  const char *ak = nonempty (getenv ("AWS_ACCESS_KEY_ID"));
  const char *sk = nonempty (getenv ("AWS_SECRET_ACCESS_KEY"));
  CLEANUP_CREDS_SOURCE struct creds_source *s = NULL;

  *src = NULL;
  if (!ak && !sk)
    return 0;
  if (!ak || !sk)
    return half_pair ("AWS_ACCESS_KEY_ID", ak, "AWS_SECRET_ACCESS_KEY",
                      " in the environment");
  s = creds_source_new (CREDS_STATIC, "the environment (AWS_ACCESS_KEY_ID)");
  if (s == NULL ||
      (s->fixed = s3_creds_new (ak, sk,
                                nonempty (getenv ("AWS_SESSION_TOKEN")), 0))
      == NULL)
    return -1;
  *src = s;
  s = NULL;
  return 1;
}

int
creds_container_source (const struct zconf *conf __attribute__ ((unused)),
                        struct creds_source **src)
{
  const char *rel = nonempty (getenv ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"));
  const char *full = nonempty (getenv ("AWS_CONTAINER_CREDENTIALS_FULL_URI"));
  const char *tfile =
    nonempty (getenv ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"));
  const char *token = nonempty (getenv ("AWS_CONTAINER_AUTHORIZATION_TOKEN"));
  CLEANUP_CREDS_SOURCE struct creds_source *s = NULL;
  CLEANUP_FREE char *url = NULL;

  *src = NULL;
  if (!rel && !full)
    return 0;
  url = rel
    ? format_string ("http://169.254.170.2%s%s", rel[0] == '/' ? "" : "/",
                     rel)
    : strdup (full);
  if (url == NULL)
    return objstore_fail (ENOMEM, "credentials: out of memory");
  if (!rel && !container_url_allowed (url))
    return objstore_fail (EINVAL, "AWS_CONTAINER_CREDENTIALS_FULL_URI=%s: "
                          "the container endpoint must be https, or "
                          "http on loopback or 169.254.170.2/23", url);
  s = creds_source_new (CREDS_CONTAINER, "the container endpoint %s "
                        "(AWS_CONTAINER_CREDENTIALS_%s_URI)", url,
                        rel ? "RELATIVE" : "FULL");
  if (s == NULL || (s->url = strdup (url)) == NULL ||
      (tfile && (s->auth_token_file = strdup (tfile)) == NULL) ||
      (!tfile && token && (s->auth_token = strdup (token)) == NULL))
    return objstore_fail (ENOMEM, "credentials: out of memory");
  *src = s;
  s = NULL;
  return 1;
}

int
creds_imds_source (const struct zconf *conf, struct creds_source **src)
{
  const char *ep = nonempty (getenv ("AWS_EC2_METADATA_SERVICE_ENDPOINT"));
  CLEANUP_CREDS_SOURCE struct creds_source *s = NULL;
  size_t n;

  *src = NULL;
  if (is_true (getenv ("AWS_EC2_METADATA_DISABLED")))
    return 0;
  s = creds_source_new (CREDS_IMDS, "the EC2 instance metadata service "
                        "at %s", ep ? ep : "http://169.254.169.254");
  if (s == NULL ||
      (s->imds_endpoint = strdup (ep ? ep : "http://169.254.169.254"))
      == NULL)
    return objstore_fail (ENOMEM, "credentials: out of memory");
  n = strlen (s->imds_endpoint);
  while (n > 0 && s->imds_endpoint[n - 1] == '/')
    s->imds_endpoint[--n] = '\0';
  s->imds_v1 = conf->imds_v1;
  *src = s;
  s = NULL;
  return 1;
}

/* The chain: *SRC, or 0 with *TRIED listing what was looked at. */
static int
find_source (const struct zconf *conf, struct creds_source **src,
             char **tried)
{
  const char *token_file, *role;
  const char *profile = NULL;
  bool explicit_profile = nonempty (conf->profile) != NULL;
  CLEANUP_FREE char *why = NULL;
  CLEANUP_CREDS_SOURCE struct creds_source *s = NULL;
  int r;

  *src = NULL;
  *tried = NULL;

  /* 1. The options. */
  if (nonempty (conf->access_key) || nonempty (conf->secret_key)) {
    if (!nonempty (conf->access_key) || !nonempty (conf->secret_key))
      return half_pair ("access-key", nonempty (conf->access_key),
                        "secret-key", "");
    s = creds_source_new (CREDS_STATIC, "the access-key and secret-key "
                          "options");
    if (s == NULL ||
        (s->fixed = s3_creds_new (conf->access_key, conf->secret_key,
                                  nonempty (conf->session_token), 0))
        == NULL)
      return -1;
    goto found;
  }
  if (nonempty (conf->session_token))
    return objstore_fail (EINVAL, "session-token is set but access-key "
                          "and secret-key are not");

  if (!explicit_profile) {
    /* 2. The environment. */
    r = creds_env_source (conf, &s);
    if (r == -1)
      return -1;
    if (r == 1)
      goto found;

    /* 3. Web identity. */
    token_file = nonempty (getenv ("AWS_WEB_IDENTITY_TOKEN_FILE"));
    role = nonempty (getenv ("AWS_ROLE_ARN"));
    if (token_file || role) {
      if (!token_file || !role)
        return half_pair ("AWS_WEB_IDENTITY_TOKEN_FILE", token_file,
                          "AWS_ROLE_ARN", " in the environment");
      s = creds_source_new (CREDS_WEB_IDENTITY, "role %s by web identity "
                            "(AWS_WEB_IDENTITY_TOKEN_FILE %s)", role,
                            token_file);
      if (s == NULL || (s->token_file = strdup (token_file)) == NULL ||
          (s->role_arn = strdup (role)) == NULL ||
          (nonempty (getenv ("AWS_ROLE_SESSION_NAME")) &&
           (s->session_name = strdup (getenv ("AWS_ROLE_SESSION_NAME")))
           == NULL) ||
          creds_source_set_sts (s, conf) == -1)
        return objstore_fail (ENOMEM, "credentials: out of memory");
      goto found;
    }
  }

  /* 4. The shared files. */
  profile = explicit_profile ? conf->profile
    : nonempty (getenv ("AWS_PROFILE")) ? getenv ("AWS_PROFILE") : "default";
  r = creds_profile_source (conf, profile, &s, &why);
  if (r == -1)
    return -1;
  if (r == 1)
    goto found;
  if (explicit_profile)
    return objstore_fail (EACCES, "no S3 credentials for profile \"%s\" "
                          "(from profile=): %s", profile, why);

  /* 5. The container endpoint. */
  r = creds_container_source (conf, &s);
  if (r == -1)
    return -1;
  if (r == 1)
    goto found;

  /* 6. The EC2 instance metadata service. */
  r = creds_imds_source (conf, &s);
  if (r == -1)
    return -1;
  if (r == 1)
    goto found;

  *tried = format_string ("not in the access-key and secret-key options, "
                          "not in the environment (AWS_ACCESS_KEY_ID, "
                          "AWS_SECRET_ACCESS_KEY, AWS_WEB_IDENTITY_TOKEN_FILE), "
                          "for profile \"%s\"%s: %s; no container endpoint "
                          "(AWS_CONTAINER_CREDENTIALS_RELATIVE_URI, _FULL_URI); "
                          "EC2 instance metadata disabled "
                          "(AWS_EC2_METADATA_DISABLED)",
                          profile, nonempty (getenv ("AWS_PROFILE"))
                          ? " (from AWS_PROFILE)" : "", why);
  return *tried ? 0 : objstore_fail (ENOMEM, "credentials: out of memory");

 found:
  *src = s;
  s = NULL;
  if (zerofs_debug_s3 && why)
    zdebug ("s3: credentials: profile \"%s\" has none (%s)", profile, why);
  return 1;
}

struct s3_creds_provider *
s3_creds_open (const struct zconf *conf)
{
  CLEANUP (s3_creds_close) struct s3_creds_provider *p = NULL;
  CLEANUP_FREE char *tried = NULL;
  struct s3_creds_provider *ret;
  struct s3_http_options opts = {
    .connections = 2,
    .timeout = 5,
    .connect_timeout = 2,
    .low_speed_limit = 1,
    .ca_bundle = conf->ca_bundle,
  };
  char t[32];
  int r;

  p = calloc (1, sizeof *p);
  if (p == NULL) {
    objstore_fail (ENOMEM, "credentials: out of memory");
    return NULL;
  }
  pthread_mutex_init (&p->lock, NULL);
  pthread_cond_init (&p->done, NULL);
  r = find_source (conf, &p->src, &tried);
  if (r == -1)
    return NULL;
  if (r == 0) {
    objstore_fail (EACCES, "no S3 credentials found: %s", tried);
    return NULL;
  }
  if (p->src->kind != CREDS_STATIC &&
      (p->http = s3_http_new (&opts)) == NULL)
    return NULL;
  if (creds_source_fetch (p->src, p->http, &p->current) == -1) {
    char msg[1024];
    int e = errno;

    snprintf (msg, sizeof msg, "%s", objstore_last_error ());
    if (p->src->kind == CREDS_IMDS)
      objstore_fail (e, "no S3 credentials found: not in the access-key "
                     "and secret-key options, the environment "
                     "(AWS_ACCESS_KEY_ID, AWS_WEB_IDENTITY_TOKEN_FILE), "
                     "the shared files (profile \"%s\") or a container "
                     "endpoint; and the last resort, %s, failed: %s "
                     "(AWS_EC2_METADATA_DISABLED=true skips it)",
                     nonempty (getenv ("AWS_PROFILE"))
                     ? getenv ("AWS_PROFILE") : "default",
                     p->src->name, msg);
    else
      objstore_fail (e, "cannot get S3 credentials: %s", msg);
    return NULL;
  }
  if (zerofs_debug_s3)
    zdebug ("s3: credentials from %s: access key %s, %s%s%s",
            p->src->name, p->current->access_key,
            p->current->session_token ? "with a session token, " : "",
            p->current->expiration ? "expire at " : "expire never",
            p->current->expiration
            ? show_time (p->current->expiration, t, sizeof t) : "");
  ret = p;
  p = NULL;
  return ret;
}
