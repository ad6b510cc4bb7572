#!/bin/sh
# Installs the clients that the S3 benchmark (bench/run-s3.sh, `make bench-s3`)
# compares objfs with: s3fs-fuse, rclone and the aws command line.
# Idempotent and non-interactive; run as root (or with sudo available).
# The build and test dependencies (node, s3rver, botocore) come from
# tools/install-deps.sh (`make deps`).
set -eu
PKGS="s3fs rclone awscli"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if [ -n "$missing" ]; then
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -q
	$SUDO apt-get install -y -q --no-install-recommends $missing
else
	echo "bench deps: s3fs, rclone and awscli all installed"
fi
