#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The LOG_COMPILER of "make check-valgrind": a unit test (a program)
# runs under valgrind's memcheck, where an error or a definite leak
# fails it (status 119); a shell test runs as it is, and functions.sh
# puts each of its nbdkit processes under valgrind.
case "$1" in
    *.sh) exec "$@" ;;
esac
exec valgrind --quiet --leak-check=full --show-leak-kinds=definite \
     --errors-for-leak-kinds=definite --error-exitcode=119 \
     --suppressions="$(dirname "$0")/valgrind.supp" "$@"
