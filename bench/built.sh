# SPDX-License-Identifier: BSD-3-Clause
#
# zerofs bench: sourced by fio.sh, journal.sh and warm.sh (which set
# $here to their own directory first): where the programs they run are,
# and the top of a perf profile.

# find_built VAR REL: $VAR if set, else REL under the current directory
# (a build directory), else under ../build*/ or .. beside the scripts;
# nothing if none exists.
find_built ()
{
    local var="$1" rel="$2" c
    if [ -n "${!var:-}" ]; then printf '%s' "${!var}"; return; fi
    for c in "./$rel" "$here"/../build*/"$rel" "$here/../$rel"; do
        if [ -e "$c" ]; then
            (cd "$(dirname "$c")" && printf '%s/%s' "$(pwd)" "$(basename "$c")")
            return
        fi
    done
}

# zerofs_built: set plugin and zerofs_dev, or exit saying how.
zerofs_built ()
{
    local need
    plugin="$(find_built PLUGIN plugin/.libs/nbdkit-zerofs-plugin.so)"
    zerofs_dev="$(find_built ZEROFS_DEV tools/zerofs-dev)"
    for need in "plugin:$plugin" "zerofs-dev:$zerofs_dev"; do
        if [ -z "${need#*:}" ] || [ ! -e "${need#*:}" ]; then
            echo "$0: ${need%%:*} not found: build zerofs, run this from" \
                 "the build directory, or set PLUGIN and ZEROFS_DEV" >&2
            exit 1
        fi
    done
}

# fio_nbd_tools: exit unless nbdkit, nbdsh, python3 and fio with its
# nbd engine are here.
fio_nbd_tools ()
{
    local cmd
    for cmd in nbdkit fio nbdsh python3; do
        if ! command -v "$cmd" >/dev/null; then
            echo "$0: $cmd is not installed" >&2
            exit 1
        fi
    done
    if ! fio --enghelp=nbd >/dev/null 2>&1; then
        echo "$0: this fio has no nbd ioengine" >&2
        exit 1
    fi
}

# perf_top FILE SORT N: the N first lines of a perf report (self time),
# reading all of it (no SIGPIPE for perf).
perf_top ()
{
    perf report -i "$1" --stdio --no-children --sort "$2" -g none \
         2>/dev/null |
        awk -v n="$3" '/^#/ || /^$/ { next }
                       { sub(/[ -]+$/, ""); if (++k <= n) print }'
}
