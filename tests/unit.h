/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: the little harness every C unit test uses.
 *
 * CHECK (cond) records a failure and goes on, REQUIRE (cond) stops the
 * test; both print where they are and the condition, and take an
 * optional printf-style explanation: CHECK (n == 3, "n is %d", n) (its
 * arguments are evaluated only when the check fails).  CHECK_STR (got,
 * want) compares two strings and prints both.  FAIL (fmt, ...) records
 * a failure that no single condition states (a whole table compared, a
 * file that could not be read).
 *
 * A test may set unit_context to a function that prints what else it
 * knows after each failure (the store's last error, the messages lib/
 * logged); errno is then as the failing condition left it.
 *
 * Errors that lib/ reports (zerror) are captured instead of printed,
 * so that a test can assert what they say: last_error is the last one,
 * logged_errors every one since unit_clear_errors (), one a line (both
 * per thread).  Install the hooks with unit_capture_errors (); run with
 * VERBOSE=1 to see the errors as they come.  Debug messages (which lib/
 * emits only when a debug flag is set) go to stderr.
 *
 * A test ends with "return unit_exit_status (name);".
 */
#ifndef ZEROFS_TESTS_UNIT_H
#define ZEROFS_TESTS_UNIT_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunk.h"
#include "log.h"

static int failures;

/* Prints more about a failure, if a test sets it. */
static void (*unit_context) (void);

/* Report a failure at FILE:LINE of the condition COND (NULL for FAIL),
 * with the explanation FMT, which starts with a space (the macros add
 * it, so that an empty explanation is no empty format string).
 */
static void __attribute__ ((format (printf, 4, 5), unused))
unit_failed (const char *file, int line, const char *cond,
             const char *fmt, ...)
{
  int saved_errno = errno;
  bool explained = fmt[0] != '\0' && fmt[1] != '\0';
  va_list args;

  fprintf (stderr, "FAIL %s:%d:", file, line);
  if (cond)
    fprintf (stderr, " %s%s", cond, explained ? ":" : "");
  if (explained) {
    errno = saved_errno;        /* for %m */
    va_start (args, fmt);
    vfprintf (stderr, fmt, args);
    va_end (args);
  }
  fputc ('\n', stderr);
  failures++;
  if (unit_context) {
    errno = saved_errno;
    unit_context ();
  }
  errno = saved_errno;
}

#define CHECK(cond, ...)                                                \
  do {                                                                  \
    if (!(cond))                                                        \
      unit_failed (__FILE__, __LINE__, #cond, " " __VA_ARGS__);         \
  } while (0)

/* Fatal: the test cannot go on. */
#define REQUIRE(cond, ...)                                              \
  do {                                                                  \
    if (!(cond)) {                                                      \
      unit_failed (__FILE__, __LINE__, #cond, " " __VA_ARGS__);         \
      exit (EXIT_FAILURE);                                              \
    }                                                                   \
  } while (0)

#define CHECK_STR(got, want)                                            \
  do {                                                                  \
    const char *unit_got_ = (got), *unit_want_ = (want);                \
                                                                        \
    if (unit_got_ == NULL || strcmp (unit_got_, unit_want_) != 0)       \
      unit_failed (__FILE__, __LINE__, NULL,                            \
                   " %s is \"%s\", expected \"%s\"", #got,              \
                   unit_got_ ? unit_got_ : "(null)", unit_want_);       \
  } while (0)

#define FAIL(...) unit_failed (__FILE__, __LINE__, NULL, " " __VA_ARGS__)

/* The errors lib/ reported on this thread: the last, and all of them
 * since unit_clear_errors () (truncated if there are too many).
 */
static __thread char last_error[4096];
static __thread char logged_errors[65536];

static void __attribute__ ((unused))
capture_error (const char *fmt, va_list args)
{
  size_t used = strlen (logged_errors);

  vsnprintf (last_error, sizeof last_error, fmt, args);
  snprintf (logged_errors + used, sizeof logged_errors - used, "%s\n",
            last_error);
  if (getenv ("VERBOSE"))
    fprintf (stderr, "logged error: %s\n", last_error);
}

static inline void
unit_capture_errors (void)
{
  zlog_set_handlers (capture_error, NULL);
}

static inline void
unit_clear_errors (void)
{
  last_error[0] = '\0';
  logged_errors[0] = '\0';
}

/* A unit_context: what lib/ logged since the last clear. */
static void __attribute__ ((unused))
unit_show_errors (void)
{
  fprintf (stderr, "  errors logged: %s",
           logged_errors[0] ? logged_errors : "(none)\n");
}

/* A chunk codec with fixed test keys and uuids (the tests of the chunk
 * and journal codecs).
 */
static inline void __attribute__ ((unused))
unit_make_codec (struct zchunk_codec *codec, int compression)
{
  memset (codec, 0, sizeof *codec);
  memset (codec->key, 0x42, sizeof codec->key);
  memset (codec->volume_uuid, 0x11, 16);
  memset (codec->device_uuid, 0x22, 16);
  codec->compression = compression;
  codec->level = 3;
}

static inline int
unit_exit_status (const char *name)
{
  if (failures) {
    fprintf (stderr, "%s: %d failures\n", name, failures);
    return EXIT_FAILURE;
  }
  printf ("%s: ok\n", name);
  return EXIT_SUCCESS;
}

#endif /* ZEROFS_TESTS_UNIT_H */
