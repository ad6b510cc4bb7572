#!/bin/sh
# The whole test suite, as `make test` and CI run it:
#   1. normal build (warnings are errors), unit tests, integration tests;
#   2. the same unit and integration tests built with AddressSanitizer,
#   3. and with UndefinedBehaviorSanitizer.
# The integration fixture fails any test whose daemon printed a sanitizer line.
# Set OBJFS_QUICK=1 to skip the sanitizer passes while iterating.
set -eu
cd "$(dirname "$0")/.."
JOBS=$(nproc 2>/dev/null || echo 2)

run_pass() {
	build=$1; shift
	echo "=== build ($build) ==="
	make -s -j"$JOBS" "$@" all
	make -s -j"$JOBS" "$@" unit
	echo "=== integration tests ($build) ==="
	OBJFS_BUILD="$PWD/$build" /usr/bin/python3 -m pytest -q -x -p no:cacheprovider tests/integration
}

run_pass build
if [ "${OBJFS_QUICK:-0}" != 1 ]; then
	# leaks are checked in the daemon too; tests/lsan.supp says what is exempt
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:malloc_context_size=2 \
	LSAN_OPTIONS=suppressions="$PWD/tests/lsan.supp" \
		run_pass build/address SANITIZER=address
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 run_pass build/undefined SANITIZER=undefined
	make -s fuzz FUZZ_SECONDS=60    # libFuzzer on the control-socket handler (tests/fuzz)
fi
echo "=== all tests passed ==="
