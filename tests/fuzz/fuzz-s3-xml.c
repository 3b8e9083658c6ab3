/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs fuzz target: the S3 XML response parsers (lib/store/s3-xml.c):
 * xml_parse, and s3_xml_parse_list, s3_xml_parse_error and
 * s3_xml_parse_delete on top of it.
 *
 * Every S3 response body (a ListObjectsV2 page, an error, a DeleteObjects
 * result) goes through this parser, from a server that may be broken,
 * hostile or not S3 at all, and the keys in a list page decide what a
 * device removal deletes.  Each input is given to all four, as the
 * exact-size buffer libFuzzer passes (the parsers take a length, no NUL),
 * and what they return is checked: a list page sorted, with non-empty
 * keys and a continuation token when truncated.
 *
 * The input also drives the writer, s3_xml_delete_request: its lines
 * (up to 16) are keys, and the request must parse back to exactly those
 * keys, for every key made of characters XML can carry.
 */
#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/s3-xml.h"

#include "fuzz.h"

#define PREFIX "vol/"
#define KEYS_MAX 16

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init ();
  return 0;
}

static void
parse (const char *doc, size_t len)
{
  struct xml_node *root;
  struct s3_list_page page;
  struct s3_error err;
  struct s3_delete_result del;
  size_t i;

  root = xml_parse (doc, len);
  if (root) {
    xml_child_text (root, "Key");
    xml_free (root);
  }
  else if (errno != EBADMSG)
    fuzz_fail ("xml_parse failed with errno %d", errno);

  if (s3_xml_parse_list (doc, len, &page) == 0) {
    for (i = 0; i < page.n; i++) {
      if (page.entries[i].key == NULL || page.entries[i].key[0] == '\0')
        fuzz_fail ("list page entry %zu has an empty key", i);
      if (i > 0 && strcmp (page.entries[i - 1].key, page.entries[i].key) > 0)
        fuzz_fail ("list page entries %zu and %zu are out of order",
                   i - 1, i);
    }
    if (page.truncated && (page.next_token == NULL || !page.next_token[0]))
      fuzz_fail ("truncated list page without a continuation token");
    s3_list_page_free (&page);
  }
  if (s3_xml_parse_error (doc, len, &err) == 0)
    s3_error_free (&err);
  if (s3_xml_parse_delete (doc, len, &del) == 0) {
    for (i = 0; i < del.nfailures; i++)
      (void) del.failures[i].key;
    s3_delete_result_free (&del);
  }
}

/* Can XML 1.0 carry S (as character references)?  Not NUL, nor the
 * other C0 controls but tab, LF and CR.
 */
static bool
xml_can_carry (const char *s)
{
  for (; *s; s++)
    if ((unsigned char) *s < 0x20 && *s != '\t' && *s != '\n' && *s != '\r')
      return false;
  return true;
}

static void
delete_request (const uint8_t *data, size_t size)
{
  char *copy = malloc (size + 1), *keys[KEYS_MAX], *line, *req;
  const struct xml_node *obj;
  struct xml_node *root;
  size_t n = 0, len, i;
  const char *text;
  bool carried = true;

  if (copy == NULL)
    fuzz_fail ("out of memory");
  memcpy (copy, data, size);
  copy[size] = '\0';
  for (line = copy; n < KEYS_MAX && line; n++) {
    keys[n] = line;
    line = strchr (line, '\n');
    if (line)
      *line++ = '\0';
    carried = carried && xml_can_carry (keys[n]);
  }

  req = s3_xml_delete_request (PREFIX, (const char *const *) keys, n, &len);
  if (req == NULL)
    fuzz_fail ("s3_xml_delete_request failed");
  root = xml_parse (req, len);
  if (carried) {
    if (root == NULL)
      fuzz_fail ("a DeleteObjects request does not parse");
    for (i = 0, obj = root->children; obj; obj = obj->next) {
      if (strcmp (obj->name, "Object") != 0)
        continue;
      text = xml_child_text (obj, "Key");
      if (i == n || text == NULL || strncmp (text, PREFIX, 4) != 0 ||
          strcmp (text + 4, keys[i]) != 0)
        fuzz_fail ("key %zu of a DeleteObjects request did not parse "
                   "back", i);
      i++;
    }
    if (i != n)
      fuzz_fail ("a DeleteObjects request of %zu keys parsed to %zu", n, i);
  }
  xml_free (root);
  free (req);
  free (copy);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  parse ((const char *) data, size);
  delete_request (data, size);
  return 0;
}
