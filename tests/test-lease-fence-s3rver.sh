#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# test-lease-fence.sh with the volume on s3rver (see functions.sh).
ZEROFS_TEST_BACKEND=s3rver exec "${srcdir:-.}/test-lease-fence.sh"
