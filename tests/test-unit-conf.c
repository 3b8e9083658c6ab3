/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: unit test of the configuration table (lib/conf.c).
 *
 * Every value that reaches zerofs from a command line, a plugin
 * parameter or a config file goes through conf.c, so this checks that
 * good values land in the right field and that bad ones are refused
 * with a message that names the key (and, for a file, the line), never
 * the secret.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"

#include "unit.h"

static char tmpdir[256];

static void
write_file (const char *path, const char *content)
{
  FILE *fp = fopen (path, "w");

  REQUIRE (fp != NULL && fputs (content, fp) != EOF && fclose (fp) != EOF,
           "%s: %m", path);
}

static void
test_sizes (void)
{
  static const struct { const char *str; uint64_t want; } good[] = {
    { "0", 0 }, { "4096", 4096 }, { "10G", UINT64_C (10737418240) },
    { "10g", UINT64_C (10737418240) }, { "1T", UINT64_C (1) << 40 },
    { "1KiB", 1024 }, { "1k", 1024 }, { "64MiB", UINT64_C (64) << 20 },
    { "3mib", UINT64_C (3) << 20 }, { "2P", UINT64_C (2) << 50 },
    { "15E", UINT64_C (15) << 60 },
    { "18446744073709551615", UINT64_MAX },
  };
  static const char *bad[] = {
    "", "-1", "12X", "1.5G", "16EiB", "16E", "18446744073709551616",
    "99999999999999999999999", " 1G", "1G ", "G", "1GB", "1Gi", "1 G",
    "0x10", "+5", "1KiBx",
  };
  uint64_t v;
  size_t i;

  for (i = 0; i < sizeof good / sizeof good[0]; i++) {
    v = 12345;
    CHECK (zparse_size (good[i].str, &v) == 0 && v == good[i].want,
           "size \"%s\": got %" PRIu64 ", expected %" PRIu64,
           good[i].str, v, good[i].want);
  }
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    unit_clear_errors ();
    v = 12345;
    errno = 0;
    CHECK (zparse_size (bad[i], &v) == -1 && errno == EINVAL && v == 12345 &&
           strstr (logged_errors, "invalid size") != NULL,
           "size \"%s\" was not refused properly", bad[i]);
  }
}

static void
test_every_key (void)
{
  struct zconf conf;
  const struct zopt *opts;
  size_t n, i;
  char cwd[4096];

  if (getcwd (cwd, sizeof cwd) == NULL)
    abort ();

  zconf_init (&conf);
  /* Defaults. */
  CHECK (conf.cache_size == UINT64_C (1) << 30);
  CHECK (conf.compression == ZCOMP_ZSTD && conf.compression_level == 1);
  CHECK (conf.durability == ZDUR_REMOTE);
  CHECK (conf.writeback_threads == 32);
  CHECK (conf.writeback_max_age == 60);
  CHECK (conf.max_dirty == 0);
  CHECK (conf.region == NULL);      /* not given: the store decides */
  CHECK (conf.addressing == ZADDR_AUTO);
  CHECK (conf.connections == 32 && conf.timeout == 30);
  CHECK (conf.write_timeout == 0);
  CHECK (conf.retry_time == 120);
  CHECK (!conf.unsigned_payload && conf.bucket == NULL);

  CHECK (zconf_set (&conf, "bucket", "mybucket/vols") == 0);
  CHECK (zconf_set (&conf, "export", "database") == 0);
  CHECK (zconf_set (&conf, "password", "s3cret") == 0);
  CHECK (zconf_set (&conf, "cache-dir", "/var/tmp/c") == 0);
  CHECK (zconf_set (&conf, "cache-size", "2G") == 0);
  CHECK (zconf_set (&conf, "compression", "zstd:19") == 0);
  CHECK (zconf_set (&conf, "durability", "local") == 0);
  CHECK (zconf_set (&conf, "writeback-threads", "256") == 0);
  CHECK (zconf_set (&conf, "writeback-max-age", "86400") == 0);
  CHECK (zconf_set (&conf, "max-dirty", "64M") == 0);
  CHECK (zconf_set (&conf, "endpoint", "http://127.0.0.1:9000") == 0);
  CHECK (zconf_set (&conf, "region", "eu-west-3") == 0);
  CHECK (zconf_set (&conf, "addressing", "path") == 0);
  CHECK (zconf_set (&conf, "access-key", "AKIAEXAMPLE") == 0);
  CHECK (zconf_set (&conf, "secret-key", "+secret/with+plus") == 0);
  CHECK (zconf_set (&conf, "session-token", "tok") == 0);
  CHECK (zconf_set (&conf, "profile", "prod") == 0);
  CHECK (zconf_set (&conf, "ca-bundle", "certs/ca.pem") == 0);
  CHECK (zconf_set (&conf, "unsigned-payload", "yes") == 0);
  CHECK (zconf_set (&conf, "connections", "1024") == 0);
  CHECK (zconf_set (&conf, "timeout", "1") == 0);
  CHECK (zconf_set (&conf, "retry-time", "0") == 0);
  CHECK (zconf_set (&conf, "fault-file", "/tmp/faults") == 0);

  CHECK (strcmp (conf.bucket, "mybucket/vols") == 0);
  CHECK (strcmp (conf.export_name, "database") == 0);
  CHECK (strcmp (conf.password, "s3cret") == 0);
  CHECK (strcmp (conf.cache_dir, "/var/tmp/c") == 0);
  CHECK (conf.cache_size == UINT64_C (2) << 30);
  CHECK (conf.compression == ZCOMP_ZSTD && conf.compression_level == 19);
  CHECK (conf.durability == ZDUR_LOCAL);
  CHECK (conf.writeback_threads == 256);
  CHECK (conf.writeback_max_age == 86400);
  CHECK (conf.max_dirty == UINT64_C (64) << 20);
  CHECK (strcmp (conf.endpoint, "http://127.0.0.1:9000") == 0);
  CHECK (strcmp (conf.region, "eu-west-3") == 0);
  CHECK (conf.addressing == ZADDR_PATH);
  CHECK (strcmp (conf.access_key, "AKIAEXAMPLE") == 0);
  /* Other secrets are literal: an S3 secret key may begin with '+'. */
  CHECK (strcmp (conf.secret_key, "+secret/with+plus") == 0);
  CHECK (strcmp (conf.session_token, "tok") == 0);
  CHECK (strcmp (conf.profile, "prod") == 0);
  CHECK (conf.ca_bundle && conf.ca_bundle[0] == '/' &&
         strncmp (conf.ca_bundle, cwd, strlen (cwd)) == 0 &&
         strcmp (conf.ca_bundle + strlen (cwd), "/certs/ca.pem") == 0);
  CHECK (conf.unsigned_payload);
  CHECK (conf.connections == 1024 && conf.timeout == 1);
  CHECK (conf.retry_time == 0);
  CHECK (strcmp (conf.fault_file, "/tmp/faults") == 0);

  CHECK (zconf_set (&conf, "compression", "none") == 0);
  CHECK (conf.compression == ZCOMP_NONE);
  CHECK (zconf_set (&conf, "compression", "zstd") == 0);
  CHECK (conf.compression == ZCOMP_ZSTD && conf.compression_level == 1);
  CHECK (zconf_set (&conf, "compression", "zstd:7") == 0);
  CHECK (conf.compression_level == 7);
  CHECK (zconf_set (&conf, "durability", "remote") == 0);
  CHECK (conf.durability == ZDUR_REMOTE);
  CHECK (zconf_set (&conf, "addressing", "virtual") == 0);
  CHECK (conf.addressing == ZADDR_VIRTUAL);
  CHECK (zconf_set (&conf, "addressing", "auto") == 0);
  CHECK (conf.addressing == ZADDR_AUTO);
  CHECK (zconf_set (&conf, "cache-size", "16M") == 0);     /* the minimum */
  CHECK (conf.cache_size == UINT64_C (16) << 20);
  CHECK (zconf_set (&conf, "writeback-threads", "1") == 0);
  CHECK (conf.writeback_threads == 1);
  CHECK (zconf_set (&conf, "retry-time", "86400") == 0);
  CHECK (conf.retry_time == 86400);

  /* password and password-file replace each other. */
  CHECK (zconf_set (&conf, "password-file", "pw") == 0);
  CHECK (conf.password == NULL && conf.password_file &&
         conf.password_file[0] == '/');
  CHECK (zconf_set (&conf, "password", "again") == 0);
  CHECK (conf.password_file == NULL && strcmp (conf.password, "again") == 0);

  /* A stall, not a whole request, is what times out (slow links). */
  CHECK (conf.connect_timeout == 10 && conf.low_speed_limit == 1024);
  CHECK (zconf_set (&conf, "connect-timeout", "0") == -1);
  CHECK (zconf_set (&conf, "low-speed-limit", "0") == -1);
  CHECK (zconf_set (&conf, "connect-timeout", "3") == 0 &&
         conf.connect_timeout == 3);
  CHECK (zconf_set (&conf, "low-speed-limit", "100") == 0 &&
         conf.low_speed_limit == 100);

  /* The journal's bounds: 0 bytes turns it off; objects 16 at least. */
  CHECK (conf.journal_max_bytes == UINT64_C (1) << 30 &&
         conf.journal_max_objects == 4096);
  CHECK (zconf_set (&conf, "journal-max-bytes", "0") == 0 &&
         conf.journal_max_bytes == 0);
  CHECK (zconf_set (&conf, "journal-max-bytes", "64M") == 0 &&
         conf.journal_max_bytes == UINT64_C (64) << 20);
  CHECK (zconf_set (&conf, "journal-max-objects", "15") == -1);
  CHECK (zconf_set (&conf, "journal-max-objects", "16") == 0 &&
         conf.journal_max_objects == 16);

  /* Readahead: 16M by default, 0 turns it off, at most 1G. */
  CHECK (conf.readahead == UINT64_C (16) << 20);
  CHECK (zconf_set (&conf, "readahead", "0") == 0 && conf.readahead == 0);
  CHECK (zconf_set (&conf, "readahead", "1G") == 0 &&
         conf.readahead == UINT64_C (1) << 30);
  CHECK (zconf_set (&conf, "readahead", "1025M") == -1);

  CHECK (!conf.force);
  CHECK (zconf_set (&conf, "force", "true") == 0 && conf.force);

  /* Statistics: a path made absolute, an interval of 1 s to a day. */
  CHECK (conf.stats_file == NULL && conf.stats_interval == 5);
  CHECK (zconf_set (&conf, "stats-file", "s.json") == 0 &&
         conf.stats_file[0] == '/' &&
         strcmp (conf.stats_file + strlen (conf.stats_file) - 7,
                 "/s.json") == 0);
  CHECK (zconf_set (&conf, "stats-interval", "0") == -1);
  CHECK (zconf_set (&conf, "stats-interval", "86401") == -1);
  CHECK (zconf_set (&conf, "stats-interval", "1") == 0 &&
         conf.stats_interval == 1);

  /* The table, zconf_is_option and zconf_find_option agree; help
   * mentions every key.
   */
  opts = zconf_options (&n);
  CHECK (n == 34);
  for (i = 0; i < n; i++) {
    CHECK (zconf_is_option (opts[i].key));
    CHECK (zconf_find_option (opts[i].key) == &opts[i]);
    CHECK (opts[i].metavar && opts[i].help && opts[i].help[0]);
  }
  CHECK (!zconf_is_option ("config"));
  CHECK (!zconf_is_option ("cache_dir"));
  CHECK (zconf_find_option ("cache_dir") == NULL);
  {
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream (&buf, &len);

    zconf_print_help (fp, "--");
    fclose (fp);
    for (i = 0; i < n; i++) {
      char want[64];

      snprintf (want, sizeof want, "  --%s=", opts[i].key);
      CHECK (strstr (buf, want) != NULL);
    }
    free (buf);
  }
  zconf_free (&conf);
}

static void
test_bad_values (void)
{
  static const struct { const char *key, *value; } bad[] = {
    { "no-such-key", "1" }, { "", "1" }, { "Bucket", "b" },
    { "bucket", "" }, { "export", "" },
    { "cache-size", "1M" }, { "cache-size", "12X" }, { "cache-size", "" },
    { "cache-size", "-1" }, { "cache-size", "1.5G" },
    { "cache-size", "16EiB" }, { "max-dirty", "12X" }, { "max-dirty", "-1" },
    { "compression", "lz4" }, { "compression", "zstd:0" },
    { "compression", "zstd:20" }, { "compression", "zstd:" },
    { "compression", "zstd:x" }, { "compression", "ZSTD" },
    { "compression", "" },
    { "durability", "both" }, { "durability", "" },
    { "addressing", "host" },
    { "writeback-threads", "0" }, { "writeback-threads", "257" },
    { "writeback-threads", "-1" }, { "writeback-threads", "4x" },
    { "writeback-threads", "" }, { "writeback-threads", "1.0" },
    { "writeback-max-age", "0" }, { "writeback-max-age", "86401" },
    { "writeback-max-age", "1m" },
    { "connections", "0" }, { "connections", "1025" },
    { "connections", "99999999999999999999999" },
    { "timeout", "0" }, { "timeout", "3601" }, { "timeout", " 5" },
    { "retry-time", "86401" }, { "retry-time", "-0" },
    { "unsigned-payload", "maybe" }, { "unsigned-payload", "" },
    { "unsigned-payload", "2" },
    { "endpoint", "s3.example.com" }, { "endpoint", "ftp://x" },
    { "cache-dir", "" }, { "fault-file", "" },
  };
  struct zconf conf, before;
  size_t i;

  zconf_init (&conf);
  CHECK (zconf_set (&conf, "cache-size", "2G") == 0);
  memcpy (&before, &conf, sizeof conf);
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    unit_clear_errors ();
    errno = 0;
    if (zconf_set (&conf, bad[i].key, bad[i].value) != -1 ||
        errno != EINVAL) {
      FAIL ("%s=%s was not refused", bad[i].key, bad[i].value);
      continue;
    }
    /* The message names the key, and the value of a known key (an
     * unknown key might be a misspelt secret).
     */
    CHECK (strstr (logged_errors, bad[i].key) != NULL &&
           (!zconf_is_option (bad[i].key) ||
            strstr (logged_errors, bad[i].value) != NULL),
           "%s=%s: the message does not name them", bad[i].key, bad[i].value);
  }
  /* Nothing changed. */
  CHECK (memcmp (&conf, &before, sizeof conf) == 0);

  /* Boolean forms. */
  {
    static const char *yes[] = { "true", "TRUE", "yes", "on", "1", "Yes" };
    static const char *no[] = { "false", "no", "off", "0", "OFF" };

    for (i = 0; i < sizeof yes / sizeof yes[0]; i++) {
      conf.unsigned_payload = false;
      CHECK (zconf_set (&conf, "unsigned-payload", yes[i]) == 0 &&
             conf.unsigned_payload);
    }
    for (i = 0; i < sizeof no / sizeof no[0]; i++) {
      conf.unsigned_payload = true;
      CHECK (zconf_set (&conf, "unsigned-payload", no[i]) == 0 &&
             !conf.unsigned_payload);
    }
  }

  /* Secrets are not echoed. */
  unit_clear_errors ();
  CHECK (zconf_set (&conf, "password", "-notanfd") == -1);
  CHECK (strstr (logged_errors, "notanfd") == NULL &&
         logged_errors[0] != '\0');
  unit_clear_errors ();
  CHECK (zconf_set (&conf, "secret-key", "") == -1);
  CHECK (strstr (logged_errors, "secret-key") != NULL);
  zconf_free (&conf);
}

static void
test_passwords (void)
{
  char path[512], *pw;
  int fds[2], saved_stdin;

  /* Literal. */
  pw = zread_password ("hunter2");
  CHECK (pw && strcmp (pw, "hunter2") == 0);
  free (pw);

  /* +FILE: the first line, without its line end (LF or CRLF). */
  snprintf (path, sizeof path, "+%s/pw", tmpdir);
  write_file (path + 1, "from file\nsecond line\n");
  pw = zread_password (path);
  CHECK (pw && strcmp (pw, "from file") == 0);
  free (pw);
  write_file (path + 1, "crlf\r\n");
  pw = zread_password (path);
  CHECK (pw && strcmp (pw, "crlf") == 0);
  free (pw);
  write_file (path + 1, "no newline");
  pw = zread_password (path);
  CHECK (pw && strcmp (pw, "no newline") == 0);
  free (pw);
  write_file (path + 1, "\nsecret after an empty line\n");
  unit_clear_errors ();
  CHECK (zread_password (path) == NULL);
  CHECK (strstr (logged_errors, "empty") != NULL);
  CHECK (strstr (logged_errors, "secret after") == NULL);
  snprintf (path, sizeof path, "+%s/missing", tmpdir);
  unit_clear_errors ();
  CHECK (zread_password (path) == NULL && errno == ENOENT);
  CHECK (strstr (logged_errors, "missing") != NULL);

  /* -FD through a pipe; the descriptor stays open. */
  if (pipe (fds) == -1)
    abort ();
  if (write (fds[1], "piped\nrest", 10) != 10)
    abort ();
  close (fds[1]);
  snprintf (path, sizeof path, "-%d", fds[0]);
  pw = zread_password (path);
  CHECK (pw && strcmp (pw, "piped") == 0);
  free (pw);
  CHECK (fcntl (fds[0], F_GETFD) != -1);
  close (fds[0]);
  CHECK (zread_password ("-99999") == NULL);          /* not open */
  CHECK (zread_password ("-1x") == NULL);
  CHECK (zread_password ("-99999999999") == NULL);

  /* "-" reads a line of stdin when it is not a terminal. */
  if (pipe (fds) == -1)
    abort ();
  if (write (fds[1], "stdin pw\n", 9) != 9)
    abort ();
  close (fds[1]);
  saved_stdin = dup (0);
  if (saved_stdin == -1 || dup2 (fds[0], 0) == -1)
    abort ();
  close (fds[0]);
  pw = zread_password ("-");
  CHECK (pw && strcmp (pw, "stdin pw") == 0);
  free (pw);
  if (dup2 (saved_stdin, 0) == -1)
    abort ();
  close (saved_stdin);

  /* Through zconf_set too. */
  {
    struct zconf conf;

    zconf_init (&conf);
    snprintf (path, sizeof path, "+%s/pw", tmpdir);
    write_file (path + 1, "via conf\n");
    CHECK (zconf_set (&conf, "password", path) == 0);
    CHECK (conf.password && strcmp (conf.password, "via conf") == 0);
    zconf_free (&conf);
  }
}

static void
test_file (void)
{
  struct zconf conf;
  char path[512], pwfile[512], content[1024];

  snprintf (path, sizeof path, "%s/zerofs.conf", tmpdir);
  snprintf (pwfile, sizeof pwfile, "%s/pwfile", tmpdir);
  write_file (pwfile, "file password\n");
  snprintf (content, sizeof content,
            "# zerofs configuration\n"
            "bucket = \"file:///srv/vol\";\n"
            "cache-size = \"256M\";\n"
            "connections = 8;\n"
            "timeout = \"45\";\n"
            "writeback-threads = 4L;\n"
            "unsigned-payload = true;\n"
            "durability = \"local\";\n"
            "password-file = \"%s\";\n"
            "retry-time = 0;\n", pwfile);
  write_file (path, content);

  zconf_init (&conf);
  CHECK (zconf_load_file (&conf, path) == 0);
  CHECK (conf.bucket && strcmp (conf.bucket, "file:///srv/vol") == 0);
  CHECK (conf.cache_size == UINT64_C (256) << 20);
  CHECK (conf.connections == 8 && conf.timeout == 45);
  CHECK (conf.writeback_threads == 4);
  CHECK (conf.unsigned_payload);
  CHECK (conf.durability == ZDUR_LOCAL);
  CHECK (conf.retry_time == 0);

  /* Parameters after the file override it. */
  CHECK (zconf_set (&conf, "connections", "64") == 0);
  CHECK (zconf_set (&conf, "durability", "remote") == 0);
  CHECK (conf.connections == 64 && conf.durability == ZDUR_REMOTE);
  CHECK (zconf_set (&conf, "cache-dir", "/tmp/cache") == 0);
  CHECK (zconf_finish (&conf, true) == 0);
  CHECK (conf.password && strcmp (conf.password, "file password") == 0);
  CHECK (strcmp (conf.cache_dir, "/tmp/cache") == 0);
  zconf_free (&conf);

  /* Unknown setting: file and line. */
  write_file (path, "bucket = \"b\";\n\nfrobnicate = 1;\n");
  zconf_init (&conf);
  unit_clear_errors ();
  CHECK (zconf_load_file (&conf, path) == -1 && errno == EINVAL);
  snprintf (content, sizeof content, "%s:3:", path);
  CHECK (strstr (logged_errors, content) != NULL);
  CHECK (strstr (logged_errors, "frobnicate") != NULL);
  zconf_free (&conf);

  /* Syntax error: file and line. */
  write_file (path, "bucket = \"b\";\ncache-size = \"1G\"\nexport = ;\n");
  zconf_init (&conf);
  unit_clear_errors ();
  CHECK (zconf_load_file (&conf, path) == -1);
  snprintf (content, sizeof content, "%s:3:", path);
  CHECK (strstr (logged_errors, content) != NULL);
  zconf_free (&conf);

  /* A bad value: file, line, key and value. */
  write_file (path, "bucket = \"b\";\n# two\ncache-size = \"12X\";\n");
  zconf_init (&conf);
  unit_clear_errors ();
  CHECK (zconf_load_file (&conf, path) == -1 && errno == EINVAL);
  snprintf (content, sizeof content, "%s:3: cache-size=12X", path);
  CHECK (strstr (logged_errors, content) != NULL);
  zconf_free (&conf);

  /* Types that make no sense for the key. */
  {
    static const char *bad[] = {
      "cache-size = true;\n", "bucket = 5;\n", "unsigned-payload = 1.5;\n",
      "timeout = -3;\n", "connections = [1, 2];\n",
      "bucket = { a = 1; };\n", "password = 5;\n",
    };
    size_t i;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
      write_file (path, bad[i]);
      zconf_init (&conf);
      unit_clear_errors ();
      snprintf (content, sizeof content, "%s:1:", path);
      CHECK (zconf_load_file (&conf, path) == -1 &&
             strstr (logged_errors, content) != NULL,
             "config \"%.*s\" not refused properly",
             (int) strlen (bad[i]) - 1, bad[i]);
      zconf_free (&conf);
    }
  }

  /* Booleans as integers or strings. */
  write_file (path, "unsigned-payload = 1;\n");
  zconf_init (&conf);
  CHECK (zconf_load_file (&conf, path) == 0 && conf.unsigned_payload);
  write_file (path, "unsigned-payload = \"off\";\n");
  CHECK (zconf_load_file (&conf, path) == 0 && !conf.unsigned_payload);
  zconf_free (&conf);

  /* A missing file. */
  snprintf (path, sizeof path, "%s/nonexistent.conf", tmpdir);
  zconf_init (&conf);
  unit_clear_errors ();
  CHECK (zconf_load_file (&conf, path) == -1 && errno == ENOENT);
  CHECK (strstr (logged_errors, path) != NULL);
  zconf_free (&conf);
}

static void
test_finish (void)
{
  struct zconf conf;
  char want[512], pwfile[512];

  /* bucket is required. */
  zconf_init (&conf);
  unit_clear_errors ();
  CHECK (zconf_finish (&conf, false) == -1 && errno == EINVAL);
  CHECK (strstr (logged_errors, "bucket") != NULL);

  /* A password when one is needed. */
  CHECK (zconf_set (&conf, "bucket", "b") == 0);
  unit_clear_errors ();
  CHECK (zconf_finish (&conf, true) == -1);
  CHECK (strstr (logged_errors, "password") != NULL);
  CHECK (zconf_finish (&conf, false) == 0);
  CHECK (conf.password == NULL);
  zconf_free (&conf);

  /* A password file that is not there. */
  zconf_init (&conf);
  snprintf (pwfile, sizeof pwfile, "%s/no-pw-file", tmpdir);
  CHECK (zconf_set (&conf, "bucket", "b") == 0);
  CHECK (zconf_set (&conf, "password-file", pwfile) == 0);
  unit_clear_errors ();
  CHECK (zconf_finish (&conf, true) == -1);
  CHECK (strstr (logged_errors, pwfile) != NULL);
  zconf_free (&conf);

  /* cache-dir defaults. */
  setenv ("XDG_CACHE_HOME", "/xdg/cache", 1);
  zconf_init (&conf);
  CHECK (zconf_set (&conf, "bucket", "b") == 0);
  CHECK (zconf_finish (&conf, false) == 0);
  CHECK (strcmp (conf.cache_dir, "/xdg/cache/zerofs") == 0);
  zconf_free (&conf);

  unsetenv ("XDG_CACHE_HOME");
  setenv ("HOME", "/home/someone", 1);
  zconf_init (&conf);
  CHECK (zconf_set (&conf, "bucket", "b") == 0);
  CHECK (zconf_finish (&conf, false) == 0);
  snprintf (want, sizeof want, "%s",
            geteuid () == 0 ? "/var/cache/zerofs"
            : "/home/someone/.cache/zerofs");
  CHECK (strcmp (conf.cache_dir, want) == 0);
  zconf_free (&conf);

  /* zconf_free twice is harmless. */
  zconf_init (&conf);
  zconf_free (&conf);
  zconf_free (&conf);
}

int
main (void)
{
  const char *t = getenv ("TMPDIR");
  char path[512];

  unit_capture_errors ();
  unit_context = unit_show_errors;
  snprintf (tmpdir, sizeof tmpdir, "%s/zerofs-conf.XXXXXX", t ? t : "/tmp");
  REQUIRE (mkdtemp (tmpdir) != NULL, "mkdtemp: %m");

  test_sizes ();
  test_every_key ();
  test_bad_values ();
  test_passwords ();
  test_file ();
  test_finish ();

  snprintf (path, sizeof path, "%s/pw", tmpdir);
  unlink (path);
  snprintf (path, sizeof path, "%s/pwfile", tmpdir);
  unlink (path);
  snprintf (path, sizeof path, "%s/zerofs.conf", tmpdir);
  unlink (path);
  CHECK (rmdir (tmpdir) == 0, "%s: %m", tmpdir);
  return unit_exit_status ("test-unit-conf");
}
