#!/bin/sh
# Installs what building and testing objfs needs: Debian packages, and the
# npm-installed test servers pinned by tests/servers/package-lock.json.
# Idempotent and non-interactive; run as root (or with sudo available).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
"$here/apt-install.sh" build-essential pkg-config fuse3 libfuse3-dev libcurl4-openssl-dev \
	libssl-dev libsqlite3-dev libxml2-dev libinih-dev libjansson-dev libcmocka-dev \
	python3 python3-pytest attr psmisc nodejs awscli python3-botocore curl \
	libmicrohttpd-dev libsystemd-dev python3-prometheus-client tmux clang systemd util-linux \
	libmagic-dev libmagic-mgc media-types
# npm ships with NodeSource's nodejs; Debian's nodejs needs its npm package.
command -v npm >/dev/null 2>&1 || "$here/apt-install.sh" npm
# The object-store servers the tests start.  npm ci is skipped when
# node_modules already matches the lockfile.
cd "$here/../tests/servers"
if [ ! -f node_modules/.package-lock.json ] || ! cmp -s package-lock.json node_modules/.objfs-lock; then
	npm ci --no-audit --no-fund --loglevel=error
	cp package-lock.json node_modules/.objfs-lock
fi
