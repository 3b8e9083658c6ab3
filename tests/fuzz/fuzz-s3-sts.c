/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs fuzz target: the answers of STS, AssumeRole and
 * AssumeRoleWithWebIdentity (s3_xml_parse_sts, lib/store/s3-xml.c),
 * whose credentials then sign every request.
 *
 * The input is the XML document.  Checked: a document that parses is
 * either an error with a non-empty Code and no credentials, or all four
 * credential fields, non-empty, and no Code; a failure is EBADMSG (or
 * ENOMEM) with nothing left to free.
 */
#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "store/s3-xml.h"

#include "fuzz.h"

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init ();
  return 0;
}

static bool
filled (const char *s)
{
  return s != NULL && *s != '\0';
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct s3_sts_result res;

  if (s3_xml_parse_sts ((const char *) data, size, &res) == -1) {
    if (errno != EBADMSG && errno != ENOMEM)
      fuzz_fail ("s3_xml_parse_sts failed with errno %d", errno);
    if (res.access_key || res.secret_key || res.session_token ||
        res.expiration || res.code || res.message)
      fuzz_fail ("a failed parse left fields behind");
    return 0;
  }
  if (res.code) {
    if (!filled (res.code) || res.access_key || res.secret_key ||
        res.session_token || res.expiration)
      fuzz_fail ("an STS error with credentials or an empty code");
  }
  else if (!filled (res.access_key) || !filled (res.secret_key) ||
           !filled (res.session_token) || !filled (res.expiration))
    fuzz_fail ("STS credentials with a field missing");
  s3_sts_result_free (&res);
  return 0;
}
