#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Fuzz zerofs's parsers: build the libFuzzer targets of tests/fuzz with
# clang in a build directory of their own, and run each of them ("make
# fuzz").  The source tree and its own build are not touched (but for
# the default build directory, build-fuzz/, which git ignores).
#
#   scripts/fuzz.sh                  every target for 60 s
#   FUZZ_SECONDS=600 scripts/fuzz.sh every target for 10 minutes
#   scripts/fuzz.sh fuzz-chunk fuzz-s3-xml    only these targets
#
# Environment:
#   FUZZ_SECONDS    seconds per target (default 60)
#   FUZZ_FLAGS      more libFuzzer flags for every target
#   FUZZ_BUILD_DIR  the build directory (default build-fuzz in the source
#                   tree); kept between runs, with the inputs each run
#                   found (tests/fuzz/work/), logs and crashing inputs
#   CC              the compiler (default clang)
#
# It needs clang with its libFuzzer runtime (Debian: clang,
# libclang-rt-dev) besides what zerofs needs, and installs what is
# missing first (scripts/install-deps.sh --fuzz).  The build is a
# configured copy of the sources, so that it works whether or not the
# source tree itself was configured (autotools refuse a separate build
# directory for a source tree that was configured in place).
#
# Exit status: 0 if every target ran without a finding, 1 if one
# failed, 2 if the build failed.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${FUZZ_BUILD_DIR:-$top/build-fuzz}
mkdir -p "$build"
build=$(cd "$build" && pwd)
export CC=${CC:-clang}

"$top/scripts/install-deps.sh" --fuzz

# A copy of the sources.
src=$build/src
source "$top/scripts/copy-sources.sh"
copy_sources "$top" "$src"

cd "$src"
if [ ! -f Makefile ] || [ configure.ac -nt Makefile ]; then
    autoreconf -fi > "$build/autoreconf.log" 2>&1 ||
        { cat "$build/autoreconf.log"; exit 2; }
    ./configure --enable-fuzzing > "$build/configure.log" 2>&1 ||
        { tail -n 20 "$build/configure.log"; exit 2; }
fi
targets=()
[ $# -gt 0 ] && targets=(FUZZ_TARGETS="$*")
if ! make -j"$(nproc 2>/dev/null || echo 2)" -C tests/fuzz fuzz-build \
        "${targets[@]}" > "$build/make.log" 2>&1; then
    tail -n 40 "$build/make.log"
    exit 2
fi
make -s -C tests/fuzz fuzz FUZZ_SECONDS="${FUZZ_SECONDS:-60}" \
     FUZZ_FLAGS="${FUZZ_FLAGS:-}" "${targets[@]}" || exit 1
