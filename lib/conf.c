/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: configuration, one table of options (see conf.h).
 *
 * The table below is the only place an option is named, typed and
 * documented.  Two parallel arrays hold it: the public struct zopt array
 * (for --help and --dump-plugin) and, at the same index, where the value
 * goes in struct zconf with its limits.  zconf_set() and the libconfig
 * loader both go through set_option(), so a value is checked the same
 * way wherever it comes from; the loader only adds FILE:LINE to the
 * messages.  zconf_default_file() names the file read when a front end
 * is given none: $ZEROFS_CONFIG, else /etc/zerofs/zerofs.conf if it
 * exists (zerofs.conf(5)).
 *
 * Values:
 *   SIZE    bytes: "4096", "10G", "64MiB": binary units K M G T P E,
 *           optionally followed by "iB", case-insensitive; integers only
 *   UINT    a decimal number within the option's range
 *   BOOL    true/false, yes/no, on/off, 1/0 (case-insensitive)
 *   ENUM    one of the option's words (compression takes zstd:LEVEL too)
 *   PATH    made absolute against the current directory when set
 *   SECRET  never echoed in a message; password takes nbdkit's forms
 *           (see zread_password), the other secrets are taken literally
 *           (an S3 secret key may well begin with '+')
 *
 * password and password-file replace each other: the one set last wins,
 * so that a command line overrides a config file either way.
 *
 * Defaults: cache-size 1G (at least 16M: a handful of 1 MiB chunk slots,
 * small enough for tests that want eviction), compression zstd level 1,
 * durability remote, writeback-threads 32, writeback-max-age 60 s,
 * max-dirty 0 (three quarters of the cache), readahead 16M,
 * journal-max-bytes 1G, journal-max-objects 4096, addressing auto,
 * connections 32, timeout 30 s, connect-timeout 10 s, write-timeout 0
 * (no bound), retry-time 120 s, stats-interval 5 s.  region has no
 * default here (NULL): the S3 store tells "not given" from "us-east-1",
 * since it finds the bucket's region itself when none is given for AWS
 * (see lib/store/s3-route.c).
 *
 * Secrets are wiped wherever they are dropped: a replaced or freed secret
 * field by free_string(), a password being read in a SECRET_BUFFER.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <termios.h>
#include <unistd.h>

#include <libconfig.h>

#include "cleanup.h"
#include "utils.h"

#include "conf.h"
#include "log.h"

#define MIN_CACHE_SIZE (UINT64_C (16) << 20)
#define DEFAULT_CACHE_SIZE (UINT64_C (1) << 30)
/* bench/: level 3 cost 5x the CPU of level 1 on poorly compressible data. */
#define DEFAULT_COMPRESSION_LEVEL 1
/* The flush journal's bound per device (see lib/cache/journal.c). */
#define DEFAULT_JOURNAL_MAX_BYTES (UINT64_C (1) << 30)
/* Readahead (lib/cache/readahead.c): 16 chunks in flight ahead of a
 * sequential reader read cold data a fifth faster than 8 did, 20 ms
 * from s3rver (bench/README.md, "Readahead of 16 chunks").
 */
#define DEFAULT_READAHEAD (UINT64_C (16) << 20)
#define MAX_READAHEAD (UINT64_C (1) << 30)
#define MAX_COMPRESSION_LEVEL 19
#define MAX_PASSWORD_LEN 4096

static const struct zopt options[] = {
  { "bucket", ZOPT_STRING, "NAME[/PREFIX]|file:///DIR",
    "the volume: an S3 bucket (and prefix), or a local directory" },
  { "export", ZOPT_STRING, "NAME",
    "the device served to clients that ask for the default export" },
  { "password", ZOPT_SECRET, "PASSWORD|-|-FD|+FILE",
    "the volume's password (- asks, -FD reads a descriptor, +FILE a file)" },
  { "password-file", ZOPT_PATH, "FILE",
    "read the volume's password from the first line of FILE" },
  { "cache-dir", ZOPT_PATH, "DIR",
    "local cache (default $XDG_CACHE_HOME/zerofs, /var/cache/zerofs for root)" },
  { "cache-size", ZOPT_SIZE, "SIZE",
    "bytes of cached chunks, at least 16M (default 1G)" },
  { "compression", ZOPT_ENUM, "none|zstd|zstd:LEVEL",
    "compress chunks before upload (default zstd, level 1; levels 1-19)" },
  { "durability", ZOPT_ENUM, "remote|local",
    "what a flush waits for: the object store, or the local cache disk" },
  { "writeback-threads", ZOPT_UINT, "N",
    "parallel uploads, 1-256 (default 32)" },
  { "writeback-max-age", ZOPT_UINT, "SECONDS",
    "a busy device's flushed writes that only the cache (durability=local) "
    "or the journal holds are uploaded within this long, 1-86400 "
    "(default 60)" },
  { "max-dirty", ZOPT_SIZE, "SIZE",
    "bound on the data not yet written to the store: writers wait past "
    "it (default and most: three quarters of cache-size)" },
  { "readahead", ZOPT_SIZE, "SIZE",
    "how far ahead of a sequential reader chunks are fetched in parallel; "
    "0: off (default 16M)" },
  { "journal-max-bytes", ZOPT_SIZE, "SIZE",
    "bound on a device's flush journal in the store; 0: no journal, "
    "flushes upload whole chunks (default 1G)" },
  { "journal-max-objects", ZOPT_UINT, "N",
    "bound on a device's journal objects, 16-1048576 (default 4096)" },
  { "force", ZOPT_BOOL, "BOOL",
    "take over a device whose lease another server holds (only when that "
    "server is gone for good)" },
  { "endpoint", ZOPT_STRING, "URL",
    "S3 endpoint (default https://s3.REGION.amazonaws.com)" },
  { "region", ZOPT_STRING, "REGION",
    "S3 region, for signing; auto: ask the store (default: ask AWS, "
    "us-east-1 elsewhere)" },
  { "addressing", ZOPT_ENUM, "auto|path|virtual",
    "bucket in the URL path or in the host name (default auto)" },
  { "access-key", ZOPT_STRING, "KEY",
    "S3 access key id (default: environment, then credentials file)" },
  { "secret-key", ZOPT_SECRET, "SECRET",
    "S3 secret access key" },
  { "session-token", ZOPT_SECRET, "TOKEN",
    "S3 session token, for temporary credentials" },
  { "profile", ZOPT_STRING, "NAME",
    "profile in the shared credentials file" },
  { "imds-v1", ZOPT_BOOL, "BOOL",
    "allow the EC2 metadata service's IMDSv1 if IMDSv2 fails (default "
    "false)" },
  { "ca-bundle", ZOPT_PATH, "FILE",
    "CA certificates to verify the S3 endpoint with" },
  { "unsigned-payload", ZOPT_BOOL, "BOOL",
    "do not hash request bodies into signatures (https only)" },
  { "connections", ZOPT_UINT, "N",
    "S3 requests in flight, 1-1024 (default 32)" },
  { "timeout", ZOPT_UINT, "SECONDS",
    "abandon a request that moves less than low-speed-limit bytes a "
    "second for this long, 1-3600 (default 30)" },
  { "connect-timeout", ZOPT_UINT, "SECONDS",
    "abandon a connection attempt after this long, 1-3600 (default 10)" },
  { "low-speed-limit", ZOPT_UINT, "BYTES",
    "the transfer rate below which a request is stalled, 1-1073741824 "
    "(default 1024)" },
  { "write-timeout", ZOPT_UINT, "SECONDS",
    "the longest one PUT or DELETE may take in all, 0-3600 (default 0: "
    "no bound); a forced takeover waits this long and 3 s more" },
  { "retry-time", ZOPT_UINT, "SECONDS",
    "keep retrying transient failures this long, 0-86400 (default 120)" },
  { "stats-file", ZOPT_PATH, "FILE",
    "keep statistics in FILE (JSON if it ends in .json, else text)" },
  { "stats-interval", ZOPT_UINT, "SECONDS",
    "rewrite stats-file this often, 1-86400 (default 5)" },
  { "fault-file", ZOPT_PATH, "FILE",
    "testing: inject object store faults described in FILE" },
};

#define NR_OPTIONS (sizeof options / sizeof options[0])

/* Where each option's value goes, at the same index as options[]. */
struct zopt_target {
  size_t offset;               /* into struct zconf */
  uint64_t min, max;           /* SIZE, UINT */
  const char *const *words;    /* ENUM, NULL-terminated; index = value */
};

#define FIELD(f) offsetof (struct zconf, f)

static const char *const durability_words[] = { "remote", "local", NULL };
static const char *const addressing_words[] = {
  "auto", "path", "virtual", NULL
};

static const struct zopt_target targets[] = {
  { .offset = FIELD (bucket) },
  { .offset = FIELD (export_name) },
  { .offset = FIELD (password) },
  { .offset = FIELD (password_file) },
  { .offset = FIELD (cache_dir) },
  { .offset = FIELD (cache_size), .min = MIN_CACHE_SIZE, .max = UINT64_MAX },
  { .offset = FIELD (compression) },      /* parsed by hand */
  { .offset = FIELD (durability), .words = durability_words },
  { .offset = FIELD (writeback_threads), .min = 1, .max = 256 },
  { .offset = FIELD (writeback_max_age), .min = 1, .max = 86400 },
  { .offset = FIELD (max_dirty), .min = 0, .max = UINT64_MAX },
  { .offset = FIELD (readahead), .min = 0, .max = MAX_READAHEAD },
  { .offset = FIELD (journal_max_bytes), .min = 0, .max = UINT64_MAX },
  { .offset = FIELD (journal_max_objects), .min = 16, .max = 1048576 },
  { .offset = FIELD (force) },
  { .offset = FIELD (endpoint) },
  { .offset = FIELD (region) },
  { .offset = FIELD (addressing), .words = addressing_words },
  { .offset = FIELD (access_key) },
  { .offset = FIELD (secret_key) },
  { .offset = FIELD (session_token) },
  { .offset = FIELD (profile) },
  { .offset = FIELD (imds_v1) },
  { .offset = FIELD (ca_bundle) },
  { .offset = FIELD (unsigned_payload) },
  { .offset = FIELD (connections), .min = 1, .max = 1024 },
  { .offset = FIELD (timeout), .min = 1, .max = 3600 },
  { .offset = FIELD (connect_timeout), .min = 1, .max = 3600 },
  { .offset = FIELD (low_speed_limit), .min = 1, .max = 1073741824 },
  { .offset = FIELD (write_timeout), .min = 0, .max = 3600 },
  { .offset = FIELD (retry_time), .min = 0, .max = 86400 },
  { .offset = FIELD (stats_file) },
  { .offset = FIELD (stats_interval), .min = 1, .max = 86400 },
  { .offset = FIELD (fault_file) },
};

_Static_assert (sizeof targets / sizeof targets[0] == NR_OPTIONS,
                "options[] and targets[] must have the same length");
_Static_assert (sizeof (enum zdurability) == sizeof (int) &&
                sizeof (enum zaddressing) == sizeof (int),
                "enum options are stored as int");

void
zconf_init (struct zconf *conf)
{
  memset (conf, 0, sizeof *conf);
  conf->cache_size = DEFAULT_CACHE_SIZE;
  conf->compression = ZCOMP_ZSTD;
  conf->compression_level = DEFAULT_COMPRESSION_LEVEL;
  conf->durability = ZDUR_REMOTE;
  conf->writeback_threads = 32;
  conf->writeback_max_age = 60;
  conf->readahead = DEFAULT_READAHEAD;
  conf->journal_max_bytes = DEFAULT_JOURNAL_MAX_BYTES;
  conf->journal_max_objects = 4096;
  conf->addressing = ZADDR_AUTO;
  conf->connections = 32;
  conf->timeout = 30;
  conf->connect_timeout = 10;
  conf->low_speed_limit = 1024;
  conf->write_timeout = 0;
  conf->retry_time = 120;
  conf->stats_interval = 5;
}

/* Free a string field, wiping it first if it may hold a secret. */
static void
free_string (char **field, bool secret)
{
  if (*field == NULL)
    return;
  if (secret)
    explicit_bzero (*field, strlen (*field));
  free (*field);
  *field = NULL;
}

int
zconf_set_password (struct zconf *conf, const char *password)
{
  char *str;

  if (password[0] == '\0') {
    zerror ("password: empty");
    errno = EINVAL;
    return -1;
  }
  str = strdup (password);
  if (str == NULL) {
    zerror ("strdup: %m");
    return -1;
  }
  free_string (&conf->password, true);
  free_string (&conf->password_file, false);
  conf->password = str;
  return 0;
}

void
zconf_free (struct zconf *conf)
{
  size_t i;

  for (i = 0; i < NR_OPTIONS; i++)
    switch (options[i].type) {
    case ZOPT_STRING: case ZOPT_PATH: case ZOPT_SECRET:
      free_string ((char **) ((char *) conf + targets[i].offset),
                   options[i].type == ZOPT_SECRET);
      break;
    default:
      break;
    }
  memset (conf, 0, sizeof *conf);
}

const struct zopt *
zconf_options (size_t *n)
{
  *n = NR_OPTIONS;
  return options;
}

static int
find_option (const char *key)
{
  size_t i;

  for (i = 0; i < NR_OPTIONS; i++)
    if (strcmp (options[i].key, key) == 0)
      return i;
  return -1;
}

bool
zconf_is_option (const char *key)
{
  return find_option (key) >= 0;
}

const struct zopt *
zconf_find_option (const char *key)
{
  int i = find_option (key);

  return i >= 0 ? &options[i] : NULL;
}

/* Parsers that say what is wrong instead of reporting it, so that the
 * caller can name the key and the place.
 */

static const char *
parse_size (const char *str, uint64_t *out)
{
  static const char units[] = "KMGTPE";
  const char *p = str, *u;
  uint64_t v = 0;
  unsigned shift = 0;

  if (*p == '\0')
    return "empty";
  if (*p < '0' || *p > '9')
    return "not a whole number of bytes";
  for (; *p >= '0' && *p <= '9'; p++) {
    if (v > (UINT64_MAX - (*p - '0')) / 10)
      return "too large";
    v = v * 10 + (*p - '0');
  }
  if (*p == '.')
    return "not a whole number of bytes (use a smaller unit)";
  if (*p != '\0') {
    u = strchr (units, *p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
    if (u == NULL)
      return "unknown unit (K M G T P E, or KiB MiB ...)";
    shift = 10 * (u - units + 1);
    p++;
    if (strcasecmp (p, "iB") == 0)
      p += 2;
    if (*p != '\0')
      return "unknown unit (K M G T P E, or KiB MiB ...)";
    if (v > (UINT64_MAX >> shift))
      return "too large";
    v <<= shift;
  }
  *out = v;
  return NULL;
}

int
zparse_size (const char *str, uint64_t *out)
{
  const char *why = parse_size (str, out);

  if (why) {
    zerror ("invalid size \"%s\": %s", str, why);
    errno = EINVAL;
    return -1;
  }
  return 0;
}

static const char *
parse_uint (const char *str, uint64_t *out)
{
  uint64_t v = 0;
  const char *p;

  if (*str == '\0')
    return "empty";
  for (p = str; *p; p++) {
    if (*p < '0' || *p > '9')
      return "not a whole number";
    if (v > (UINT64_MAX - (*p - '0')) / 10)
      return "too large";
    v = v * 10 + (*p - '0');
  }
  *out = v;
  return NULL;
}

static const char *
parse_bool (const char *str, bool *out)
{
  static const char *const yes[] = { "true", "yes", "on", "1" };
  static const char *const no[] = { "false", "no", "off", "0" };
  size_t i;

  for (i = 0; i < 4; i++) {
    if (strcasecmp (str, yes[i]) == 0) {
      *out = true;
      return NULL;
    }
    if (strcasecmp (str, no[i]) == 0) {
      *out = false;
      return NULL;
    }
  }
  return "not a boolean (true/false, yes/no, on/off, 1/0)";
}

/* compression: none | zstd | zstd:LEVEL. */
static const char *
parse_compression (const char *str, enum zcompression *comp, int *level)
{
  uint64_t v;

  if (strcmp (str, "none") == 0) {
    *comp = ZCOMP_NONE;
    *level = DEFAULT_COMPRESSION_LEVEL;
    return NULL;
  }
  if (strcmp (str, "zstd") == 0) {
    *comp = ZCOMP_ZSTD;
    *level = DEFAULT_COMPRESSION_LEVEL;
    return NULL;
  }
  if (strncmp (str, "zstd:", 5) == 0) {
    if (parse_uint (str + 5, &v) != NULL || v < 1 ||
        v > MAX_COMPRESSION_LEVEL)
      return "the zstd level must be a number from 1 to 19";
    *comp = ZCOMP_ZSTD;
    *level = v;
    return NULL;
  }
  return "expected none, zstd or zstd:LEVEL";
}

/* Set option KEY from VALUE.  WHERE ("FILE:LINE: " or "") starts every
 * message.
 */
static int
set_option (struct zconf *conf, const char *key, const char *value,
            const char *where)
{
  const struct zopt *opt;
  const struct zopt_target *t;
  void *field;
  const char *why = NULL;
  char *str = NULL;
  uint64_t v;
  bool b;
  int i, level;
  enum zcompression comp;

  i = find_option (key);
  if (i < 0) {
    zerror ("%sunknown option \"%s\"", where, key);
    errno = EINVAL;
    return -1;
  }
  opt = &options[i];
  t = &targets[i];
  field = (char *) conf + t->offset;

  switch (opt->type) {
  case ZOPT_STRING:
    if (value[0] == '\0')
      why = "empty";
    else if (strcmp (key, "endpoint") == 0 &&
             strncmp (value, "http://", 7) != 0 &&
             strncmp (value, "https://", 8) != 0)
      why = "not an http:// or https:// URL";
    if (why)
      break;
    str = strdup (value);
    if (str == NULL) {
      zerror ("%s%s: out of memory", where, key);
      errno = ENOMEM;
      return -1;
    }
    free_string (field, false);
    *(char **) field = str;
    return 0;

  case ZOPT_PATH:
    if (value[0] == '\0') {
      why = "empty";
      break;
    }
    str = absolute_path (value);
    if (str == NULL) {
      zerror ("%s%s=%s: cannot make the path absolute: %m",
              where, key, value);
      return -1;
    }
    free_string (field, false);
    *(char **) field = str;
    if (strcmp (key, "password-file") == 0)
      free_string (&conf->password, true);
    return 0;

  case ZOPT_SECRET:
    if (value[0] == '\0') {
      zerror ("%s%s: empty", where, key);
      errno = EINVAL;
      return -1;
    }
    if (strcmp (key, "password") == 0) {
      str = zread_password (value);
      if (str == NULL)
        return -1;
      free_string (&conf->password_file, false);
    }
    else if ((str = strdup (value)) == NULL) {
      zerror ("%s%s: out of memory", where, key);
      errno = ENOMEM;
      return -1;
    }
    free_string (field, true);
    *(char **) field = str;
    return 0;

  case ZOPT_SIZE:
    why = parse_size (value, &v);
    if (why == NULL && v < t->min) {
      zerror ("%s%s=%s: must be at least %" PRIu64 " MiB",
              where, key, value, t->min >> 20);
      errno = EINVAL;
      return -1;
    }
    if (why == NULL && v > t->max) {
      zerror ("%s%s=%s: must be at most %" PRIu64 " MiB",
              where, key, value, t->max >> 20);
      errno = EINVAL;
      return -1;
    }
    if (why == NULL)
      *(uint64_t *) field = v;
    break;

  case ZOPT_UINT:
    why = parse_uint (value, &v);
    if (why == NULL && (v < t->min || v > t->max)) {
      zerror ("%s%s=%s: must be a number from %" PRIu64 " to %" PRIu64,
              where, key, value, t->min, t->max);
      errno = EINVAL;
      return -1;
    }
    if (why == NULL)
      *(unsigned *) field = v;
    break;

  case ZOPT_BOOL:
    why = parse_bool (value, &b);
    if (why == NULL)
      *(bool *) field = b;
    break;

  case ZOPT_ENUM:
    if (strcmp (key, "compression") == 0) {
      why = parse_compression (value, &comp, &level);
      if (why == NULL) {
        conf->compression = comp;
        conf->compression_level = level;
      }
      break;
    }
    for (i = 0; t->words[i]; i++)
      if (strcmp (value, t->words[i]) == 0) {
        /* Every enum field is an int-sized enum. */
        *(int *) field = i;
        return 0;
      }
    zerror ("%s%s=%s: expected %s", where, key, value, opt->metavar);
    errno = EINVAL;
    return -1;
  }

  if (why) {
    zerror ("%s%s=%s: %s", where, key, value, why);
    errno = EINVAL;
    return -1;
  }
  return 0;
}

int
zconf_set (struct zconf *conf, const char *key, const char *value)
{
  return set_option (conf, key, value, "");
}

/* A libconfig configuration destroyed when the scope ends. */
DEFINE_CLEANUP_STRUCT (config_destroy, config_t, config_destroy);
#define CLEANUP_CONFIG CLEANUP (config_destroy)

int
zconf_load_file (struct zconf *conf, const char *path)
{
  config_setting_t *root, *setting;
  const char *key, *value;
  char where[PATH_MAX + 32], number[32];
  FILE *fp;
  int i, n, type;
  long long ll;

  /* Report an unreadable file with its errno; libconfig only says
   * "file I/O error".
   */
  fp = fopen (path, "re");
  if (fp == NULL) {
    zerror ("config file %s: %m", path);
    return -1;
  }
  fclose (fp);

  /* From here on, every return destroys the configuration. */
  CLEANUP_CONFIG config_t cfg;
  config_init (&cfg);
  if (config_read_file (&cfg, path) != CONFIG_TRUE) {
    zerror ("%s:%d: %s", config_error_file (&cfg)
            ? config_error_file (&cfg) : path,
            config_error_line (&cfg), config_error_text (&cfg));
    errno = EINVAL;
    return -1;
  }

  root = config_root_setting (&cfg);
  n = config_setting_length (root);
  for (i = 0; i < n; i++) {
    setting = config_setting_get_elem (root, i);
    key = config_setting_name (setting);
    snprintf (where, sizeof where, "%s:%u: ",
              config_setting_source_file (setting)
              ? config_setting_source_file (setting) : path,
              config_setting_source_line (setting));
    if (key == NULL || find_option (key) < 0) {
      zerror ("%sunknown setting \"%s\"", where, key ? key : "");
      errno = EINVAL;
      return -1;
    }

    type = config_setting_type (setting);
    switch (type) {
    case CONFIG_TYPE_STRING:
      value = config_setting_get_string (setting);
      break;
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
    case CONFIG_TYPE_BOOL:
      if (type == CONFIG_TYPE_BOOL)
        value = config_setting_get_bool (setting) ? "true" : "false";
      else {
        ll = config_setting_get_int64 (setting);
        snprintf (number, sizeof number, "%lld", ll);
        value = number;
      }
      /* Numbers and booleans only where they mean something. */
      {
        enum zopt_type t = options[find_option (key)].type;

        if (type == CONFIG_TYPE_BOOL && t != ZOPT_BOOL) {
          zerror ("%s%s: expected %s, not a boolean", where, key,
                  options[find_option (key)].metavar);
          errno = EINVAL;
          return -1;
        }
        if (type != CONFIG_TYPE_BOOL && t != ZOPT_SIZE &&
            t != ZOPT_UINT && t != ZOPT_BOOL) {
          zerror ("%s%s: expected a string in quotes", where, key);
          errno = EINVAL;
          return -1;
        }
      }
      break;
    default:
      zerror ("%s%s: expected a string, number or boolean", where, key);
      errno = EINVAL;
      return -1;
    }
    if (set_option (conf, key, value, where) == -1)
      return -1;
  }
  return 0;
}

const char *
zconf_default_file (void)
{
  const char *env = getenv ("ZEROFS_CONFIG");

  if (env)
    return env[0] ? env : NULL;
  return access (ZCONF_SYSTEM_FILE, F_OK) == 0 ? ZCONF_SYSTEM_FILE : NULL;
}

/* The first line of FD's content (up to MAX_PASSWORD_LEN), without its
 * line end.  FD is not closed.  WHAT names the source in messages.
 * The line is read into a stack buffer wiped on every way out; only the
 * password returned is copied to the heap.
 */
static char *
read_line_fd (int fd, const char *what)
{
  SECRET_BUFFER (buf, MAX_PASSWORD_LEN + 1);
  size_t len = 0;
  ssize_t r;
  char c, *password;

  /* Byte by byte, so as not to consume what follows the line. */
  for (;;) {
    r = read (fd, &c, 1);
    if (r == -1) {
      if (errno == EINTR)
        continue;
      zerror ("reading the password from %s: %m", what);
      return NULL;
    }
    if (r == 0 || c == '\n')
      break;
    if (len == MAX_PASSWORD_LEN) {
      zerror ("reading the password from %s: longer than %d bytes",
              what, MAX_PASSWORD_LEN);
      errno = EINVAL;
      return NULL;
    }
    buf[len++] = c;
  }
  if (len > 0 && buf[len-1] == '\r')
    len--;
  buf[len] = '\0';
  if (len == 0) {
    zerror ("reading the password from %s: empty password", what);
    errno = EINVAL;
    return NULL;
  }
  password = strdup ((char *) buf);
  if (password == NULL)
    zerror ("reading the password: out of memory");
  return password;
}

/* "-": the terminal with echo off, or a line of stdin. */
static char *
read_password_interactive (void)
{
  struct termios saved, quiet;
  bool echo_off = false;
  char *password;
  int saved_errno;

  if (isatty (STDIN_FILENO)) {
    fprintf (stderr, "password: ");
    fflush (stderr);
    if (tcgetattr (STDIN_FILENO, &saved) == 0) {
      quiet = saved;
      quiet.c_lflag &= ~ECHO;
      quiet.c_lflag |= ECHONL;
      echo_off = tcsetattr (STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
    }
  }
  password = read_line_fd (STDIN_FILENO, "stdin");
  saved_errno = errno;
  if (echo_off)
    tcsetattr (STDIN_FILENO, TCSAFLUSH, &saved);
  errno = saved_errno;
  return password;
}

char *
zread_password (const char *spec)
{
  char *password, what[64];
  uint64_t fd;

  if (strcmp (spec, "-") == 0)
    return read_password_interactive ();

  if (spec[0] == '-') {
    if (parse_uint (spec + 1, &fd) != NULL || fd > INT_MAX) {
      /* Do not echo it: it may be a password that begins with '-'. */
      zerror ("password: a value beginning with '-' must be - or -FD "
              "(a file descriptor number); put a password that begins "
              "with '-' or '+' in a file and use +FILE");
      errno = EINVAL;
      return NULL;
    }
    snprintf (what, sizeof what, "file descriptor %d", (int) fd);
    return read_line_fd (fd, what);
  }

  if (spec[0] == '+') {
    CLEANUP_CLOSE int filefd = open (spec + 1, O_RDONLY | O_CLOEXEC);

    if (filefd == -1) {
      zerror ("password file %s: %m", spec + 1);
      return NULL;
    }
    return read_line_fd (filefd, spec + 1);
  }

  password = strdup (spec);
  if (password == NULL)
    zerror ("password: out of memory");
  return password;
}

/* The default cache directory. */
static char *
default_cache_dir (void)
{
  const char *xdg = getenv ("XDG_CACHE_HOME");
  const char *home = getenv ("HOME");
  char *dir;

  if (xdg && xdg[0] == '/')
    dir = format_string ("%s/zerofs", xdg);
  else if (geteuid () == 0)
    dir = strdup ("/var/cache/zerofs");
  else if (home && home[0] == '/')
    dir = format_string ("%s/.cache/zerofs", home);
  else {
    zerror ("no cache-dir given, and neither $XDG_CACHE_HOME nor $HOME "
            "is set to an absolute path: use cache-dir=DIR");
    errno = EINVAL;
    return NULL;
  }
  if (dir == NULL)
    zerror ("cache-dir: out of memory");
  return dir;
}

int
zconf_finish (struct zconf *conf, bool need_password)
{
  char *password;

  if (conf->bucket == NULL) {
    zerror ("no bucket given: bucket=NAME[/PREFIX] or bucket=file:///DIR");
    errno = EINVAL;
    return -1;
  }

  if (conf->cache_dir == NULL) {
    conf->cache_dir = default_cache_dir ();
    if (conf->cache_dir == NULL)
      return -1;
  }

  if (conf->password == NULL && conf->password_file) {
    char spec[PATH_MAX + 2];

    snprintf (spec, sizeof spec, "+%s", conf->password_file);
    password = zread_password (spec);
    if (password == NULL)
      return -1;
    conf->password = password;
  }

  if (need_password && conf->password == NULL) {
    zerror ("no password given: password=PASSWORD|-|-FD|+FILE "
            "or password-file=FILE");
    errno = EINVAL;
    return -1;
  }
  return 0;
}

void
zconf_print_help (FILE *fp, const char *prefix)
{
  size_t i, width = 0, w;

  for (i = 0; i < NR_OPTIONS; i++) {
    w = strlen (options[i].key) + 1 + strlen (options[i].metavar);
    if (w > width)
      width = w;
  }
  for (i = 0; i < NR_OPTIONS; i++) {
    w = strlen (options[i].key) + 1 + strlen (options[i].metavar);
    fprintf (fp, "  %s%s=%s%*s  %s\n", prefix, options[i].key,
             options[i].metavar, (int) (width - w), "", options[i].help);
  }
}
