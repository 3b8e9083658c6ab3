/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs fuzz target: the lease object decoder (lib/lease.c,
 * zlease_decode).
 *
 * A device's lease object (devices/NAME/lease) comes from the bucket and
 * decides who may write the device: it must open only if genuine, and
 * then hold a host name that can be printed in a message.  The volume is
 * fuzz_make_volume's (fixed uuid and meta key).  Byte 0 of the input
 * chooses the device name's length (bits 0-5, plus 1: a prefix of
 * FUZZ_DEVICE_NAME) and what the rest is (bit 7):
 *
 *   bit 7 clear   the lease object itself.
 *   bit 7 set     its payload (generation, instance, since, renewed,
 *                 journal floor, pid, flags, host length, host: as the
 *                 input gives them), sealed by the harness with the meta
 *                 key and lease.h's AAD: the checks behind the
 *                 authentication.
 *
 * What opens must encode again to an object that opens to the same
 * lease (the codec is a round trip), and describe itself in bounds.
 */
#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "lease.h"
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
  char name[ZDEVICE_NAME_MAX + 1], text[1024];
  struct zlease_info info, again;
  uint8_t obj[ZLEASE_OBJECT_MAX];
  uint8_t *sealed = NULL;
  const uint8_t *in;
  size_t len, objlen;

  if (size < 1)
    return 0;
  len = (data[0] & 63) + 1;
  memcpy (name, FUZZ_DEVICE_NAME, len);
  name[len] = '\0';
  if (data[0] & 128) {
    sealed = fuzz_seal_meta_key (&vol, "ZFSL", 1, "lease", name, data + 1,
                                 size - 1, &len);
    in = sealed;
  }
  else {
    in = data + 1;
    len = size - 1;
  }

  if (zlease_decode (&vol, name, in, len, &info) == 0) {
    size_t hostlen = strnlen (info.host, sizeof info.host);

    if (hostlen == 0 || hostlen > ZLEASE_HOST_MAX)
      fuzz_fail ("a lease opened with a host name of %zu bytes", hostlen);
    zlease_describe (&info, text, sizeof text);
    if (strlen (text) >= sizeof text)
      fuzz_fail ("zlease_describe overran");
    if (zlease_encode (&vol, name, &info, obj, &objlen) == -1 ||
        zlease_decode (&vol, name, obj, objlen, &again) == -1 ||
        memcmp (&info, &again, sizeof info) != 0)
      fuzz_fail ("a lease that opened does not encode to itself");
  }
  else if (!zlease_unreadable (errno))
    fuzz_fail ("a bad lease object failed with errno %d", errno);
  free (sealed);
  return 0;
}
