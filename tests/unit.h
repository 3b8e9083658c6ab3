/* zerofs: the little harness shared by the C unit tests.
 *
 * CHECK records a failure and goes on, REQUIRE stops the test; both print
 * the condition, where it is, and a printf-style explanation.  Errors that
 * lib/ reports (zerror) are captured into last_error instead of printed,
 * so a test can assert what they say; install the hooks with
 * unit_capture_errors ().  A test exits with unit_exit_status ().
 */
#ifndef ZEROFS_TESTS_UNIT_H
#define ZEROFS_TESTS_UNIT_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"

static int failures;

#define CHECK(cond, ...)                                                \
  do {                                                                  \
    if (!(cond)) {                                                      \
      fprintf (stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);  \
      fprintf (stderr, __VA_ARGS__);                                    \
      fputc ('\n', stderr);                                             \
      failures++;                                                       \
    }                                                                   \
  } while (0)

/* Fatal: the test cannot go on. */
#define REQUIRE(cond, ...)                                              \
  do {                                                                  \
    if (!(cond)) {                                                      \
      fprintf (stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);  \
      fprintf (stderr, __VA_ARGS__);                                    \
      fputc ('\n', stderr);                                             \
      exit (EXIT_FAILURE);                                              \
    }                                                                   \
  } while (0)

/* The last error lib/ reported on this thread, and how many. */
static __thread char last_error[4096];
static __thread int error_count;

static void
capture_error (const char *fmt, va_list args)
{
  vsnprintf (last_error, sizeof last_error, fmt, args);
  error_count++;
}

static void
quiet_debug (const char *fmt, va_list args)
{
}

static inline void
unit_capture_errors (void)
{
  zlog_set_handlers (capture_error, quiet_debug);
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
