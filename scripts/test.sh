#!/bin/bash
# keylocker: every test.  Installs what it needs (Debian packages, and the
# cached MySQL sandbox), builds warnings-as-errors, runs the unit and
# integration tests, the same again under ASan/UBSan, the fuzzers for a
# bounded time, the MySQL tests against a real server, and a benchmark smoke
# run.  A skipped test is a failure here: this command installs everything.
#
#   scripts/test.sh            everything
#   scripts/test.sh STAGE...   only these stages (build asan fuzz mysql bench)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
jobs=$(nproc)
stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(build asan fuzz mysql bench)
start=$(date +%s)
failed=()

say() { printf '\n=== %s (%ss)\n' "$*" $(($(date +%s) - start)); }
want() { local s; for s in "${stages[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }

# Run ctest; fail on a failure, on a skip (this script installed everything)
# and on a label that selects no test.
run_ctest() {
	local dir=$1 log; shift
	log=$(mktemp)
	if ! (cd "$dir" && ctest -j"$jobs" --no-tests=error --output-on-failure "$@") 2>&1 | tee "$log"; then
		rm -f "$log"
		return 1
	fi
	if grep -qE '\*\*\*Skipped|Not Run' "$log"; then
		echo "keylocker: tests were skipped; every dependency should be installed" >&2
		rm -f "$log"
		return 1
	fi
	rm -f "$log"
}

configure() {
	local dir=$1; shift
	cmake -S "$top" -B "$dir" -DCMAKE_INSTALL_PREFIX=/usr -DKL_WERROR=ON "$@" >/dev/null &&
		cmake --build "$dir" -j"$jobs" >/dev/null
}

say "dependencies"
scripts/deps.sh

if want build; then
	say "build (warnings are errors) and unit + integration tests"
	if configure build -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
	    run_ctest build -L 'unit|integration'; then :; else failed+=(build); fi
fi

if want asan; then
	say "ASan + UBSan build, unit + integration tests"
	# clients.sh drives uninstrumented binaries (pkcs11-tool, p11tool) that cannot
	# load an instrumented module; the build stage runs it.
	if configure build-asan -DCMAKE_BUILD_TYPE=Debug -DKL_SANITIZE=address,undefined &&
	    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	    run_ctest build-asan -L 'unit|integration' -E '^clients$'; then :; else failed+=(asan); fi
fi

for s in fuzz mysql bench; do
	if want $s && [ -x scripts/test-$s.sh ]; then
		say "$s"
		scripts/test-$s.sh || failed+=($s)
	fi
done

say "done"
if [ ${#failed[@]} -gt 0 ]; then
	echo "keylocker: FAILED: ${failed[*]}" >&2
	exit 1
fi
echo "keylocker: all stages passed (${stages[*]}) in $(($(date +%s) - start)) s"
