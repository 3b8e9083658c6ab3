/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: keeping lib/ mapped for as long as the process lives.
 *
 * lib/ keeps per-thread state (cipher and zstd contexts) freed by
 * pthread_key destructors.  Inside the nbdkit plugin that code lives in
 * a dlopen()ed object: nbdkit's connection threads are detached, so one
 * may still be exiting, about to run our destructor, after nbdkit called
 * .unload and dlclose()d the plugin.  zmodule_pin makes dlclose leave the
 * object mapped until exit.  In a program (zerofs-dev, the tests) it
 * finds nothing to pin and does nothing.
 */
#ifndef ZEROFS_MODULE_H
#define ZEROFS_MODULE_H

/* Call once, before the first pthread_key_create. */
extern void zmodule_pin (void);

#endif /* ZEROFS_MODULE_H */
