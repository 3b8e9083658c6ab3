/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: cleanup by scope.
 *
 * A variable declared with one of these attributes is released when it
 * goes out of scope, however the scope is left, so a function with many
 * ways out needs no "goto out" ladder and cannot leak on one of them:
 *
 *   CLEANUP_FREE char *path = format_string ("%s/%s", dir, name);
 *   CLEANUP_CLOSE int fd = open (path, O_RDONLY);
 *   LOCK_FOR_SCOPE (&c->lock);
 *
 * Every cleanup preserves errno, so "return -1" with errno set by the
 * failing call still reaches the caller unchanged after the frees.
 *
 * To hand ownership out of the scope, set the variable to NULL (or the
 * fd to -1) after copying it: the cleanup then does nothing.  Functions
 * that take and drop a lock in phases (cache.c's commit) keep explicit
 * lock and unlock calls; LOCK_FOR_SCOPE is for a lock held to the end.
 *
 * A type with its own destroy function gets its cleanup from
 * DEFINE_CLEANUP_POINTER or DEFINE_CLEANUP_STRUCT (below), not from a
 * hand-written wrapper.
 *
 * GCC and Clang both implement __attribute__ ((cleanup)); nothing else
 * here needs more than C99.
 */
#ifndef ZEROFS_CLEANUP_H
#define ZEROFS_CLEANUP_H

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Most cleanups hand the variable to one destroy function and keep
 * errno; these write that function, cleanup_NAME, for you:
 *
 *   DEFINE_CLEANUP_POINTER (objstore_close, struct objstore *,
 *                           objstore_close);
 *   #define CLEANUP_OBJSTORE CLEANUP (objstore_close)
 *   ...
 *   CLEANUP_OBJSTORE struct objstore *s = NULL;
 *
 * DEFINE_CLEANUP_POINTER is for a variable of pointer type TYPE: the
 * cleanup calls DESTROY (var) unless var is NULL (never set, or handed
 * on).  DEFINE_CLEANUP_STRUCT is for a variable of type TYPE (usually a
 * struct) that DESTROY takes by address: the cleanup calls
 * DESTROY (&var) always.  A cleanup that needs more than that one call
 * is written out by hand, and keeps errno the same way.
 */
#define DEFINE_CLEANUP_POINTER(name, type, destroy)                     \
  static inline void __attribute__ ((unused))                           \
  cleanup_##name (type *p)                                              \
  {                                                                     \
    int saved_errno = errno;                                            \
                                                                        \
    if (*p != NULL)                                                     \
      destroy (*p);                                                     \
    errno = saved_errno;                                                \
  }                                                                     \
  struct cleanup_##name /* so that the macro's use ends with a semicolon */

#define DEFINE_CLEANUP_STRUCT(name, type, destroy)                      \
  static inline void __attribute__ ((unused))                           \
  cleanup_##name (type *p)                                              \
  {                                                                     \
    int saved_errno = errno;                                            \
                                                                        \
    destroy (p);                                                        \
    errno = saved_errno;                                                \
  }                                                                     \
  struct cleanup_##name /* so that the macro's use ends with a semicolon */

/* The attribute that runs cleanup_NAME on a variable at scope end. */
#define CLEANUP(name) __attribute__ ((cleanup (cleanup_##name)))

/* free (*ptr). */
static inline void
cleanup_free (void *ptr)
{
  int saved_errno = errno;

  free (*(void **) ptr);
  errno = saved_errno;
}
#define CLEANUP_FREE __attribute__ ((cleanup (cleanup_free)))

/* A NUL-terminated secret (a password, a secret key, a session token):
 * overwrite it, then free it.
 */
static inline void
cleanup_wipe_string (char **ptr)
{
  int saved_errno = errno;

  if (*ptr) {
    explicit_bzero (*ptr, strlen (*ptr));
    free (*ptr);
  }
  errno = saved_errno;
}
#define CLEANUP_WIPE_STRING __attribute__ ((cleanup (cleanup_wipe_string)))

/* A fixed-size secret on the stack (a key, a DEK): declare it with
 * SECRET_BUFFER (name, size) and it is overwritten when the scope ends.
 */
struct secret_buffer_ref {
  void *data;
  size_t len;
};
static inline void
cleanup_wipe_buffer (struct secret_buffer_ref *ref)
{
  explicit_bzero (ref->data, ref->len);
}
#define SECRET_BUFFER_CONCAT_(a, b) a##b
#define SECRET_BUFFER_CONCAT(a, b) SECRET_BUFFER_CONCAT_(a, b)
#define SECRET_BUFFER(name, size)                                       \
  uint8_t name[size];                                                   \
  __attribute__ ((cleanup (cleanup_wipe_buffer)))                       \
  struct secret_buffer_ref SECRET_BUFFER_CONCAT (name, _wipe) =         \
    { name, sizeof name }

/* close (*fd) if it is open (>= 0). */
static inline void
cleanup_close (int *fd)
{
  int saved_errno = errno;

  if (*fd >= 0)
    close (*fd);
  errno = saved_errno;
}
#define CLEANUP_CLOSE __attribute__ ((cleanup (cleanup_close)))

/* fclose (*fp) if it is open.  For streams whose write errors matter,
 * fclose explicitly and check it; this is for the error paths.
 */
DEFINE_CLEANUP_POINTER (fclose, FILE *, fclose);
#define CLEANUP_FCLOSE CLEANUP (fclose)

/* closedir (*dir) if it is open. */
DEFINE_CLEANUP_POINTER (closedir, DIR *, closedir);
#define CLEANUP_CLOSEDIR CLEANUP (closedir)

/* Locks held until the end of the enclosing scope.  The lock is taken
 * where the macro stands; a failure to take it is a bug (EDEADLK,
 * EINVAL) and aborts.
 */
DEFINE_CLEANUP_POINTER (mutex_unlock, pthread_mutex_t *,
                        pthread_mutex_unlock);
DEFINE_CLEANUP_POINTER (rwlock_unlock, pthread_rwlock_t *,
                        pthread_rwlock_unlock);

static inline pthread_mutex_t *
scope_mutex_lock (pthread_mutex_t *m)
{
  if (pthread_mutex_lock (m) != 0)
    abort ();
  return m;
}
static inline pthread_rwlock_t *
scope_rwlock_rdlock (pthread_rwlock_t *l)
{
  if (pthread_rwlock_rdlock (l) != 0)
    abort ();
  return l;
}
static inline pthread_rwlock_t *
scope_rwlock_wrlock (pthread_rwlock_t *l)
{
  if (pthread_rwlock_wrlock (l) != 0)
    abort ();
  return l;
}

#define SCOPE_LOCK_NAME_(line) scope_lock_##line
#define SCOPE_LOCK_NAME(line) SCOPE_LOCK_NAME_(line)

#define LOCK_FOR_SCOPE(mutex)                                           \
  __attribute__ ((cleanup (cleanup_mutex_unlock), unused))              \
  pthread_mutex_t *SCOPE_LOCK_NAME (__LINE__) = scope_mutex_lock (mutex)
#define RDLOCK_FOR_SCOPE(rwlock)                                        \
  __attribute__ ((cleanup (cleanup_rwlock_unlock), unused))             \
  pthread_rwlock_t *SCOPE_LOCK_NAME (__LINE__) = scope_rwlock_rdlock (rwlock)
#define WRLOCK_FOR_SCOPE(rwlock)                                        \
  __attribute__ ((cleanup (cleanup_rwlock_unlock), unused))             \
  pthread_rwlock_t *SCOPE_LOCK_NAME (__LINE__) = scope_rwlock_wrlock (rwlock)

#endif /* ZEROFS_CLEANUP_H */
