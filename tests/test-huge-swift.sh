#!/usr/bin/env bash
# test-huge.sh with the volume on swift (see functions.sh).
ZEROFS_TEST_BACKEND=swift exec "${srcdir:-.}/test-huge.sh"
