/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: one growable array type, for any element type.
 *
 *   DEFINE_VECTOR_TYPE (key_list, char *);
 *   CLEANUP_VECTOR (key_list) key_list keys = EMPTY_VECTOR;
 *   if (key_list_append (&keys, key) == -1) ...   (errno = ENOMEM)
 *   for (size_t i = 0; i < keys.len; i++) ... keys.items[i] ...
 *
 * A vector is { items, len, cap }.  Growth doubles the capacity (at
 * least to what is asked), so N appends cost O(N); every size
 * computation is checked for overflow, and a failure leaves the vector
 * as it was.  Nothing here logs: the caller knows what it was building.
 */
#ifndef ZEROFS_VECTOR_H
#define ZEROFS_VECTOR_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Grow ITEMS (LEN used, *CAP allocated, elements of SIZE bytes) to hold
 * at least LEN + N.  Returns the (possibly moved) array and updates
 * *CAP, or NULL with errno = ENOMEM and nothing changed.
 */
extern void *vector_grow (void *items, size_t len, size_t *cap,
                          size_t n, size_t size);

#define EMPTY_VECTOR { .items = NULL, .len = 0, .cap = 0 }

#define DEFINE_VECTOR_TYPE(name, type)                                  \
  typedef struct name {                                                 \
    type *items;                                                        \
    size_t len;                                                         \
    size_t cap;                                                         \
  } name;                                                               \
                                                                        \
  /* Make room for N more elements. */                                  \
  static inline int __attribute__ ((unused))                            \
  name##_reserve (name *v, size_t n)                                    \
  {                                                                     \
    type *items;                                                        \
                                                                        \
    if (v->cap - v->len >= n)                                           \
      return 0;                                                         \
    items = vector_grow (v->items, v->len, &v->cap, n, sizeof (type));  \
    if (items == NULL)                                                  \
      return -1;                                                        \
    v->items = items;                                                   \
    return 0;                                                           \
  }                                                                     \
                                                                        \
  static inline int __attribute__ ((unused))                            \
  name##_append (name *v, type elem)                                    \
  {                                                                     \
    if (name##_reserve (v, 1) == -1)                                    \
      return -1;                                                        \
    v->items[v->len++] = elem;                                          \
    return 0;                                                           \
  }                                                                     \
                                                                        \
  /* Append N elements copied from ELEMS. */                            \
  static inline int __attribute__ ((unused))                            \
  name##_append_array (name *v, const type *elems, size_t n)            \
  {                                                                     \
    if (n == 0)                                                         \
      return 0;                                                         \
    if (name##_reserve (v, n) == -1)                                    \
      return -1;                                                        \
    memcpy (v->items + v->len, elems, n * sizeof (type));               \
    v->len += n;                                                        \
    return 0;                                                           \
  }                                                                     \
                                                                        \
  /* Sort with qsort's COMPARE (nothing to do, and no NULL passed to  \
   * qsort, when there are fewer than two elements).                  \
   */                                                                 \
  static inline void __attribute__ ((unused))                           \
  name##_sort (name *v, int (*compare) (const void *, const void *))    \
  {                                                                     \
    if (v->len > 1)                                                     \
      qsort (v->items, v->len, sizeof (type), compare);                 \
  }                                                                     \
                                                                        \
  /* Free the array (not what its elements point to). */               \
  static inline void __attribute__ ((unused))                           \
  name##_reset (name *v)                                                \
  {                                                                     \
    free (v->items);                                                    \
    v->items = NULL;                                                    \
    v->len = v->cap = 0;                                                \
  }                                                                     \
                                                                        \
  /* Hand the array to the caller, who frees it; the vector is empty.  */ \
  static inline type * __attribute__ ((unused))                         \
  name##_release (name *v)                                              \
  {                                                                     \
    type *items = v->items;                                             \
                                                                        \
    v->items = NULL;                                                    \
    v->len = v->cap = 0;                                                \
    return items;                                                       \
  }                                                                     \
  struct name /* so that the macro's use ends with a semicolon */

/* Free the vector when the scope ends. */
#define CLEANUP_VECTOR(name) __attribute__ ((cleanup (name##_reset)))

/* The commonest two: bytes, and malloc'd strings owned by the vector. */
DEFINE_VECTOR_TYPE (byte_vector, unsigned char);
DEFINE_VECTOR_TYPE (string_vector, char *);

/* Free every string, then the array. */
static inline void __attribute__ ((unused))
string_vector_free_all (string_vector *v)
{
  for (size_t i = 0; i < v->len; i++)
    free (v->items[i]);
  string_vector_reset (v);
}
#define CLEANUP_STRING_VECTOR \
  __attribute__ ((cleanup (string_vector_free_all)))

#endif /* ZEROFS_VECTOR_H */
