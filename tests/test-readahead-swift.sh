#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# test-readahead.sh with the volume on swift (see functions.sh).
ZEROFS_TEST_BACKEND=swift exec "${srcdir:-.}/test-readahead.sh"
