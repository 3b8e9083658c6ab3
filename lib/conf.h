/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: configuration, one table of options for every front end.
 *
 * The plugin (key=value parameters), zerofs-dev (--key=value flags) and the
 * libconfig file (config=FILE, "key = value;" settings with the same names)
 * all fill one struct zconf through one table, so an option is spelled,
 * checked and documented once.  Later settings override earlier ones; the
 * front ends load the config file first and apply their own parameters
 * after it, so parameters override the file.
 *
 * Every value from outside is checked here: an unknown key, a malformed
 * size or number, an enum value not in its list is an error that names
 * the key and the value (secrets are never echoed).  A relative path is
 * made absolute against the current directory when it is set.
 */
#ifndef ZEROFS_CONF_H
#define ZEROFS_CONF_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum zcompression { ZCOMP_NONE = 0, ZCOMP_ZSTD = 1 };
enum zdurability { ZDUR_REMOTE = 0, ZDUR_LOCAL = 1 };
enum zaddressing { ZADDR_AUTO = 0, ZADDR_PATH = 1, ZADDR_VIRTUAL = 2 };

struct zconf {
  /* Volume. */
  char *bucket;              /* "file:///DIR" or "NAME[/PREFIX]" (S3) */
  char *export_name;         /* default export (device name) */
  char *password;            /* the password itself, once read */
  char *password_file;       /* or a file holding it (first line) */

  /* Local cache and semantics. */
  char *cache_dir;           /* absolute; default set by zconf_finish */
  uint64_t cache_size;       /* bytes of chunk slots, default 1G */
  enum zcompression compression;
  int compression_level;     /* zstd level, default 1 */
  enum zdurability durability;
  unsigned writeback_threads;  /* parallel uploads per flush, default 32 */
  unsigned writeback_max_age;  /* seconds a chunk durable without its
                                  upload waits at most, default 60 */
  uint64_t max_dirty;        /* bytes not yet in the store that writers
                                wait at; 0: three quarters of cache-size
                                (also the most it can be) */
  uint64_t readahead;        /* bytes fetched ahead of a sequential reader,
                                default 16M; 0: off */
  uint64_t journal_max_bytes;  /* a device's flush journal, default 1G;
                                  0: no journal */
  unsigned journal_max_objects;  /* and its objects, default 4096 */
  bool readonly;             /* set by front ends, not an option */
  bool force;                /* take a lease another server holds */

  /* S3 (ignored by the directory store). */
  char *endpoint;            /* URL; default https://s3.REGION.amazonaws.com */
  char *region;              /* NULL if not given; "auto": discover */
  enum zaddressing addressing;
  char *access_key;
  char *secret_key;
  char *session_token;
  char *profile;             /* shared credentials file profile */
  bool imds_v1;              /* EC2 metadata: IMDSv1 if IMDSv2 fails */
  char *ca_bundle;
  bool unsigned_payload;     /* UNSIGNED-PAYLOAD over https */
  unsigned connections;      /* requests in flight, default 32 */
  unsigned timeout;          /* seconds a request may stall, default 30 */
  unsigned connect_timeout;  /* seconds to connect, default 10 */
  unsigned low_speed_limit;  /* bytes/s below which it stalls, 1024 */
  unsigned write_timeout;    /* seconds one PUT or DELETE may take in all,
                                default 120 (lib/lease.h) */
  unsigned retry_time;       /* seconds of retrying before EIO, default 120 */

  /* Statistics (lib/stats.c). */
  char *stats_file;          /* rewritten every stats_interval seconds */
  unsigned stats_interval;   /* default 5 */

  /* Testing: fault-injection control file (see lib/store/fault.c). */
  char *fault_file;
};

enum zopt_type {
  ZOPT_STRING, ZOPT_PATH, ZOPT_SECRET, ZOPT_SIZE, ZOPT_UINT, ZOPT_BOOL,
  ZOPT_ENUM,
};

struct zopt {
  const char *key;           /* dash-separated, as on the command line */
  enum zopt_type type;
  const char *metavar;       /* for --help: "SIZE", "DIR", ... */
  const char *help;          /* one line */
};

/* Fill with defaults (no allocation for the defaults that are NULL). */
extern void zconf_init (struct zconf *conf);

/* Set one option by its key.  Unknown keys and bad values are errors
 * (zerror, -1, errno = EINVAL).  PATH options are made absolute
 * against the current directory at this point.
 */
extern int zconf_set (struct zconf *conf, const char *key, const char *value);

/* Set the password itself, taken literally (the plugin has already read
 * it with nbdkit_read_password); replaces password-file.
 */
extern int zconf_set_password (struct zconf *conf, const char *password);

/* Is KEY one of the table's options? */
extern bool zconf_is_option (const char *key);

/* KEY's entry in the table (its type, for a front end's parser), or NULL. */
extern const struct zopt *zconf_find_option (const char *key);

/* Load a libconfig file: top-level "key = value;" settings with the
 * table's keys.  Strings, integers and booleans are accepted where they
 * make sense; an unknown key or a parse error (with its line) is an error.
 */
extern int zconf_load_file (struct zconf *conf, const char *path);

/* The file every front end reads when it is given none (config=,
 * --config=): $ZEROFS_CONFIG if that is set (empty: no file at all), else
 * ZCONF_SYSTEM_FILE if it exists; NULL if there is none.  A file named by
 * $ZEROFS_CONFIG must exist (loading it says so); the system file is
 * optional.  The environment variable is also how tests keep away from
 * the machine's own file.
 */
#define ZCONF_SYSTEM_FILE "/etc/zerofs/zerofs.conf"
extern const char *zconf_default_file (void);

/* After everything is set: check that bucket is set, fill derived
 * defaults (cache-dir: $XDG_CACHE_HOME/zerofs or /var/cache/zerofs for
 * root), read password-file into password if needed.  NEED_PASSWORD:
 * a missing password is an error.
 */
extern int zconf_finish (struct zconf *conf, bool need_password);

extern void zconf_free (struct zconf *conf);

/* The option table, for --help output and --dump-plugin. */
extern const struct zopt *zconf_options (size_t *n);

/* Print "  PREFIXkey=METAVAR   help" for every option. */
extern void zconf_print_help (FILE *fp, const char *prefix);

/* Sizes: "4096", "10G", "1.5T" is refused (integers only), binary units
 * K M G T P E (also KiB, MiB, ...), case-insensitive.  Overflow and
 * junk are errors naming the string.  Returns 0 or -1 (zerror).
 */
extern int zparse_size (const char *str, uint64_t *out);

/* Read a password as nbdkit does: "-" = from the terminal (no echo) or
 * stdin, "-FD" = from file descriptor FD, "+FILE" = first line of FILE,
 * anything else = the password itself.  Returns malloc'd string.
 */
extern char *zread_password (const char *spec);

#endif /* ZEROFS_CONF_H */
