/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: the JSON that credential services answer with (see s3-json.h).
 *
 * A recursive-descent parser over the bytes, no tree: the top-level
 * object's members are appended to a vector as they are read, and a
 * nested value is walked (depth-limited, so that "[[[[..." cannot
 * exhaust the stack) to check it and find where it ends, and kept as
 * text, for a second parse by a caller that wants it.  A string being
 * decoded grows in a char vector that is wiped if it is dropped: it may
 * be a secret key.
 */
#include <config.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "internal.h"
#include "s3-json.h"

#define MAX_DEPTH 32

DEFINE_VECTOR_TYPE (json_text, char);

struct parser {
  const char *doc, *p, *end;
};

static int
malformed (const struct parser *ps, const char *what)
{
  return objstore_fail (EBADMSG, "malformed JSON at byte %zu: %s",
                        (size_t) (ps->p - ps->doc), what);
}

static void
skip_space (struct parser *ps)
{
  while (ps->p < ps->end &&
         (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' ||
          *ps->p == '\r'))
    ps->p++;
}

static void
wipe_text (json_text *t)
{
  if (t->items) {
    explicit_bzero (t->items, t->cap);
    free (t->items);
  }
  t->items = NULL;
  t->len = t->cap = 0;
}
#define CLEANUP_JSON_TEXT __attribute__ ((cleanup (wipe_text)))

static int
put_bytes (json_text *t, const char *s, size_t n)
{
  /* Grow by hand so that a move wipes the old copy. */
  if (t->cap - t->len < n + 1) {
    json_text bigger = EMPTY_VECTOR;

    if (json_text_reserve (&bigger, (t->len + n + 1) * 2) == -1)
      return objstore_fail (ENOMEM, "parsing JSON: out of memory");
    json_text_append_array (&bigger, t->items, t->len);
    wipe_text (t);
    *t = bigger;
  }
  json_text_append_array (t, s, n);
  t->items[t->len] = '\0';
  return 0;
}

static int
hex4 (struct parser *ps, unsigned *out)
{
  unsigned v = 0;
  int i;

  if (ps->end - ps->p < 4)
    return malformed (ps, "truncated \\u escape");
  for (i = 0; i < 4; i++) {
    char c = ps->p[i];

    v <<= 4;
    if (c >= '0' && c <= '9') v |= c - '0';
    else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
    else return malformed (ps, "bad \\u escape");
  }
  ps->p += 4;
  *out = v;
  return 0;
}

/* A string, from its opening quote.  Into *OUT if OUT is not NULL. */
static int
parse_string (struct parser *ps, json_text *out)
{
  CLEANUP_JSON_TEXT json_text scratch = EMPTY_VECTOR;

  if (out == NULL)
    out = &scratch;
  ps->p++;                        /* the quote */
  if (put_bytes (out, "", 0) == -1)
    return -1;
  for (;;) {
    const char *start = ps->p;
    unsigned char c;

    while (ps->p < ps->end && *ps->p != '"' && *ps->p != '\\' &&
           (unsigned char) *ps->p >= 0x20)
      ps->p++;
    if (put_bytes (out, start, ps->p - start) == -1)
      return -1;
    if (ps->p == ps->end)
      return malformed (ps, "unterminated string");
    c = *ps->p;
    if (c == '"') {
      ps->p++;
      return 0;
    }
    if (c < 0x20)
      return malformed (ps, "control character in a string");
    /* A backslash. */
    ps->p++;
    if (ps->p == ps->end)
      return malformed (ps, "unterminated string");
    c = *ps->p++;
    switch (c) {
    case '"': case '\\': case '/':
      if (put_bytes (out, (const char *) &c, 1) == -1) return -1;
      break;
    case 'b': if (put_bytes (out, "\b", 1) == -1) return -1; break;
    case 'f': if (put_bytes (out, "\f", 1) == -1) return -1; break;
    case 'n': if (put_bytes (out, "\n", 1) == -1) return -1; break;
    case 'r': if (put_bytes (out, "\r", 1) == -1) return -1; break;
    case 't': if (put_bytes (out, "\t", 1) == -1) return -1; break;
    case 'u': {
      unsigned cp, lo;
      char utf8[4];
      size_t n;

      if (hex4 (ps, &cp) == -1)
        return -1;
      if (cp >= 0xDC00 && cp <= 0xDFFF)
        return malformed (ps, "lone low surrogate");
      if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u')
          return malformed (ps, "lone high surrogate");
        ps->p += 2;
        if (hex4 (ps, &lo) == -1)
          return -1;
        if (lo < 0xDC00 || lo > 0xDFFF)
          return malformed (ps, "lone high surrogate");
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      }
      if (cp == 0)
        return malformed (ps, "\\u0000 in a string");
      if (cp < 0x80) {
        utf8[0] = cp; n = 1;
      }
      else if (cp < 0x800) {
        utf8[0] = 0xC0 | (cp >> 6);
        utf8[1] = 0x80 | (cp & 0x3F); n = 2;
      }
      else if (cp < 0x10000) {
        utf8[0] = 0xE0 | (cp >> 12);
        utf8[1] = 0x80 | ((cp >> 6) & 0x3F);
        utf8[2] = 0x80 | (cp & 0x3F); n = 3;
      }
      else {
        utf8[0] = 0xF0 | (cp >> 18);
        utf8[1] = 0x80 | ((cp >> 12) & 0x3F);
        utf8[2] = 0x80 | ((cp >> 6) & 0x3F);
        utf8[3] = 0x80 | (cp & 0x3F); n = 4;
      }
      if (put_bytes (out, utf8, n) == -1)
        return -1;
      break;
    }
    default:
      ps->p--;
      return malformed (ps, "bad escape in a string");
    }
  }
}

static bool
is_digit (const struct parser *ps)
{
  return ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9';
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int
parse_number (struct parser *ps, json_text *out)
{
  const char *start = ps->p;

  if (ps->p < ps->end && *ps->p == '-')
    ps->p++;
  if (!is_digit (ps))
    return malformed (ps, "bad number");
  if (*ps->p == '0')
    ps->p++;
  else
    while (is_digit (ps))
      ps->p++;
  if (ps->p < ps->end && *ps->p == '.') {
    ps->p++;
    if (!is_digit (ps))
      return malformed (ps, "bad number");
    while (is_digit (ps))
      ps->p++;
  }
  if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
    ps->p++;
    if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
      ps->p++;
    if (!is_digit (ps))
      return malformed (ps, "bad number");
    while (is_digit (ps))
      ps->p++;
  }
  return out ? put_bytes (out, start, ps->p - start) : 0;
}

static int parse_value (struct parser *ps, int depth, json_text *out,
                        enum json_type *type);

/* An object or array (from its bracket), skipped. */
static int
skip_nested (struct parser *ps, int depth)
{
  char close = *ps->p == '{' ? '}' : ']';
  bool first = true;
  enum json_type type;

  if (depth >= MAX_DEPTH)
    return malformed (ps, "nested too deeply");
  ps->p++;
  for (;;) {
    skip_space (ps);
    if (ps->p == ps->end)
      return malformed (ps, "unterminated object or array");
    if (first && *ps->p == close) {
      ps->p++;
      return 0;
    }
    if (!first) {
      if (*ps->p == close) {
        ps->p++;
        return 0;
      }
      if (*ps->p != ',')
        return malformed (ps, "expected ',' or the end");
      ps->p++;
      skip_space (ps);
    }
    first = false;
    if (close == '}') {
      if (ps->p == ps->end || *ps->p != '"')
        return malformed (ps, "expected a member name");
      if (parse_string (ps, NULL) == -1)
        return -1;
      skip_space (ps);
      if (ps->p == ps->end || *ps->p != ':')
        return malformed (ps, "expected ':'");
      ps->p++;
    }
    if (parse_value (ps, depth + 1, NULL, &type) == -1)
      return -1;
  }
}

static bool
literal (struct parser *ps, const char *word)
{
  size_t n = strlen (word);

  if ((size_t) (ps->end - ps->p) < n || memcmp (ps->p, word, n) != 0)
    return false;
  ps->p += n;
  return true;
}

/* A value; its text into *OUT (if not NULL): a nested one as it is in
 * the document.
 */
static int
parse_value (struct parser *ps, int depth, json_text *out,
             enum json_type *type)
{
  skip_space (ps);
  if (ps->p == ps->end)
    return malformed (ps, "expected a value");
  switch (*ps->p) {
  case '"':
    *type = JSON_STRING;
    return parse_string (ps, out);
  case '{': case '[': {
    const char *start = ps->p;

    *type = JSON_NESTED;
    if (skip_nested (ps, depth) == -1)
      return -1;
    return out ? put_bytes (out, start, ps->p - start) : 0;
  }
  case 't':
    *type = JSON_TRUE;
    if (!literal (ps, "true"))
      return malformed (ps, "bad literal");
    return out ? put_bytes (out, "true", 4) : 0;
  case 'f':
    *type = JSON_FALSE;
    if (!literal (ps, "false"))
      return malformed (ps, "bad literal");
    return out ? put_bytes (out, "false", 5) : 0;
  case 'n':
    *type = JSON_NULL;
    if (!literal (ps, "null"))
      return malformed (ps, "bad literal");
    return out ? put_bytes (out, "null", 4) : 0;
  default:
    *type = JSON_NUMBER;
    return parse_number (ps, out);
  }
}

static void
member_free (struct json_member *m)
{
  free (m->name);
  cleanup_wipe_string (&m->value);
}

void
s3_json_free (json_object *obj)
{
  int saved_errno = errno;
  size_t i;

  for (i = 0; i < obj->len; i++)
    member_free (&obj->items[i]);
  free (obj->items);
  obj->items = NULL;
  obj->len = obj->cap = 0;
  errno = saved_errno;
}

/* Read one "name": value member and append it. */
static int
parse_member (struct parser *ps, json_object *obj)
{
  CLEANUP_JSON_TEXT json_text name = EMPTY_VECTOR;
  CLEANUP_JSON_TEXT json_text value = EMPTY_VECTOR;
  struct json_member m = { 0 };
  size_t i;

  if (ps->p == ps->end || *ps->p != '"')
    return malformed (ps, "expected a member name");
  if (parse_string (ps, &name) == -1)
    return -1;
  for (i = 0; i < obj->len; i++)
    if (strcmp (obj->items[i].name, name.items) == 0)
      return malformed (ps, "duplicate member name");
  skip_space (ps);
  if (ps->p == ps->end || *ps->p != ':')
    return malformed (ps, "expected ':'");
  ps->p++;
  if (parse_value (ps, 0, &value, &m.type) == -1)
    return -1;
  m.name = strdup (name.items);
  /* An exact-size copy, so that no spare capacity leaves with it. */
  m.value = strdup (value.items);
  if (m.value == NULL) {
    free (m.name);
    return objstore_fail (ENOMEM, "parsing JSON: out of memory");
  }
  if (m.name == NULL || json_object_append (obj, m) == -1) {
    member_free (&m);
    return objstore_fail (ENOMEM, "parsing JSON: out of memory");
  }
  return 0;
}

int
s3_json_parse_object (const char *doc, size_t len, json_object *obj)
{
  struct parser ps = { doc, doc, doc + len };
  CLEANUP_JSON_OBJECT json_object o = EMPTY_VECTOR;
  bool first = true;

  skip_space (&ps);
  if (ps.p == ps.end || *ps.p != '{')
    return malformed (&ps, "expected an object");
  ps.p++;
  for (;;) {
    skip_space (&ps);
    if (ps.p == ps.end)
      return malformed (&ps, "unterminated object");
    if (*ps.p == '}') {
      ps.p++;
      break;
    }
    if (!first) {
      if (*ps.p != ',')
        return malformed (&ps, "expected ',' or '}'");
      ps.p++;
      skip_space (&ps);
      if (ps.p < ps.end && *ps.p == '}')
        return malformed (&ps, "trailing comma");
    }
    first = false;
    if (parse_member (&ps, &o) == -1)
      return -1;
  }
  skip_space (&ps);
  if (ps.p != ps.end)
    return malformed (&ps, "bytes after the object");
  *obj = o;
  o.items = NULL;
  o.len = o.cap = 0;
  return 0;
}

const char *
s3_json_get (const json_object *obj, const char *name, enum json_type type)
{
  size_t i;

  for (i = 0; i < obj->len; i++)
    if (strcmp (obj->items[i].name, name) == 0)
      return obj->items[i].type == type ? obj->items[i].value : NULL;
  return NULL;
}
