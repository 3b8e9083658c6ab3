#!/usr/bin/env bash
# test-ext4.sh with the volume on swift (see functions.sh).
ZEROFS_TEST_BACKEND=swift exec "${srcdir:-.}/test-ext4.sh"
