/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs fuzz target: the journal object opener (lib/journal.c,
 * zjournal_open), fed the input as the object.
 *
 * Journal objects come from the bucket and are replayed into a device's
 * chunks after a crash: zjournal_open must refuse anything that is not a
 * genuine, well-formed object and hand no record of a bad one to its
 * caller.  The object is opened under the name (journal sequence) its
 * own header gives, so that the checks after that one are reached; the
 * seeds are genuine objects (make-corpus.c) for the mutations to start
 * from.  Records that are handed out must obey the rules of journal.h.
 * fuzz-journal-records.c reaches what lies behind the authentication.
 */
#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "byteorder.h"
#include "conf.h"
#include "journal.h"

#include "fuzz.h"

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init ();
  return 0;
}

/* Each record handed out must be one that zjournal_add accepts. */
static int
check_record (void *opaque, const struct zjournal_record *rec)
{
  struct zjournal_builder *b = opaque;

  if (zjournal_add (b, rec) == -1)
    fuzz_fail ("zjournal_open handed out a record that zjournal_add "
               "refuses (type %d offset %u length %u)",
               (int) rec->type, rec->offset, rec->length);
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct zjournal_builder b = { EMPTY_VECTOR, 0 };
  uint64_t jseq = size >= 16 ? get_be64 (data + ZSEALED_OFF_SEQ) : 0;

  if (zjournal_open (&fuzz_codec, jseq, data, size, "fuzz", check_record,
                     &b) == -1 &&
      errno != EBADMSG)
    fuzz_fail ("a bad journal object failed with errno %d, not EBADMSG",
               errno);
  zjournal_builder_reset (&b);
  return 0;
}
