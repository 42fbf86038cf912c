#!/bin/bash
# component_keyring_pkcs11.cnf errors, through ALTER INSTANCE RELOAD KEYRING
# on a running server: each is refused with ER_RELOAD_KEYRING_FAILURE and a
# specific [ERROR] MY-013714 line in the error log, the keyring in use stays
# as it was, Last_error explains, and a fixed file reloads.
. "$(dirname "$0")/lib.sh"

N=kt-conf
kt_new $N || kt_done
kt_start $N --log_error_verbosity=3 || kt_done
cnf=$(kt_cnf_h $N)
store=$(kt_store_i $N)
good=$(cat "$cnf")
kt_sql $N "CREATE DATABASE d; CREATE TABLE d.t (id INT) ENCRYPTION='Y'; INSERT INTO d.t VALUES (7)" >/dev/null
entries=$(kt_status $N Entries)

# reload_fails DESCRIPTION REGEX: RELOAD must fail and log REGEX at [ERROR].
reload_fails() {
	kt_mark $N
	kt_match "$1: RELOAD fails" 'ERROR 4035 .*Keyring reload failed' \
		"$(kt_sql $N "ALTER INSTANCE RELOAD KEYRING")"
	kt_match "$1: error log says so" \
		"\[ERROR\] \[MY-013714\] .*Component $KT_COMP reported: 'The component is not initialized properly. Error: .*$2" \
		"$(kt_log $N)"
	kt_match "$1: Last_error says so" "$2" "$(kt_status $N Last_error)"
	kt_eq "$1: the keyring in use is unchanged" "Active $entries 7" \
		"$(kt_status $N Component_status) $(kt_status $N Entries) $(kt_sql $N "SELECT * FROM d.t")"
}

printf '{"xxx":  ,, e }\n' >"$cnf"
reload_fails "not JSON" "config file /srv/mysql/$N/data/$KT_COMP.cnf has not valid format"
rm -f "$cnf"
reload_fails "missing file" "cannot read config file /srv/mysql/$N/data/$KT_COMP.cnf: No such file"
mkdir "$cnf"
reload_fails "a directory instead of a file" "cannot read config file .*not a regular file"
rmdir "$cnf"
printf '{"path": "%s", "read_only": false, "pin": "x"}\n' "$store" >"$cnf"
reload_fails "unknown key" 'unknown key "pin" at line 1; the keys are path, read_only, module, token, master_key, mac_key, pin_file, cache'
printf '{"path": "%s", "read_only": "false"}\n' "$store" >"$cnf"
reload_fails "string for a boolean" '"read_only" \(line 1\) must be true or false'
printf '{"path": 5, "read_only": false}\n' >"$cnf"
reload_fails "number for a string" '"path" \(line 1\) must be a string'
printf '{"path": "%s", "read_only": false, "cache": 1}\n' "$store" >"$cnf"
reload_fails "number for a boolean" '"cache" \(line 1\) must be true or false'
printf '{"read_only": false}\n' >"$cnf"
reload_fails "no path" '"path" is missing'
printf '{"path": "%s", "read_only": false, "path": "/tmp/x"}\n' "$store" >"$cnf"
reload_fails "repeated key" 'key "path" appears twice'
printf '{"path": "%s", "read_only": false, "module": "/nonexistent/libp11.so"}\n' "$store" >"$cnf"
reload_fails "module that does not exist" 'PKCS#11 module /nonexistent/libp11.so'

printf '%s\n' "$good" >"$cnf"
kt_eq "the fixed file reloads" "" "$(kt_sql $N "ALTER INSTANCE RELOAD KEYRING")"
kt_eq "Last_error cleared" "<NONE>" "$(kt_status $N Last_error)"
kt_eq "keys still there" "$entries 7" "$(kt_status $N Entries) $(kt_sql $N "SELECT * FROM d.t")"

# RELOAD re-reads the store: MySQL's tests rename it away and back
sh=$(kt_store_h $N)
mv "$sh" "$sh.copy"
kt_eq "store renamed away: RELOAD succeeds" "" "$(kt_sql $N "ALTER INSTANCE RELOAD KEYRING")"
kt_eq "store renamed away: an empty keyring" "0 0" \
	"$(kt_status $N Entries) $(kt_sql $N "SELECT COUNT(*) FROM performance_schema.keyring_keys")"
kt_eq "store renamed away: an empty store was created at path" yes "$([ -f "$sh" ] && echo yes)"
kt_match "store renamed away: no new encrypted table" '^ERROR' \
	"$(kt_sql $N "CREATE TABLE d.x (id INT) ENCRYPTION='Y'")"
kt_eq "store renamed away: the open table still reads (InnoDB caches its key)" 7 \
	"$(kt_sql $N "SELECT * FROM d.t")"
mv "$sh.copy" "$sh"
kt_eq "store renamed back: RELOAD succeeds" "" "$(kt_sql $N "ALTER INSTANCE RELOAD KEYRING")"
kt_eq "store renamed back: every entry back" "$entries" "$(kt_status $N Entries)"
kt_eq "store renamed back: new encrypted table" "" "$(kt_sql $N "CREATE TABLE d.x (id INT) ENCRYPTION='Y'")"

# the plugin-dir file chooses the datadir one; both are read by the loader
kt_eq "plugin-dir .cnf says read_local_config" '{"read_local_config": true}' \
	"$(tr -d '\n' <"$KT_ROOT/usr/lib/mysql/plugin/$KT_COMP.cnf")"
kt_eq "Config_file names the datadir file" "/srv/mysql/$N/data/$KT_COMP.cnf" "$(kt_status $N Config_file)"
kt_stop $N
kt_done
