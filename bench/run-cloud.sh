#!/bin/sh
# objfs gcs/azure benchmark: objfs on gcs and on azure beside rclone mount
# (`azureblob` on the same Azurite; `google cloud storage` on the same GCS test
# server where rclone can upload to it), all on 127.0.0.1. Run on demand
# (`make bench-cloud`), never in CI; needs root, /dev/fuse, `make deps` (node,
# azurite), the GCS test server (../shared/tools/gcs-test-server or
# OBJFS_GCS_TEST_SERVER) and build/objfs (`make`: this script builds nothing).
# Installs rclone first (tools/install-bench-deps.sh).
# Options are passed to bench/cloudbench.py (--help): --only
# objfs-gcs,rclone-gcs,objfs-azure,rclone-azure (or gcs, azure, objfs, rclone),
# --size N (MiB, default 256), --files N (default 1000), --rclone-gcs
# auto|on|off, --out FILE.md, --json FILE, --work DIR (default
# /var/tmp/objfs-cloudbench or OBJFS_BENCH_CLOUD_DIR; on a real disk, not tmpfs).
set -u
here=$(cd "$(dirname "$0")" && pwd)
work=${OBJFS_BENCH_CLOUD_DIR:-/var/tmp/objfs-cloudbench}
prev=""
for a in "$@"; do
	case $prev in --work) work=$a ;; esac
	case $a in --work=*) work=${a#--work=} ;; esac
	prev=$a
done

"$here/../tools/install-bench-deps.sh" || exit 1

# cloudbench.py unmounts what it mounted and stops both servers on any exit;
# this trap is the safety net if it is killed hard: lazily unmount whatever is
# still mounted under the scratch directory, stop the GCS test server it
# started (stop.sh of its data directory) and the Azurite it started (its
# process group, after checking that the pid is still an azurite).
cleanup() {
	for m in "$work/mnt-objfs-gcs" "$work/mnt-rclone-gcs" "$work/mnt-objfs-azure" \
		"$work/mnt-rclone-azure"; do
		if mountpoint -q "$m" 2>/dev/null; then
			fusermount3 -u "$m" 2>/dev/null || fusermount -u "$m" 2>/dev/null ||
				fusermount3 -u -z "$m"
		fi
	done
	if [ -f "$work/gcs-server.dir" ]; then
		gdir=$(cat "$work/gcs-server.dir")
		gsrv=${OBJFS_GCS_TEST_SERVER:-$here/../../shared/tools/gcs-test-server}
		[ -x "$gsrv/stop.sh" ] && "$gsrv/stop.sh" "$gdir" >/dev/null 2>&1
		rm -f "$work/gcs-server.dir"
	fi
	if [ -f "$work/azurite.pid" ]; then
		pid=$(cat "$work/azurite.pid")
		case $pid in
		'' | *[!0-9]*) ;;
		*)
			if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q azurite; then
				kill -TERM -- "-$pid" 2>/dev/null
			fi
			;;
		esac
		rm -f "$work/azurite.pid"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

/usr/bin/python3 "$here/cloudbench.py" "$@"
