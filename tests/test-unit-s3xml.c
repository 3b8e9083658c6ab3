/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: the S3 XML parser and writer (lib/store/s3-xml.c).
 *
 * Documents shaped like the ones S3, s3rver and Swift's s3api send, with
 * the keys that break naive parsers: '&', '<', spaces, UTF-8 (raw and as
 * character references), CR and LF, CDATA; list pages merged in order;
 * error and DeleteObjects result bodies; and malformed documents, which
 * must fail with EBADMSG rather than yield wrong keys.  Every document is
 * parsed from an exact-size heap copy, so that valgrind sees any read
 * past its end.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/internal.h"
#include "store/s3-xml.h"

#include "unit.h"

/* An exact-size, not NUL-terminated copy of DOC. */
static char *
copy (const char *doc, size_t *len)
{
  char *p;

  *len = strlen (doc);
  p = malloc (*len ? *len : 1);
  REQUIRE (p != NULL, "malloc: %m");
  memcpy (p, doc, *len);
  return p;
}

static int
parse_list (const char *doc, struct s3_list_page *page)
{
  size_t len;
  char *p = copy (doc, &len);
  int r = s3_xml_parse_list (p, len, page);

  free (p);
  return r;
}

static void
test_list (void)
{
  struct s3_list_page page;
  const char *doc =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n"
    "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
    "<Name>bucket</Name><Prefix>vols/</Prefix><KeyCount>6</KeyCount>"
    "<MaxKeys>1000</MaxKeys><Delimiter>/</Delimiter>"
    "<IsTruncated>true</IsTruncated>"
    "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy"
    "&amp;+=</NextContinuationToken>"
    "<Contents><Key>vols/a&amp;b</Key><LastModified>2024-01-01T00:00:00"
    ".000Z</LastModified><ETag>&quot;d41d8cd98f00b204e9800998ecf8427e"
    "&quot;</ETag><Size>12</Size><StorageClass>STANDARD</StorageClass>"
    "</Contents>\n"
    "  <Contents>\n    <Key>vols/with space </Key>\n"
    "    <Size>1048576</Size>\n  </Contents>\n"
    "<Contents><Key>vols/\xc3\xbc\xe2\x82\xac</Key><Size>0</Size>"
    "</Contents>"
    "<Contents><Key>vols/&#xFC;&#8364;&#x1D11E;&lt;&gt;&apos;</Key>"
    "<Size>18446744073709551615</Size></Contents>"
    "<CommonPrefixes><Prefix>vols/devices/</Prefix></CommonPrefixes>"
    "<CommonPrefixes><Prefix>vols/b/</Prefix></CommonPrefixes>"
    "</ListBucketResult>";

  CHECK (parse_list (doc, &page) == 0);
  CHECK (page.n == 6);
  CHECK (page.truncated);
  CHECK_STR (page.next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy&+=");
  if (page.n == 6) {
    /* Byte order: keys and prefixes merged. */
    CHECK_STR (page.entries[0].key, "vols/a&b");
    CHECK (page.entries[0].size == 12 && !page.entries[0].is_prefix);
    CHECK_STR (page.entries[1].key, "vols/b/");
    CHECK (page.entries[1].is_prefix);
    CHECK_STR (page.entries[2].key, "vols/devices/");
    CHECK (page.entries[2].is_prefix);
    CHECK_STR (page.entries[3].key, "vols/with space ");
    CHECK (page.entries[3].size == 1048576);
    CHECK_STR (page.entries[4].key, "vols/\xc3\xbc\xe2\x82\xac");
    CHECK (page.entries[4].size == 0);
    CHECK_STR (page.entries[5].key,
               "vols/\xc3\xbc\xe2\x82\xac\xf0\x9d\x84\x9e<>'");
    CHECK (page.entries[5].size == UINT64_MAX);
  }
  s3_list_page_free (&page);

  /* The last page; empty elements; comments, a PI and CDATA inside; line
   * ends normalized in text, but kept when written as references.
   */
  doc =
    "\xEF\xBB\xBF<!-- s3rver --><ListBucketResult>"
    "<IsTruncated>false</IsTruncated><ContinuationToken/>"
    "<Contents><Key><![CDATA[cdata<&>]]>x</Key><?pi?><Size>1</Size>"
    "</Contents>"
    "<Contents><Key>cr\r\nlf\rend&#13;&#10;</Key><Size>2</Size></Contents>"
    "<s3:Contents><s3:Key>ns</s3:Key><s3:Size>3</s3:Size></s3:Contents>"
    "</ListBucketResult>\n<!-- trailer -->\n";
  CHECK (parse_list (doc, &page) == 0);
  CHECK (!page.truncated);
  CHECK (page.next_token == NULL);
  CHECK (page.n == 3);
  if (page.n == 3) {
    CHECK_STR (page.entries[0].key, "cdata<&>x");
    CHECK_STR (page.entries[1].key, "cr\nlf\nend\r\n");
    CHECK_STR (page.entries[2].key, "ns");
    CHECK (page.entries[2].size == 3);
  }
  s3_list_page_free (&page);

  /* An empty listing. */
  CHECK (parse_list ("<ListBucketResult><KeyCount>0</KeyCount>"
                     "<IsTruncated>false</IsTruncated></ListBucketResult>",
                     &page) == 0);
  CHECK (page.n == 0 && !page.truncated);
  s3_list_page_free (&page);
}

static void
test_error (void)
{
  struct s3_error err;
  size_t len;
  char *doc;

  doc = copy ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
              "<Error><Code>NoSuchBucket</Code>"
              "<Message>The specified bucket does not exist</Message>"
              "<BucketName>my-bucket</BucketName>"
              "<RequestId>4442587FB7D0A2F9</RequestId></Error>", &len);
  CHECK (s3_xml_parse_error (doc, len, &err) == 0);
  CHECK_STR (err.code, "NoSuchBucket");
  CHECK_STR (err.message, "The specified bucket does not exist");
  CHECK_STR (err.bucket, "my-bucket");
  CHECK_STR (err.request_id, "4442587FB7D0A2F9");
  CHECK (err.key == NULL && err.endpoint == NULL);
  s3_error_free (&err);
  free (doc);

  doc = copy ("<Error>\n  <Code>SignatureDoesNotMatch</Code>\n"
              "  <Message>The request signature we calculated does not "
              "match the signature you provided. Check your key and "
              "signing method.</Message>\n"
              "  <AWSAccessKeyId>test:tester</AWSAccessKeyId>\n"
              "  <StringToSign>AWS4-HMAC-SHA256\n20240101T000000Z"
              "</StringToSign>\n"
              "  <Key>devices/a &amp; b/meta</Key>\n</Error>\n", &len);
  CHECK (s3_xml_parse_error (doc, len, &err) == 0);
  CHECK_STR (err.code, "SignatureDoesNotMatch");
  CHECK (err.message && strncmp (err.message, "The request signature", 21)
         == 0);
  CHECK_STR (err.key, "devices/a & b/meta");
  s3_error_free (&err);
  free (doc);

  doc = copy ("<Error><Code>PermanentRedirect</Code><Message>Use the "
              "endpoint</Message><Endpoint>b.s3.eu-west-1.amazonaws.com"
              "</Endpoint><Bucket>b</Bucket><Message>ignored</Message>"
              "</Error>", &len);
  CHECK (s3_xml_parse_error (doc, len, &err) == 0);
  CHECK_STR (err.endpoint, "b.s3.eu-west-1.amazonaws.com");
  CHECK_STR (err.message, "Use the endpoint");
  s3_error_free (&err);
  free (doc);

  /* An HTML page from a proxy is not an S3 error. */
  doc = copy ("<html><body>502 Bad Gateway</body></html>", &len);
  errno = 0;
  CHECK (s3_xml_parse_error (doc, len, &err) == -1 && errno == EBADMSG);
  free (doc);
}

static void
test_delete (void)
{
  struct s3_delete_result res;
  size_t len, i;
  char *doc;
  const char *keys[] = {
    "plain", "a&b<c>d\"e'f", "tab\tcr\rlf\n", "sp ace", "\xe2\x82\xac",
  };
  struct xml_node *root, *obj;

  doc = copy ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
              "<DeleteResult xmlns=\"http://s3.amazonaws.com/doc/"
              "2006-03-01/\"><Deleted><Key>a</Key></Deleted>"
              "<Error><Key>p/b&amp;c</Key><Code>AccessDenied</Code>"
              "<Message>Access Denied</Message></Error>"
              "<Deleted><Key>d</Key></Deleted>"
              "<Error><Key>p/e</Key><Code>InternalError</Code>"
              "<Message>We encountered an internal error. Please try "
              "again.</Message></Error></DeleteResult>", &len);
  CHECK (s3_xml_parse_delete (doc, len, &res) == 0);
  CHECK (res.deleted == 2);
  CHECK (res.nfailures == 2);
  if (res.nfailures == 2) {
    CHECK_STR (res.failures[0].key, "p/b&c");
    CHECK_STR (res.failures[0].code, "AccessDenied");
    CHECK_STR (res.failures[0].message, "Access Denied");
    CHECK_STR (res.failures[1].key, "p/e");
    CHECK_STR (res.failures[1].code, "InternalError");
  }
  s3_delete_result_free (&res);
  free (doc);

  /* Quiet mode, all deleted. */
  doc = copy ("<DeleteResult/>", &len);
  CHECK (s3_xml_parse_delete (doc, len, &res) == 0);
  CHECK (res.deleted == 0 && res.nfailures == 0);
  s3_delete_result_free (&res);
  free (doc);

  /* The request we send round-trips through the parser. */
  doc = s3_xml_delete_request ("pre/", keys, 5, &len);
  CHECK (doc != NULL);
  if (doc == NULL)
    return;
  CHECK (strstr (doc, "<Quiet>true</Quiet>") != NULL);
  CHECK (strstr (doc, "<Key>pre/a&amp;b&lt;c&gt;d&quot;e&apos;f</Key>"));
  CHECK (strstr (doc, "<Key>pre/tab&#x9;cr&#xD;lf&#xA;</Key>"));
  CHECK (strstr (doc, "<Key>pre/sp&#x20;ace</Key>"));
  root = xml_parse (doc, len);
  CHECK (root != NULL);
  if (root) {
    CHECK_STR (root->name, "Delete");
    for (i = 0, obj = root->children; obj; obj = obj->next) {
      char want[64];

      if (strcmp (obj->name, "Object") != 0)
        continue;
      CHECK (i < 5);
      if (i < 5) {
        snprintf (want, sizeof want, "pre/%s", keys[i]);
        CHECK_STR (xml_child_text (obj, "Key"), want);
      }
      i++;
    }
    CHECK (i == 5);
    xml_free (root);
  }
  free (doc);
}

static void
test_malformed (void)
{
  static const char *bad[] = {
    "",
    "   ",
    "text",
    "<ListBucketResult>",
    "<ListBucketResult></ListBucket>",
    "<ListBucketResult><Contents><Key>a</Contents></Key></ListBucketResult>",
    "<ListBucketResult><Contents><Key>a&b</Key><Size>1</Size></Contents>"
    "</ListBucketResult>",
    "<ListBucketResult><Contents><Key>a&nbsp;</Key><Size>1</Size>"
    "</Contents></ListBucketResult>",
    "<ListBucketResult><Contents><Key>&#0;</Key><Size>1</Size>"
    "</Contents></ListBucketResult>",
    "<ListBucketResult><Contents><Key>&#xD800;</Key><Size>1</Size>"
    "</Contents></ListBucketResult>",
    "<ListBucketResult><Contents><Key>&#x110000;</Key><Size>1</Size>"
    "</Contents></ListBucketResult>",
    "<ListBucketResult><Contents><Key>&#;</Key><Size>1</Size>"
    "</Contents></ListBucketResult>",
    "<ListBucketResult><Contents><Key>&#12a;</Key><Size>1</Size>"
    "</Contents></ListBucketResult>",
    "<ListBucketResult><Contents><Key>a</Key><Size>1</Size></Contents>"
    "</ListBucketResult><ListBucketResult/>",
    "<ListBucketResult/>trailing",
    "<!DOCTYPE x [<!ENTITY e \"k\">]><ListBucketResult/>",
    "<ListBucketResult a=\"1\"b=\"2\"/>",
    "<ListBucketResult a=1/>",
    "<ListBucketResult a=\"<\"/>",
    "</ListBucketResult>",
    "<![CDATA[x]]><ListBucketResult/>",
    "<ListBucketResult><Contents><Key><![CDATA[x</Key></Contents>"
    "</ListBucketResult>",
    "<ListBucketResult><!-- unterminated </ListBucketResult>",
    /* Not a list, or a list that cannot be used. */
    "<Error><Code>NoSuchBucket</Code></Error>",
    "<ListBucketResult><Contents><Size>1</Size></Contents>"
    "</ListBucketResult>",
    "<ListBucketResult><Contents><Key>k</Key></Contents>"
    "</ListBucketResult>",
    "<ListBucketResult><Contents><Key>k</Key><Size>12a</Size></Contents>"
    "</ListBucketResult>",
    "<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents>"
    "</ListBucketResult>",
    "<ListBucketResult><Contents><Key>k</Key><Size>18446744073709551616"
    "</Size></Contents></ListBucketResult>",
    "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
    "<ListBucketResult><CommonPrefixes></CommonPrefixes>"
    "</ListBucketResult>",
  };
  struct s3_list_page page;
  size_t i, len;
  char *doc;

  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    errno = 0;
    if (parse_list (bad[i], &page) != -1 || errno != EBADMSG) {
      FAIL ("malformed document %zu accepted (errno %d): %s",
            i, errno, bad[i]);
      if (errno == 0)
        s3_list_page_free (&page);
    }
    else
      CHECK (objstore_last_error ()[0] != '\0',
             "malformed document %zu: no message", i);
  }

  /* A NUL byte inside. */
  doc = copy ("<ListBucketResult>x</ListBucketResult>", &len);
  doc[19] = '\0';
  errno = 0;
  CHECK (s3_xml_parse_list (doc, len, &page) == -1 && errno == EBADMSG);
  free (doc);

  /* Nesting beyond any S3 document: refused, no deep recursion. */
  {
    size_t depth = 100000, n = 0;
    char *bomb = malloc (depth * 7);

    CHECK (bomb != NULL);
    if (bomb) {
      for (i = 0; i < depth; i++) {
        memcpy (bomb + n, "<a>", 3);
        n += 3;
      }
      for (i = 0; i < depth; i++) {
        memcpy (bomb + n, "</a>", 4);
        n += 4;
      }
      errno = 0;
      CHECK (xml_parse (bomb, n) == NULL && errno == EBADMSG);
      CHECK (strstr (objstore_last_error (), "nested") != NULL);
      free (bomb);
    }
  }
}

int
main (void)
{
  test_list ();
  test_error ();
  test_delete ();
  test_malformed ();
  return unit_exit_status ("test-unit-s3xml");
}
