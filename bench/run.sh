#!/bin/sh
# objfs benchmark: raw disk vs libfuse's passthrough_ll vs objfs (local provider).
# Run on demand (`make bench`), never in CI; needs root and /dev/fuse.
# Options are passed to bench/bench.py (--help); see docs/benchmarks.md.
# The scratch directory (default /var/tmp/objfs-bench, or OBJFS_BENCH_DIR or
# --work DIR) must be on a real disk, not tmpfs.
set -u
here=$(cd "$(dirname "$0")" && pwd)
work=${OBJFS_BENCH_DIR:-/var/tmp/objfs-bench}
prev=""
for a in "$@"; do
	case $prev in --work) work=$a ;; esac
	case $a in --work=*) work=${a#--work=} ;; esac
	prev=$a
done

# bench.py unmounts what it mounted on any exit; this trap is the safety net
# if it is killed hard: lazily unmount whatever is still mounted under the
# scratch directory.
cleanup() {
	for m in "$work/pll-mnt" "$work/objfs-mnt"; do
		if mountpoint -q "$m" 2>/dev/null; then
			fusermount3 -u "$m" 2>/dev/null || fusermount3 -u -z "$m"
		fi
	done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

/usr/bin/python3 "$here/bench.py" "$@"
