/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs fuzz target: the option value parsers (lib/conf.c, zconf_set:
 * sizes, numbers, booleans, enums, compression levels, paths, secrets;
 * and zparse_size).
 *
 * Every option of the plugin's command line and of zerofs-dev's goes
 * through zconf_set, and sizes also through zparse_size: overflowing
 * numbers, units, signs, blanks and junk must all be refused with a
 * message, never wrapped around.  Byte 0 of the input chooses the
 * option (its index in zconf_options, modulo their number); the rest, up
 * to a NUL byte, is the value.  Each input sets its option twice in a
 * fresh struct zconf (so that a replaced value is freed), which must
 * then be within the limits (fuzz_check_conf) and is freed (leaks are
 * reported).  Inputs that name a device or kernel file are skipped, as
 * password=+FILE would read it, and descriptors are read non-blocking,
 * as password=-FD would read one (see fuzz-conf-file.c).
 *
 * The value is also parsed by zparse_size: a size it accepts must come
 * back the same when printed as a plain number, and again as a number
 * of KiB when it is a multiple of 1024.
 */
#include <config.h>

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

#include "fuzz.h"

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init ();
  return 0;
}

static void
check_size (const char *value)
{
  uint64_t v, again;
  char text[32];

  if (zparse_size (value, &v) == -1)
    return;
  snprintf (text, sizeof text, "%" PRIu64, v);
  if (zparse_size (text, &again) == -1 || again != v)
    fuzz_fail ("size \"%s\" parsed to %" PRIu64 ", which does not parse "
               "back", value, v);
  if (v % 1024 == 0) {
    snprintf (text, sizeof text, "%" PRIu64 "KiB", v / 1024);
    if (zparse_size (text, &again) == -1 || again != v)
      fuzz_fail ("size \"%s\" parsed to %" PRIu64 ", but %s does not",
                 value, v, text);
  }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const struct zopt *options;
  struct zconf conf;
  size_t n;
  char *value;

  if (size < 1)
    return 0;
  if (!fuzz_text_is_safe (data, size))
    return -1;
  options = zconf_options (&n);
  value = strndup ((const char *) data + 1, size - 1);
  if (value == NULL)
    fuzz_fail ("out of memory");

  zconf_init (&conf);
  fuzz_unblock_fds ();
  zconf_set (&conf, options[data[0] % n].key, value);
  zconf_set (&conf, options[data[0] % n].key, value);
  fuzz_restore_fds ();
  fuzz_check_conf (&conf);
  zconf_free (&conf);
  check_size (value);
  free (value);
  return 0;
}
