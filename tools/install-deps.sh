#!/bin/sh
# Installs the Debian packages that building and testing objfs need.
# Idempotent and non-interactive; run as root (or with sudo available).
set -eu
PKGS="build-essential pkg-config fuse3 libfuse3-dev libcurl4-openssl-dev libssl-dev
      libsqlite3-dev libxml2-dev libinih-dev libjansson-dev libcmocka-dev
      python3 python3-pytest attr psmisc
      nodejs awscli python3-botocore curl"
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
	echo "deps: Debian packages all installed"
fi
# npm ships with NodeSource's nodejs; Debian's nodejs needs its npm package.
command -v npm >/dev/null 2>&1 || $SUDO apt-get install -y -q --no-install-recommends npm
# The object-store servers the tests start (tests/servers/package.json, pinned
# by its committed lockfile).  npm ci is skipped when node_modules matches.
cd "$(dirname "$0")/../tests/servers"
if [ ! -f node_modules/.package-lock.json ] || ! cmp -s package-lock.json node_modules/.objfs-lock; then
	npm ci --no-audit --no-fund --loglevel=error
	cp package-lock.json node_modules/.objfs-lock
fi
