/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs-dev: manage the devices of a zerofs volume without serving them.
 *
 *   zerofs-dev [OPTIONS] init | create NAME SIZE | list | info NAME |
 *              rm NAME | resize NAME SIZE | clone SRC DST | verify NAME |
 *              passwd
 *
 * This file owns the command line and the few operations that are only
 * ever done from a shell (the long ones, clone and verify, and the bulk
 * deletions of rm and resize --shrink, are in dev-*.c over jobs.c: see
 * zerofs-dev.h): everything else (volume header, device
 * metadata, chunk codec, object store) is lib/, called through
 * volume.h, conf.h and store/objstore.h, so that the tool and the nbdkit
 * plugin cannot disagree about a format.
 *
 * The command line is parsed by hand rather than with getopt_long,
 * because any option of the configuration table (conf.h) is accepted as
 * --KEY=VALUE and that table lives in lib/.  Options are collected first;
 * then the --config file (or the default one, zconf_default_file: the
 * $ZEROFS_CONFIG file, else /etc/zerofs/zerofs.conf if it exists) is
 * loaded and the collected options are applied over it in order, so the
 * command line overrides the file.
 *
 * The password comes from --password=SPEC (nbdkit's forms: +FILE, -FD,
 * "-" for the terminal or stdin, else the password itself),
 * --password-file=FILE, or the config file; these are options of the
 * table too, and the one set last wins.  There is deliberately no
 * environment variable for it: the environment is inherited by every
 * child process and readable in /proc/PID/environ.
 *
 * Memory and secrets are released by scope (common/cleanup.h): a
 * command returns -1 from wherever it fails and main closes what it
 * opened.
 *
 * Errors: the lib reports each error once through zerror(); the log
 * handler installed here prints it as the single line "zerofs-dev:
 * MESSAGE" on stderr and the exit status is 1.  A command line that
 * cannot be parsed (unknown command or option, wrong number of
 * arguments, no bucket) exits with 2.
 *
 * resize is the one operation implemented here on top of the codec,
 * because the chunk format ties each chunk object to its length (the
 * plaintext length in the header must be the length the chunk has on the
 * device): when the last chunk changes length, it is rewritten.  The
 * order is chosen so that an interrupted resize is completed by running
 * the same command again: first delete the chunks past a new, smaller
 * end, then rewrite the chunk whose length changes, and write the new
 * metadata last.  Until the metadata is written, the device keeps its old
 * size, which is what tells the second run which chunk to look at.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "byteorder.h"
#include "cleanup.h"
#include "vector.h"

#include "chunk.h"
#include "conf.h"
#include "crypto.h"
#include "lease.h"
#include "log.h"
#include "store/objstore.h"
#include "volume.h"

#include "jobs.h"
#include "zerofs-dev.h"

#define PROGRAM_NAME "zerofs-dev"
#include "tool.h"

/* scrypt log2(N) accepted by init and passwd.  Below 14 is weak and is
 * meant for tests; above 30 needs more than 128 GiB of memory.
 */
#define LOG2N_MIN 1
#define LOG2N_MAX 30

/* The fixed options (everything else must be a key of the conf table). */
enum flag_id {
  FLAG_HELP, FLAG_VERSION, FLAG_CONFIG, FLAG_NEW_PASSWORD,
  FLAG_SCRYPT_LOG2N, FLAG_FORCE, FLAG_SHRINK, FLAG_BYTES, FLAG_JSON,
};

struct flag {
  const char *name;
  enum flag_id id;
  bool has_value;
};

static const struct flag flags[] = {
  { "help",          FLAG_HELP,         false },
  { "version",       FLAG_VERSION,      false },
  { "config",        FLAG_CONFIG,       true },
  { "new-password",  FLAG_NEW_PASSWORD, true },
  { "scrypt-log2n",  FLAG_SCRYPT_LOG2N, true },
  { "force",         FLAG_FORCE,        false },
  { "shrink",        FLAG_SHRINK,       false },
  { "bytes",         FLAG_BYTES,        false },
  { "json",          FLAG_JSON,         false },
};

struct command {
  const char *name;
  size_t nargs;                     /* positional arguments after it */
  const char *args_help;            /* for usage lines */
  const char *help;                 /* one line, for --help */
  unsigned allowed_flags;           /* per-command flags it accepts */
  bool size_arg;                    /* args[1] is a SIZE */
  int (*run) (struct ctx *ctx);
};

#define BIT(f) (1u << (f))
/* Flags that any command accepts. */
#define GLOBAL_FLAGS \
  (BIT (FLAG_HELP) | BIT (FLAG_VERSION) | BIT (FLAG_CONFIG))

static int cmd_init (struct ctx *ctx);
static int cmd_create (struct ctx *ctx);
static int cmd_list (struct ctx *ctx);
static int cmd_info (struct ctx *ctx);
static int cmd_rm (struct ctx *ctx);
static int cmd_resize (struct ctx *ctx);
static int cmd_passwd (struct ctx *ctx);
/* cmd_clone, cmd_verify: zerofs-dev.h */

static const struct command commands[] = {
  { "init", 0, "[--scrypt-log2n=N]", "create the volume",
    BIT (FLAG_SCRYPT_LOG2N), false, cmd_init },
  { "create", 2, "NAME SIZE", "create a device (thin: no space used)",
    0, true, cmd_create },
  { "list", 0, "[--bytes] [--json]", "devices: name, size, space used",
    BIT (FLAG_BYTES) | BIT (FLAG_JSON), false, cmd_list },
  { "info", 1, "[--json] NAME", "one device in detail",
    BIT (FLAG_JSON), false, cmd_info },
  { "rm", 1, "[--force] NAME", "delete a device and all its data",
    BIT (FLAG_FORCE), false, cmd_rm },
  { "clone", 2, "[--force] SRC DST",
    "a new device DST with SRC's data, copied inside the store",
    BIT (FLAG_FORCE), false, cmd_clone },
  { "verify", 1, "NAME",
    "read and authenticate every object of a device",
    0, false, cmd_verify },
  { "resize", 2, "[--shrink] [--force] NAME SIZE",
    "grow, or with --shrink shrink, a device that is not in use",
    BIT (FLAG_SHRINK) | BIT (FLAG_FORCE), true, cmd_resize },
  { "passwd", 0, "--new-password=SPEC [--scrypt-log2n=N]",
    "change the volume password",
    BIT (FLAG_NEW_PASSWORD) | BIT (FLAG_SCRYPT_LOG2N), false, cmd_passwd },
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

/* Log handlers: every lib error becomes one line on stderr, whole
 * even when the threads of a long command (jobs.h) report at once.
 */
static void __attribute__ ((format (printf, 1, 0)))
error_handler (const char *fmt, va_list args)
{
  jobs_stderr_lock ();
  fputs (PROGRAM_NAME ": ", stderr);
  vfprintf (stderr, fmt, args);
  fputc ('\n', stderr);
  jobs_stderr_unlock ();
}

static void __attribute__ ((format (printf, 1, 0)))
debug_handler (const char *fmt, va_list args)
{
  jobs_stderr_lock ();
  fputs (PROGRAM_NAME ": debug: ", stderr);
  vfprintf (stderr, fmt, args);
  fputc ('\n', stderr);
  jobs_stderr_unlock ();
}

void
note (const char *fmt, ...)
{
  va_list args;

  va_start (args, fmt);
  error_handler (fmt, args);
  va_end (args);
}

static void
usage (FILE *fp)
{
  size_t i;

  fprintf (fp,
           "Usage: " PROGRAM_NAME " [OPTIONS] COMMAND [ARGS]\n"
           "Manage the devices of a zerofs volume.\n"
           "\n"
           "Commands:\n");
  for (i = 0; i < N_COMMANDS; i++)
    fprintf (fp, "  %s %s\n      %s\n",
             commands[i].name, commands[i].args_help, commands[i].help);
  fprintf (fp,
           "\n"
           "Options:\n"
           "  --config=FILE        libconfig file with the options below "
           "(options override it;\n"
           "                       default $ZEROFS_CONFIG, else "
           ZCONF_SYSTEM_FILE ")\n"
           "  --new-password=SPEC  passwd: the new password, in the forms "
           "of --password\n"
           "  --scrypt-log2n=N     init, passwd: scrypt cost, log2 of N "
           "(default %u)\n"
           "  --shrink             resize: allow shrinking a device\n"
           "  --force              rm, resize, clone: even if a server "
           "holds the device's lease\n"
           "  --bytes              list: exact sizes in bytes\n"
           "  --json               list, info: JSON output\n"
           "  --help, --version\n"
           "\n"
           "Volume, store and cache options (also accepted in the "
           "--config file):\n",
           ZKDF_DEFAULT.log2_n);
  zconf_print_help (fp, "--");
  fprintf (fp,
           "\n"
           "SIZE: bytes with an optional binary unit: 4096, 512M, 10G, 2T.\n"
           "rm, clone, verify and resize --shrink send --connections "
           "requests at once,\nshow their progress on a terminal, and "
           "stop cleanly on Ctrl-C: run them again\nto complete them.\n"
           "Debug: ZEROFS_DEBUG=s3,cache,flush,fault (or all).\n"
           "Exit status: 0 success, 1 error, 2 usage error.\n"
           "See zerofs-dev(1).\n");
}

static const struct flag *
find_flag (const char *name, size_t len)
{
  size_t i;

  for (i = 0; i < sizeof flags / sizeof flags[0]; i++)
    if (strlen (flags[i].name) == len &&
        strncmp (flags[i].name, name, len) == 0)
      return &flags[i];
  return NULL;
}

static const struct command *
find_command (const char *name)
{
  size_t i;

  for (i = 0; i < N_COMMANDS; i++)
    if (strcmp (commands[i].name, name) == 0)
      return &commands[i];
  return NULL;
}

/* Is the conf table option KEY a boolean (which may be given bare)? */
static bool
conf_option_is_bool (const char *key)
{
  const struct zopt *opt = zconf_find_option (key);

  return opt && opt->type == ZOPT_BOOL;
}
/* Split ARGV into options and positional arguments.  "--NAME=VALUE" and
 * "--NAME VALUE" are both accepted for options with a value; "--" ends
 * the options (a device name may begin with '-').  Exits with status 2
 * on anything malformed.  Only the shape is checked here: values are
 * checked where they are used.
 */
static void
parse_cmdline (int argc, char *argv[], struct cmdline *cl)
{
  bool options_done = false;
  int i;

  cl->conf_args = calloc (argc, sizeof cl->conf_args[0]);
  cl->args = calloc (argc, sizeof cl->args[0]);
  if (cl->conf_args == NULL || cl->args == NULL) {
    perror ("calloc");
    exit (EXIT_FAILURE);
  }

  for (i = 1; i < argc; i++) {
    const char *arg = argv[i];
    const char *name, *eq, *value;
    const struct flag *flag;
    char *key;
    size_t len;

    if (options_done || arg[0] != '-' || strcmp (arg, "-") == 0) {
      cl->args[cl->nargs++] = arg;
      continue;
    }
    if (strcmp (arg, "--") == 0) {
      options_done = true;
      continue;
    }
    if (strcmp (arg, "-h") == 0) {
      cl->help = true;
      continue;
    }
    if (strcmp (arg, "-V") == 0) {
      cl->version = true;
      continue;
    }
    if (arg[1] != '-')
      usage_error ("unknown option '%s'", arg);

    name = arg + 2;
    eq = strchr (name, '=');
    len = eq ? (size_t) (eq - name) : strlen (name);
    value = eq ? eq + 1 : NULL;

    flag = find_flag (name, len);
    if (flag) {
      if (flag->has_value && value == NULL) {
        if (i + 1 >= argc)
          usage_error ("option '--%s' needs a value", flag->name);
        value = argv[++i];
      }
      if (!flag->has_value && value != NULL)
        usage_error ("option '--%s' takes no value", flag->name);
      cl->seen_flags |= BIT (flag->id);
      switch (flag->id) {
      case FLAG_HELP: cl->help = true; break;
      case FLAG_VERSION: cl->version = true; break;
      case FLAG_CONFIG: cl->config = value; break;
      case FLAG_NEW_PASSWORD: cl->new_password_spec = value; break;
      case FLAG_SCRYPT_LOG2N: cl->log2n_str = value; break;
      case FLAG_FORCE: cl->force = true; break;
      case FLAG_SHRINK: cl->shrink = true; break;
      case FLAG_BYTES: cl->bytes = true; break;
      case FLAG_JSON: cl->json = true; break;
      }
      continue;
    }

    /* Any key of the configuration table. */
    key = strndup (name, len);
    if (key == NULL) {
      perror ("strndup");
      exit (EXIT_FAILURE);
    }
    if (len == 0 || !zconf_is_option (key))
      usage_error ("unknown option '--%s'", key);
    if (value == NULL) {
      if (conf_option_is_bool (key))
        value = "true";
      else if (i + 1 >= argc)
        usage_error ("option '--%s' needs a value", key);
      else
        value = argv[++i];
    }
    cl->conf_args[cl->n_conf_args].key = key;
    cl->conf_args[cl->n_conf_args].value = value;
    cl->n_conf_args++;
  }
}

static void
free_cmdline (struct cmdline *cl)
{
  size_t i;

  for (i = 0; i < cl->n_conf_args; i++)
    free ((char *) cl->conf_args[i].key);
  free (cl->conf_args);
  free (cl->args);
}

/* Load the config file (--config, else zconf_default_file ()), then
 * apply the command line over it.
 */
static int
setup_conf (const struct cmdline *cl, struct zconf *conf)
{
  const char *file = cl->config ? cl->config : zconf_default_file ();
  size_t i;

  if (file && zconf_load_file (conf, file) == -1)
    return -1;

  for (i = 0; i < cl->n_conf_args; i++)
    if (zconf_set (conf, cl->conf_args[i].key, cl->conf_args[i].value) == -1)
      return -1;
  return 0;
}

/* Parse an unsigned decimal number in [MIN, MAX]. */
static int
parse_uint (const char *what, const char *str, unsigned min, unsigned max,
            unsigned *out)
{
  char *end;
  unsigned long v;

  errno = 0;
  v = strtoul (str, &end, 10);
  if (str[0] < '0' || str[0] > '9' || *end != '\0' || errno != 0 ||
      v < min || v > max) {
    zerror ("%s: '%s' is not a number from %u to %u", what, str, min, max);
    errno = EINVAL;
    return -1;
  }
  *out = v;
  return 0;
}

/* "1.5G"-style size, for people: one decimal below 10, binary units. */
static void
human_size (uint64_t n, char *buf, size_t buflen)
{
  static const char units[] = "KMGTPE";
  uint64_t tenths;
  double v = n;
  int u = -1;

  if (n < 1024) {
    snprintf (buf, buflen, "%" PRIu64, n);
    return;
  }
  while (v >= 1024 && u < 5) {
    v /= 1024;
    u++;
  }
  tenths = (uint64_t) (v * 10 + 0.5);
  if (tenths >= 10240 && u < 5) {   /* 1023.96K rounds up to 1M */
    u++;
    tenths = 10;
  }
  if (tenths < 100 && tenths % 10 != 0)
    snprintf (buf, buflen, "%" PRIu64 ".%" PRIu64 "%c",
              tenths / 10, tenths % 10, units[u]);
  else
    snprintf (buf, buflen, "%" PRIu64 "%c", (tenths + 5) / 10, units[u]);
}

/* ISO 8601 UTC. */
static void
format_time (uint64_t t, char *buf, size_t buflen)
{
  time_t tt = (time_t) t;
  struct tm tm;

  if (gmtime_r (&tt, &tm) == NULL ||
      strftime (buf, buflen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    snprintf (buf, buflen, "@%" PRIu64, t);
}

/* A JSON string.  Device names are plain ASCII already; this is for the
 * case where something in the store is not.
 */
static void
print_json_string (const char *s)
{
  putchar ('"');
  for (; *s; s++) {
    unsigned char c = *s;

    if (c == '"' || c == '\\')
      printf ("\\%c", c);
    else if (c < 0x20 || c >= 0x7f)
      printf ("\\u%04x", c);
    else
      putchar (c);
  }
  putchar ('"');
}

/* A JSON object on one line, its fields in order: list prints one per
 * device, info one for its device.  A field is the string STR if set,
 * else the number NUM.
 */
struct json_field {
  const char *key;
  const char *str;
  uint64_t num;
};
#define JSON_STR(key, str) { (key), (str), 0 }
#define JSON_NUM(key, num) { (key), NULL, (num) }

static void
print_json_fields (const struct json_field *fields, size_t n)
{
  size_t i;

  putchar ('{');
  for (i = 0; i < n; i++) {
    printf ("%s\"%s\": ", i ? ", " : "", fields[i].key);
    if (fields[i].str)
      print_json_string (fields[i].str);
    else
      printf ("%" PRIu64, fields[i].num);
  }
}

static void
print_json_object (const struct json_field *fields, size_t n)
{
  print_json_fields (fields, n);
  putchar ('}');
}

/* An operation that changes a device (rm, resize) holds its lease
 * while it runs, as a server would: no server can open the device for
 * writing meanwhile, and with --force a live writer is taken over first
 * (fenced: its writes and flushes fail from then on) instead of left
 * writing under the operation's feet.  The lease is taken for a random
 * instance of this process, and released at the end unless rm deleted
 * it with the device.  A zerofs-dev killed meanwhile leaves it live:
 * running the command again needs --force, which the refusal says.
 */
struct op_lease {
  struct zlease *lease;
  bool release;                 /* false once the lease object is gone */
};

static void
op_lease_drop (struct op_lease *op)
{
  zlease_drop (op->lease, op->release);
}
DEFINE_CLEANUP_STRUCT (op_lease, struct op_lease, op_lease_drop);

static int
op_lease_take (struct ctx *ctx, const char *name, struct op_lease *op)
{
  uint8_t instance[16];

  op->release = true;
  if (crypto_random (instance, sizeof instance) == -1)
    return -1;
  op->lease = zlease_take (ctx->vol, name, instance, ZLEASE_TOOL |
                           (ctx->cl->force ? ZLEASE_FORCE : 0));
  return op->lease ? 0 : -1;
}

/* The lease as a JSON object (or null), after the fields of an object
 * opened by print_json_fields.
 */
static void
print_json_lease (int r, const struct zlease_info *lease)
{
  char instance[37], since[64], renewed[64];

  printf (", \"lease\": ");
  if (r != 0) {
    printf ("null}");
    return;
  }
  zuuid_format (lease->instance, instance);
  format_time (lease->since, since, sizeof since);
  format_time (lease->renewed, renewed, sizeof renewed);
  {
    const struct json_field fields[] = {
      JSON_STR ("host", lease->host),
      JSON_NUM ("pid", lease->pid),
      JSON_STR ("instance", instance),
      JSON_NUM ("generation", lease->generation),
      JSON_STR ("since", since),
      JSON_STR ("renewed", renewed),
      JSON_STR ("state", lease->released ? "released" : "held"),
    };
    print_json_object (fields, sizeof fields / sizeof fields[0]);
  }
  putchar ('}');
}

/* The lease for people: "held by ...", "released ...", "none". */
static void
lease_cell (int r, const struct zlease_info *lease, char *buf, size_t len)
{
  char holder[512];

  if (r != 0) {
    snprintf (buf, len, "none");
    return;
  }
  zlease_describe (lease, holder, sizeof holder);
  snprintf (buf, len, "%s %s", lease->released ? "released, last held by"
            : "held by", holder);
}

static int
cmd_init (struct ctx *ctx)
{
  struct zkdf_params kdf = ZKDF_DEFAULT;

  if (ctx->conf->password[0] == '\0') {
    zerror ("the password is empty");
    errno = EINVAL;
    return -1;
  }
  if (ctx->cl->log2n_str)
    kdf.log2_n = ctx->log2n;
  return zvolume_init (ctx->store, ctx->conf->password, &kdf);
}

static int
cmd_create (struct ctx *ctx)
{
  struct device_meta meta;

  return zvolume_create_device (ctx->vol, ctx->cl->args[1], ctx->size, &meta);
}

/* One row of the list, with its SIZE and USED cells as printed. */
struct list_row {
  char *name;
  uint64_t size;
  struct zdevice_usage usage;
  uint64_t objects;                 /* chunk and journal objects */
  uint64_t used;                    /* their bytes */
  int lease_r;                      /* zlease_read's answer */
  struct zlease_info lease;
  const char *unreadable;           /* what could not be read, or NULL */
  char size_cell[32], used_cell[32], writer_cell[300];
};
DEFINE_VECTOR_TYPE (list_rows, struct list_row);

static void
list_rows_free_all (list_rows *rows)
{
  size_t i;

  for (i = 0; i < rows->len; i++)
    free (rows->items[i].name);
  list_rows_reset (rows);
}
#define CLEANUP_LIST_ROWS __attribute__ ((cleanup (list_rows_free_all)))

struct list_state {
  struct zvolume *vol;
  list_rows *rows;
  size_t unreadable;                /* rows with an object unreadable */
};

static int
list_one (void *opaque, const char *name)
{
  struct list_state *ls = opaque;
  struct device_meta meta;
  struct list_row row = { 0 };
  int r;

  if (list_rows_reserve (ls->rows, 1) == -1) {
    zerror ("realloc: %m");
    return -1;
  }
  r = zvolume_find_device (ls->vol, name, &meta);
  if (r == 1) {
    /* Objects without a meta: a clone interrupted (or under way). */
    note ("%s is not a device (yet): the objects of an interrupted clone; "
          "run it again, or remove them with zerofs-dev rm %s", name, name);
    return 0;
  }
  /* A device whose meta (or lease) is not genuine is listed as such
   * (the error says which object and why): one bad object does not
   * hide the other devices.  The store failing ends the listing.
   */
  if (r == -1 && errno != EBADMSG)
    return -1;
  if (r == -1)
    row.unreadable = "meta";
  if (zvolume_device_usage (ls->vol, name, &row.usage) == -1)
    return -1;
  row.objects = row.usage.chunk_objects + row.usage.journal_objects;
  row.used = row.usage.chunk_bytes + row.usage.journal_bytes;
  row.name = strdup (name);
  if (row.name == NULL) {
    zerror ("strdup: %m");
    return -1;
  }
  row.lease_r = zlease_read (ls->vol, name, &row.lease, NULL);
  if (row.lease_r == -1 && !zlease_unreadable (errno)) {
    free (row.name);
    return -1;
  }
  if (row.lease_r == -1 && row.unreadable == NULL)
    row.unreadable = "lease";
  if (row.unreadable)
    ls->unreadable++;
  row.size = row.unreadable && strcmp (row.unreadable, "meta") == 0 ?
    0 : meta.size;
  list_rows_append (ls->rows, row);     /* cannot fail: reserved */
  return 0;
}

/* A SIZE or USED cell: exact bytes with --bytes, else for people. */
static void
size_cell (uint64_t n, bool bytes, char *buf, size_t buflen)
{
  if (bytes)
    snprintf (buf, buflen, "%" PRIu64, n);
  else
    human_size (n, buf, buflen);
}

static void
print_list_row (const int width[3], const char *name, const char *size,
                const char *used, const char *writer)
{
  printf ("%-*s  %*s  %*s  %s\n",
          width[0], name, width[1], size, width[2], used, writer);
}

/* The table, or the JSON array. */
static int
print_list (struct ctx *ctx, list_rows *rows)
{
  int width[3] = { 4, 4, 4 };       /* NAME, SIZE, USED */
  size_t i;

  if (ctx->cl->json) {
    printf ("[");
    for (i = 0; i < rows->len; i++) {
      const struct list_row *row = &rows->items[i];
      const struct json_field fields[] = {
        JSON_STR ("name", row->name),
        JSON_NUM ("size", row->size),
        JSON_NUM ("used", row->used),
        JSON_NUM ("objects", row->objects),
        JSON_NUM ("chunk_objects", row->usage.chunk_objects),
        JSON_NUM ("chunk_bytes", row->usage.chunk_bytes),
        JSON_NUM ("journal_objects", row->usage.journal_objects),
        JSON_NUM ("journal_bytes", row->usage.journal_bytes),
      };

      printf ("%s\n  ", i ? "," : "");
      if (row->unreadable) {
        /* No size (lease null if that is what is unreadable). */
        const struct json_field bad[] = {
          JSON_STR ("name", row->name),
          JSON_STR ("unreadable", row->unreadable),
          JSON_NUM ("used", row->used),
          JSON_NUM ("objects", row->objects),
        };
        print_json_fields (bad, sizeof bad / sizeof bad[0]);
        print_json_lease (row->lease_r, &row->lease);
        continue;
      }
      print_json_fields (fields, sizeof fields / sizeof fields[0]);
      print_json_lease (row->lease_r, &row->lease);
    }
    printf ("%s]\n", rows->len ? "\n" : "");
    return 0;
  }

  /* The cells and the column widths, then the table. */
  for (i = 0; i < rows->len; i++) {
    struct list_row *row = &rows->items[i];
    int w;

    if (row->unreadable && strcmp (row->unreadable, "meta") == 0)
      snprintf (row->size_cell, sizeof row->size_cell, "?");
    else
      size_cell (row->size, ctx->cl->bytes,
                 row->size_cell, sizeof row->size_cell);
    size_cell (row->used, ctx->cl->bytes,
               row->used_cell, sizeof row->used_cell);
    if (row->unreadable)
      snprintf (row->writer_cell, sizeof row->writer_cell,
                "(its %s object is unreadable)", row->unreadable);
    else if (row->lease_r == 0 && zlease_is_live (&row->lease))
      snprintf (row->writer_cell, sizeof row->writer_cell, "%s:%" PRIu32,
                row->lease.host, row->lease.pid);
    else
      snprintf (row->writer_cell, sizeof row->writer_cell, "-");
    w = strlen (row->name);
    if (w > width[0]) width[0] = w;
    w = strlen (row->size_cell);
    if (w > width[1]) width[1] = w;
    w = strlen (row->used_cell);
    if (w > width[2]) width[2] = w;
  }
  print_list_row (width, "NAME", "SIZE", "USED", "WRITER");
  for (i = 0; i < rows->len; i++)
    print_list_row (width, rows->items[i].name, rows->items[i].size_cell,
                    rows->items[i].used_cell, rows->items[i].writer_cell);
  return 0;
}

static int
cmd_list (struct ctx *ctx)
{
  CLEANUP_LIST_ROWS list_rows rows = EMPTY_VECTOR;
  struct list_state ls = { .vol = ctx->vol, .rows = &rows };

  if (zvolume_list_devices (ctx->vol, list_one, &ls) == -1)
    return -1;
  if (print_list (ctx, &rows) == -1)
    return -1;
  if (ls.unreadable) {
    zerror ("%zu device%s listed without what an unreadable object "
            "holds (see the errors above)", ls.unreadable,
            ls.unreadable == 1 ? "" : "s");
    errno = EBADMSG;
    return -1;
  }
  return 0;
}

static int
cmd_info (struct ctx *ctx)
{
  const char *name = ctx->cl->args[1];
  struct device_meta meta;
  struct zdevice_usage u;
  uint64_t objects, used;
  char uuid[37], key_uuid[37], created[64], size_h[32], used_h[32], writer[600];
  struct zlease_info lease;
  int lease_r;

  if (zvolume_get_device (ctx->vol, name, &meta) == -1 ||
      zvolume_device_usage (ctx->vol, name, &u) == -1 ||
      (lease_r = zlease_read (ctx->vol, name, &lease, NULL)) == -1)
    return -1;
  lease_cell (lease_r, &lease, writer, sizeof writer);

  objects = u.chunk_objects + u.journal_objects;
  used = u.chunk_bytes + u.journal_bytes;
  zuuid_format (meta.uuid, uuid);
  zuuid_format (meta.key_uuid, key_uuid);
  format_time (meta.created, created, sizeof created);
  human_size (meta.size, size_h, sizeof size_h);
  human_size (used, used_h, sizeof used_h);

  if (ctx->cl->json) {
    const struct json_field fields[] = {
      JSON_STR ("name", meta.name),
      JSON_STR ("uuid", uuid),
      JSON_STR ("key_uuid", key_uuid),
      JSON_NUM ("size", meta.size),
      JSON_NUM ("chunk_size", meta.chunk_size),
      JSON_STR ("created", created),
      JSON_NUM ("generation", meta.generation),
      JSON_NUM ("objects", objects),
      JSON_NUM ("used", used),
      JSON_NUM ("chunk_objects", u.chunk_objects),
      JSON_NUM ("chunk_bytes", u.chunk_bytes),
      JSON_NUM ("journal_objects", u.journal_objects),
      JSON_NUM ("journal_bytes", u.journal_bytes),
    };

    print_json_fields (fields, sizeof fields / sizeof fields[0]);
    print_json_lease (lease_r, &lease);
    printf ("\n");
    return 0;
  }

  printf ("name:       %s\n", meta.name);
  printf ("uuid:       %s\n", uuid);
  if (strcmp (uuid, key_uuid) != 0)
    printf ("key uuid:   %s (a clone: its chunk key is its source's)\n",
            key_uuid);
  printf ("size:       %" PRIu64 " (%s)\n", meta.size, size_h);
  printf ("chunk size: %" PRIu32 "\n", meta.chunk_size);
  printf ("created:    %s\n", created);
  printf ("generation: %" PRIu64 "\n", meta.generation);
  printf ("objects:    %" PRIu64 "\n", objects);
  printf ("used:       %" PRIu64 " (%s)\n", used, used_h);
  printf ("chunks:     %" PRIu64 " objects, %" PRIu64 " bytes\n",
          u.chunk_objects, u.chunk_bytes);
  printf ("journal:    %" PRIu64 " objects, %" PRIu64 " bytes\n",
          u.journal_objects, u.journal_bytes);
  printf ("lease:      %s\n", writer);
  return 0;
}

/* The chunk and journal objects go first, in parallel; then what else
 * there is, the lease and the meta last (zvolume_remove_device), so
 * that an interrupted rm leaves a device that rm removes.
 */
static int
cmd_rm (struct ctx *ctx)
{
  const char *name = ctx->cl->args[1];
  CLEANUP_VECTOR (devobj_vector) devobj_vector objs = EMPTY_VECTOR;
  CLEANUP (op_lease) struct op_lease op = { NULL };
  struct device_meta meta;
  int r;

  /* A device whose meta was lost (or an interrupted clone) has nothing
   * to read: rm removes what is left of it, under its lease all the
   * same.
   */
  r = zvolume_find_device (ctx->vol, name, &meta);
  if (r == -1)
    return -1;
  if (r == 1 && zvolume_device_has_objects (ctx->vol, name) != 1)
    return zvolume_remove_device (ctx->vol, name);   /* "no device" */
  if (op_lease_take (ctx, name, &op) == -1)
    return -1;
  if (r == 0 &&
      (devobj_list (ctx->vol, name, 0, &objs) == -1 ||
       devobj_delete (ctx, "rm", name, &objs, op.lease) == -1))
    return -1;
  /* The meta, then the lease, go last: a server that opens it now
   * finds no device, not a device without its data.
   */
  if (zlease_check (op.lease) == -1 ||
      zvolume_remove_device (ctx->vol, name) == -1)
    return -1;
  op.release = false;
  return 0;
}

/* Chunk plaintext on the heap and the codec's key: both wiped when the
 * scope ends.
 */
struct plaintext {
  uint8_t *data;
  size_t len;
};

static void
cleanup_plaintext (struct plaintext *p)
{
  int saved_errno = errno;

  if (p->data) {
    explicit_bzero (p->data, p->len);
    free (p->data);
  }
  errno = saved_errno;
}
#define CLEANUP_PLAINTEXT __attribute__ ((cleanup (cleanup_plaintext)))

static void
cleanup_codec (struct zchunk_codec *codec)
{
  explicit_bzero (codec, sizeof *codec);
}
#define CLEANUP_CODEC __attribute__ ((cleanup (cleanup_codec)))

/* resize, step 2: chunk INDEX has another length on the device now and
 * will have NEW_LEN.  Rewrite its object with the new length: cut, or
 * extended with zeros; deleted if what remains is all zeros.  An object
 * that already has the new length (an interrupted resize run again) or
 * no object at all is left alone.
 */
static int
lease_fence (void *opaque)
{
  return zlease_check (opaque);
}

static int
rewrite_chunk (struct ctx *ctx, const struct device_meta *meta,
               uint64_t index, uint64_t new_len, struct zlease *lease)
{
  const struct objstore_fence fence = { lease_fence, lease };
  CLEANUP_CODEC struct zchunk_codec codec;
  char key[OBJSTORE_KEY_MAX];
  CLEANUP_FREE void *obj = NULL;
  CLEANUP_FREE void *newobj = NULL;
  CLEANUP_PLAINTEXT struct plaintext plain = { .len = meta->chunk_size };
  size_t objlen, newlen;
  uint64_t seq;
  uint32_t stored_len;

  if (zvolume_chunk_codec (ctx->vol, meta, ctx->conf->compression,
                           ctx->conf->compression_level, &codec) == -1)
    return -1;

  zkey_chunk (key, meta->name, index);
  if (objstore_get (ctx->store, key, &obj, &objlen) == -1)
    return errno == ENOENT ? 0 : -1; /* ENOENT: a zero chunk, not stored */

  /* The plaintext length in the header (chunk.h); zchunk_decode
   * authenticates it, as part of the AAD.
   */
  stored_len = chunk_len (meta->size, meta->chunk_size, index);
  if (objlen >= ZCHUNK_HEADER_LEN) {
    uint32_t len = get_be32 ((const uint8_t *) obj + 16);

    if (len == new_len)
      return 0;
    if (len <= meta->chunk_size)
      stored_len = len;
  }

  plain.data = calloc (1, meta->chunk_size);
  if (plain.data == NULL) {
    zerror ("calloc: %m");
    return -1;
  }
  if (zchunk_decode (&codec, index, obj, objlen, plain.data, stored_len,
                     &seq, key) == -1)
    return -1;
  if (new_len < stored_len)
    memset (plain.data + new_len, 0, stored_len - new_len);

  /* Fenced by the operation's lease, like devobj_delete. */
  if (zis_zero (plain.data, new_len))
    return objstore_delete_fenced (ctx->store, key, &fence);
  if (zchunk_encode (&codec, index, seq, plain.data, new_len,
                     &newobj, &newlen) == -1)
    return -1;
  return objstore_put_fenced (ctx->store, key, newobj, newlen, &fence);
}

/* Read NAME's meta into META and check that it may be resized to
 * ctx->size: 0 if so, 1 if it has that size already, -1 (said) if not.
 */
static int
resize_check (struct ctx *ctx, const char *name, struct device_meta *meta)
{
  uint64_t new_size = ctx->size;
  char old_h[32], new_h[32];

  if (zvolume_get_device (ctx->vol, name, meta) == -1)
    return -1;
  if (new_size == meta->size)
    return 1;
  human_size (meta->size, old_h, sizeof old_h);
  human_size (new_size, new_h, sizeof new_h);
  if (new_size < meta->size && !ctx->cl->shrink) {
    zerror ("shrinking device %s from %s to %s deletes its data past %s: "
            "add --shrink to do it", name, old_h, new_h, new_h);
    errno = EPERM;
    return -1;
  }
  if (new_size > ZDEVICE_SIZE_MAX || new_size % ZSECTOR_SIZE != 0) {
    zerror ("size %" PRIu64 " of device %s: must be a multiple of %" PRIu32
            " and at most %" PRIu64, new_size, name, ZSECTOR_SIZE,
            (uint64_t) ZDEVICE_SIZE_MAX);
    errno = EINVAL;
    return -1;
  }
  /* Shrinking a device with journal objects: their records of chunks
   * past the new end would be replayed into the device if it grew back
   * (a replay skips only what is past the end at the time), and they
   * hold flushed writes that no chunk object has, so they cannot go
   * either.  The server that wrote them, started again, or any server
   * opening the device on a new cache-dir, applies and retires them.
   * Refused before the lease is taken: a take would keep that server's
   * cache from storing them.
   */
  if (new_size < meta->size) {
    CLEANUP_VECTOR (devobj_vector) devobj_vector journal = EMPTY_VECTOR;

    if (devobj_list_journal (ctx->vol, name, &journal) == -1)
      return -1;
    if (journal.len > 0) {
      zerror ("device %s has %zu journal objects: flushed writes not yet "
              "in its chunk objects (the server that wrote them stopped "
              "before it stored them); serve the device once, until they "
              "are gone (zerofs-dev info shows them), then shrink it",
              name, journal.len);
      errno = EBUSY;
      return -1;
    }
  }
  return 0;
}

static int
cmd_resize (struct ctx *ctx)
{
  const char *name = ctx->cl->args[1];
  struct device_meta meta;
  uint64_t old_size, new_size = ctx->size, old_n, new_n, last;
  CLEANUP_VECTOR (devobj_vector) devobj_vector past_end = EMPTY_VECTOR;
  CLEANUP (op_lease) struct op_lease op = { NULL };
  int r;

  /* Refused sizes change nothing, not even the lease: check first, then
   * take the lease and check again against the meta read under it (a
   * server may have been writing the device).
   */
  r = resize_check (ctx, name, &meta);
  if (r != 0)
    return r == 1 ? 0 : -1;
  if (op_lease_take (ctx, name, &op) == -1)
    return -1;
  r = resize_check (ctx, name, &meta);
  if (r != 0)
    return r == 1 ? 0 : -1;
  old_size = meta.size;

  old_n = (old_size + meta.chunk_size - 1) / meta.chunk_size;
  new_n = (new_size + meta.chunk_size - 1) / meta.chunk_size;

  /* 1. Shrinking: no object may remain past the new end, or it would
   * come back as data when the device is grown again.
   */
  if (new_n < old_n &&
      (devobj_list (ctx->vol, name, new_n, &past_end) == -1 ||
       devobj_delete (ctx, "resize", name, &past_end, op.lease) == -1))
    return -1;

  /* 2. The last chunk the old and the new device have in common is the
   * only one whose length may change.
   */
  last = (old_n < new_n ? old_n : new_n) - 1;
  if (chunk_len (old_size, meta.chunk_size, last) !=
      chunk_len (new_size, meta.chunk_size, last) &&
      rewrite_chunk (ctx, &meta, last,
                     chunk_len (new_size, meta.chunk_size, last),
                     op.lease) == -1)
    return -1;

  /* 3. The new size, if the lease is still this run's. */
  meta.size = new_size;
  if (zlease_check (op.lease) == -1)
    return -1;
  return zvolume_put_device (ctx->vol, &meta);
}

static int
cmd_passwd (struct ctx *ctx)
{
  struct zkdf_params kdf;
  CLEANUP_WIPE_STRING char *new_password = NULL;

  new_password = zread_password (ctx->cl->new_password_spec);
  if (new_password == NULL)
    return -1;
  if (new_password[0] == '\0') {
    zerror ("the new password is empty");
    errno = EINVAL;
    return -1;
  }
  if (ctx->cl->log2n_str) {
    kdf = ctx->vol->kdf;
    kdf.log2_n = ctx->log2n;
    return zvolume_change_password (ctx->vol, new_password, &kdf);
  }
  return zvolume_change_password (ctx->vol, new_password, NULL);
}

/* init on a directory store: create the directory itself (not its
 * parents), as the quick start expects, so that objstore_open finds it.
 */
static int
make_volume_dir (const char *bucket)
{
  const char *dir;

  if (strncmp (bucket, "file:///", 8) != 0)
    return 0;
  dir = bucket + 7;
  if (mkdir (dir, 0700) == -1 && errno != EEXIST) {
    zerror ("cannot create volume directory %s: %m", dir);
    return -1;
  }
  return 0;
}

/* Check the values, set up the configuration, open the store and the
 * volume into CTX (main closes them), then run the command.
 */
static int
run_command (const struct command *cmd, struct ctx *ctx)
{
  const struct cmdline *cl = ctx->cl;
  struct zconf *conf = ctx->conf;

  /* Values, before the store is touched. */
  if (cl->log2n_str &&
      parse_uint ("--scrypt-log2n", cl->log2n_str, LOG2N_MIN, LOG2N_MAX,
                  &ctx->log2n) == -1)
    return -1;
  if (cmd->nargs >= 1 && device_name_check (cl->args[1]) == -1)
    return -1;
  if (cmd->size_arg && zparse_size (cl->args[2], &ctx->size) == -1)
    return -1;

  if (setup_conf (cl, conf) == -1)
    return -1;
  if (conf->bucket == NULL)
    usage_error ("no volume: give --bucket=BUCKET "
                 "(or bucket in the --config file)");
  if (zconf_finish (conf, true) == -1)
    return -1;

  if (cmd->run == cmd_init && make_volume_dir (conf->bucket) == -1)
    return -1;
  ctx->store = objstore_open (conf);
  if (ctx->store == NULL)
    return -1;
  if (cmd->run != cmd_init) {
    ctx->vol = zvolume_open (ctx->store, conf->password);
    if (ctx->vol == NULL)
      return -1;
  }

  return cmd->run (ctx);
}

int
main (int argc, char *argv[])
{
  struct cmdline cl = { 0 };
  struct zconf conf;
  struct ctx ctx = { .cl = &cl, .conf = &conf };
  const struct command *cmd;
  const char *debug;
  unsigned extra;
  int r;

  zlog_set_handlers (error_handler, debug_handler);
  debug = getenv ("ZEROFS_DEBUG");
  if (debug)
    zlog_debug_from_string (debug);

  parse_cmdline (argc, argv, &cl);
  if (cl.help) {
    usage (stdout);
    free_cmdline (&cl);
    exit (EXIT_SUCCESS);
  }
  if (cl.version) {
    printf (PROGRAM_NAME " " PACKAGE_VERSION "\n");
    free_cmdline (&cl);
    exit (EXIT_SUCCESS);
  }

  /* The shape of the command line: exit 2 if it is wrong. */
  if (cl.nargs == 0)
    usage_error ("no command given");
  cmd = find_command (cl.args[0]);
  if (cmd == NULL)
    usage_error ("unknown command '%s'", cl.args[0]);
  if (cl.nargs - 1 != cmd->nargs)
    usage_error ("%s takes %s%zu argument%s: %s %s",
                 cmd->name, cl.nargs - 1 > cmd->nargs ? "only " : "",
                 cmd->nargs, cmd->nargs == 1 ? "" : "s",
                 cmd->name, cmd->args_help);
  extra = cl.seen_flags & ~(GLOBAL_FLAGS | cmd->allowed_flags);
  if (extra) {
    size_t i;

    for (i = 0; i < sizeof flags / sizeof flags[0]; i++)
      if (extra & BIT (flags[i].id))
        usage_error ("option '--%s' does not apply to %s",
                     flags[i].name, cmd->name);
  }
  if (cmd->run == cmd_passwd && cl.new_password_spec == NULL)
    usage_error ("passwd needs --new-password=SPEC");

  zconf_init (&conf);
  r = run_command (cmd, &ctx);

  if (ctx.vol)
    zvolume_close (ctx.vol);
  if (ctx.store)
    objstore_close (ctx.store);
  zconf_free (&conf);
  free_cmdline (&cl);
  if (fflush (stdout) == EOF || ferror (stdout)) {
    perror (PROGRAM_NAME ": stdout");
    r = -1;
  }
  return r == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
