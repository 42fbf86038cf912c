# Shell library for the MySQL tests (tests/mysql/t-*.sh): sourced, not run.
#
# Each test drives real mysqld 9.7 instances in the sandbox
# (scripts/mysql-sandbox.sh) with component_keyring_pkcs11 over the token
# that scripts/test-mysql.sh set up in the chroot's /etc/keylocker, and
# asserts every result it looks at.  A test exits 0 only when every check
# passed; kt_done prints the tally.
#
# Conventions: instance names start with "kt-"; paths starting with I_ are
# inside the chroot, H_ the same file seen from the host.

set -uo pipefail

KT_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
KT_SB=$KT_TOP/scripts/mysql-sandbox.sh
KT_ROOT=$("$KT_SB" root)
KT_COMP=component_keyring_pkcs11
KT_TEST=$(basename "$0" .sh)
KT_PASS=0
KT_FAIL=0
KT_INSTANCES=()

kt_say() { printf '%s: %s\n' "$KT_TEST" "$*"; }

kt_ok() {
	KT_PASS=$((KT_PASS + 1))
	printf '  ok   %s\n' "$1"
}

kt_bad() {
	KT_FAIL=$((KT_FAIL + 1))
	printf '  FAIL %s\n' "$1"
	shift
	[ $# -eq 0 ] || printf '       %s\n' "$@"
}

# kt_eq DESCRIPTION EXPECTED ACTUAL
kt_eq() {
	if [ "$2" == "$3" ]; then
		kt_ok "$1"
	else
		kt_bad "$1" "expected: $(printf '%q' "$2")" "got:      $(printf '%q' "$3")"
	fi
}

# kt_match DESCRIPTION EXTENDED-REGEX TEXT
kt_match() {
	if printf '%s' "$3" | grep -Eq -- "$2"; then
		kt_ok "$1"
	else
		kt_bad "$1" "no match for /$2/ in:" "$(printf '%s' "$3" | head -c 600)"
	fi
}

# kt_nomatch DESCRIPTION EXTENDED-REGEX TEXT
kt_nomatch() {
	if printf '%s' "$3" | grep -Eq -- "$2"; then
		kt_bad "$1" "unexpected match for /$2/:" \
			"$(printf '%s' "$3" | grep -E -- "$2" | head -3)"
	else
		kt_ok "$1"
	fi
}

# Instance paths.  I_ = inside the chroot, H_ = from the host.
kt_idir() { printf '/srv/mysql/%s' "$1"; }
kt_hdir() { printf '%s/srv/mysql/%s' "$KT_ROOT" "$1"; }
kt_store_i() { printf '/srv/mysql/%s/keyring/%s' "$1" "$KT_COMP"; }
kt_store_h() { printf '%s%s' "$KT_ROOT" "$(kt_store_i "$1")"; }
kt_cnf_h() { printf '%s/data/%s.cnf' "$(kt_hdir "$1")" "$KT_COMP"; }
kt_errlog() { printf '%s/error.log' "$(kt_hdir "$1")"; }

# kt_new NAME [CNF-JSON]: a fresh instance with our component (its .cnf in
# the datadir: the default one of the sandbox, or CNF-JSON).
kt_new() {
	local name=$1 cnf=${2-} f
	"$KT_SB" destroy "$name" >/dev/null 2>&1 || true
	if [ -n "$cnf" ]; then
		f=$(mktemp)
		printf '%s\n' "$cnf" >"$f"
		"$KT_SB" init "$name" --component "file://$KT_COMP" --config "$f" >/dev/null ||
			{ rm -f "$f"; kt_bad "init $name"; return 1; }
		rm -f "$f"
	else
		"$KT_SB" init "$name" --component "file://$KT_COMP" >/dev/null ||
			{ kt_bad "init $name"; return 1; }
	fi
	KT_INSTANCES+=("$name")
}

kt_start() {
	local name=$1; shift
	"$KT_SB" start "$name" "$@" >/dev/null || { kt_bad "start $name $*" "$(tail -20 "$(kt_errlog "$name")")"; return 1; }
}
# A clean shutdown, checked: a thread of ours that took SIGTERM would kill
# mysqld on the spot, without this line.
kt_stop() {
	"$KT_SB" stop "$1" >/dev/null
	tail -n 3 "$(kt_errlog "$1")" | grep -q 'Shutdown complete' ||
		kt_bad "clean shutdown of $1 (no 'Shutdown complete' in its error log)"
}
kt_kill() { "$KT_SB" kill "$1" >/dev/null; }

# kt_sql NAME SQL: output (-N -B); stderr too, so errors can be asserted.
kt_sql() { "$KT_SB" sql "$1" "$2" 2>&1; }

# One status row of performance_schema.keyring_component_status.
kt_status() {
	kt_sql "$1" "SELECT STATUS_VALUE FROM performance_schema.keyring_component_status WHERE STATUS_KEY='$2'"
}

# kt_mark NAME: remember the end of the error log; kt_log NAME: lines since.
declare -A KT_MARKS
kt_mark() { KT_MARKS[$1]=$(wc -l <"$(kt_errlog "$1")"); }
kt_log() { tail -n +$((${KT_MARKS[$1]:-0} + 1)) "$(kt_errlog "$1")"; }

# [ERROR] and [Warning] lines since the mark, minus the server's own
# warnings that every sandbox start logs (manifest not read-only as root,
# self-signed CA, empty root password of --initialize-insecure).
kt_log_problems() {
	# no error log at all must not read as "no problem"
	[ -e "$(kt_errlog "$1")" ] || { echo "no error log to check for keyring problems: $(kt_errlog "$1")"; return; }
	kt_log "$1" | grep -E '\[(ERROR|Warning)\]' |
		grep -vE 'MY-013711|MY-010068|MY-010453' || true
}

# sha256 of a file, or "missing".
kt_sum() { if [ -e "$1" ]; then sha256sum <"$1" | cut -d' ' -f1; else echo missing; fi; }

kt_done() {
	local i
	if [ "$KT_FAIL" -eq 0 ]; then
		[ -n "${KT_KEEP-}" ] ||	# KT_KEEP=1: keep the instances to look at
			for i in "${KT_INSTANCES[@]}"; do "$KT_SB" destroy "$i" >/dev/null 2>&1; done
		kt_say "all $KT_PASS checks passed"
		exit 0
	fi
	kt_say "$KT_FAIL of $((KT_PASS + KT_FAIL)) checks FAILED (instances kept: ${KT_INSTANCES[*]})"
	exit 1
}
