#!/bin/sh
# Installs the Debian packages that building and testing objfs need.
# Idempotent and non-interactive; run as root (or with sudo available).
set -eu
PKGS="build-essential pkg-config fuse3 libfuse3-dev libcurl4-openssl-dev libssl-dev
      libsqlite3-dev libxml2-dev libinih-dev libjansson-dev libcmocka-dev
      python3 python3-pytest attr psmisc"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && { echo "deps: all installed"; exit 0; }
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends $missing
