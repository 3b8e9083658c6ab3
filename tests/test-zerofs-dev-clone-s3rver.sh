#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# test-zerofs-dev-clone.sh with the volume on s3rver (CopyObject; see
# functions.sh).
ZEROFS_TEST_BACKEND=s3rver exec "${srcdir:-.}/test-zerofs-dev-clone.sh"
