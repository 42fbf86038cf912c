#!/bin/bash
# Failure is loud and safe.  For each fault (no such token, wrong PIN,
# missing PIN file, missing master key, tampered store, unreadable config)
# mysqld is started with it and must: log a specific [ERROR] MY-013714
# line, report the component Disabled with the reason in Last_error, refuse
# to open or create encrypted tables (fail closed), and leave the store and
# its previous generation byte-identical.  After the fault is fixed a
# restart serves every key and row again.
. "$(dirname "$0")/lib.sh"

N=kt-fail
kt_new $N || kt_done
kt_start $N --log_error_verbosity=3 || kt_done
kt_sql $N "CREATE DATABASE d; CREATE TABLE d.t (id INT PRIMARY KEY, v VARCHAR(20)) ENCRYPTION='Y';
INSERT INTO d.t VALUES (42, 'the answer'); ALTER INSTANCE ROTATE INNODB MASTER KEY" >/dev/null
kt_eq "setup: encrypted table readable" "42	the answer" "$(kt_sql $N "SELECT * FROM d.t")"
keys=$(kt_sql $N "SELECT KEY_ID FROM performance_schema.keyring_keys ORDER BY KEY_ID")
kt_stop $N

cnf=$(kt_cnf_h $N)
good=$(cat "$cnf")
store_h=$(kt_store_h $N)
store=$(kt_store_i $N)
printf 'wrong-pin-9\n' >"$(kt_hdir $N)/files/wrong.pin"
chmod 600 "$(kt_hdir $N)/files/wrong.pin"

# faulty DESCRIPTION REGEX: start with the fault in place and check it all.
faulty() {
	local what=$1 re=$2 s0 p0 out
	s0=$(kt_sum "$store_h")
	p0=$(kt_sum "$store_h.prev")
	kt_mark $N
	kt_start $N --log_error_verbosity=3 || return
	kt_match "$what: specific [ERROR] in the error log" \
		"\[ERROR\] \[MY-013714\] .*Component $KT_COMP reported: 'The component is not initialized properly. Error: .*$re" \
		"$(kt_log $N)"
	kt_eq "$what: Component_status Disabled" Disabled "$(kt_status $N Component_status)"
	kt_match "$what: Last_error gives the reason" "$re" "$(kt_status $N Last_error)"
	out=$(kt_sql $N "SELECT * FROM d.t")
	kt_match "$what: the encrypted table cannot be read" '^ERROR' "$out"
	kt_nomatch "$what: no row leaks" 'the answer' "$out"
	kt_match "$what: no new encrypted table" '^ERROR' \
		"$(kt_sql $N "CREATE TABLE d.n (id INT) ENCRYPTION='Y'")"
	kt_match "$what: no master key rotation" '^ERROR' \
		"$(kt_sql $N "ALTER INSTANCE ROTATE INNODB MASTER KEY")"
	kt_stop $N
	kt_eq "$what: store unchanged" "$s0" "$(kt_sum "$store_h")"
	kt_eq "$what: previous generation unchanged" "$p0" "$(kt_sum "$store_h.prev")"
}

# fixed DESCRIPTION: after the fix, a restart serves everything again.
fixed() {
	kt_mark $N
	kt_start $N --log_error_verbosity=3 || return
	kt_eq "$1 fixed: Active" Active "$(kt_status $N Component_status)"
	kt_eq "$1 fixed: rows back" "42	the answer" "$(kt_sql $N "SELECT * FROM d.t")"
	kt_eq "$1 fixed: every key back" "$keys" \
		"$(kt_sql $N "SELECT KEY_ID FROM performance_schema.keyring_keys ORDER BY KEY_ID")"
	kt_eq "$1 fixed: start-up logged no error or warning" "" "$(kt_log_problems $N)"
	kt_stop $N
}

withcnf() { printf '{"path": "%s", "read_only": false%s}\n' "$store" "$1" >"$cnf"; }

withcnf ', "token": "kt-absent-token"'
faulty "no such token" "token 'kt-absent-token': no token with this label is present"
printf '%s\n' "$good" >"$cnf"; fixed "no such token"

withcnf ", \"pin_file\": \"/srv/mysql/$N/files/wrong.pin\""
faulty "wrong PIN" "token 'keylocker': .*(PIN|CKR_PIN_INCORRECT)"
printf '%s\n' "$good" >"$cnf"; fixed "wrong PIN"

withcnf ", \"pin_file\": \"/srv/mysql/$N/files/absent.pin\""
faulty "missing PIN file" "/srv/mysql/$N/files/absent.pin"
printf '%s\n' "$good" >"$cnf"; fixed "missing PIN file"

withcnf ', "master_key": "kt-no-such-master"'
faulty "missing master key" "no secret key labelled 'kt-no-such-master' \(the master key\)"
printf '%s\n' "$good" >"$cnf"; fixed "missing master key"

cp -p "$store_h" "$store_h.kt-good"
# flip one bit in the middle of the file (inside the entries)
size=$(stat -c %s "$store_h")
off=$((size / 2))
byte=$(od -An -tu1 -j$off -N1 "$store_h" | tr -d ' ')
printf "$(printf '\\%03o' $((byte ^ 1)))" | dd of="$store_h" bs=1 seek=$off conv=notrunc status=none
kt_eq "tampered store differs from the good one" no \
	"$(cmp -s "$store_h" "$store_h.kt-good" && echo same || echo no)"
faulty "tampered store" "$store.*(MAC|tamper|authentic)"
cp -p "$store_h.kt-good" "$store_h"; rm -f "$store_h.kt-good"; fixed "tampered store"

rm -f "$cnf"; mkdir "$cnf"
faulty "unreadable config" "cannot read config file /srv/mysql/$N/data/$KT_COMP.cnf: not a regular file"
rmdir "$cnf"; printf '%s\n' "$good" >"$cnf"; fixed "unreadable config"

kt_done
