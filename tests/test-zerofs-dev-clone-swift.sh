#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# test-zerofs-dev-clone.sh with the volume on swift (CopyObject; see
# functions.sh).
ZEROFS_TEST_BACKEND=swift exec "${srcdir:-.}/test-zerofs-dev-clone.sh"
