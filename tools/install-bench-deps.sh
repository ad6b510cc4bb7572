#!/bin/sh
# Installs the clients that the S3 benchmark (bench/run-s3.sh, `make bench-s3`)
# compares objfs with: s3fs-fuse, rclone and the aws command line.
# The build and test dependencies (node, s3rver, botocore) come from
# tools/install-deps.sh (`make deps`).
set -eu
exec "$(cd "$(dirname "$0")" && pwd)/apt-install.sh" s3fs rclone awscli
