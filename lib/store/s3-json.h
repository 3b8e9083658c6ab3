/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: the JSON that credential services answer with.
 *
 * The EC2 instance metadata service, the container credentials endpoint
 * (ECS, EKS Pod Identity) and a credential_process all hand out one
 * flat JSON object:
 *
 *   { "AccessKeyId": "ASIA...", "SecretAccessKey": "...",
 *     "Token": "...", "Expiration": "2024-05-01T12:00:00Z" }
 *
 * (credential_process says "SessionToken" and adds "Version": 1; the SSO
 * portal nests such an object as "roleCredentials", and the SSO token
 * cache is another flat one).  This is a strict RFC 8259 parser of such
 * an object: the top level must be one object; its members' scalar
 * values (strings, numbers, true, false, null) are returned as text,
 * with string escapes decoded to UTF-8; nested objects and arrays are
 * checked for well-formedness (to a depth of 32) and returned as their
 * text in the document, which s3_json_parse_object can parse again.  Anything else is EBADMSG: trailing bytes, a
 * duplicate name, a control character or a lone surrogate in a string,
 * \u0000 (it could not be a C string), a number that is not JSON's
 * grammar.  The values hold secrets: they are wiped when freed.
 *
 * Failures are reported with objstore_fail().
 */
#ifndef ZEROFS_S3_JSON_H
#define ZEROFS_S3_JSON_H

#include <stddef.h>

#include "vector.h"

enum json_type {
  JSON_STRING, JSON_NUMBER, JSON_TRUE, JSON_FALSE, JSON_NULL,
  JSON_NESTED,                    /* an object or array: value is NULL */
};

struct json_member {
  char *name;
  char *value;                    /* NUL-terminated text, never NULL */
  enum json_type type;
};

DEFINE_VECTOR_TYPE (json_object, struct json_member);

/* Parse DOC[0..LEN) into *OBJ (which must be EMPTY_VECTOR).  Returns 0,
 * or -1 with objstore_fail (EBADMSG, or ENOMEM) and *OBJ empty.
 */
extern int s3_json_parse_object (const char *doc, size_t len,
                                 json_object *obj);

/* The member NAME's value if it is of TYPE, else NULL. */
extern const char *s3_json_get (const json_object *obj, const char *name,
                                enum json_type type);

/* Wipe the values, free everything; *OBJ becomes empty.  Keeps errno. */
extern void s3_json_free (json_object *obj);
#define CLEANUP_JSON_OBJECT __attribute__ ((cleanup (s3_json_free)))

#endif /* ZEROFS_S3_JSON_H */
