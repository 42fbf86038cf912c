#!/bin/bash
# kill -9 of mysqld while ALTER INSTANCE ROTATE INNODB MASTER KEY runs in a
# loop, three times at different moments: each restart must load the store
# (MAC verifies, component Active, no error), read every encrypted table,
# keep every key listed before the kill, and rotate again.
. "$(dirname "$0")/lib.sh"

N=kt-kill
OPTS=(--log_error_verbosity=3 --innodb_redo_log_encrypt=ON)
kt_new $N || kt_done
kt_start $N "${OPTS[@]}" || kt_done
sql="CREATE DATABASE d;"
for i in $(seq 1 12); do
	sql+="CREATE TABLE d.t$i (id INT PRIMARY KEY, v VARCHAR(20)) ENCRYPTION='Y'; INSERT INTO d.t$i VALUES ($i, 'row $i');"
done
kt_sql $N "$sql" >/dev/null
sumsql="SELECT SUM(id) FROM ($(for i in $(seq 1 12); do printf 'SELECT id FROM d.t%d UNION ALL ' $i; done | sed 's/ UNION ALL $//')) x"
kt_eq "setup: 12 encrypted tables" 78 "$(kt_sql $N "$sumsql")"

rotations="$(for i in $(seq 1 300); do printf 'ALTER INSTANCE ROTATE INNODB MASTER KEY;'; done)"
for delay in 0.4 0.9 1.6; do
	before=$(kt_sql $N "SELECT KEY_ID FROM performance_schema.keyring_keys ORDER BY KEY_ID")
	"$KT_SB" sql $N "$rotations" >/dev/null 2>&1 &
	loop=$!
	sleep "$delay"
	n0=$(kt_sql $N "SELECT COUNT(*) FROM performance_schema.keyring_keys")
	kt_kill $N
	wait $loop 2>/dev/null
	kt_match "kill after ${delay}s: rotations were running" '^[0-9]+$' "$n0"
	kt_mark $N
	kt_start $N "${OPTS[@]}" || kt_done
	kt_eq "kill after ${delay}s: component Active" Active "$(kt_status $N Component_status)"
	kt_eq "kill after ${delay}s: no keyring error" "<NONE>" "$(kt_status $N Last_error)"
	kt_eq "kill after ${delay}s: every table readable" 78 "$(kt_sql $N "$sumsql")"
	after=$(kt_sql $N "SELECT KEY_ID FROM performance_schema.keyring_keys ORDER BY KEY_ID")
	missing=$(comm -23 <(printf '%s\n' "$before") <(printf '%s\n' "$after"))
	kt_eq "kill after ${delay}s: no key lost" "" "$missing"
	nb=$(printf '%s\n' "$before" | wc -l)
	na=$(printf '%s\n' "$after" | wc -l)
	kt_eq "kill after ${delay}s: keys were added before the kill ($nb -> $na)" yes \
		"$([ "$na" -gt "$nb" ] && echo yes)"
	kt_eq "kill after ${delay}s: restart logged no keyring error or warning" "" \
		"$(kt_log_problems $N | grep -E "$KT_COMP|Encryption|keyring" || true)"
	kt_eq "kill after ${delay}s: ROTATE works after restart" "" \
		"$(kt_sql $N "ALTER INSTANCE ROTATE INNODB MASTER KEY")"
done
kt_stop $N
kt_done
