#!/bin/bash
# The benchmark's smoke run (stage "bench" of scripts/test.sh): bench/run.sh
# --smoke with tiny sizes runs all three parts (token path, MySQL, scale), and
# this script checks that every part ran and printed sane figures: positive
# rates and times, ratios in a plausible range, token calls counted from the
# audit trail.  It asserts no timing goal (docs/performance.md has those):
# its job is to keep the benchmark from rotting.  About a minute.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
export KL_BENCH_BUILD=${KL_BENCH_BUILD:-$top/build}
log=$(mktemp /tmp/kl-bench-smoke.XXXXXX)
trap 'rm -f "$log"' EXIT

if ! "$top/bench/run.sh" --smoke 2>&1 | tee "$log"; then
	echo "test-bench: bench/run.sh --smoke failed" >&2
	exit 1
fi

# check NAME AWK-CONDITION: the RESULT line NAME exists and satisfies the condition
# (fields are key=value; v("key") is the value).
fails=0
check() {
	local name=$1 cond=$2 sel=${3:-}
	if awk -v name="$name" -v sel="$sel" '
		function v(k,   i, kv) {
			for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) return kv[2] + 0 }
			return -1e300	# missing: fails every condition
		}
		$1 == "RESULT" && $2 == name && (sel == "" || index($0, sel) > 0) { found = 1; if (!('"$cond"')) bad = 1 }
		END { exit !(found && !bad) }' "$log"; then
		echo "  ok   $name ${sel:+($sel) }$cond"
	else
		echo "  FAIL $name ${sel:+($sel) }$cond"
		grep "^RESULT $name" "$log" | sed 's/^/       /' || echo "       (no RESULT $name line)"
		fails=$((fails + 1))
	fi
}

echo
echo "test-bench: checking the smoke run's figures"
for t in 1 2; do
	check token 'v("bare") > 0 && v("kl") > 0 && v("kl_noaudit") > 0 && v("ratio") > 0.05 && v("ratio") < 20 && v("audit_ratio") > 0.05 && v("audit_ratio") < 20' "threads=$t "
	check rewrap_bound 'v("rate") > 0' "threads=$t "
done
check mysql 'v("tables") == 10 && v("start_open_ratio") > 0 && v("rotate_ratio") > 0'
# every mysqld start logs in (config_load, login, ...) and every rotation wraps a new key
check mysql_token_calls 'v("start") >= 2 && v("rotate") >= 1'
check scale 'v("entries") == 500 && v("load_s") > 0 && v("load_s") < 5 && v("fetch_uncached_us") > v("fetch_cached_us") && v("fetch_cached_us") > 0'
check rewrap 'v("entries") == 500 && v("rate") > 0 && v("bound") > 0 && v("ratio") > 0.01'
if ((fails)); then
	echo "test-bench: $fails check(s) failed" >&2
	exit 1
fi
echo "test-bench: all checks passed"
