/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: HTTP requests over a pool of curl handles (see s3-http.h).
 *
 * Costs per request are kept to what the bytes need: a handle and its
 * live connection come from the pool (curl_easy_reset keeps the
 * connection); request headers are linked from the caller's strings on
 * the stack; an upload is read straight from the caller's buffer; a
 * response body goes into one byte vector sized from Content-Length
 * when the server sends it (else grown by doubling), and that buffer is
 * what the caller gets.
 *
 * Every handle is set up the same way: no signals (CURLOPT_NOSIGNAL:
 * many threads), a connect timeout and a stall timeout (a request is
 * abandoned when it moves less than low-speed-limit bytes a second for
 * timeout seconds, however long it takes in all: a 1 MiB PUT over a slow
 * uplink shared by many requests must finish, a dead connection must
 * still be noticed; see stall_check),
 * TCP_NODELAY and keep-alive probes, a total time bound for a request
 * that has a deadline (the S3 layer gives one to every request that
 * changes the store: write-timeout, see lib/lease.h),  HTTP/1.1, the path sent exactly as
 * signed (CURLOPT_PATH_AS_IS), http and https only, certificate checks
 * on (curl's default), no "Expect: 100-continue" round trip.  Uploads
 * can be rewound, so curl may resend a request on a reused connection
 * that the server had closed.
 */
#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>

#include "cleanup.h"
#include "vector.h"
#include "internal.h"
#include "s3-http.h"

/* Trust a Content-Length this big to size the buffer up front. */
#define PREALLOC_MAX ((uint64_t) 256 << 20)
#define RECEIVE_BUFFER_SIZE (256L * 1024)
#define UPLOAD_BUFFER_SIZE (256L * 1024)

struct slot {
  CURL *curl;
  int fd;                         /* its connection's socket, or -1 */
  struct slot *next_free;
  char errbuf[CURL_ERROR_SIZE];
};

struct s3_http {
  pthread_mutex_t lock;
  pthread_cond_t returned;
  struct slot *slots;
  unsigned nslots, used;          /* slots[0..used) have been handed out */
  struct slot *free_list;         /* LIFO: the warmest connection first */
  CURLSH *share;
  pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
  long timeout, connect_timeout, low_speed_limit;
  char *ca_bundle;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_result;

static void
global_init (void)
{
  global_result = curl_global_init (CURL_GLOBAL_ALL);
}

static void
share_lock (CURL *handle, curl_lock_data data, curl_lock_access access,
            void *opaque)
{
  struct s3_http *http = opaque;

  if (data >= 0 && data < CURL_LOCK_DATA_LAST)
    pthread_mutex_lock (&http->share_locks[data]);
}

static void
share_unlock (CURL *handle, curl_lock_data data, void *opaque)
{
  struct s3_http *http = opaque;

  if (data >= 0 && data < CURL_LOCK_DATA_LAST)
    pthread_mutex_unlock (&http->share_locks[data]);
}

/* s3_http_free, keeping errno: for a pool that is being set up. */
DEFINE_CLEANUP_POINTER (http_free, struct s3_http *, s3_http_free);
#define CLEANUP_HTTP_FREE CLEANUP (http_free)

struct s3_http *
s3_http_new (const struct s3_http_options *opts)
{
  CLEANUP_HTTP_FREE struct s3_http *http = NULL;
  struct s3_http *ret;
  int i;

  pthread_once (&global_once, global_init);
  if (global_result != CURLE_OK) {
    objstore_fail (EIO, "curl_global_init: %s",
                   curl_easy_strerror (global_result));
    return NULL;
  }

  http = calloc (1, sizeof *http);
  if (http == NULL) {
    objstore_fail (ENOMEM, "out of memory");
    return NULL;
  }
  pthread_mutex_init (&http->lock, NULL);
  pthread_cond_init (&http->returned, NULL);
  for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
    pthread_mutex_init (&http->share_locks[i], NULL);
  http->nslots = opts->connections ? opts->connections : 32;
  http->slots = calloc (http->nslots, sizeof *http->slots);
  http->timeout = opts->timeout ? opts->timeout : 30;
  http->connect_timeout = opts->connect_timeout ? opts->connect_timeout : 10;
  http->low_speed_limit = opts->low_speed_limit ? opts->low_speed_limit : 1024;
  if (opts->ca_bundle)
    http->ca_bundle = strdup (opts->ca_bundle);
  if (http->slots == NULL || (opts->ca_bundle && http->ca_bundle == NULL)) {
    objstore_fail (ENOMEM, "out of memory");
    return NULL;
  }

  http->share = curl_share_init ();
  if (http->share == NULL ||
      curl_share_setopt (http->share, CURLSHOPT_LOCKFUNC,
                         share_lock) != CURLSHE_OK ||
      curl_share_setopt (http->share, CURLSHOPT_UNLOCKFUNC,
                         share_unlock) != CURLSHE_OK ||
      curl_share_setopt (http->share, CURLSHOPT_USERDATA,
                         http) != CURLSHE_OK ||
      curl_share_setopt (http->share, CURLSHOPT_SHARE,
                         CURL_LOCK_DATA_DNS) != CURLSHE_OK ||
      curl_share_setopt (http->share, CURLSHOPT_SHARE,
                         CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK) {
    objstore_fail (EIO, "cannot set up a curl share handle");
    return NULL;
  }
  ret = http;
  http = NULL;
  return ret;
}

void
s3_http_free (struct s3_http *http)
{
  unsigned i;
  int j;

  if (http == NULL)
    return;
  for (i = 0; i < http->used; i++)
    if (http->slots[i].curl)
      curl_easy_cleanup (http->slots[i].curl);
  if (http->share)
    curl_share_cleanup (http->share);
  free (http->slots);
  free (http->ca_bundle);
  for (j = 0; j < CURL_LOCK_DATA_LAST; j++)
    pthread_mutex_destroy (&http->share_locks[j]);
  pthread_cond_destroy (&http->returned);
  pthread_mutex_destroy (&http->lock);
  free (http);
}

/* Borrow a slot, waiting while all are lent out. */
static struct slot *
acquire (struct s3_http *http)
{
  struct slot *slot;
  LOCK_FOR_SCOPE (&http->lock);

  while (http->free_list == NULL && http->used == http->nslots)
    pthread_cond_wait (&http->returned, &http->lock);
  if (http->free_list) {
    slot = http->free_list;
    http->free_list = slot->next_free;
  }
  else
    slot = &http->slots[http->used++];
  return slot;
}

static void
release (struct s3_http *http, struct slot *slot)
{
  LOCK_FOR_SCOPE (&http->lock);

  slot->next_free = http->free_list;
  http->free_list = slot;
  pthread_cond_signal (&http->returned);
}

/* What a transfer needs in the callbacks. */
struct transfer {
  const struct s3_http_request *req;
  struct s3_http_response *resp;
  struct slot *slot;
  struct s3_http *http;
  /* Stall detection: bytes moved when the current window began. */
  struct timespec window_start;
  uint64_t window_moved;
  bool stalled;
  /* The response body, NUL-terminated once it has any room; the
   * response gets it when the transfer succeeds.
   */
  byte_vector body;
  size_t upload_pos;
  bool head;
  bool nomem;
};

static size_t
write_cb (char *ptr, size_t size, size_t nmemb, void *opaque)
{
  struct transfer *t = opaque;
  size_t n = size * nmemb;

  /* Room for the NUL too, so that the append cannot fail. */
  if (byte_vector_reserve (&t->body, n + 1) == -1) {
    t->nomem = true;
    return 0;
  }
  byte_vector_append_array (&t->body, (unsigned char *) ptr, n);
  t->body.items[t->body.len] = '\0';
  return n;
}

static size_t
read_cb (char *buf, size_t size, size_t nitems, void *opaque)
{
  struct transfer *t = opaque;
  size_t n = size * nitems, left = t->req->body_len - t->upload_pos;

  if (n > left)
    n = left;
  memcpy (buf, (const char *) t->req->body + t->upload_pos, n);
  t->upload_pos += n;
  return n;
}

static int
seek_cb (void *opaque, curl_off_t offset, int origin)
{
  struct transfer *t = opaque;

  if (origin != SEEK_SET || offset < 0 ||
      (uint64_t) offset > t->req->body_len)
    return CURL_SEEKFUNC_CANTSEEK;
  t->upload_pos = offset;
  return CURL_SEEKFUNC_OK;
}

static bool
parse_u64 (const char *s, size_t len, uint64_t *out)
{
  uint64_t v = 0;
  size_t i;

  if (len == 0)
    return false;
  for (i = 0; i < len; i++) {
    unsigned d = s[i] - '0';

    if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - d) / 10)
      return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

static size_t
header_cb (char *line, size_t size, size_t nitems, void *opaque)
{
  struct transfer *t = opaque;
  struct s3_http_response *resp = t->resp;
  size_t n = size * nitems, namelen, len;
  const char *colon, *value;

  if (n >= 5 && memcmp (line, "HTTP/", 5) == 0) {
    /* A new response (after a 1xx): forget the previous headers. */
    resp->etag[0] = resp->bucket_region[0] = resp->location[0] = '\0';
    resp->etag_too_long = false;
    resp->has_content_length = resp->has_range_total = false;
    resp->token_ttl = 0;
    return n;
  }
  colon = memchr (line, ':', n);
  if (colon == NULL)
    return n;
  namelen = colon - line;
  value = colon + 1;
  len = line + n - value;
  while (len > 0 && (*value == ' ' || *value == '\t')) {
    value++;
    len--;
  }
  while (len > 0 && strchr (" \t\r\n", value[len-1]))
    len--;

#define IS(name) \
  (namelen == sizeof (name) - 1 && strncasecmp (line, name, namelen) == 0)
  if (IS ("etag")) {
    if (len >= sizeof resp->etag)
      resp->etag_too_long = true;
    else {
      memcpy (resp->etag, value, len);
      resp->etag[len] = '\0';
    }
  }
  else if (IS ("content-length")) {
    resp->has_content_length =
      parse_u64 (value, len, &resp->content_length);
    /* Size the body buffer once, if the body is coming; if that
     * fails, write_cb will try again and report it.
     */
    if (resp->has_content_length && !t->head && t->body.items == NULL &&
        resp->content_length < PREALLOC_MAX)
      (void) byte_vector_reserve (&t->body, resp->content_length + 1);
  }
  else if (IS ("content-range")) {
    const char *slash = memchr (value, '/', len);

    if (slash)
      resp->has_range_total =
        parse_u64 (slash + 1, value + len - slash - 1, &resp->range_total);
  }
  else if (IS ("x-amz-bucket-region")) {
    if (len < sizeof resp->bucket_region) {
      memcpy (resp->bucket_region, value, len);
      resp->bucket_region[len] = '\0';
    }
  }
  else if (IS ("location")) {
    if (len < sizeof resp->location) {
      memcpy (resp->location, value, len);
      resp->location[len] = '\0';
    }
  }
  else if (IS ("x-aws-ec2-metadata-token-ttl-seconds")) {
    if (!parse_u64 (value, len, &resp->token_ttl))
      resp->token_ttl = 0;
  }
#undef IS
  return n;
}

/* The errno class of a failed transfer. */
static int
transfer_errno (CURLcode code, long os_errno)
{
  switch (code) {
  case CURLE_OPERATION_TIMEDOUT:
    return ETIMEDOUT;
  case CURLE_COULDNT_CONNECT:
    if (os_errno == ENETUNREACH || os_errno == EHOSTUNREACH ||
        os_errno == ETIMEDOUT)
      return os_errno;
    return ECONNREFUSED;
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY:
    return EHOSTUNREACH;
  case CURLE_SEND_ERROR:
  case CURLE_RECV_ERROR:
    if (os_errno == EPIPE || os_errno == ECONNABORTED ||
        os_errno == ENETUNREACH || os_errno == ETIMEDOUT)
      return os_errno;
    return ECONNRESET;
  case CURLE_SSL_CONNECT_ERROR:
    /* A reset during the handshake, or a real TLS problem (such as
     * https:// to an http server) that retrying would not fix.
     */
    return os_errno == ECONNRESET || os_errno == EPIPE ? ECONNRESET : EIO;
  case CURLE_GOT_NOTHING:
  case CURLE_PARTIAL_FILE:
  case CURLE_SEND_FAIL_REWIND:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
    return ECONNRESET;
  case CURLE_OUT_OF_MEMORY:
    return ENOMEM;
  case CURLE_UNSUPPORTED_PROTOCOL:
  case CURLE_URL_MALFORMAT:
    return EINVAL;
  default:
    /* Certificate problems and anything else: not worth retrying. */
    return EIO;
  }
}

/* A new handle in SLOT: it joins the share, which curl_easy_reset
 * keeps.
 */
static int
new_handle (struct s3_http *http, struct slot *slot)
{
  slot->fd = -1;
  slot->curl = curl_easy_init ();
  if (slot->curl &&
      curl_easy_setopt (slot->curl, CURLOPT_SHARE, http->share)
      != CURLE_OK) {
    curl_easy_cleanup (slot->curl);
    slot->curl = NULL;
  }
  return slot->curl ? 0 : -1;
}

/* What the connection has really carried: the bytes the peer
 * acknowledged plus those received (TCP_INFO), or failing that what curl
 * has handed over.  curl's own view is not enough: an upload is "done"
 * for curl once its last byte is in the socket's send buffer, which on a
 * slow link may take many seconds more to drain, all of them counted as
 * a stall by CURLOPT_LOW_SPEED_TIME.
 */
static uint64_t
bytes_moved (struct transfer *t, curl_off_t dlnow, curl_off_t ulnow)
{
  struct tcp_info ti;
  socklen_t len = sizeof ti;

  /* The handle's own connection (not shared: see new_handle), whose
   * socket socket_opened and socket_closed keep track of.
   */
  if (t->slot->fd >= 0 &&
      getsockopt (t->slot->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
      len >= offsetof (struct tcp_info, tcpi_bytes_received) +
             sizeof ti.tcpi_bytes_received)
    return ti.tcpi_bytes_acked + ti.tcpi_bytes_received;
  return (uint64_t) dlnow + (uint64_t) ulnow;
}

/* curl's socket callbacks: which socket the handle's connection uses. */
static int
socket_opened (void *opaque, curl_socket_t fd, curlsocktype purpose)
{
  struct slot *slot = opaque;

  if (purpose == CURLSOCKTYPE_IPCXN)
    slot->fd = fd;
  return CURL_SOCKOPT_OK;
}

static int
socket_closed (void *opaque, curl_socket_t fd)
{
  struct slot *slot = opaque;

  if (slot->fd == fd)
    slot->fd = -1;
  return close (fd);
}

/* curl's progress callback: abort (the request is retried) when less
 * than low_speed_limit * timeout bytes moved in the last timeout
 * seconds.  A connection's counters span the requests it served, so
 * only differences within one request count.
 */
static int
stall_check (void *opaque, curl_off_t dltotal, curl_off_t dlnow,
             curl_off_t ultotal, curl_off_t ulnow)
{
  struct transfer *t = opaque;
  struct timespec now;
  uint64_t moved;
  double elapsed;

  /* curl calls this for every piece of data: look at the socket only
   * when a window begins or ends.
   */
  clock_gettime (CLOCK_MONOTONIC, &now);
  if (t->window_start.tv_sec == 0) {
    t->window_start = now;
    t->window_moved = bytes_moved (t, dlnow, ulnow);
    return 0;
  }
  elapsed = (now.tv_sec - t->window_start.tv_sec) +
    (now.tv_nsec - t->window_start.tv_nsec) / 1e9;
  if (elapsed < t->http->timeout)
    return 0;
  moved = bytes_moved (t, dlnow, ulnow);
  if (moved - t->window_moved <
      (uint64_t) t->http->low_speed_limit * (uint64_t) t->http->timeout) {
    t->stalled = true;
    return 1;
  }
  t->window_start = now;
  t->window_moved = moved;
  return 0;
}

/* Set up SLOT's (reset) handle for the transfer T. */
static CURLcode
set_options (struct s3_http *http, struct slot *slot, struct transfer *t,
             struct curl_slist *headers)
{
  const struct s3_http_request *req = t->req;
  CURL *curl = slot->curl;
  CURLcode code;

#define SETOPT(opt, val)                                            \
  do {                                                              \
    if ((code = curl_easy_setopt (curl, (opt), (val))) != CURLE_OK) \
      return code;                                                  \
  } while (0)
  SETOPT (CURLOPT_ERRORBUFFER, slot->errbuf);
  SETOPT (CURLOPT_URL, req->url);
  SETOPT (CURLOPT_PROTOCOLS_STR, "http,https");
  SETOPT (CURLOPT_NOSIGNAL, 1L);
  SETOPT (CURLOPT_SOCKOPTFUNCTION, socket_opened);
  SETOPT (CURLOPT_SOCKOPTDATA, slot);
  SETOPT (CURLOPT_CLOSESOCKETFUNCTION, socket_closed);
  SETOPT (CURLOPT_CLOSESOCKETDATA, slot);
  SETOPT (CURLOPT_NOPROGRESS, 0L);
  SETOPT (CURLOPT_XFERINFOFUNCTION, stall_check);
  SETOPT (CURLOPT_XFERINFODATA, t);
  SETOPT (CURLOPT_CONNECTTIMEOUT, http->connect_timeout);
  SETOPT (CURLOPT_TCP_NODELAY, 1L);
  SETOPT (CURLOPT_TCP_KEEPALIVE, 1L);
  SETOPT (CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_1_1);
  SETOPT (CURLOPT_PATH_AS_IS, 1L);
  SETOPT (CURLOPT_BUFFERSIZE, RECEIVE_BUFFER_SIZE);
  SETOPT (CURLOPT_USERAGENT, PACKAGE_NAME "/" PACKAGE_VERSION);
  if (http->ca_bundle)
    SETOPT (CURLOPT_CAINFO, http->ca_bundle);
  SETOPT (CURLOPT_HTTPHEADER, headers);
  SETOPT (CURLOPT_WRITEFUNCTION, write_cb);
  SETOPT (CURLOPT_WRITEDATA, t);
  SETOPT (CURLOPT_HEADERFUNCTION, header_cb);
  SETOPT (CURLOPT_HEADERDATA, t);

  if (strcmp (req->method, "GET") == 0)
    SETOPT (CURLOPT_HTTPGET, 1L);
  else if (t->head)
    SETOPT (CURLOPT_NOBODY, 1L);
  else if (strcmp (req->method, "PUT") == 0) {
    SETOPT (CURLOPT_UPLOAD, 1L);
    SETOPT (CURLOPT_UPLOAD_BUFFERSIZE, UPLOAD_BUFFER_SIZE);
    SETOPT (CURLOPT_READFUNCTION, read_cb);
    SETOPT (CURLOPT_READDATA, t);
    SETOPT (CURLOPT_SEEKFUNCTION, seek_cb);
    SETOPT (CURLOPT_SEEKDATA, t);
    SETOPT (CURLOPT_INFILESIZE_LARGE, (curl_off_t) req->body_len);
  }
  else if (strcmp (req->method, "POST") == 0) {
    SETOPT (CURLOPT_POST, 1L);
    SETOPT (CURLOPT_POSTFIELDS, req->body ? req->body : "");
    SETOPT (CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) req->body_len);
  }
  else
    SETOPT (CURLOPT_CUSTOMREQUEST, req->method);
#undef SETOPT
  return CURLE_OK;
}

uint64_t
s3_http_now_ms (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
s3_http_perform (struct s3_http *http, const struct s3_http_request *req,
                 struct s3_http_response *resp)
{
  struct curl_slist list[S3_HTTP_MAX_HEADERS + 1];
  struct transfer t = { .req = req, .resp = resp, .body = EMPTY_VECTOR };
  struct timespec start, end;
  struct slot *slot;
  CURLcode code;
  long os_errno = 0;
  size_t i;
  int err = 0;

  memset (resp, 0, sizeof *resp);
  if (req->nheaders > S3_HTTP_MAX_HEADERS) {
    snprintf (resp->error, sizeof resp->error, "too many headers");
    errno = EINVAL;
    return -1;
  }

  /* Headers: the caller's, then no Expect: 100-continue. */
  for (i = 0; i < req->nheaders; i++) {
    list[i].data = (char *) req->headers[i];
    list[i].next = &list[i+1];
  }
  list[i].data = (char *) "Expect:";
  list[i].next = NULL;

  slot = acquire (http);
  if (slot->curl == NULL && new_handle (http, slot) == -1) {
    release (http, slot);
    snprintf (resp->error, sizeof resp->error, "cannot make a curl handle");
    errno = ENOMEM;
    return -1;
  }
  curl_easy_reset (slot->curl);
  slot->errbuf[0] = '\0';
  t.head = strcmp (req->method, "HEAD") == 0;
  t.slot = slot;
  t.http = http;

  code = set_options (http, slot, &t, list);
  if (code == CURLE_OK && req->deadline_ms) {
    /* What is left of its time once a handle is free: none, and the
     * request is not sent.
     */
    uint64_t now = s3_http_now_ms ();

    if (now >= req->deadline_ms) {
      release (http, slot);
      snprintf (resp->error, sizeof resp->error, "not sent: its time "
                "(write-timeout) ran out while it waited for a connection");
      errno = ETIMEDOUT;
      return -1;
    }
    code = curl_easy_setopt (slot->curl, CURLOPT_TIMEOUT_MS,
                             (long) (req->deadline_ms - now));
  }
  if (code == CURLE_OK) {
    clock_gettime (CLOCK_MONOTONIC, &start);
    code = curl_easy_perform (slot->curl);
    clock_gettime (CLOCK_MONOTONIC, &end);
    resp->seconds = (end.tv_sec - start.tv_sec) +
      (end.tv_nsec - start.tv_nsec) / 1e9;
    if (code == CURLE_OK)
      code = curl_easy_getinfo (slot->curl, CURLINFO_RESPONSE_CODE,
                                &resp->status);
    else
      curl_easy_getinfo (slot->curl, CURLINFO_OS_ERRNO, &os_errno);
  }
  if (code != CURLE_OK) {
    if (t.nomem) {
      err = ENOMEM;
      snprintf (resp->error, sizeof resp->error,
                "out of memory receiving the response");
    }
    else if (code == CURLE_OPERATION_TIMEDOUT && req->deadline_ms &&
             s3_http_now_ms () + 50 >= req->deadline_ms) {
      err = ETIMEDOUT;
      snprintf (resp->error, sizeof resp->error, "abandoned: it did not "
                "end within its time (write-timeout)");
    }
    else if (t.stalled) {
      err = ETIMEDOUT;
      snprintf (resp->error, sizeof resp->error,
                "the transfer stalled: less than %ld bytes a second for "
                "%ld seconds (low-speed-limit, timeout)",
                http->low_speed_limit, http->timeout);
    }
    else {
      err = transfer_errno (code, os_errno);
      snprintf (resp->error, sizeof resp->error, "%s%s%s",
                curl_easy_strerror (code),
                slot->errbuf[0] ? ": " : "", slot->errbuf);
    }
  }
  release (http, slot);
  if (err) {
    byte_vector_reset (&t.body);
    errno = err;
    return -1;
  }
  if (t.body.items)                 /* a preallocated, unused buffer */
    t.body.items[t.body.len] = '\0';
  resp->body_len = t.body.len;
  resp->body = (char *) byte_vector_release (&t.body);
  return 0;
}

void
s3_http_response_free (struct s3_http_response *resp)
{
  int saved_errno = errno;

  free (resp->body);
  resp->body = NULL;
  resp->body_len = 0;
  errno = saved_errno;
}
