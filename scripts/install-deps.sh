#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Install what zerofs needs on Debian 12, and nothing that is already there.
#
#   scripts/install-deps.sh          to build and run zerofs
#   scripts/install-deps.sh --test   also what the test suite needs:
#                                    libnbd's tools, FUSE, ext4 tools,
#                                    valgrind, the S3 servers (Swift,
#                                    memcached, and s3rver from npm into
#                                    tests/node_modules)
#   scripts/install-deps.sh --fuzz   also clang and its libFuzzer runtime,
#                                    for scripts/fuzz.sh
#   scripts/install-deps.sh --packages
#                                    also debhelper and dpkg-dev, to build
#                                    the Debian package
#                                    (scripts/test-packages.sh)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
want_test=false
want_fuzz=false
want_packages=false
for arg in "$@"; do
    case $arg in
        --test) want_test=true ;;
        --fuzz) want_fuzz=true ;;
        --packages) want_packages=true ;;
        *) echo "install-deps.sh: unknown option $arg" >&2; exit 1 ;;
    esac
done

SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo

build_pkgs=(build-essential autoconf automake libtool pkg-config perl
            nbdkit nbdkit-plugin-dev libcurl4-openssl-dev liblmdb-dev
            libssl-dev libconfig-dev libzstd-dev)
test_pkgs=(libnbd-bin python3-libnbd fuse3 e2fsprogs util-linux
           python3-swift memcached curl openssl valgrind)
fuzz_pkgs=(clang libclang-rt-dev)
package_pkgs=(debhelper dpkg-dev fakeroot)

pkgs=("${build_pkgs[@]}")
$want_test && pkgs+=("${test_pkgs[@]}")
$want_fuzz && pkgs+=("${fuzz_pkgs[@]}")
$want_packages && pkgs+=("${package_pkgs[@]}")

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
        missing+=("$p")
done
# Node.js and npm for s3rver, unless the machine has them already (a
# nodesource nodejs conflicts with Debian's npm package).
if $want_test && ! command -v npm >/dev/null; then
    missing+=(nodejs npm)
fi
if [ ${#missing[@]} -gt 0 ]; then
    echo "Installing: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
        --no-install-recommends "${missing[@]}"
fi

if $want_test; then
    (cd "$top/tests" && npm ci --no-audit --no-fund --loglevel=error)
fi
