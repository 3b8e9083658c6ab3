#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# contrib/zerofs@.service:
#   - systemd-analyze verify finds nothing to say about it (when
#     systemd-analyze runs here)
#   - its ExecStart, run as systemd would for zerofs@disk (Type=forking:
#     the command returns once the device is attached and the PID file
#     is written), serves the device named by the instance from the
#     config file, with the stand-in nbd-client; its ExecStop (SIGTERM to
#     the main PID) detaches the device and stops nbdkit
# and contrib/fstab.example's lines have the fields fstab needs, _netdev
# among the options.
set -e
source "${srcdir:-.}/functions.sh"
requires test -x "${ZEROFS:-}"
requires nbdsh --version
unit=$top_srcdir/contrib/zerofs@.service
fstab=$top_srcdir/contrib/fstab.example
test -f "$unit"

# fstab: six fields, _netdev, and the unit of the device.
grep -v '^#' "$fstab" | grep -v '^$' > "$tmpdir/fstab"
test -s "$tmpdir/fstab"
while read -r dev dir type opts dump pass extra; do
    [ -n "$pass" ] && [ -z "$extra" ] ||
        { echo "$0: not six fields: $dev $dir $type $opts"; exit 1; }
    case ,$opts, in *,_netdev,*) ;; *) echo "$0: no _netdev: $opts"; exit 1 ;; esac
    case $opts in *x-systemd.requires=zerofs@*.service*) ;;
        *) echo "$0: no zerofs@ unit in: $opts"; exit 1 ;; esac
done < "$tmpdir/fstab"

# The unit with this tree's wrapper: systemd-analyze checks that the
# program exists.
mkdir -p "$tmpdir/units"
sed "s|/usr/bin/zerofs|$ZEROFS|" "$unit" > "$tmpdir/units/zerofs@disk.service"
if ! command -v systemd-analyze >/dev/null; then
    echo "$0: systemd-analyze is not installed: the unit is not verified"
elif ! systemd-analyze --version >/dev/null 2>&1; then
    echo "$0: systemd-analyze does not run here: the unit is not verified"
else
    # --man=no: the man pages it names are not installed here.
    systemd-analyze verify --man=no "$tmpdir/units/zerofs@disk.service" \
        > "$tmpdir/verify" 2>&1 || { cat "$tmpdir/verify"; exit 1; }
    cat "$tmpdir/verify"
    if [ -s "$tmpdir/verify" ]; then
        echo "$0: systemd-analyze verify has something to say"
        exit 1
    fi
fi

# The unit's Type, stop and restart policy.
grep -qx 'Type=forking' "$unit"
grep -qx 'KillMode=mixed' "$unit"
grep -qx 'Restart=on-failure' "$unit"
grep -q '^After=network-online.target' "$unit"

# ExecStart as systemd runs it for zerofs@disk: %i the instance, the
# config file, cache and run directories in $tmpdir, $ZEROFS_OPTIONS
# and ${NBD_DEVICE} from the instance's environment file.
start_volume
zdev create disk 8M
conf=$tmpdir/zerofs.conf
{
    echo "bucket = \"$bucket\";"
    echo "password-file = \"$pwfile\";"
    echo "force = true;"
    for a in "${store_args[@]}"; do echo "${a%%=*} = \"${a#*=}\";"; done
} > "$conf"
export STANDIN_DIR=$tmpdir/standin TMPDIR=$tmpdir/tmp
mkdir -p "$STANDIN_DIR" "$TMPDIR" "$tmpdir/run/zerofs" "$tmpdir/cache"
ZEROFS_OPTIONS="--nbd-client=$srcdir/nbd-client-standin.sh --plugin=$PLUGIN"
NBD_DEVICE=/dev/nbd7
sed -n '/^ExecStart=/,/[^\\]$/p' "$unit" | sed 's/\\$//' | tr '\n' ' ' |
    sed -e 's/^ExecStart=//' -e "s|/usr/bin/zerofs|$ZEROFS|" \
        -e 's/%i/disk/g' -e "s|/etc/zerofs/zerofs.conf|$conf|" \
        -e "s|/var/cache/zerofs|$tmpdir/cache|" \
        -e "s|/run/zerofs|$tmpdir/run/zerofs|" > "$tmpdir/execstart"
cat "$tmpdir/execstart"
# $VAR splits into words, ${VAR} is one word: as systemd does.
read -r -a cmd <<< "$(sed -e 's/\${NBD_DEVICE}/@NBD_DEVICE@/' \
                          -e "s|\$ZEROFS_OPTIONS|$ZEROFS_OPTIONS|" \
                          "$tmpdir/execstart")"
cmd=("${cmd[@]/@NBD_DEVICE@/$NBD_DEVICE}")
pidfile_unit=$tmpdir/run/zerofs/disk.pid
"${cmd[@]}"                           # returns once attached (forking)
test -s "$pidfile_unit"
main_pid=$(cat "$pidfile_unit")
cleanup_fn sh -c "kill -TERM $main_pid 2>/dev/null || :"
kill -0 "$main_pid"
cat "$STANDIN_DIR/attach"
grep -qx 'name=disk' "$STANDIN_DIR/attach"
grep -qx 'attached' "$STANDIN_DIR/attach"
grep -qx "dev=$NBD_DEVICE" "$STANDIN_DIR/attach"
# The cache directory given by the unit, per instance.
test -d "$tmpdir/cache/disk"

# ExecStop: SIGTERM to the main PID; the device is detached, the wrapper
# and its nbdkit are gone.
kill -TERM "$main_pid"
for (( i = 0; i < 300; i++ )); do
    kill -0 "$main_pid" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$main_pid" 2>/dev/null; then
    echo "$0: the wrapper did not stop on SIGTERM"
    exit 1
fi
grep -qx "$NBD_DEVICE" "$STANDIN_DIR/disconnect"
test ! -e "$pidfile_unit"
