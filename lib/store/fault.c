/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: the fault-injecting object store wrapper (fault-file=FILE).
 *
 * Tests need a store that fails on demand (is a transient error retried?
 * is a permanent one reported?), and benchmarks need a store with the
 * latency of a real one far away.  This wrapper sits between the retry
 * layer and the real backend, so injected failures go through the same
 * retry and error paths as real ones.  It is driven by a control file
 * that a test may rewrite while the server runs:
 *
 *   # a comment; blank lines are ignored
 *   delay DURATION                 every operation waits DURATION first
 *   delay OP DURATION              operations of kind OP do
 *   fail OP ERRNO                  every OP fails with ERRNO
 *   fail OP ERRNO COUNT            the next COUNT OPs fail
 *   fail OP ERRNO PCT%             each OP fails with probability PCT %
 *   fail OP ERRNO COUNT PCT%       both: COUNT failures, picked at random
 *   stale list DURATION            a LIST's keys reach the caller
 *                                  DURATION after the store gave them
 *                                  (all pages taken first): a listing
 *                                  that is stale by the time it is
 *                                  used, as a slow reader of a large
 *                                  one sees it
 *   crash OP [COUNT]               the process kills itself (SIGKILL) as
 *                                  soon as the COUNT-th OP (default: the
 *                                  next one) has reached the real store:
 *                                  a kill -9 at an exact point, for crash
 *                                  tests
 *
 *   OP        get put head delete list copy, or * for all (delete
 *             includes delete_many; get includes range reads),
 *             optionally followed by :TEXT, e.g. put:/chunks/: only
 *             operations whose key (a DeleteObjects' first key, a copy's
 *             destination) contains TEXT; a TEXT that begins with ^ must
 *             be at the start of the key, one that ends with $ at its
 *             end (keys are relative to the volume: put:/lease$ is the
 *             lease's PUTs, not those of devices/NAME/lease.probe;
 *             put:^devices/d/lease$ exactly one key)
 *   DURATION  a whole number with a unit: 500us, 20ms, 2s (at most 1 h)
 *   ERRNO     EAGAIN ETIMEDOUT ECONNRESET ECONNREFUSED EPIPE ENETUNREACH
 *             EHOSTUNREACH (transient: the retry layer retries them),
 *             EIO EACCES ENOENT EEXIST ENODEV ENOTSUP EBADMSG ENOSPC
 *             EINVAL (permanent)
 *   COUNT     1 or more; PCT 1 to 100
 *
 * Every delay line that matches an operation adds to its wait, then the
 * first fail line that fires (in file order) makes it fail; the real
 * store is not called.  A failure is recorded with objstore_fail as
 * "OP KEY: injected fault: ERRNO (FILE line N)" and logged with zdebug
 * when zerofs_debug_fault is set.  With that flag, every request that
 * reaches the real store is logged too, "fault: request OP KEY: ok" (a
 * DeleteObjects by its first key): tests count requests by it.
 *
 * An absent or empty file injects nothing.  The file is re-read when
 * its inode, size, mtime or ctime change, looked at no more than once
 * every 100 ms (so a test waits a little more than that after changing
 * it), and re-reading resets the COUNTs.  A file that does not parse is
 * refused when the store is opened (the message names file and line);
 * when it is changed to one that does not parse, the error is logged
 * once and the rules in force are kept.
 *
 * The wrapper takes ownership of the inner store, and closes it if it
 * cannot be created.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "internal.h"
#include "vector.h"

#define CHECK_INTERVAL_NS 100000000  /* 100 ms between stats of the file */
#define MAX_RULES 256
#define MAX_DELAY_US (3600ULL * 1000000)

enum fault_op {
  OP_GET = 1, OP_PUT = 2, OP_HEAD = 4, OP_DELETE = 8, OP_LIST = 16,
  OP_COPY = 32,
  OP_ALL = 63,
};

static const struct {
  const char *name;
  unsigned mask;
} op_names[] = {
  { "get", OP_GET }, { "put", OP_PUT }, { "head", OP_HEAD },
  { "delete", OP_DELETE }, { "list", OP_LIST }, { "copy", OP_COPY },
  { "*", OP_ALL },
};

static const struct {
  const char *name;
  int err;
} errno_names[] = {
  { "EAGAIN", EAGAIN }, { "ETIMEDOUT", ETIMEDOUT },
  { "ECONNRESET", ECONNRESET }, { "ECONNREFUSED", ECONNREFUSED },
  { "EPIPE", EPIPE }, { "ENETUNREACH", ENETUNREACH },
  { "EHOSTUNREACH", EHOSTUNREACH },
  { "EIO", EIO }, { "EACCES", EACCES }, { "ENOENT", ENOENT },
  { "EEXIST", EEXIST }, { "ENODEV", ENODEV }, { "ENOTSUP", ENOTSUP },
  { "EBADMSG", EBADMSG }, { "ENOSPC", ENOSPC }, { "EINVAL", EINVAL },
};

struct fault_rule {
  bool is_fail;               /* else a delay (or a crash, or stale) */
  bool is_stale;              /* list: deliver the keys delay_us late */
  bool is_crash;              /* crash after COUNT more OPs */
  unsigned ops;               /* mask of enum fault_op */
  char key_part[64];          /* only keys containing this ("": all) */
  bool anchor_start;          /* ... at their start (^TEXT) */
  bool anchor_end;            /* ... at their end (TEXT$) */
  uint64_t delay_us;          /* delay */
  int err;                    /* fail: errno and its name */
  const char *errname;
  bool counted;               /* fail: only COUNT more times */
  uint64_t count;
  unsigned pct;               /* fail: probability, 100 = always */
  unsigned line;
};

/* What identifies a version of the control file. */
struct file_id {
  bool exists;
  dev_t dev;
  ino_t ino;
  off_t size;
  struct timespec mtime, ctime;
};

struct fault_store {
  struct objstore base;
  struct objstore *inner;
  char *path;

  pthread_mutex_t lock;       /* everything below */
  struct fault_rule *rules;
  size_t nr_rules;
  struct file_id id;
  struct timespec last_check;
  uint64_t rng;
};

static void
file_id_of (const struct stat *st, struct file_id *id)
{
  id->exists = true;
  id->dev = st->st_dev;
  id->ino = st->st_ino;
  id->size = st->st_size;
  id->mtime = st->st_mtim;
  id->ctime = st->st_ctim;
}

static bool
file_id_equal (const struct file_id *a, const struct file_id *b)
{
  if (a->exists != b->exists)
    return false;
  if (!a->exists)
    return true;
  return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
    a->mtime.tv_sec == b->mtime.tv_sec &&
    a->mtime.tv_nsec == b->mtime.tv_nsec &&
    a->ctime.tv_sec == b->ctime.tv_sec &&
    a->ctime.tv_nsec == b->ctime.tv_nsec;
}

/* Parse a whole number, all of WORD.  -1 if it is not one. */
static int
parse_uint (const char *word, size_t len, uint64_t *out)
{
  uint64_t v = 0;
  size_t i;

  if (len == 0 || len > 12)
    return -1;
  for (i = 0; i < len; i++) {
    if (word[i] < '0' || word[i] > '9')
      return -1;
    v = v * 10 + (word[i] - '0');
  }
  *out = v;
  return 0;
}

static int
parse_duration (const char *word, uint64_t *us)
{
  size_t len = strlen (word), digits = strspn (word, "0123456789");
  const char *unit = word + digits;
  uint64_t v, mult;

  if (strcmp (unit, "us") == 0)
    mult = 1;
  else if (strcmp (unit, "ms") == 0)
    mult = 1000;
  else if (strcmp (unit, "s") == 0)
    mult = 1000000;
  else
    return -1;
  if (digits + strlen (unit) != len || parse_uint (word, digits, &v) == -1 ||
      v > MAX_DELAY_US / mult)
    return -1;
  *us = v * mult;
  return 0;
}

/* OP or OP:TEXT (see the top of this file). */
static int
parse_op_word (const char *word, struct fault_rule *rule)
{
  const char *colon = strchr (word, ':');
  size_t i, len = colon ? (size_t) (colon - word) : strlen (word);

  if (colon) {
    const char *text = colon + 1;
    size_t tlen;

    rule->anchor_start = text[0] == '^';
    text += rule->anchor_start;
    tlen = strlen (text);
    rule->anchor_end = tlen > 0 && text[tlen - 1] == '$';
    tlen -= rule->anchor_end;
    if (tlen == 0 || tlen >= sizeof rule->key_part)
      return -1;
    memcpy (rule->key_part, text, tlen);
    rule->key_part[tlen] = '\0';
  }
  for (i = 0; i < sizeof op_names / sizeof op_names[0]; i++)
    if (strlen (op_names[i].name) == len &&
        strncmp (word, op_names[i].name, len) == 0) {
      rule->ops = op_names[i].mask;
      return 0;
    }
  return -1;
}

/* Does KEY (or a LIST's prefix) pass RULE's key filter? */
static bool
key_matches (const struct fault_rule *rule, const char *key)
{
  size_t klen, plen = strlen (rule->key_part);

  if (plen == 0)
    return true;
  if (rule->anchor_start)
    return strncmp (key, rule->key_part, plen) == 0 &&
      (!rule->anchor_end || key[plen] == '\0');
  if (rule->anchor_end) {
    klen = strlen (key);
    return klen >= plen && strcmp (key + klen - plen, rule->key_part) == 0;
  }
  return strstr (key, rule->key_part) != NULL;
}

/* Parse one line's words into RULE.  Returns -1 and writes a reason
 * into WHY if it does not parse.
 */
static int
parse_rule (char **words, size_t n, struct fault_rule *rule,
            char *why, size_t whylen)
{
  uint64_t v;
  size_t i;

  memset (rule, 0, sizeof *rule);
  rule->ops = OP_ALL;
  rule->pct = 100;

  if (strcmp (words[0], "delay") == 0) {
    if (n == 3) {
      if (parse_op_word (words[1], rule) == -1) {
        snprintf (why, whylen, "unknown operation \"%s\"", words[1]);
        return -1;
      }
    }
    else if (n != 2) {
      snprintf (why, whylen, "expected: delay [OP] DURATION");
      return -1;
    }
    if (parse_duration (words[n-1], &rule->delay_us) == -1) {
      snprintf (why, whylen, "bad duration \"%s\" (e.g. 20ms, 500us, 1s)",
                words[n-1]);
      return -1;
    }
    return 0;
  }

  if (strcmp (words[0], "fail") == 0) {
    rule->is_fail = true;
    if (n < 3 || n > 5) {
      snprintf (why, whylen, "expected: fail OP ERRNO [COUNT] [PCT%%]");
      return -1;
    }
    if (parse_op_word (words[1], rule) == -1) {
      snprintf (why, whylen, "unknown operation \"%s\"", words[1]);
      return -1;
    }
    for (i = 0; i < sizeof errno_names / sizeof errno_names[0]; i++)
      if (strcmp (words[2], errno_names[i].name) == 0) {
        rule->err = errno_names[i].err;
        rule->errname = errno_names[i].name;
      }
    if (rule->errname == NULL) {
      snprintf (why, whylen, "unknown errno \"%s\"", words[2]);
      return -1;
    }
    for (i = 3; i < n; i++) {
      size_t len = strlen (words[i]);

      if (len > 1 && words[i][len-1] == '%') {
        if (rule->pct != 100 || parse_uint (words[i], len - 1, &v) == -1 ||
            v < 1 || v > 100) {
          snprintf (why, whylen, "bad percentage \"%s\" (1%%..100%%)",
                    words[i]);
          return -1;
        }
        rule->pct = v;
      }
      else {
        if (i != 3 || parse_uint (words[i], len, &v) == -1 || v < 1) {
          snprintf (why, whylen, "bad count \"%s\" (a whole number, "
                    "at least 1, before any PCT%%)", words[i]);
          return -1;
        }
        rule->counted = true;
        rule->count = v;
      }
    }
    return 0;
  }

  if (strcmp (words[0], "stale") == 0) {
    rule->is_stale = true;
    if (n != 3 || parse_op_word (words[1], rule) == -1 ||
        rule->ops != OP_LIST) {
      snprintf (why, whylen, "expected: stale list[:TEXT] DURATION");
      return -1;
    }
    if (parse_duration (words[2], &rule->delay_us) == -1) {
      snprintf (why, whylen, "bad duration \"%s\" (e.g. 20ms, 500us, 1s)",
                words[2]);
      return -1;
    }
    return 0;
  }

  if (strcmp (words[0], "crash") == 0) {
    rule->is_crash = true;
    rule->counted = true;
    rule->count = 1;
    if (n < 2 || n > 3) {
      snprintf (why, whylen, "expected: crash OP [COUNT]");
      return -1;
    }
    if (parse_op_word (words[1], rule) == -1) {
      snprintf (why, whylen, "unknown operation \"%s\"", words[1]);
      return -1;
    }
    if (n == 3 &&
        (parse_uint (words[2], strlen (words[2]), &v) == -1 || v < 1)) {
      snprintf (why, whylen, "bad count \"%s\" (a whole number, at least 1)",
                words[2]);
      return -1;
    }
    if (n == 3)
      rule->count = v;
    return 0;
  }

  snprintf (why, whylen, "unknown directive \"%s\" (delay, fail, stale or crash)",
            words[0]);
  return -1;
}

/* Read the control file into *RULESP.  Absent: no rules.  On a parse
 * error, -1 with the message (naming file and line) recorded by
 * objstore_fail.  Fills *ID with the identity of what was read.
 */
static int
load_rules (const char *path, struct fault_rule **rulesp, size_t *np,
            struct file_id *id)
{
  CLEANUP_FREE struct fault_rule *rules = NULL;
  CLEANUP_FREE char *line = NULL;
  CLEANUP_FCLOSE FILE *fp = NULL;
  size_t n = 0, nwords, linesize = 0;
  char *words[8], *word, *saveptr;
  char why[256];
  unsigned lineno = 0;
  struct stat st;

  memset (id, 0, sizeof *id);
  fp = fopen (path, "re");
  if (fp == NULL) {
    if (errno == ENOENT) {
      *rulesp = NULL;
      *np = 0;
      return 0;
    }
    return objstore_fail (errno, "fault file %s: %m", path);
  }
  if (fstat (fileno (fp), &st) == -1)
    return objstore_fail (errno, "fault file %s: fstat: %m", path);
  file_id_of (&st, id);

  while (getline (&line, &linesize, fp) != -1) {
    lineno++;
    nwords = 0;
    for (word = strtok_r (line, " \t\r\n", &saveptr);
         word && word[0] != '#';
         word = strtok_r (NULL, " \t\r\n", &saveptr)) {
      if (nwords == sizeof words / sizeof words[0])
        return objstore_fail (EINVAL, "fault file %s line %u: too many words",
                              path, lineno);
      words[nwords++] = word;
    }
    if (nwords == 0)
      continue;
    if (n == MAX_RULES)
      return objstore_fail (EINVAL, "fault file %s line %u: more than %d "
                            "rules", path, lineno, MAX_RULES);
    if (n == 0) {
      rules = calloc (MAX_RULES, sizeof *rules);
      if (rules == NULL)
        return objstore_fail (ENOMEM, "out of memory");
    }
    if (parse_rule (words, nwords, &rules[n], why, sizeof why) == -1)
      return objstore_fail (EINVAL, "fault file %s line %u: %s",
                            path, lineno, why);
    rules[n].line = lineno;
    n++;
  }
  if (ferror (fp))
    return objstore_fail (EIO, "fault file %s: read error", path);

  *rulesp = rules;
  *np = n;
  rules = NULL;
  return 0;
}

/* Under the lock: look at the control file if it is time to. */
static void
maybe_reload (struct fault_store *fs)
{
  struct timespec now;
  struct file_id id = { .exists = false }, loaded_id;
  struct fault_rule *rules;
  struct stat st;
  size_t n;
  int64_t elapsed;

  clock_gettime (CLOCK_MONOTONIC, &now);
  elapsed = (int64_t) (now.tv_sec - fs->last_check.tv_sec) * 1000000000 +
    (now.tv_nsec - fs->last_check.tv_nsec);
  if (elapsed < CHECK_INTERVAL_NS)
    return;
  fs->last_check = now;

  if (stat (fs->path, &st) == 0)
    file_id_of (&st, &id);
  if (file_id_equal (&id, &fs->id))
    return;

  if (load_rules (fs->path, &rules, &n, &loaded_id) == -1) {
    /* Keep the rules in force; report this version once. */
    zerror ("%s (keeping the previous fault rules)", objstore_last_error ());
    fs->id = id;
    return;
  }
  free (fs->rules);
  fs->rules = rules;
  fs->nr_rules = n;
  fs->id = loaded_id;
  if (zerofs_debug_fault)
    zdebug ("fault file %s: %zu rules loaded", fs->path, n);
}

static unsigned
random_pct (struct fault_store *fs)
{
  uint64_t x = fs->rng;

  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  fs->rng = x;
  return ((x * UINT64_C (2685821657736338717)) >> 32) % 100;
}

static void
sleep_us (uint64_t us)
{
  struct timespec ts = {
    .tv_sec = us / 1000000,
    .tv_nsec = (us % 1000000) * 1000,
  };

  while (nanosleep (&ts, &ts) == -1 && errno == EINTR)
    ;
}

/* Decide an operation's fate: delay it, then fail it (-1, recorded) or
 * let it through (0).  *CRASH_AFTER is set when a crash rule fires: the
 * caller kills the process once the real store has done the operation.
 */
static int
inject (struct fault_store *fs, unsigned op, const char *opname,
        const char *key, bool *crash_after)
{
  const struct fault_rule *fail = NULL;
  uint64_t delay_us = 0;
  size_t i;
  int err = 0;
  const char *errname = NULL;
  unsigned line = 0;

  /* The rules may be replaced once the lock is dropped: copy what is
   * needed of the rule that fires.
   */
  {
    LOCK_FOR_SCOPE (&fs->lock);

    maybe_reload (fs);
    for (i = 0; i < fs->nr_rules; i++) {
      struct fault_rule *rule = &fs->rules[i];

      if (!(rule->ops & op) ||
          !key_matches (rule, key))
        continue;
      if (rule->is_stale)
        continue;               /* fault_list's */
      if (rule->is_crash) {
        if (rule->count > 0 && --rule->count == 0)
          *crash_after = true;
      }
      else if (!rule->is_fail)
        delay_us += rule->delay_us;
      else if (fail == NULL) {
        if (rule->counted && rule->count == 0)
          continue;
        if (rule->pct < 100 && random_pct (fs) >= rule->pct)
          continue;
        if (rule->counted)
          rule->count--;
        fail = rule;
        err = rule->err;
        errname = rule->errname;
        line = rule->line;
      }
    }
  }

  if (delay_us > 0) {
    if (zerofs_debug_fault)
      zdebug ("fault: delaying %s %s by %" PRIu64 " us", opname, key,
              delay_us);
    sleep_us (delay_us);
  }

  if (fail) {
    if (zerofs_debug_fault)
      zdebug ("fault: failing %s %s with %s (%s line %u)",
              opname, key, errname, fs->path, line);
    return objstore_fail (err, "%s %s: injected fault: %s (%s line %u)",
                          opname, key, errname, fs->path, line);
  }
  return 0;
}

/* After the real operation: log it (tests count requests this way),
 * and die now if a crash rule said so.
 */
static int
maybe_crash (bool crash_after, const char *opname, const char *key, int r)
{
  if (zerofs_debug_fault)
    zdebug ("fault: request %s %s: %s", opname, key, r == 0 ? "ok" : "failed");
  if (crash_after) {
    zdebug ("fault: crashing after %s %s", opname, key);
    kill (getpid (), SIGKILL);
  }
  return r;
}

static int
fault_get (struct objstore *s, const char *key,
           uint64_t offset, uint64_t length,
           void **data, size_t *len, struct objstore_info *info)
{
  struct fault_store *fs = (struct fault_store *) s;

  bool crash = false;

  if (inject (fs, OP_GET, "GET", key, &crash) == -1)
    return -1;
  return maybe_crash (crash, "GET", key,
                      fs->inner->ops->get (fs->inner, key, offset, length,
                                           data, len, info));
}

static int
fault_put (struct objstore *s, const char *key,
           const void *data, size_t len,
           const struct objstore_cond *cond, struct objstore_info *info)
{
  struct fault_store *fs = (struct fault_store *) s;

  bool crash = false;

  if (inject (fs, OP_PUT, "PUT", key, &crash) == -1)
    return -1;
  return maybe_crash (crash, "PUT", key,
                      fs->inner->ops->put (fs->inner, key, data, len, cond,
                                           info));
}

static int
fault_head (struct objstore *s, const char *key, struct objstore_info *info)
{
  struct fault_store *fs = (struct fault_store *) s;

  bool crash = false;

  if (inject (fs, OP_HEAD, "HEAD", key, &crash) == -1)
    return -1;
  return maybe_crash (crash, "HEAD", key,
                      fs->inner->ops->head (fs->inner, key, info));
}

static int
fault_del (struct objstore *s, const char *key)
{
  struct fault_store *fs = (struct fault_store *) s;

  bool crash = false;

  if (inject (fs, OP_DELETE, "DELETE", key, &crash) == -1)
    return -1;
  return maybe_crash (crash, "DELETE", key,
                      fs->inner->ops->del (fs->inner, key));
}

static int
fault_delete_many (struct objstore *s, const char *const *keys, size_t n)
{
  struct fault_store *fs = (struct fault_store *) s;

  const char *first = n > 0 ? keys[0] : "(no keys)";
  bool crash = false;

  if (inject (fs, OP_DELETE, "DELETE", first, &crash) == -1)
    return -1;
  return maybe_crash (crash, "DELETE", first,
                      fs->inner->ops->delete_many (fs->inner, keys, n));
}

static int
fault_copy (struct objstore *s, const char *src, const char *dst)
{
  struct fault_store *fs = (struct fault_store *) s;

  bool crash = false;

  if (inject (fs, OP_COPY, "COPY", dst, &crash) == -1)
    return -1;
  return maybe_crash (crash, "COPY", dst,
                      fs->inner->ops->copy (fs->inner, src, dst));
}

/* How late the keys of a LIST of PREFIX are delivered (stale rules). */
static uint64_t
stale_us (struct fault_store *fs, const char *prefix)
{
  uint64_t us = 0;
  size_t i;
  LOCK_FOR_SCOPE (&fs->lock);

  maybe_reload (fs);
  for (i = 0; i < fs->nr_rules; i++)
    if (fs->rules[i].is_stale &&
        key_matches (&fs->rules[i], prefix))
      us += fs->rules[i].delay_us;
  return us;
}

/* A stale listing: its keys, kept until they are delivered. */
struct listed_key {
  char *key;
  uint64_t size;
  bool is_prefix;
};
DEFINE_VECTOR_TYPE (listed_key_vector, struct listed_key);

static void
listed_keys_free (listed_key_vector *v)
{
  size_t i;

  for (i = 0; i < v->len; i++)
    free (v->items[i].key);
  listed_key_vector_reset (v);
}

static int
keep_key (void *opaque, const char *key, uint64_t size, bool is_prefix)
{
  listed_key_vector *v = opaque;
  struct listed_key k = { strdup (key), size, is_prefix };

  if (k.key == NULL || listed_key_vector_append (v, k) == -1) {
    free (k.key);
    zerror ("LIST: out of memory");
    return -1;
  }
  return 0;
}

static int
fault_list (struct objstore *s, const char *prefix, const char *delimiter,
            const char *start_after, objstore_list_fn fn, void *opaque)
{
  struct fault_store *fs = (struct fault_store *) s;
  __attribute__ ((cleanup (listed_keys_free)))
    listed_key_vector keys = EMPTY_VECTOR;
  uint64_t late;
  bool crash = false;
  size_t i;
  int r;

  if (inject (fs, OP_LIST, "LIST", prefix, &crash) == -1)
    return -1;
  late = stale_us (fs, prefix);
  if (late == 0)
    return maybe_crash (crash, "LIST", prefix,
                        fs->inner->ops->list (fs->inner, prefix, delimiter,
                                              start_after, fn, opaque));
  r = maybe_crash (crash, "LIST", prefix,
                   fs->inner->ops->list (fs->inner, prefix, delimiter,
                                         start_after, keep_key, &keys));
  if (r == -1)
    return -1;
  if (zerofs_debug_fault)
    zdebug ("fault: delivering the %zu keys of LIST %s %" PRIu64 " us late",
            keys.len, prefix, late);
  sleep_us (late);
  for (i = 0; i < keys.len; i++) {
    r = fn (opaque, keys.items[i].key, keys.items[i].size,
            keys.items[i].is_prefix);
    if (r != 0)
      return r == 1 ? 0 : -1;
  }
  return 0;
}

static void
fault_close (struct objstore *s)
{
  struct fault_store *fs = (struct fault_store *) s;

  objstore_close (fs->inner);
  pthread_mutex_destroy (&fs->lock);
  free (fs->rules);
  free (fs->path);
  free (fs->base.description);
  free (fs);
}

static const struct objstore_ops fault_ops = {
  .name = "fault",
  .get = fault_get,
  .put = fault_put,
  .head = fault_head,
  .del = fault_del,
  .delete_many = fault_delete_many,
  .list = fault_list,
  .copy = fault_copy,
  .close = fault_close,
};

struct objstore *
objstore_fault_wrap (struct objstore *inner, const char *control_file)
{
  CLEANUP_OBJSTORE struct objstore *owned = inner; /* until fs has it */
  CLEANUP_FREE struct fault_store *fs = NULL;
  CLEANUP_FREE char *path = NULL;
  CLEANUP_FREE char *description = NULL;
  struct objstore *ret;

  fs = calloc (1, sizeof *fs);
  if (fs == NULL) {
    objstore_fail (ENOMEM, "out of memory");
    return NULL;
  }
  path = strdup (control_file);
  description = strdup (inner->description);
  if (path == NULL || description == NULL) {
    objstore_fail (ENOMEM, "out of memory");
    return NULL;
  }
  if (load_rules (path, &fs->rules, &fs->nr_rules, &fs->id) == -1)
    return NULL;
  clock_gettime (CLOCK_MONOTONIC, &fs->last_check);
  fs->rng = ((uint64_t) fs->last_check.tv_nsec << 20) ^
    (uint64_t) (uintptr_t) fs ^ 0x9e3779b97f4a7c15ULL;
  pthread_mutex_init (&fs->lock, NULL);
  fs->base.ops = &fault_ops;
  fs->base.counters = inner->counters;
  fs->base.write_bound_ms = inner->write_bound_ms;
  fs->inner = inner;
  owned = NULL;
  fs->path = path;
  path = NULL;
  fs->base.description = description;
  description = NULL;
  if (zerofs_debug_fault)
    zdebug ("fault file %s: %zu rules loaded", fs->path, fs->nr_rules);
  ret = &fs->base;
  fs = NULL;
  return ret;
}
