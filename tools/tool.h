/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs tools: what zerofs-dev and zerofs share about their command
 * lines.  Define PROGRAM_NAME before including this.
 *
 * A command line that cannot be parsed exits with EXIT_USAGE after one
 * line on stderr, "PROGRAM: MESSAGE (see PROGRAM --help)".
 */
#ifndef ZEROFS_TOOL_H
#define ZEROFS_TOOL_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define EXIT_USAGE 2

static void __attribute__ ((noreturn, format (printf, 1, 2), unused))
usage_error (const char *fmt, ...)
{
  va_list args;

  fputs (PROGRAM_NAME ": ", stderr);
  va_start (args, fmt);
  vfprintf (stderr, fmt, args);
  va_end (args);
  fputs (" (see " PROGRAM_NAME " --help)\n", stderr);
  exit (EXIT_USAGE);
}

#endif /* ZEROFS_TOOL_H */
