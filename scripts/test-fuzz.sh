#!/bin/bash
# Fuzz stage of scripts/test.sh: build the libFuzzer targets with clang, ASan
# and UBSan, and run each from a copy of its committed corpus for
# $KL_FUZZ_SECONDS (default 60).  Any crash, leak, UB report or invariant
# trap fails the stage and leaves the reproducer in build-fuzz/findings/.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
seconds=${KL_FUZZ_SECONDS:-60}
targets=(conf template record store)

CC=clang cmake -S . -B build-fuzz -DKL_FUZZ=ON -DKL_SANITIZE=address,undefined \
	-DCMAKE_BUILD_TYPE=RelWithDebInfo -DKL_WERROR=ON >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target "${targets[@]/%/_fuzz}" >/dev/null
mkdir -p build-fuzz/findings
status=0
for t in "${targets[@]}"; do
	work=$(mktemp -d)
	cp tests/fuzz/corpus/"$t"/* "$work"/
	if build-fuzz/tests/${t}_fuzz -max_total_time="$seconds" -rss_limit_mb=2048 \
	    -artifact_prefix=build-fuzz/findings/"$t"- -print_final_stats=1 "$work" \
	    >build-fuzz/findings/"$t".log 2>&1; then
		runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' \
		    build-fuzz/findings/"$t".log | grep -o '[0-9]*$')
		echo "fuzz $t: ${runs:-?} runs in ${seconds}s, no findings"
	else
		echo "fuzz $t: FINDING, see build-fuzz/findings/$t.log" >&2
		grep -E 'ERROR|SUMMARY|Test unit written' build-fuzz/findings/"$t".log >&2 || true
		status=1
	fi
	rm -rf "$work"
done
exit $status
