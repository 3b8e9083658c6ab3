#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# test-survey.sh with the volume on s3rver (see functions.sh): the
# shards' ListObjectsV2 with start-after.
ZEROFS_TEST_BACKEND=s3rver exec "${srcdir:-.}/test-survey.sh"
