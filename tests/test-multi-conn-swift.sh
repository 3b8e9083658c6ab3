#!/usr/bin/env bash
# test-multi-conn.sh with the volume on swift (see functions.sh).
ZEROFS_TEST_BACKEND=swift exec "${srcdir:-.}/test-multi-conn.sh"
