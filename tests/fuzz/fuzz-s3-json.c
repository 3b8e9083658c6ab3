/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs fuzz target: the JSON of the credential services
 * (lib/store/s3-json.c), and the Expiration times in it
 * (creds_parse_time, lib/store/s3-creds-fetch.c).
 *
 * The EC2 metadata service, the container endpoint and any
 * credential_process write this JSON; a hostile or broken one must
 * never make the parser read out of bounds, recurse without bound or
 * return a half-built object.  The input is the document itself.
 *
 * Checked: an object that parses has members with names, a value
 * exactly when the member is not nested, no name twice, and values
 * without NUL bytes inside (strlen is the whole value); a failure is
 * EBADMSG (or ENOMEM) and leaves the object empty.  Every string
 * member is also tried as a time: one that parses is within the range
 * the parser accepts (1970 on).
 */
#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "store/s3-json.h"
#include "store/s3-creds-source.h"

#include "fuzz.h"

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init ();
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  json_object obj = EMPTY_VECTOR;
  size_t i, j;

  if (s3_json_parse_object ((const char *) data, size, &obj) == -1) {
    if (errno != EBADMSG && errno != ENOMEM)
      fuzz_fail ("s3_json_parse_object failed with errno %d", errno);
    if (obj.len != 0 || obj.items != NULL)
      fuzz_fail ("a failed parse left members behind");
    return 0;
  }
  for (i = 0; i < obj.len; i++) {
    const struct json_member *m = &obj.items[i];
    time_t t;

    if (m->name == NULL)
      fuzz_fail ("a member without a name");
    if (m->value == NULL)
      fuzz_fail ("member \"%s\" has no value", m->name);
    if (m->type == JSON_NESTED && m->value[0] == '{') {
      /* Its text, parsed again, is an object, or malformed (a nested
       * value is only walked: a duplicate member in it shows here).
       */
      json_object inner = EMPTY_VECTOR;

      if (s3_json_parse_object (m->value, strlen (m->value), &inner) == -1) {
        if (errno != EBADMSG && errno != ENOMEM)
          fuzz_fail ("member \"%s\": parsing its object failed with "
                     "errno %d", m->name, errno);
        if (inner.len != 0 || inner.items != NULL)
          fuzz_fail ("a failed parse of \"%s\" left members behind",
                     m->name);
      }
      s3_json_free (&inner);
    }
    for (j = 0; j < i; j++)
      if (strcmp (obj.items[j].name, m->name) == 0)
        fuzz_fail ("member \"%s\" twice", m->name);
    if (s3_json_get (&obj, m->name, m->type) != m->value)
      fuzz_fail ("s3_json_get does not find \"%s\"", m->name);
    if (m->type == JSON_STRING && creds_parse_time (m->value, &t) == 0 &&
        t < 0)
      fuzz_fail ("time \"%s\" before 1970", m->value);
  }
  s3_json_free (&obj);
  return 0;
}
