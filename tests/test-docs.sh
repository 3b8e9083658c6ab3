#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The man pages against the one option table (lib/conf.c, as
# "nbdkit zerofs --help" lists it) and podchecker:
#   - every .pod of the tree passes podchecker
#   - every key of the table is documented in nbdkit-zerofs-plugin(1)
#     (=item B<KEY=...>), zerofs(1) and zerofs-dev(1) (=item B<--KEY...>)
#     and zerofs.conf(5) (=item B<KEY> = ...)
#   - no page documents a key the table lacks (or, in zerofs(1) and
#     zerofs-dev(1), an option their --help does not list)
#   - where both the table's help and nbdkit-zerofs-plugin(1) state a
#     key's default as a plain value, they state the same one
#   - the five man pages are built
set -e
source "${srcdir:-.}/functions.sh"
requires command -v podchecker
top_srcdir=${top_srcdir:-$srcdir/..}
top_builddir=${top_builddir:-$top_srcdir}

plugin_pod=$top_srcdir/plugin/nbdkit-zerofs-plugin.pod
wrapper_pod=$top_srcdir/tools/zerofs.pod
dev_pod=$top_srcdir/tools/zerofs-dev.pod
conf_pod=$top_srcdir/man/zerofs.conf.pod

# podchecker: every page in the tree.
find "$top_srcdir" -name node_modules -prune -o -name '*.pod' -print |
    sort > "$tmpdir/pods"
cat "$tmpdir/pods"
test "$(wc -l < "$tmpdir/pods")" -ge 5
while read -r pod; do
    podchecker -warnings "$pod"
done < "$tmpdir/pods"

# The table's keys, from the plugin's --help (config is the plugin's
# own parameter, not the table's).
nbdkit "$PLUGIN" --help | sed -n '/^plugin: zerofs/,$p' > "$tmpdir/help"
sed -n 's/^\([a-z][a-z0-9-]*\)=.*/\1/p' "$tmpdir/help" | grep -vx config |
    sort -u > "$tmpdir/keys"
test "$(wc -l < "$tmpdir/keys")" -ge 30

# The options each --help lists besides the table's.
"$ZEROFS" --help | sed -n '/^Wrapper options/,/^$/s/^  --\([a-z][a-z-]*\).*/\1/p' \
    > "$tmpdir/wrapper-own"
"$ZEROFS_DEV" --help | sed -n '/^Options:/,/^$/s/^  --\([a-z][a-z0-9-]*\).*/\1/p' \
    > "$tmpdir/dev-own"
test -s "$tmpdir/wrapper-own"
test -s "$tmpdir/dev-own"
# "--help, --version" is one line of zerofs-dev --help.
echo version >> "$tmpdir/dev-own"

# Documented keys: POD FORM, where FORM is plugin, flag or conf.
documented () {
    case $2 in
        plugin) sed -n 's/^=item \[\{0,1\}B<\([a-z][a-z0-9-]*\)=.*/\1/p' "$1" ;;
        flag) sed -n 's/^=item B<--\([a-z][a-z0-9-]*\)[=>].*/\1/p' "$1" ;;
        conf) sed -n 's/^=item B<\([a-z][a-z0-9-]*\)> = .*/\1/p' "$1" ;;
    esac | sort -u
}

status=0
# check POD FORM ALLOWED-EXTRA-FILE
check () {
    local pod=$1 form=$2 extra=$3 name
    name=$(basename "$pod")
    documented "$pod" "$form" > "$tmpdir/doc"
    # Every key documented ...
    comm -23 "$tmpdir/keys" "$tmpdir/doc" > "$tmpdir/missing"
    if [ -s "$tmpdir/missing" ]; then
        echo "$0: $name does not document:" $(cat "$tmpdir/missing")
        status=1
    fi
    # ... and nothing else.
    sort -u "$tmpdir/keys" "$extra" > "$tmpdir/allowed"
    comm -13 "$tmpdir/allowed" "$tmpdir/doc" > "$tmpdir/unknown"
    if [ -s "$tmpdir/unknown" ]; then
        echo "$0: $name documents options that do not exist:" \
             $(cat "$tmpdir/unknown")
        status=1
    fi
}
echo config > "$tmpdir/plugin-own"
: > "$tmpdir/none"
check "$plugin_pod" plugin "$tmpdir/plugin-own"
check "$wrapper_pod" flag "$tmpdir/wrapper-own"
check "$dev_pod" flag "$tmpdir/dev-own"
check "$conf_pod" conf "$tmpdir/none"
# And each front end's own options are in its page.
for pair in "$wrapper_pod:wrapper-own" "$dev_pod:dev-own"; do
    documented "${pair%%:*}" flag > "$tmpdir/doc"
    comm -23 <(sort -u "$tmpdir/${pair##*:}") "$tmpdir/doc" \
        > "$tmpdir/missing"
    if [ -s "$tmpdir/missing" ]; then
        echo "$0: $(basename "${pair%%:*}") lacks its own options:" \
             $(cat "$tmpdir/missing")
        status=1
    fi
done
# The defaults: "(default VALUE" in --help against "default VALUE" or
# "default C<VALUE>" in the key's =item of the plugin's page.
python3 - "$tmpdir/help" "$plugin_pod" <<'PY' || status=1
import re, sys
help_text, pod = (open(f).read() for f in sys.argv[1:3])
items = {}
for item in re.split(r"\n=item ", pod):
    m = re.match(r"\[?B<([a-z][a-z0-9-]*)=", item)
    if m:
        items[m.group(1)] = " ".join(item.split())
compared = bad = 0
for entry in re.split(r"\n(?=[a-z][a-z0-9-]*=)", help_text):
    m = re.match(r"([a-z][a-z0-9-]*)=", entry)
    d = re.search(r"\(default ([A-Za-z0-9.]+)[,;)]", " ".join(entry.split()))
    if not m or not d or m.group(1) not in items:
        continue
    p = re.search(r"[Dd]efault(?: is)?:? (?:C<([^>]+)>|([0-9][A-Za-z0-9]*|"
                  r"true|false)\b)", items[m.group(1)])
    if not p:
        continue
    compared += 1
    value = p.group(1) or p.group(2)
    if value != d.group(1):
        print("test-docs.sh: %s: the default is %s in --help, %s in "
              "nbdkit-zerofs-plugin(1)" % (m.group(1), d.group(1), value))
        bad += 1
print("test-docs.sh: %d defaults compared" % compared)
sys.exit(1 if bad or compared < 8 else 0)
PY
[ $status -eq 0 ]

# The man pages are built (when pod2man is there, which configure says).
if grep -q '^POD2MAN = /' "$top_builddir/man/Makefile"; then
    for page in nbdkit-zerofs-plugin.1 zerofs.1 zerofs-dev.1 zerofs.conf.5 \
                zerofs-format.5; do
        test -s "$top_builddir/man/$page" ||
            { echo "$0: man/$page was not built"; exit 1; }
    done
fi
