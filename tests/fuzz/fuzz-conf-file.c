/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs fuzz target: the configuration file loader (lib/conf.c,
 * zconf_load_file, that is config=FILE), fed the input as the file.
 *
 * A config file is written by hand, and the loader turns libconfig's
 * settings into zerofs options through the same checks as key=value
 * parameters: types, sizes, numbers, enums, paths and secrets.  The
 * input is written to a temporary file and loaded into a fresh struct
 * zconf, which is then freed (leaks are reported).  Whether the file
 * loads or not, what it set must be within the options' limits
 * (fuzz_check_conf).
 *
 * Some settings read other files: libconfig's @include, password=+FILE
 * and password=-FD.  fuzz_init makes the inherited descriptors safe to
 * read, the load runs with every other descriptor non-blocking
 * (fuzz_unblock_fds: the sanitizers' symbolizer pipes), and inputs that
 * name a device or kernel file are skipped (fuzz_text_is_safe), so that
 * no input can hang on a pipe, /dev/zero or a terminal.
 */
#include <config.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "conf.h"

#include "fuzz.h"

static char path[512];

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init ();
  snprintf (path, sizeof path, "%s/zerofs.conf", fuzz_tmpdir ());
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct zconf conf;

  if (!fuzz_text_is_safe (data, size))
    return -1;
  fuzz_write_file (path, data, size);
  zconf_init (&conf);
  /* Loaded or not, what is set must be within the limits. */
  fuzz_unblock_fds ();
  zconf_load_file (&conf, path);
  fuzz_restore_fds ();
  fuzz_check_conf (&conf);
  zconf_free (&conf);
  return 0;
}
