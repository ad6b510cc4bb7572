#!/bin/sh
# objfs S3 benchmark: objfs vs s3fs-fuse vs rclone mount vs aws s3 cp, all
# against one s3rver on 127.0.0.1. Run on demand (`make bench-s3`), never in
# CI; needs root, /dev/fuse and `make deps` (node and s3rver). Installs s3fs,
# rclone and awscli first (tools/install-bench-deps.sh).
# Options are passed to bench/s3bench.py (--help): --only objfs,s3fs,rclone,aws,
# --size-mib N, --files N, --out FILE.md, --work DIR (default
# /var/tmp/objfs-s3bench or OBJFS_BENCH_S3_DIR; on a real disk, not tmpfs).
set -u
here=$(cd "$(dirname "$0")" && pwd)
work=${OBJFS_BENCH_S3_DIR:-/var/tmp/objfs-s3bench}
prev=""
for a in "$@"; do
	case $prev in --work) work=$a ;; esac
	case $a in --work=*) work=${a#--work=} ;; esac
	prev=$a
done

"$here/../tools/install-bench-deps.sh" || exit 1

# s3bench.py unmounts what it mounted and stops s3rver on any exit; this trap
# is the safety net if it is killed hard: lazily unmount whatever is still
# mounted under the scratch directory.
cleanup() {
	for m in "$work/mnt-objfs" "$work/mnt-s3fs" "$work/mnt-rclone"; do
		if mountpoint -q "$m" 2>/dev/null; then
			fusermount3 -u "$m" 2>/dev/null || fusermount -u "$m" 2>/dev/null ||
				fusermount3 -u -z "$m"
		fi
	done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

/usr/bin/python3 "$here/s3bench.py" "$@"
