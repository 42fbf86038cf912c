#!/bin/bash
# t-90-mtr: MySQL's own keyring tests (mysql-test-run) against
# component_keyring_pkcs11.
#
#   t-90-mtr.sh [--component NAME] [--full] [--parallel N] [-- MTR-ARGS...]
#
# tests/mysql/mtr/gen-suites.sh wraps each test of tests/mysql/mtr/tests.list
# in a generated suite kl_<suite> under the sandbox's /usr/internal/mysql-test
# (the installed suites are not edited) and points mysql-test-run's
# KEYRING_FILE_COMPONENT at NAME (default component_keyring_pkcs11;
# component_keyring_file runs the very same wrappers as the baseline).
# Without --full the tests marked "full" in the list are left out, to stay
# under ten minutes on two cores.  Every generated test must report
# [ pass ] on every line (each binlog combination counts), the ones in
# disabled.def must report [ disabled ], and none may be missing: a skip is
# a failure.  Everything generated is removed afterwards, and the plugin-dir
# component_keyring_pkcs11.cnf, which some tests rewrite, is put back.
#
# The table of results goes to stdout, mtr's whole output to
# $KL_MTR_LOG (default /tmp/keylocker-t90-mtr.log).
set -uo pipefail

source "$(dirname "$0")/mtr/common.sh"

comp=component_keyring_pkcs11 full=() parallel=${KL_MTR_PARALLEL:-2} extra=()
while (($#)); do
	case $1 in
	--component) comp=${2-}; shift 2 || exit 2 ;;
	--full) full=(--full); shift ;;
	--parallel) parallel=${2-}; shift 2 || exit 2 ;;
	--) shift; extra=("$@"); break ;;
	*) echo "usage: ${0##*/} [--component NAME] [--full] [--parallel N] [-- MTR-ARGS...]" >&2; exit 2 ;;
	esac
done
LOG=${KL_MTR_LOG:-/tmp/keylocker-t90-mtr.log}

need_build
[[ $comp == component_keyring_file ]] || need_token

cleanup() {
	"$MTR_DIR/gen-suites.sh" --root "$CHROOT" --clean || true
	reset_global_cnf
}
trap cleanup EXIT
trap 'exit 130' INT TERM

reset_global_cnf
gen=$("$MTR_DIR/gen-suites.sh" --root "$CHROOT" --component "$comp" "${full[@]}" \
	--list "$MTR_DIR/tests.list" --disabled "$MTR_DIR/disabled.def" \
	--status "$MTR_DIR/status-rows.txt") || bail "generating the wrapper suites failed"
echo "$gen"
OUT=$CHROOT/usr/internal/mysql-test
suites=$(cd "$OUT/suite" && ls | paste -sd, -)

# Expected: every generated test; disabled ones by name.
declare -A want=() disabled=()
for f in "$OUT"/suite/*/t/*.test; do
	s=${f%/t/*}
	want[${s##*/}.$(basename "$f" .test)]=1
done
while read -r name _; do
	[[ $name == kl_* ]] && disabled[$name]=1
done <"$OUT/collections/disabled.def"

t0=$(date +%s)
"$SB" mtr --suite="$suites" --big-test --parallel="$parallel" --force \
	--max-test-fail=0 --retry=0 "${extra[@]}" >"$LOG" 2>&1
rc=$?
secs=$(($(date +%s) - t0))

# Result lines: "[ 12%] kl_x.test 'combination'  w1  [ pass ]  1234"
declare -A seen=()
printf '\n%-58s %-9s %s\n' "test ($comp)" result ms
while IFS= read -r line; do
	[[ $line =~ ^\[\ *[0-9]+%\]\ (kl_[a-z0-9_]+\.[A-Za-z0-9_-]+)(\ \'[^\']*\')?\ .*\[\ ([a-z-]+)\ \]\ *(.*)$ ]] || continue
	name=${BASH_REMATCH[1]} combo=${BASH_REMATCH[2]} result=${BASH_REMATCH[3]} rest=${BASH_REMATCH[4]}
	seen[$name]=1
	printf '%-58s %-9s %s\n' "$name$combo" "$result" "$rest"
	if [[ -n ${disabled[$name]-} ]]; then
		[[ $result == disabled ]] && ok "$name$combo disabled as listed" ||
			not_ok "$name$combo: expected [ disabled ], got [ $result ]"
	elif [[ $result == pass ]]; then
		ok "$name$combo"
	else
		not_ok "$name$combo: [ $result ] $rest"
	fi
done < <(tr -d '\r' <"$LOG" | grep -a '^\[ *[0-9]*%\] kl_')
for name in "${!want[@]}"; do
	[[ -n ${seen[$name]-} ]] || not_ok "$name: no result from mysql-test-run"
done
((${#seen[@]} > 0)) || bail "mysql-test-run reported no test (exit $rc); see $LOG"
if ((kl_failed == 0 && rc != 0)); then
	not_ok "mysql-test-run exited $rc with every test passing; see $LOG"
fi
echo "mysql-test-run: ${#want[@]} tests, ${secs} s wall, exit $rc; full output in $LOG"
grep -a -E '^(Completed|Spent|The servers)' "$LOG" | sed 's/^/  /'
if ((kl_failed)); then
	echo "--- failures (from $LOG):"
	tr -d '\r' <"$LOG" | grep -a -A40 '\[ fail \]' | head -n 200
fi
finish
