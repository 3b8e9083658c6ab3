#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Export listing: every device of the volume is listed, with a
# description; a device created by zerofs-dev while nbdkit runs is listed
# and served without a restart; an unknown export name is a clear error
# that names it; export= sets the default export; read-only (-r) serves
# reads and refuses writes.
set -e
source "${srcdir:-.}/functions.sh"
requires nbdinfo --version
requires nbdsh --version

start_volume
zdev create alpha 1M
zdev create beta 2M

start_server "$PLUGIN" "${zargs[@]}" export=alpha
nbdinfo --list --json "nbd+unix:///?socket=$sock" > "$tmpdir/list.json"
/usr/bin/python3 - "$tmpdir/list.json" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
names = sorted(e["export-name"] for e in j["exports"])
assert names == ["alpha", "beta"], names
sizes = {e["export-name"]: e["export-size"] for e in j["exports"]}
assert sizes == {"alpha": 1 << 20, "beta": 2 << 20}, sizes
for e in j["exports"]:
    assert e["block_size_minimum"] == 1, e
    assert e["block_size_preferred"] == 1 << 20, e
    assert e["can_multi_conn"] and e["can_fua"] and e["can_trim"], e
EOF
nbdinfo --json "nbd+unix:///beta?socket=$sock" |
    grep -q '"description": "zerofs device beta, 2097152 bytes"'

# The default export is alpha.
test "$(nbdinfo --size "nbd+unix:///?socket=$sock")" = 1048576

# Created while the server runs: listed and served.
zdev create gamma 3M
nbdinfo --list --json "nbd+unix:///?socket=$sock" | grep -q '"gamma"'
client gamma '
assert h.get_size() == 3 << 20
h.pwrite(b"x" * 4096, 0)
h.flush()
assert h.pread(4096, 0) == b"x" * 4096
'

# An unknown export: the connection fails and the log names it.
if nbdinfo "nbd+unix:///nosuch?socket=$sock" 2> "$tmpdir/err"; then
    echo "$0: connecting to an unknown export should fail"
    exit 1
fi
cat "$tmpdir/err"
# An invalid name is refused before it reaches a key or a path.
if nbdinfo "nbd+unix:///..%2Fx?socket=$sock" 2>/dev/null; then
    echo "$0: an invalid export name should be refused"
    exit 1
fi
stop_server

# The server's own log says which export was unknown.
nbdkit -v -U - "$PLUGIN" "${zargs[@]}" \
       --run 'nbdinfo "nbd+unix:///nosuch?socket=$unixsocket"' \
       > "$tmpdir/log" 2>&1 && exit 1
cat "$tmpdir/log"
server_error "no device nosuch" "$tmpdir/log"

# Read-only: reads work, writes are refused.
nbdkit -r -v -U - "$PLUGIN" "${zargs[@]}" \
       --run 'nbdsh -u "nbd+unix:///gamma?socket=$unixsocket" -c -' <<'EOF'
assert h.is_read_only()
assert h.pread(4096, 0) == b"x" * 4096
try:
    h.pwrite(b"y" * 4096, 0)
    raise SystemExit("write on a read-only export succeeded")
except nbd.Error as ex:
    assert ex.errno == "EPERM" or ex.errno == "EROFS", ex.errno
EOF
