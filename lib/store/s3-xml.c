/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: the XML that S3 speaks (see s3-xml.h).
 *
 * A non-validating parser of the subset of XML 1.0 that S3 and its
 * look-alikes send: one root element, nested elements with attributes,
 * character data with the five predefined entities and numeric
 * character references, CDATA sections, comments, processing
 * instructions and a DOCTYPE without an internal subset (which could
 * declare entities we do not know: refused).  Non-ASCII bytes are passed
 * through as they are (UTF-8).  Nesting is limited to MAX_DEPTH, far more
 * than any S3 document needs, so that a hostile document cannot make the
 * parser or xml_free recurse without bound.
 *
 * Parsing builds a small tree; the three readers below walk it.  The
 * documents are at most a page of 1000 keys, so the tree is cheap.
 * Growing things (an element's text, a page's entries, the failures of
 * a DeleteObjects) are vectors; a tree or list being built is freed by
 * a cleanup attribute on every way out, and handed to the caller only
 * once complete.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "internal.h"
#include "s3-xml.h"

#define MAX_DEPTH 64

struct parser {
  const char *doc, *p, *end;
};

static int
malformed (const struct parser *ps, const char *what)
{
  return objstore_fail (EBADMSG, "malformed XML at byte %zu: %s",
                        (size_t) (ps->p - ps->doc), what);
}

static int
out_of_memory (void)
{
  return objstore_fail (ENOMEM, "parsing XML: out of memory");
}

static bool
is_space (char c)
{
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool
starts_with (const struct parser *ps, const char *s)
{
  size_t n = strlen (s);

  return (size_t) (ps->end - ps->p) >= n && memcmp (ps->p, s, n) == 0;
}

static void
skip_space (struct parser *ps)
{
  while (ps->p < ps->end && is_space (*ps->p))
    ps->p++;
}

/* Move past the next occurrence of TERM; -1 if there is none. */
static int
skip_past (struct parser *ps, const char *term, const char *what)
{
  size_t n = strlen (term);
  const char *q;

  for (q = ps->p; (size_t) (ps->end - q) >= n; q++)
    if (*q == term[0] && memcmp (q, term, n) == 0) {
      ps->p = q + n;
      return 0;
    }
  return malformed (ps, what);
}

static int
append (struct xml_node *node, const char *s, size_t n)
{
  xml_text *text = &node->text;

  /* Room for the NUL too, so that the append cannot fail. */
  if (xml_text_reserve (text, n + 1) == -1)
    return out_of_memory ();
  xml_text_append_array (text, s, n);
  text->items[text->len] = '\0';
  return 0;
}

/* Append S[0..N) with XML's line-end normalization: CR LF and a lone CR
 * become LF.
 */
static int
append_normalized (struct xml_node *node, const char *s, size_t n)
{
  const char *cr;

  while ((cr = memchr (s, '\r', n)) != NULL) {
    size_t before = cr - s;

    if (append (node, s, before) == -1 || append (node, "\n", 1) == -1)
      return -1;
    before++;
    if (before < n && s[before] == '\n')
      before++;
    s += before;
    n -= before;
  }
  return append (node, s, n);
}

static bool
is_xml_char (unsigned long c)
{
  return c == 0x9 || c == 0xA || c == 0xD ||
    (c >= 0x20 && c <= 0xD7FF) || (c >= 0xE000 && c <= 0xFFFD) ||
    (c >= 0x10000 && c <= 0x10FFFF);
}

/* An entity or character reference at ps->p ('&'): append its value. */
static int
decode_reference (struct parser *ps, struct xml_node *node)
{
  static const struct { const char *name; char c; } predefined[] = {
    { "amp", '&' }, { "lt", '<' }, { "gt", '>' },
    { "quot", '"' }, { "apos", '\'' },
  };
  const char *start = ps->p + 1;
  const char *semi = memchr (start, ';', ps->end - start);
  size_t len, i;
  char utf8[4];
  unsigned long c = 0;

  if (semi == NULL || semi - start > 10 || semi == start)
    return malformed (ps, "'&' is not the start of a reference");
  len = semi - start;

  if (start[0] == '#') {
    bool hex = len > 1 && start[1] == 'x';
    size_t digits = hex ? 2 : 1;

    if (digits == len)
      return malformed (ps, "empty character reference");
    for (i = digits; i < len; i++) {
      char d = start[i];
      unsigned v;

      if (d >= '0' && d <= '9')
        v = d - '0';
      else if (hex && d >= 'a' && d <= 'f')
        v = d - 'a' + 10;
      else if (hex && d >= 'A' && d <= 'F')
        v = d - 'A' + 10;
      else
        return malformed (ps, "bad digit in a character reference");
      c = c * (hex ? 16 : 10) + v;
    }
    if (!is_xml_char (c))
      return malformed (ps, "character reference to a character "
                        "XML does not allow");
    if (c < 0x80) {
      utf8[0] = c;
      len = 1;
    }
    else if (c < 0x800) {
      utf8[0] = 0xC0 | (c >> 6);
      utf8[1] = 0x80 | (c & 0x3F);
      len = 2;
    }
    else if (c < 0x10000) {
      utf8[0] = 0xE0 | (c >> 12);
      utf8[1] = 0x80 | ((c >> 6) & 0x3F);
      utf8[2] = 0x80 | (c & 0x3F);
      len = 3;
    }
    else {
      utf8[0] = 0xF0 | (c >> 18);
      utf8[1] = 0x80 | ((c >> 12) & 0x3F);
      utf8[2] = 0x80 | ((c >> 6) & 0x3F);
      utf8[3] = 0x80 | (c & 0x3F);
      len = 4;
    }
    ps->p = semi + 1;
    return append (node, utf8, len);
  }

  for (i = 0; i < sizeof predefined / sizeof predefined[0]; i++)
    if (strlen (predefined[i].name) == len &&
        memcmp (predefined[i].name, start, len) == 0) {
      ps->p = semi + 1;
      return append (node, &predefined[i].c, 1);
    }
  return malformed (ps, "unknown entity");
}

/* A name at ps->p: returns its length (> 0), or -1. */
static int
parse_name (struct parser *ps, const char **name, size_t *len)
{
  const char *s = ps->p;

  while (ps->p < ps->end && !is_space (*ps->p) &&
         strchr ("/>=<&\"'", *ps->p) == NULL && *ps->p != '\0')
    ps->p++;
  if (ps->p == s)
    return malformed (ps, "expected a name");
  *name = s;
  *len = ps->p - s;
  return 0;
}

/* Attributes up to '>' or "/>" (not consumed).  Their values are
 * checked for form and dropped: S3's documents carry only xmlns.
 */
static int
skip_attributes (struct parser *ps)
{
  const char *name;
  size_t len;

  for (;;) {
    bool had_space = ps->p < ps->end && is_space (*ps->p);

    skip_space (ps);
    if (ps->p == ps->end)
      return malformed (ps, "unterminated start tag");
    if (*ps->p == '>' || starts_with (ps, "/>"))
      return 0;
    if (!had_space)
      return malformed (ps, "expected a space before an attribute");
    if (parse_name (ps, &name, &len) == -1)
      return -1;
    skip_space (ps);
    if (ps->p == ps->end || *ps->p != '=')
      return malformed (ps, "expected '=' after an attribute name");
    ps->p++;
    skip_space (ps);
    if (ps->p == ps->end || (*ps->p != '"' && *ps->p != '\'')) {
      return malformed (ps, "expected a quoted attribute value");
    }
    else {
      char quote[2] = { *ps->p, '\0' };
      const char *v;

      ps->p++;
      v = ps->p;
      if (skip_past (ps, quote, "unterminated attribute value") == -1)
        return -1;
      if (memchr (v, '<', ps->p - v) != NULL) {
        ps->p = v;
        return malformed (ps, "'<' in an attribute value");
      }
    }
  }
}

static struct xml_node *
new_node (const char *name, size_t len)
{
  struct xml_node *node = calloc (1, sizeof *node);

  if (node == NULL || (node->name = strndup (name, len)) == NULL) {
    free (node);
    out_of_memory ();
    return NULL;
  }
  return node;
}

void
xml_free (struct xml_node *node)
{
  struct xml_node *child, *next;

  if (node == NULL)
    return;
  for (child = node->children; child; child = next) {
    next = child->next;
    xml_free (child);
  }
  free (node->name);
  /* The text may be a secret (an STS answer's keys). */
  if (node->text.items)
    explicit_bzero (node->text.items, node->text.cap);
  xml_text_reset (&node->text);
  free (node);
}

DEFINE_CLEANUP_POINTER (xml_free, struct xml_node *, xml_free);
#define CLEANUP_XML_FREE CLEANUP (xml_free)

/* Comments, processing instructions, a DOCTYPE and blanks, which may come
 * before and after the root element.  Returns 1 if something was
 * skipped, 0 if not, -1 on error.
 */
static int
skip_misc (struct parser *ps, bool doctype_allowed)
{
  if (starts_with (ps, "<?"))
    return skip_past (ps, "?>", "unterminated processing instruction")
      ? -1 : 1;
  if (starts_with (ps, "<!--"))
    return skip_past (ps, "-->", "unterminated comment") ? -1 : 1;
  if (starts_with (ps, "<!DOCTYPE")) {
    const char *gt = memchr (ps->p, '>', ps->end - ps->p);
    const char *bracket = memchr (ps->p, '[', ps->end - ps->p);

    if (!doctype_allowed)
      return malformed (ps, "DOCTYPE after the root element");
    if (gt == NULL)
      return malformed (ps, "unterminated DOCTYPE");
    if (bracket && bracket < gt)
      return malformed (ps, "DOCTYPE with an internal subset");
    ps->p = gt + 1;
    return 1;
  }
  if (ps->p < ps->end && is_space (*ps->p)) {
    skip_space (ps);
    return 1;
  }
  return 0;
}

/* A start tag at ps->p ('<'): a new child of *CUR (or the root), which
 * becomes *CUR unless the element is empty ("/>").
 */
static int
start_tag (struct parser *ps, struct xml_node **root, struct xml_node **cur,
           unsigned *depth)
{
  struct xml_node *node;
  const char *name;
  size_t namelen;

  ps->p++;
  if (parse_name (ps, &name, &namelen) == -1 ||
      skip_attributes (ps) == -1)
    return -1;
  if (*depth == MAX_DEPTH)
    return malformed (ps, "elements nested too deep");
  node = new_node (name, namelen);
  if (node == NULL)
    return -1;
  if (*cur == NULL)
    *root = node;
  else {
    node->parent = *cur;
    if ((*cur)->last_child)
      (*cur)->last_child->next = node;
    else
      (*cur)->children = node;
    (*cur)->last_child = node;
  }
  if (*ps->p == '/')
    ps->p += 2;                 /* "/>": empty element */
  else {
    ps->p++;
    *cur = node;
    (*depth)++;
  }
  return 0;
}

/* An end tag at ps->p ("</"): it must close *CUR, whose parent becomes
 * *CUR.
 */
static int
end_tag (struct parser *ps, struct xml_node **cur, unsigned *depth)
{
  const char *name;
  size_t namelen;

  ps->p += 2;
  if (parse_name (ps, &name, &namelen) == -1)
    return -1;
  if (strlen ((*cur)->name) != namelen ||
      memcmp ((*cur)->name, name, namelen) != 0) {
    ps->p = name;
    return malformed (ps, "end tag does not match the start tag");
  }
  skip_space (ps);
  if (ps->p == ps->end || *ps->p != '>')
    return malformed (ps, "unterminated end tag");
  ps->p++;
  *cur = (*cur)->parent;
  (*depth)--;
  return 0;
}

/* The document into *ROOT, which the caller frees, complete or not. */
static int
parse_document (struct parser *ps, struct xml_node **root)
{
  struct xml_node *cur = NULL;
  unsigned depth = 0;
  const char *nul = memchr (ps->doc, '\0', ps->end - ps->doc);
  int r;

  if (nul != NULL) {
    ps->p = nul;
    return malformed (ps, "NUL byte");
  }
  /* A UTF-8 byte order mark. */
  if (starts_with (ps, "\xEF\xBB\xBF"))
    ps->p += 3;

  /* Before the root. */
  while ((r = skip_misc (ps, true)) == 1)
    ;
  if (r == -1)
    return -1;
  if (ps->p == ps->end || *ps->p != '<')
    return malformed (ps, ps->p == ps->end ? "no root element"
                      : "text before the root element");

  while (ps->p < ps->end) {
    if (cur == NULL && *root != NULL) {
      /* After the root: only comments, PIs and blanks. */
      r = skip_misc (ps, false);
      if (r == -1)
        return -1;
      if (r == 0)
        return malformed (ps, "content after the root element");
    }
    else if (cur == NULL && (ps->p + 1 == ps->end ||
                             strchr ("/!?", ps->p[1]) != NULL))
      return malformed (ps, "expected the root element");
    else if (*ps->p != '<') {
      /* Character data up to the next markup or reference. */
      const char *s = ps->p;

      while (ps->p < ps->end && *ps->p != '<' && *ps->p != '&')
        ps->p++;
      if (append_normalized (cur, s, ps->p - s) == -1)
        return -1;
      if (ps->p < ps->end && *ps->p == '&' &&
          decode_reference (ps, cur) == -1)
        return -1;
    }
    else if (starts_with (ps, "<![CDATA[")) {
      const char *s = ps->p + 9;

      ps->p = s;
      if (skip_past (ps, "]]>", "unterminated CDATA section") == -1 ||
          append_normalized (cur, s, ps->p - 3 - s) == -1)
        return -1;
    }
    else if (starts_with (ps, "<?") || starts_with (ps, "<!--")) {
      if (skip_misc (ps, false) == -1)
        return -1;
    }
    else if (starts_with (ps, "</")) {
      if (end_tag (ps, &cur, &depth) == -1)
        return -1;
    }
    else if (starts_with (ps, "<!"))
      return malformed (ps, "unexpected markup declaration");
    else if (start_tag (ps, root, &cur, &depth) == -1)
      return -1;
  }
  if (cur != NULL)
    return malformed (ps, "document ends inside an element");
  return 0;
}

struct xml_node *
xml_parse (const char *doc, size_t len)
{
  struct parser ps = { .doc = doc, .p = doc, .end = doc + len };
  CLEANUP_XML_FREE struct xml_node *root = NULL;
  struct xml_node *ret;

  if (parse_document (&ps, &root) == -1)
    return NULL;
  ret = root;
  root = NULL;
  return ret;
}

/* Does NAME, with any namespace prefix dropped, equal LOCAL? */
static bool
name_is (const char *name, const char *local)
{
  const char *colon = strchr (name, ':');

  return strcmp (colon ? colon + 1 : name, local) == 0;
}

struct xml_node *
xml_child (const struct xml_node *node, const char *name)
{
  struct xml_node *child;

  for (child = node->children; child; child = child->next)
    if (name_is (child->name, name))
      return child;
  return NULL;
}

const char *
xml_child_text (const struct xml_node *node, const char *name)
{
  struct xml_node *child = xml_child (node, name);

  if (child == NULL)
    return NULL;
  return child->text.items ? child->text.items : "";
}

/* strdup of a child's text, NULL if absent.  *OK is cleared on ENOMEM. */
static char *
dup_child_text (const struct xml_node *node, const char *name, bool *ok)
{
  const char *text = xml_child_text (node, name);
  char *copy;

  if (text == NULL)
    return NULL;
  copy = strdup (text);
  if (copy == NULL)
    *ok = false;
  return copy;
}

static struct xml_node *
parse_root (const char *doc, size_t len, const char *want)
{
  struct xml_node *root = xml_parse (doc, len);

  if (root && !name_is (root->name, want)) {
    objstore_fail (EBADMSG, "expected an XML <%s> document, got <%s>",
                   want, root->name);
    xml_free (root);
    return NULL;
  }
  return root;
}

/* The entries of a list page while it is read; then page->entries. */
DEFINE_VECTOR_TYPE (entry_list, struct s3_list_entry);

static void
entry_list_free_all (entry_list *entries)
{
  int saved_errno = errno;
  size_t i;

  for (i = 0; i < entries->len; i++)
    free (entries->items[i].key);
  entry_list_reset (entries);
  errno = saved_errno;
}
#define CLEANUP_ENTRY_LIST __attribute__ ((cleanup (entry_list_free_all)))

static int
compare_entries (const void *a, const void *b)
{
  const struct s3_list_entry *x = a, *y = b;
  int r = strcmp (x->key, y->key);

  if (r == 0)
    r = (int) x->is_prefix - (int) y->is_prefix;
  return r;
}

static int
parse_size (const char *text, uint64_t *size)
{
  uint64_t v = 0;
  const char *p;

  if (text == NULL || *text == '\0')
    return -1;
  for (p = text; *p; p++) {
    unsigned d = *p - '0';

    if (*p < '0' || *p > '9' || v > (UINT64_MAX - d) / 10)
      return -1;
    v = v * 10 + d;
  }
  *size = v;
  return 0;
}

/* A <Contents> (a key and its size) or a <CommonPrefixes> (a prefix). */
static int
add_entry (entry_list *entries, const struct xml_node *node)
{
  bool prefix = name_is (node->name, "CommonPrefixes");
  const char *text = xml_child_text (node, prefix ? "Prefix" : "Key");
  struct s3_list_entry e = { .is_prefix = prefix };

  if (text == NULL || *text == '\0')
    return objstore_fail (EBADMSG, "list result: <%s> without a %s",
                          node->name, prefix ? "Prefix" : "Key");
  if (!prefix &&
      parse_size (xml_child_text (node, "Size"), &e.size) == -1)
    return objstore_fail (EBADMSG, "list result: key \"%s\": missing or "
                          "malformed <Size>", text);
  e.key = strdup (text);
  if (e.key == NULL || entry_list_append (entries, e) == -1) {
    free (e.key);
    return out_of_memory ();
  }
  return 0;
}

int
s3_xml_parse_list (const char *doc, size_t len, struct s3_list_page *page)
{
  CLEANUP_XML_FREE struct xml_node *root = NULL;
  CLEANUP_ENTRY_LIST entry_list entries = EMPTY_VECTOR;
  CLEANUP_FREE char *next_token = NULL;
  const struct xml_node *child;
  bool truncated = false;

  memset (page, 0, sizeof *page);
  root = parse_root (doc, len, "ListBucketResult");
  if (root == NULL)
    return -1;

  for (child = root->children; child; child = child->next) {
    if (name_is (child->name, "IsTruncated"))
      truncated = child->text.items &&
        strcmp (child->text.items, "true") == 0;
    else if (name_is (child->name, "NextContinuationToken")) {
      free (next_token);
      next_token = strdup (child->text.items ? child->text.items : "");
      if (next_token == NULL)
        return out_of_memory ();
    }
    else if ((name_is (child->name, "Contents") ||
              name_is (child->name, "CommonPrefixes")) &&
             add_entry (&entries, child) == -1)
      return -1;
  }

  /* S3 sends the keys, then the prefixes, each sorted: merge them. */
  entry_list_sort (&entries, compare_entries);
  if (truncated && (next_token == NULL || *next_token == '\0'))
    return objstore_fail (EBADMSG, "list result is truncated but has no "
                          "NextContinuationToken");

  page->n = entries.len;
  page->entries = entry_list_release (&entries);
  page->truncated = truncated;
  page->next_token = next_token;
  next_token = NULL;
  return 0;
}

void
s3_list_page_free (struct s3_list_page *page)
{
  entry_list entries = {
    .items = page->entries, .len = page->n, .cap = page->n,
  };

  entry_list_free_all (&entries);
  free (page->next_token);
  memset (page, 0, sizeof *page);
}

int
s3_xml_parse_error (const char *doc, size_t len, struct s3_error *err)
{
  CLEANUP_XML_FREE struct xml_node *root = NULL;
  bool ok = true;

  memset (err, 0, sizeof *err);
  root = parse_root (doc, len, "Error");
  if (root == NULL)
    return -1;
  err->code = dup_child_text (root, "Code", &ok);
  err->message = dup_child_text (root, "Message", &ok);
  err->bucket = dup_child_text (root, "BucketName", &ok);
  err->key = dup_child_text (root, "Key", &ok);
  err->endpoint = dup_child_text (root, "Endpoint", &ok);
  err->region = dup_child_text (root, "Region", &ok);
  err->request_id = dup_child_text (root, "RequestId", &ok);
  if (!ok) {
    s3_error_free (err);
    return out_of_memory ();
  }
  return 0;
}

/* Does NAME (without a namespace prefix) end with SUFFIX? */
static bool
name_ends_with (const char *name, const char *suffix)
{
  const char *colon = strrchr (name, ':');
  size_t n, m = strlen (suffix);

  if (colon)
    name = colon + 1;
  n = strlen (name);
  return n > m && strcmp (name + n - m, suffix) == 0;
}

int
s3_xml_parse_sts (const char *doc, size_t len, struct s3_sts_result *res)
{
  CLEANUP_XML_FREE struct xml_node *root = NULL;
  const struct xml_node *node, *result = NULL, *creds;
  bool ok = true;

  memset (res, 0, sizeof *res);
  root = xml_parse (doc, len);
  if (root == NULL)
    return -1;
  if (name_is (root->name, "ErrorResponse")) {
    node = xml_child (root, "Error");
    if (node == NULL)
      return objstore_fail (EBADMSG, "an STS <ErrorResponse> without "
                            "<Error>");
    res->code = dup_child_text (node, "Code", &ok);
    res->message = dup_child_text (node, "Message", &ok);
    if (!ok) {
      s3_sts_result_free (res);
      return out_of_memory ();
    }
    if (res->code == NULL || *res->code == '\0') {
      s3_sts_result_free (res);
      return objstore_fail (EBADMSG, "an STS error without a <Code>");
    }
    return 0;
  }
  if (!name_ends_with (root->name, "Response"))
    return objstore_fail (EBADMSG, "expected an STS <...Response> "
                          "document, got <%s>", root->name);
  for (node = root->children; node; node = node->next)
    if (name_ends_with (node->name, "Result")) {
      result = node;
      break;
    }
  if (result == NULL || (creds = xml_child (result, "Credentials")) == NULL)
    return objstore_fail (EBADMSG, "an STS <%s> without "
                          "<...Result><Credentials>", root->name);
  res->access_key = dup_child_text (creds, "AccessKeyId", &ok);
  res->secret_key = dup_child_text (creds, "SecretAccessKey", &ok);
  res->session_token = dup_child_text (creds, "SessionToken", &ok);
  res->expiration = dup_child_text (creds, "Expiration", &ok);
  if (!ok) {
    s3_sts_result_free (res);
    return out_of_memory ();
  }
  if (!res->access_key || !*res->access_key ||
      !res->secret_key || !*res->secret_key ||
      !res->session_token || !*res->session_token ||
      !res->expiration || !*res->expiration) {
    s3_sts_result_free (res);
    return objstore_fail (EBADMSG, "STS <Credentials> without "
                          "AccessKeyId, SecretAccessKey, SessionToken "
                          "and Expiration");
  }
  return 0;
}

void
s3_sts_result_free (struct s3_sts_result *res)
{
  int saved_errno = errno;

  cleanup_wipe_string (&res->access_key);
  cleanup_wipe_string (&res->secret_key);
  cleanup_wipe_string (&res->session_token);
  free (res->expiration);
  free (res->code);
  free (res->message);
  memset (res, 0, sizeof *res);
  errno = saved_errno;
}

void
s3_error_free (struct s3_error *err)
{
  int saved_errno = errno;

  free (err->code);
  free (err->message);
  free (err->bucket);
  free (err->key);
  free (err->endpoint);
  free (err->region);
  free (err->request_id);
  memset (err, 0, sizeof *err);
  errno = saved_errno;
}

/* The failures of a DeleteObjects while they are read; then
 * res->failures.
 */
DEFINE_VECTOR_TYPE (failure_list, struct s3_delete_failure);

static void
failure_free (struct s3_delete_failure *f)
{
  free (f->key);
  free (f->code);
  free (f->message);
}

static void
failure_list_free_all (failure_list *failures)
{
  int saved_errno = errno;
  size_t i;

  for (i = 0; i < failures->len; i++)
    failure_free (&failures->items[i]);
  failure_list_reset (failures);
  errno = saved_errno;
}
#define CLEANUP_FAILURE_LIST __attribute__ ((cleanup (failure_list_free_all)))

/* An <Error> of a DeleteObjects result. */
static int
add_failure (failure_list *failures, const struct xml_node *node)
{
  struct s3_delete_failure f;
  bool ok = true;

  f.key = dup_child_text (node, "Key", &ok);
  f.code = dup_child_text (node, "Code", &ok);
  f.message = dup_child_text (node, "Message", &ok);
  if (!ok || failure_list_append (failures, f) == -1) {
    failure_free (&f);
    return out_of_memory ();
  }
  return 0;
}

int
s3_xml_parse_delete (const char *doc, size_t len,
                     struct s3_delete_result *res)
{
  CLEANUP_XML_FREE struct xml_node *root = NULL;
  CLEANUP_FAILURE_LIST failure_list failures = EMPTY_VECTOR;
  const struct xml_node *child;
  size_t deleted = 0;

  memset (res, 0, sizeof *res);
  root = parse_root (doc, len, "DeleteResult");
  if (root == NULL)
    return -1;

  for (child = root->children; child; child = child->next) {
    if (name_is (child->name, "Deleted"))
      deleted++;
    else if (name_is (child->name, "Error") &&
             add_failure (&failures, child) == -1)
      return -1;
  }
  res->deleted = deleted;
  res->nfailures = failures.len;
  res->failures = failure_list_release (&failures);
  return 0;
}

void
s3_delete_result_free (struct s3_delete_result *res)
{
  failure_list failures = {
    .items = res->failures, .len = res->nfailures, .cap = res->nfailures,
  };

  failure_list_free_all (&failures);
  memset (res, 0, sizeof *res);
}

/* Escape S as XML character data.  Control characters are written as
 * character references so that no line-end normalization touches them,
 * and so are spaces: some parsers (s3rver's) trim the text of an
 * element, which would delete "key " as "key", but none trims a
 * reference.
 */
static void
put_escaped (FILE *fp, const char *s)
{
  for (; *s; s++) {
    unsigned char c = *s;

    switch (c) {
    case '&': fputs ("&amp;", fp); break;
    case '<': fputs ("&lt;", fp); break;
    case '>': fputs ("&gt;", fp); break;
    case '"': fputs ("&quot;", fp); break;
    case '\'': fputs ("&apos;", fp); break;
    default:
      if (c <= 0x20 || c == 0x7F)
        fprintf (fp, "&#x%X;", c);
      else
        putc (c, fp);
    }
  }
}

char *
s3_xml_delete_request (const char *prefix, const char *const *keys,
                       size_t n, size_t *len)
{
  char *buf = NULL;
  size_t size, i;
  FILE *fp = open_memstream (&buf, &size);
  bool failed;

  if (fp == NULL) {
    out_of_memory ();
    return NULL;
  }
  fputs ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
         "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
         "<Quiet>true</Quiet>", fp);
  for (i = 0; i < n; i++) {
    fputs ("<Object><Key>", fp);
    put_escaped (fp, prefix);
    put_escaped (fp, keys[i]);
    fputs ("</Key></Object>", fp);
  }
  fputs ("</Delete>", fp);
  failed = ferror (fp);
  if (fclose (fp) == EOF)
    failed = true;
  if (failed) {
    free (buf);
    out_of_memory ();
    return NULL;
  }
  *len = size;
  return buf;
}
