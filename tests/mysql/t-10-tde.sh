#!/bin/bash
# InnoDB and binlog encryption through component_keyring_pkcs11 in mysqld 9.7:
# status rows, encrypted tables (ENCRYPTION='Y' and default_table_encryption),
# general tablespaces, redo/undo/binlog encryption, both master key
# rotations, RELOAD KEYRING, restart, performance_schema.keyring_keys, and
# read_only.
. "$(dirname "$0")/lib.sh"

N=kt-tde
OPTS=(--log_error_verbosity=3 --innodb_redo_log_encrypt=ON --innodb_undo_log_encrypt=ON --binlog_encryption=ON)
kt_new $N || kt_done
kt_mark $N
kt_start $N "${OPTS[@]}" || kt_done

kt_say "status and start-up"
kt_eq "Component_status is Active" Active "$(kt_status $N Component_status)"
kt_eq "Component_name" $KT_COMP "$(kt_status $N Component_name)"
kt_eq "Data_file is the configured path" "$(kt_store_i $N)" "$(kt_status $N Data_file)"
kt_eq "Read_only No" No "$(kt_status $N Read_only)"
kt_eq "Token" keylocker "$(kt_status $N Token)"
kt_eq "Master_key" keylocker-master "$(kt_status $N Master_key)"
kt_eq "Module is the default one" /usr/lib/x86_64-linux-gnu/pkcs11/libkeylocker-pkcs11.so \
	"$(kt_status $N Module)"
kt_eq "Cache On" On "$(kt_status $N Cache)"
kt_eq "Last_error <NONE>" "<NONE>" "$(kt_status $N Last_error)"
kt_eq "only 3 status rows match name/status (MySQL's tests filter on them)" \
	"Component_name,Implementation_name,Component_status" \
	"$(kt_sql $N "SELECT GROUP_CONCAT(STATUS_KEY) FROM performance_schema.keyring_component_status WHERE STATUS_KEY LIKE '%name%' OR STATUS_KEY LIKE '%status%'")"
kt_eq "the store file exists after start" yes "$([ -f "$(kt_store_h $N)" ] && echo yes)"
kt_eq "redo, undo and binlog encryption are on" "1	1	1" \
	"$(kt_sql $N "SELECT @@innodb_redo_log_encrypt, @@innodb_undo_log_encrypt, @@binlog_encryption")"
kt_eq "start-up logged no error or warning" "" "$(kt_log_problems $N)"

kt_say "encrypted tables"
out=$(kt_sql $N "CREATE DATABASE d;
CREATE TABLE d.t1 (id INT PRIMARY KEY, v VARCHAR(64)) ENCRYPTION='Y';
INSERT INTO d.t1 VALUES (1, 'alpha'), (2, 'beta');
CREATE TABLESPACE ts1 ADD DATAFILE 'ts1.ibd' ENCRYPTION='Y';
CREATE TABLE d.t2 (id INT PRIMARY KEY, v VARCHAR(64)) TABLESPACE ts1 ENCRYPTION='Y';
INSERT INTO d.t2 VALUES (1, 'gamma');
SET GLOBAL default_table_encryption=ON;")
# a new connection takes the global default
out=$(kt_sql $N "CREATE DATABASE e;
CREATE TABLE e.t3 (id INT PRIMARY KEY, v VARCHAR(64));
INSERT INTO e.t3 VALUES (1, 'delta');
SET GLOBAL default_table_encryption=OFF;
SELECT GROUP_CONCAT(v ORDER BY v) FROM (SELECT v FROM d.t1 UNION ALL SELECT v FROM d.t2 UNION ALL SELECT v FROM e.t3) x;")
kt_eq "tables created and read back" "alpha,beta,delta,gamma" "$out"
kt_eq "t1, ts1 and t3 are encrypted tablespaces" "d/t1:Y,e/t3:Y,ts1:Y" \
	"$(kt_sql $N "SELECT GROUP_CONCAT(CONCAT(NAME, ':', ENCRYPTION) ORDER BY NAME) FROM information_schema.INNODB_TABLESPACES WHERE NAME IN ('d/t1', 'ts1', 'e/t3')")"
kt_eq "undo tablespaces are encrypted" 0 \
	"$(kt_sql $N "SELECT COUNT(*) FROM information_schema.INNODB_TABLESPACES WHERE SPACE_TYPE='Undo' AND ENCRYPTION<>'Y'")"
kt_eq "schema e defaults to encryption" YES \
	"$(kt_sql $N "SELECT DEFAULT_ENCRYPTION FROM information_schema.SCHEMATA WHERE SCHEMA_NAME='e'")"
binlog=$(kt_sql $N "SHOW BINARY LOGS" | tail -1 | cut -f1)
kt_eq "the binary log is encrypted (magic fd 62 69 6e)" "fd62696e" \
	"$(od -An -tx1 -N4 "$(kt_hdir $N)/data/$binlog" | tr -d ' \n')"
kt_eq "encrypted binlog reported by SHOW BINARY LOGS" Yes "$(kt_sql $N "SHOW BINARY LOGS" | tail -1 | cut -f3)"

keys() { kt_sql $N "SELECT COUNT(*) FROM performance_schema.keyring_keys WHERE KEY_ID LIKE '$1%'"; }
ik=$(keys INNODBKey-)
rk=$(keys MySQLReplicationKey_)
kt_match "keyring_keys lists InnoDB master keys" '^[1-9]' "$ik"
kt_match "keyring_keys lists binlog keys" '^[1-9]' "$rk"
kt_eq "keyring_keys lists only MySQL's keys (Entries = rows)" \
	"$(kt_sql $N "SELECT COUNT(*) FROM performance_schema.keyring_keys")" "$(kt_status $N Entries)"
kt_eq "keyring_keys: KEY_OWNER and BACKEND_KEY_ID empty for internal keys" 0 \
	"$(kt_sql $N "SELECT COUNT(*) FROM performance_schema.keyring_keys WHERE KEY_OWNER<>'' OR BACKEND_KEY_ID<>''")"

kt_say "rotations"
out=$(kt_sql $N "ALTER INSTANCE ROTATE INNODB MASTER KEY")
kt_eq "ROTATE INNODB MASTER KEY succeeds" "" "$out"
kt_eq "one more InnoDB master key" $((ik + 1)) "$(keys INNODBKey-)"
out=$(kt_sql $N "ALTER INSTANCE ROTATE BINLOG MASTER KEY")
kt_eq "ROTATE BINLOG MASTER KEY succeeds" "" "$out"
kt_match "more binlog keys" "^$((rk + 1))|^$((rk + 2))" "$(keys MySQLReplicationKey_)"
kt_eq "tables readable after rotations" "alpha,beta,delta,gamma" \
	"$(kt_sql $N "SELECT GROUP_CONCAT(v ORDER BY v) FROM (SELECT v FROM d.t1 UNION ALL SELECT v FROM d.t2 UNION ALL SELECT v FROM e.t3) x")"
kt_eq "binlog readable after rotation (SHOW BINLOG EVENTS)" yes \
	"$(kt_sql $N "SHOW BINLOG EVENTS IN '$binlog'" | grep -q 'CREATE TABLE' && echo yes)"

kt_say "RELOAD KEYRING"
entries=$(kt_status $N Entries)
kt_eq "ALTER INSTANCE RELOAD KEYRING succeeds" "" "$(kt_sql $N "ALTER INSTANCE RELOAD KEYRING")"
kt_eq "same entries after reload" "$entries" "$(kt_status $N Entries)"
kt_eq "new encrypted table after reload" "1" \
	"$(kt_sql $N "CREATE TABLE d.t4 (id INT) ENCRYPTION='Y'; INSERT INTO d.t4 VALUES (1); SELECT * FROM d.t4")"

kt_say "restart"
allkeys=$(kt_sql $N "SELECT KEY_ID FROM performance_schema.keyring_keys ORDER BY KEY_ID")
kt_stop $N
kt_mark $N
kt_start $N "${OPTS[@]}" || kt_done
kt_eq "tables readable after restart" "alpha,beta,delta,gamma" \
	"$(kt_sql $N "SELECT GROUP_CONCAT(v ORDER BY v) FROM (SELECT v FROM d.t1 UNION ALL SELECT v FROM d.t2 UNION ALL SELECT v FROM e.t3) x")"
kt_eq "the same keys after restart" "$allkeys" \
	"$(kt_sql $N "SELECT KEY_ID FROM performance_schema.keyring_keys ORDER BY KEY_ID")"
kt_eq "old binlog readable after restart" yes \
	"$(kt_sql $N "SHOW BINLOG EVENTS IN '$binlog'" | grep -q 'CREATE TABLE' && echo yes)"
kt_eq "restart logged no error or warning" "" "$(kt_log_problems $N)"
kt_eq "ROTATE INNODB MASTER KEY after restart" "" "$(kt_sql $N "ALTER INSTANCE ROTATE INNODB MASTER KEY")"

kt_say "read_only"
kt_stop $N
cnf=$(kt_cnf_h $N)
cp "$cnf" "$cnf.rw"
printf '{"path": "%s", "read_only": true}\n' "$(kt_store_i $N)" >"$cnf"
before=$(kt_sum "$(kt_store_h $N)")
kt_mark $N
kt_start $N "${OPTS[@]}" || kt_done
kt_eq "Read_only Yes" Yes "$(kt_status $N Read_only)"
kt_eq "read_only: tables readable" "alpha,beta,delta,gamma" \
	"$(kt_sql $N "SELECT GROUP_CONCAT(v ORDER BY v) FROM (SELECT v FROM d.t1 UNION ALL SELECT v FROM d.t2 UNION ALL SELECT v FROM e.t3) x")"
kt_match "read_only: ROTATE INNODB MASTER KEY is refused" 'ERROR' \
	"$(kt_sql $N "ALTER INSTANCE ROTATE INNODB MASTER KEY")"
kt_match "read_only: the refusal is a Note naming read_only" \
	'\[Note\].*component_keyring_pkcs11 reported: .*read.only' "$(kt_log $N)"
kt_eq "read_only: the store file is unchanged" "$before" "$(kt_sum "$(kt_store_h $N)")"
mv "$cnf.rw" "$cnf"
kt_eq "RELOAD back to read-write" "" "$(kt_sql $N "ALTER INSTANCE RELOAD KEYRING")"
kt_eq "Read_only No after reload" No "$(kt_status $N Read_only)"
kt_eq "ROTATE works again" "" "$(kt_sql $N "ALTER INSTANCE ROTATE INNODB MASTER KEY")"
kt_stop $N
kt_done
