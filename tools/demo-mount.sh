#!/bin/sh
# Mounts objfs on the embedded local provider, with no server at all:
# a configuration, an object store directory and a cache under $DEMO
# (default /tmp/objfs-demo), mounted at $DEMO/mnt with two tenants.
# Run as root (or a user allowed to use /dev/fuse).  Unmount with
#   fusermount3 -u $DEMO/mnt
set -eu
cd "$(dirname "$0")/.."
DEMO=${DEMO:-/tmp/objfs-demo}
BIN=${OBJFS_BIN:-build/objfs}
mkdir -p "$DEMO/mnt"
if mountpoint -q "$DEMO/mnt"; then
	echo "objfs demo already mounted at $DEMO/mnt"
	exit 0
fi
cat > "$DEMO/objfs.conf" <<CONF
; objfs demo configuration (see docs/configuration.md)
[objfs]
mountpoint = $DEMO/mnt
cache_dir = $DEMO/cache
log_level = info
control_socket = $DEMO/ctl.sock   ; objfs-ctl --socket $DEMO/ctl.sock health
audit_log = $DEMO/audit.log       ; one JSON line per mutation

[provider local]
type = local
root = $DEMO/objects          ; one subdirectory per bucket
listen = 127.0.0.1:9080         ; serves presigned URLs of local objects

[tenant acme]                   ; bucket acme-uploads
[tenant globex]                 ; prefix tenants/globex/ of a shared bucket
bucket = shared-bucket
prefix = tenants/globex/
CONF
"$BIN" --config "$DEMO/objfs.conf" 2>>"$DEMO/objfs.log"
i=0
while ! mountpoint -q "$DEMO/mnt"; do
	i=$((i + 1))
	[ $i -le 100 ] || { echo "objfs did not mount; see $DEMO/objfs.log" >&2; exit 1; }
	sleep 0.1
done
echo "objfs is mounted at $DEMO/mnt (tenants: $(ls "$DEMO/mnt" | tr '\n' ' '))"
echo "objects land in $DEMO/objects; log: $DEMO/objfs.log"
echo "control: build/objfs-ctl --socket $DEMO/ctl.sock health | status | presign acme/FILE"
echo "unmount with: fusermount3 -u $DEMO/mnt"
