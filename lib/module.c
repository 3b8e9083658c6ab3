/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: keeping lib/ mapped for as long as the process lives
 * (see module.h).  dladdr finds the object that holds this very
 * function; dlopen with RTLD_NOLOAD | RTLD_NODELETE then marks it never
 * to be unmapped, without loading anything.
 */
#define _GNU_SOURCE             /* dladdr */
#include <config.h>

#include <dlfcn.h>
#include <stddef.h>

#include "module.h"

void
zmodule_pin (void)
{
  Dl_info info;

  if (dladdr ((void *) zmodule_pin, &info) != 0 && info.dli_fname != NULL)
    (void) dlopen (info.dli_fname, RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE);
}
