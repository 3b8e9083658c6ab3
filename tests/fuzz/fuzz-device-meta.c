/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs fuzz target: the device meta decoder (lib/volume.c,
 * meta_decode, reached through zvolume_get_device).
 *
 * A device's meta object (devices/NAME/meta) comes from the bucket and
 * gives the device's size and uuid, from which every chunk's place and
 * key follow: it must open only if genuine, and then hold a size and
 * chunk size zerofs can serve.  The volume is fuzz_make_volume's (fixed
 * uuid and meta key, the one make-corpus.c writes the seeds with) over
 * an in-memory store that holds the object.  Byte 0 of the input chooses
 * the device name's length (bits 0-5, plus 1: the name is a prefix of
 * FUZZ_DEVICE_NAME) and what the rest is (bit 7):
 *
 *   bit 7 clear   the meta object itself.
 *   bit 7 set     the payload of one (uuid, size, chunk size, created,
 *                 generation, [key uuid,] name length, name: as the
 *                 input gives them), sealed by the harness with the meta
 *                 key and the AAD of volume.h, as format version 1, or
 *                 2 (with the key uuid) if bit 6 is set: the checks
 *                 behind the authentication.
 *
 * What opens must be a device zerofs can serve: the name asked for, a
 * size that is a positive multiple of 4096 up to ZDEVICE_SIZE_MAX, and
 * 1 MiB chunks.
 */
#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "volume.h"

#include "fuzz.h"


static struct fuzz_store store;
static struct zvolume vol;

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init ();
  fuzz_store_init (&store);
  fuzz_make_volume (&vol, &store.base);
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  char name[ZDEVICE_NAME_MAX + 1], key[OBJSTORE_KEY_MAX];
  struct device_meta meta;
  uint8_t *sealed = NULL;
  size_t len;

  if (size < 1)
    return 0;
  len = (data[0] & 63) + 1;         /* bit 6: the meta version */
  memcpy (name, FUZZ_DEVICE_NAME, len);
  name[len] = '\0';
  zkey_meta (key, name);
  if (data[0] & 128) {
    sealed = fuzz_seal_meta_key (&vol, "ZFSM", data[0] & 64 ? 2 : 1, "",
                                 name, data + 1, size - 1, &len);
    fuzz_store_set (&store, key, sealed, len);
  }
  else
    fuzz_store_set (&store, key, data + 1, size - 1);

  if (zvolume_get_device (&vol, name, &meta) == 0) {
    if (strcmp (meta.name, name) != 0 || meta.chunk_size != ZCHUNK_SIZE ||
        meta.size == 0 || meta.size % 4096 != 0 ||
        meta.size > ZDEVICE_SIZE_MAX ||
        ((data[0] & 192) == 128 && memcmp (meta.key_uuid, meta.uuid, 16)))
      fuzz_fail ("device meta opened to name \"%s\" size %llu chunk size "
                 "%u", meta.name, (unsigned long long) meta.size,
                 meta.chunk_size);
  }
  else if (errno != EBADMSG && errno != ENOTSUP)
    fuzz_fail ("a bad device meta object failed with errno %d", errno);
  free (sealed);
  fuzz_store_clear (&store);
  return 0;
}
