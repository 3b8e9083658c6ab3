# SPDX-License-Identifier: BSD-3-Clause
# copy_sources TOP DEST: a copy of the source tree TOP in DEST (its
# tracked and new files, as git sees them; everything without git), for
# a build of its own.  Sourced by scripts/fuzz.sh and scripts/test.sh
# --sanitizers: autotools refuse a separate build directory for a source
# tree configured in place, and a copy works either way.  DEST is
# updated in place, so that a rebuild there is incremental.
copy_sources ()
{
    local top=$1 dest=$2
    mkdir -p "$dest"
    existing () {
        while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done
    }
    if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
        (cd "$top" && git ls-files -z --cached --others --exclude-standard |
             existing | tar --null -T - -cf -) | (cd "$dest" && tar -xf -)
    else
        (cd "$top" && tar --exclude='./build*' -cf - .) |
            (cd "$dest" && tar -xf -)
    fi
}
