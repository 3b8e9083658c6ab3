#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# "nbdkit zerofs --help" documents every parameter, and the man page
# documents every parameter that --help lists (and no other); zerofs-dev
# --help lists the same table, and so does zerofs --help; --dump-plugin
# names the features.
set -e
source "${srcdir:-.}/functions.sh"
top_srcdir=${top_srcdir:-$srcdir/..}

nbdkit "$PLUGIN" --help > "$tmpdir/help"
sed -n '/^plugin: zerofs/,$p' "$tmpdir/help" |
    sed -n 's/^\([a-z][a-z-]*\)=.*/\1/p' | sort -u > "$tmpdir/help-keys"
cat "$tmpdir/help-keys"
test "$(wc -l < "$tmpdir/help-keys")" -ge 20

# Keys documented in the plugin's man page (=item B<key=...>).
sed -n 's/^=item \[\{0,1\}B<\([a-z][a-z-]*\)=.*/\1/p' \
    "$top_srcdir/plugin/nbdkit-zerofs-plugin.pod" | sort -u > "$tmpdir/pod-keys"
if ! diff -u "$tmpdir/help-keys" "$tmpdir/pod-keys"; then
    echo "$0: --help and the man page disagree on the parameters"
    exit 1
fi

# zerofs-dev takes the same options (as --KEY=VALUE).
"$ZEROFS_DEV" --help > "$tmpdir/dev-help"
while read -r key; do
    [ "$key" = config ] && continue
    grep -q -- "--$key=" "$tmpdir/dev-help" ||
        { echo "$0: zerofs-dev --help lacks --$key"; exit 1; }
done < "$tmpdir/help-keys"

# So does the wrapper, zerofs; and its man page documents each of its
# own options that --help lists.
"${ZEROFS:?ZEROFS must be set (make check sets it)}" --help \
    > "$tmpdir/wrapper-help"
while read -r key; do
    [ "$key" = config ] && continue
    grep -q -- "--$key=" "$tmpdir/wrapper-help" ||
        { echo "$0: zerofs --help lacks --$key"; exit 1; }
done < "$tmpdir/help-keys"
sed -n '/^Wrapper options/,/^$/s/^  --\([a-z][a-z-]*\).*/\1/p' \
    "$tmpdir/wrapper-help" > "$tmpdir/wrapper-keys"
test "$(wc -l < "$tmpdir/wrapper-keys")" -ge 10
while read -r key; do
    grep -q -- "^=item B<--$key" "$top_srcdir/tools/zerofs.pod" ||
        { echo "$0: zerofs.pod lacks --$key"; exit 1; }
done < "$tmpdir/wrapper-keys"

nbdkit "$PLUGIN" --dump-plugin > "$tmpdir/dump"
cat "$tmpdir/dump"
grep -q '^name=zerofs$' "$tmpdir/dump"
grep -q '^thread_model=parallel$' "$tmpdir/dump"
grep -q '^zerofs_version=' "$tmpdir/dump"
grep -q '^zerofs_object_stores=file,s3$' "$tmpdir/dump"
grep -q '^zerofs_encryption=aes-256-gcm$' "$tmpdir/dump"
