#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# One configuration file for every front end (zerofs.conf(5)): with no
# config= / --config=, the plugin, zerofs-dev and the wrapper read the
# file named by $ZEROFS_CONFIG (standing in for /etc/zerofs/zerofs.conf,
# which the tests never touch):
#   - each finds the volume, password and export there
#   - command-line values override the file's
#   - an unknown key, a value of the wrong type and a syntax error fail
#     with the file and the line, in all three
#   - $ZEROFS_CONFIG naming a missing file is an error naming it; empty,
#     it means no file
#   - config= / --config= wins over $ZEROFS_CONFIG
set -e
source "${srcdir:-.}/functions.sh"
requires nbdinfo --version
requires nbdsh --version
requires test -x "${ZEROFS:-}"

start_volume
zdev create disk 8M
zdev create other 12M

conf=$tmpdir/zerofs.conf
{
    echo "# zerofs.conf for test-config.sh"
    echo "bucket = \"$bucket\";"
    echo "password-file = \"$pwfile\";"
    echo "cache-dir = \"$cachedir\";"
    echo "export = \"disk\";"
    echo "cache-size = \"64M\";"
    echo "force = true;"
    for a in "${store_args[@]}"; do
        echo "${a%%=*} = \"${a#*=}\";"
    done
} > "$conf"
cat "$conf"
export ZEROFS_CONFIG=$conf

size_of () {
    nbdkit -v -U - "$PLUGIN" "$@" --run 'nbdinfo --size "$uri"' \
        2> "$tmpdir/nbdkit.log"
}

# The plugin: nothing on the command line but the file.
test "$(size_of)" = 8388608
# A parameter overrides the file.
test "$(size_of export=other)" = 12582912

# zerofs-dev: no --bucket, no --password-file.
"$ZEROFS_DEV" list > "$tmpdir/list"
cat "$tmpdir/list"
grep -q '^disk ' "$tmpdir/list"
grep -q '^other ' "$tmpdir/list"
# ... and an option overrides the file: a volume that is not there.
if "$ZEROFS_DEV" --bucket=file://"$tmpdir/nowhere" list 2> "$tmpdir/err"
then
    echo "$0: --bucket did not override the config file"
    exit 1
fi
cat "$tmpdir/err"

# The wrapper: bucket and export from the file; the stand-in nbd-client
# checks the export it was given answers.
export STANDIN_DIR=$tmpdir/standin TMPDIR=$tmpdir/tmp
mkdir "$STANDIN_DIR" "$TMPDIR"
start_wrapper 'grep -qx attached "$STANDIN_DIR/attach"' \
    --nbd --nbd-client="$srcdir/nbd-client-standin.sh" --plugin="$PLUGIN" \
    /dev/nbd7
stop_wrapper
cat "$STANDIN_DIR/attach"
grep -qx 'name=disk' "$STANDIN_DIR/attach"
rm -f "$STANDIN_DIR/attach"
start_wrapper 'grep -qx attached "$STANDIN_DIR/attach"' \
    --nbd --nbd-client="$srcdir/nbd-client-standin.sh" --plugin="$PLUGIN" \
    --export=other /dev/nbd7
stop_wrapper
grep -qx 'name=other' "$STANDIN_DIR/attach"

# bad_conf LINE PATTERN: with this config, each front end fails, naming
# the file, LINE and PATTERN.
bad_conf () {
    local line=$1 pattern=$2 what status
    for what in plugin dev wrapper; do
        status=0
        case $what in
            plugin) nbdkit -U - "$PLUGIN" --run true \
                           > "$tmpdir/out" 2>&1 || status=$? ;;
            dev) "$ZEROFS_DEV" list > "$tmpdir/out" 2>&1 || status=$? ;;
            wrapper) "$ZEROFS" -f --nbd --plugin="$PLUGIN" \
                         --nbd-client="$srcdir/nbd-client-standin.sh" \
                         /dev/nbd7 > "$tmpdir/out" 2>&1 || status=$? ;;
        esac
        cat "$tmpdir/out"
        if [ $status -ne 1 ]; then
            echo "$0: $what: exit status $status with a bad config file"
            exit 1
        fi
        if ! grep -q -- "$ZEROFS_CONFIG:$line: .*$pattern" "$tmpdir/out"
        then
            echo "$0: $what did not say '$ZEROFS_CONFIG:$line: ...$pattern'"
            exit 1
        fi
    done
    # Nothing was attached.
    test ! -e "$STANDIN_DIR/attach"
}
rm -f "$STANDIN_DIR/attach"

bad=$tmpdir/bad.conf
export ZEROFS_CONFIG=$bad
{ sed -n '1,3p' "$conf"; echo 'cache-szie = "1G";'; } > "$bad"
bad_conf 4 'unknown setting "cache-szie"'
{ sed -n '1,4p' "$conf"; echo; echo 'cache-size = true;'; } > "$bad"
bad_conf 6 'cache-size: expected SIZE, not a boolean'
{ sed -n '1,2p' "$conf"; echo 'connections = "many";'; } > "$bad"
bad_conf 3 'connections=many: not a whole number'
{ sed -n '1,2p' "$conf"; echo 'export = ;'; } > "$bad"
bad_conf 3 'syntax error'

# A missing file named by $ZEROFS_CONFIG is an error; an empty one is no
# file at all (and then there is no bucket).
export ZEROFS_CONFIG=$tmpdir/missing.conf
if "$ZEROFS_DEV" list 2> "$tmpdir/err"; then exit 1; fi
cat "$tmpdir/err"
grep -q "config file $tmpdir/missing.conf: No such file" "$tmpdir/err"
export ZEROFS_CONFIG=
if nbdkit -U - "$PLUGIN" --run true 2> "$tmpdir/err"; then exit 1; fi
cat "$tmpdir/err"
grep -q 'no bucket given' "$tmpdir/err"

# config= and --config= win over $ZEROFS_CONFIG.
export ZEROFS_CONFIG=$bad
test "$(size_of config="$conf")" = 8388608
"$ZEROFS_DEV" --config="$conf" info other > "$tmpdir/info"
grep -q 12582912 "$tmpdir/info" || grep -q '12M\|12 MiB' "$tmpdir/info"
