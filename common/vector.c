/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: the growth step of vector.h, shared by every vector type.
 */
#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "vector.h"

void *
vector_grow (void *items, size_t len, size_t *cap, size_t n, size_t size)
{
  size_t want, newcap;
  void *p;

  if (n > SIZE_MAX - len) {
    errno = ENOMEM;
    return NULL;
  }
  want = len + n;
  newcap = *cap > SIZE_MAX / 2 ? SIZE_MAX : *cap * 2;
  if (newcap < want)
    newcap = want;
  if (newcap < 8)
    newcap = 8;
  if (size != 0 && newcap > SIZE_MAX / size) {
    newcap = SIZE_MAX / size;
    if (newcap < want) {
      errno = ENOMEM;
      return NULL;
    }
  }
  p = realloc (items, newcap * size);
  if (p == NULL) {
    errno = ENOMEM;
    return NULL;
  }
  *cap = newcap;
  return p;
}
