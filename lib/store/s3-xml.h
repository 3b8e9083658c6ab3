/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: the XML that S3 speaks, parsed and written.
 *
 * S3 answers ListObjectsV2 and DeleteObjects, and reports every error,
 * in small XML documents.  Object keys inside them may hold '&', '<',
 * spaces and any UTF-8, so they are parsed by a real (small) XML parser
 * rather than by searching for tags: entities (&amp; &lt; &gt; &quot;
 * &apos;, &#NN; &#xNN;), CDATA sections, comments, processing
 * instructions and attributes are handled; line ends are normalized as
 * XML requires; a document that is not well-formed is EBADMSG.
 *
 * The parser builds a tree of elements with their character data
 * (lookups ignore namespace prefixes); the s3_xml_parse_* functions read
 * what zerofs needs from it.  All failures are reported with objstore_fail().
 */
#ifndef ZEROFS_S3_XML_H
#define ZEROFS_S3_XML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vector.h"

DEFINE_VECTOR_TYPE (xml_text, char);

/* The generic tree (exposed for the unit test). */
struct xml_node {
  char *name;                     /* as written; lookups ignore a prefix */
  /* Character data directly inside, decoded: text.items is
   * NUL-terminated, or NULL if the element had none.
   */
  xml_text text;
  struct xml_node *parent, *children, *last_child, *next;
};

extern struct xml_node *xml_parse (const char *doc, size_t len);
extern void xml_free (struct xml_node *node);
/* First child named NAME, or NULL. */
extern struct xml_node *xml_child (const struct xml_node *node,
                                   const char *name);
/* Text of the first child named NAME ("" if empty), or NULL if absent. */
extern const char *xml_child_text (const struct xml_node *node,
                                   const char *name);

/* One page of ListObjectsV2. */
struct s3_list_entry {
  char *key;                      /* Key, or Prefix of a CommonPrefixes */
  uint64_t size;
  bool is_prefix;
};

struct s3_list_page {
  struct s3_list_entry *entries;  /* keys and prefixes merged, sorted */
  size_t n;
  bool truncated;                 /* IsTruncated */
  char *next_token;               /* NextContinuationToken, or NULL */
};

extern int s3_xml_parse_list (const char *doc, size_t len,
                              struct s3_list_page *page);
/* The free functions below keep errno, and leave the struct zeroed. */
extern void s3_list_page_free (struct s3_list_page *page);
#define CLEANUP_S3_LIST_PAGE __attribute__ ((cleanup (s3_list_page_free)))

/* An <Error> document.  Fields not present are NULL. */
struct s3_error {
  char *code;
  char *message;
  char *bucket;                   /* BucketName */
  char *key;
  char *endpoint;                 /* PermanentRedirect: where to go */
  char *region;                   /* AuthorizationHeaderMalformed: Region */
  char *request_id;
};

extern int s3_xml_parse_error (const char *doc, size_t len,
                               struct s3_error *err);
extern void s3_error_free (struct s3_error *err);

/* An STS answer (AssumeRole, AssumeRoleWithWebIdentity):
 * <...Response><...Result><Credentials> with all four fields, or an
 * <ErrorResponse><Error> with its Code (then the credentials are NULL).
 * -1 (EBADMSG) for anything else.  The free function wipes the secrets.
 */
struct s3_sts_result {
  char *access_key, *secret_key, *session_token, *expiration;
  char *code, *message;
};

extern int s3_xml_parse_sts (const char *doc, size_t len,
                             struct s3_sts_result *res);
extern void s3_sts_result_free (struct s3_sts_result *res);
#define CLEANUP_S3_STS_RESULT __attribute__ ((cleanup (s3_sts_result_free)))

/* A DeleteObjects result: the keys that could not be deleted. */
struct s3_delete_failure {
  char *key;
  char *code;
  char *message;
};

struct s3_delete_result {
  size_t deleted;                 /* <Deleted> entries (0 in quiet mode) */
  struct s3_delete_failure *failures;
  size_t nfailures;
};

extern int s3_xml_parse_delete (const char *doc, size_t len,
                                struct s3_delete_result *res);
extern void s3_delete_result_free (struct s3_delete_result *res);
#define CLEANUP_S3_DELETE_RESULT \
  __attribute__ ((cleanup (s3_delete_result_free)))

/* The DeleteObjects request body for PREFIX + each of KEYS, quiet mode.
 * Returns malloc'd document, its length in *LEN.
 */
extern char *s3_xml_delete_request (const char *prefix,
                                    const char *const *keys, size_t n,
                                    size_t *len);

#endif /* ZEROFS_S3_XML_H */
