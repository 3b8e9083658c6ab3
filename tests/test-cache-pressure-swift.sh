#!/usr/bin/env bash
# test-cache-pressure.sh with the volume on swift (see functions.sh).
ZEROFS_TEST_BACKEND=swift exec "${srcdir:-.}/test-cache-pressure.sh"
