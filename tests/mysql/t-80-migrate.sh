#!/bin/bash
# t-80-migrate: mysql_migrate_keyring from component_keyring_file to
# component_keyring_pkcs11, then the server runs on ours alone.
#
# An instance on component_keyring_file gets every kind of encrypted data
# MySQL keeps under the keyring (file-per-table and general tablespaces, a
# compressed and a partitioned table, the mysql system tablespace, redo and
# undo logs, binary logs), with the InnoDB and binlog master keys rotated so
# several generations of keys exist.  It is stopped, its keys migrated
# offline with MySQL's own tool, its manifest switched to ours and the old
# keyring file moved away; then every encrypted table must open with the
# same content, the old binary logs must still decrypt, the key list must be
# the same, new keys must work, and all of it again after one more restart.
# Our store must not hold any migrated key in clear.
#
# Runs in scripts/mysql-sandbox.sh's sandbox (KL_SANDBOX_DIR to choose one),
# which must already hold the build (install-build).
set -uo pipefail

source "$(dirname "$0")/mtr/common.sh"

NAME=${KL_T80_INSTANCE:-kt-80-migrate}
I_DIR=/srv/mysql/$NAME			# inside the chroot (mysql-sandbox.sh layout)
I_DATA=$I_DIR/data
FILE_KEYRING=$I_DIR/keyring/component_keyring_file
OUR_STORE=$I_DIR/keyring/component_keyring_pkcs11
OPTS=(--innodb-redo-log-encrypt=ON --innodb-undo-log-encrypt=ON --binlog-encryption=ON)

need_build
need_token

tmp=$(mktemp -d)
cleanup() {
	"$SB" destroy "$NAME" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT

sql() {	# sql SQL: print the result (-N -B); a failed statement fails the test
	local out
	if ! out=$("$SB" sql "$NAME" "$1" 2>&1); then
		not_ok "SQL failed: $1: $out"
		return 1
	fi
	printf '%s\n' "$out"
}

start() {
	if ! "$SB" start "$NAME" "${OPTS[@]}" >/dev/null 2>"$tmp/start.err"; then
		cat "$tmp/start.err" >&2
		bail "mysqld did not start ($1)"
	fi
}

# ---------------------------------------------------------------- on component_keyring_file

"$SB" init "$NAME" --component file://component_keyring_file >/dev/null ||
	bail "init of $NAME on component_keyring_file failed"
reset_global_cnf
start "on component_keyring_file"
check "instance runs on component_keyring_file" "component_keyring_file Active" \
	"$(sql "SELECT GROUP_CONCAT(STATUS_VALUE ORDER BY STATUS_KEY SEPARATOR ' ')
	    FROM performance_schema.keyring_component_status
	    WHERE STATUS_KEY IN ('Component_name', 'Component_status')")"

# Rows with every byte value and some bulk, so a wrong key cannot go unseen.
sql "CREATE DATABASE kl;
CREATE TABLE kl.fpt (id INT PRIMARY KEY, v VARCHAR(64), b LONGBLOB) ENCRYPTION='Y';
INSERT INTO kl.fpt WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 500)
  SELECT n, SHA2(n, 256), REPEAT(UNHEX(LPAD(HEX(n % 256), 2, '0')), 1000 + n) FROM s;
CREATE TABLESPACE kl_ts ADD DATAFILE 'kl_ts.ibd' ENCRYPTION='Y';
CREATE TABLE kl.general (id INT PRIMARY KEY, v TEXT) TABLESPACE kl_ts ENCRYPTION='Y';
INSERT INTO kl.general SELECT id, CONCAT('general-', v) FROM kl.fpt;
CREATE TABLE kl.compressed (id INT PRIMARY KEY, v TEXT) ROW_FORMAT=COMPRESSED ENCRYPTION='Y';
INSERT INTO kl.compressed SELECT id, REPEAT(v, 20) FROM kl.fpt;
CREATE TABLE kl.parts (id INT PRIMARY KEY, v VARCHAR(64)) ENCRYPTION='Y'
  PARTITION BY HASH(id) PARTITIONS 4;
INSERT INTO kl.parts SELECT id, v FROM kl.fpt;
ALTER TABLESPACE mysql ENCRYPTION='Y';
ALTER INSTANCE ROTATE INNODB MASTER KEY;
ALTER INSTANCE ROTATE BINLOG MASTER KEY;
CREATE TABLE kl.after_rotation (id INT PRIMARY KEY, v VARCHAR(64)) ENCRYPTION='Y';
INSERT INTO kl.after_rotation SELECT id, v FROM kl.fpt WHERE id <= 100;
CREATE TABLE kl.plain (id INT PRIMARY KEY) ENCRYPTION='N';
INSERT INTO kl.plain VALUES (1), (2), (3);
FLUSH BINARY LOGS;" >/dev/null || bail "could not create the encrypted data"

TABLES="kl.fpt, kl.general, kl.compressed, kl.parts, kl.after_rotation, kl.plain, mysql.user"
Q_SUM="CHECKSUM TABLE $TABLES EXTENDED"
Q_KEYS="SELECT KEY_ID, KEY_OWNER, BACKEND_KEY_ID FROM performance_schema.keyring_keys ORDER BY KEY_ID"
Q_ENC="SELECT NAME FROM information_schema.INNODB_TABLESPACES WHERE ENCRYPTION = 'Y' ORDER BY NAME"
Q_MYSQL_TS="SELECT ENCRYPTION FROM information_schema.INNODB_TABLESPACES WHERE NAME = 'mysql'"
sums_before=$(sql "$Q_SUM")
keys_before=$(sql "$Q_KEYS")
enc_before=$(sql "$Q_ENC")
binlogs=$(sql "SHOW BINARY LOGS")
old_binlog=$(awk -F'\t' '$3 == "Yes" { print $1; exit }' <<<"$binlogs")
events_before=$(sql "SHOW BINLOG EVENTS IN '$old_binlog'" | cut -f2,6 | md5sum)
nkeys=$(grep -c . <<<"$keys_before")
echo "# keys (performance_schema.keyring_keys) before the migration:"
sed 's/^/#   /' <<<"$keys_before"

check "the mysql tablespace is encrypted" Y "$(sql "$Q_MYSQL_TS")"
check "every tablespace made encrypted is listed as encrypted" \
	"kl/after_rotation kl/compressed kl/fpt kl/parts#p#p0 kl/parts#p#p1 kl/parts#p#p2 kl/parts#p#p3 kl_ts mysql" \
	"$(grep -E '^(kl|mysql$)' <<<"$enc_before" | sort | tr '\n' ' ' | sed 's/ $//')"
[[ -n $old_binlog ]] && ok "an encrypted binary log exists ($old_binlog)" ||
	not_ok "no encrypted binary log in: $binlogs"
# One InnoDB master key per rotation, binlog keys per rotation plus the
# sequence-number records: at least 4 keys.
((nkeys >= 4)) && ok "keyring holds $nkeys keys before the migration" ||
	not_ok "expected at least 4 keys in performance_schema.keyring_keys, got $nkeys: $keys_before"
grep -q '^INNODBKey-' <<<"$keys_before" && grep -q '^MySQLReplicationKey_' <<<"$keys_before" &&
	ok "InnoDB and binlog master keys are among them" ||
	not_ok "InnoDB or binlog keys missing: $keys_before"

"$SB" stop "$NAME" || bail "clean shutdown on component_keyring_file failed"

# ---------------------------------------------------------------- migrate

printf '{"path": "%s", "read_only": false}\n' "$OUR_STORE" >"$CHROOT$I_DATA/component_keyring_pkcs11.cnf"
migrate=(mysql_migrate_keyring --component-dir="$PLUGIN_DIR"
	--source-keyring=component_keyring_file --source-keyring-configuration-dir="$I_DATA"
	--destination-keyring=component_keyring_pkcs11 --destination-keyring-configuration-dir="$I_DATA")
echo "# ${migrate[*]}"
if "$SB" run "${migrate[@]}" >"$tmp/migrate.out" 2>"$tmp/migrate.err"; then
	ok "mysql_migrate_keyring exits 0"
else
	not_ok "mysql_migrate_keyring failed: $(cat "$tmp/migrate.out" "$tmp/migrate.err")"
fi
sed 's/^/#   /' "$tmp/migrate.out" "$tmp/migrate.err"
check "mysql_migrate_keyring migrated every key, skipped none" \
	"Successfully migrated $nkeys keys. Skipped 0 keys." \
	"$(grep -o 'Successfully migrated.*' "$tmp/migrate.out" "$tmp/migrate.err" -h | head -n1)"
if grep -qiE 'error|warning' "$tmp/migrate.err"; then
	not_ok "mysql_migrate_keyring printed errors or warnings: $(cat "$tmp/migrate.err")"
else
	ok "mysql_migrate_keyring printed no error or warning"
fi
[[ -s $CHROOT$OUR_STORE ]] && ok "our store $OUR_STORE was written" ||
	not_ok "no store at $OUR_STORE after the migration"

# No migrated key may be in our store in clear: neither the bytes nor
# their hex (component_keyring_file keeps them as hex in JSON).
leak=$(python3 - "$CHROOT$FILE_KEYRING" "$CHROOT$OUR_STORE" <<-'EOF'
	import json, sys
	src = json.load(open(sys.argv[1]))
	store = open(sys.argv[2], "rb").read()
	n = 0
	for e in src["elements"]:
	    raw = bytes.fromhex(e["data"])
	    if len(raw) < 8:
	        continue
	    n += 1
	    if raw in store or e["data"].lower().encode() in store.lower():
	        print("LEAK " + e["data_id"])
	print("checked %d" % n)
	EOF
)
if grep -q LEAK <<<"$leak"; then
	not_ok "keys in clear in our store: $leak"
elif [[ $leak =~ checked\ ([0-9]+) ]] && ((BASH_REMATCH[1] >= 4)); then
	ok "none of the ${BASH_REMATCH[1]} migrated key values is in our store in clear"
else
	not_ok "could not compare the key values: $leak"
fi

# Switch the manifest; the old keyring goes away so only ours can serve.
rm -f "$CHROOT$I_DATA/mysqld.my"
printf '{"components": "file://component_keyring_pkcs11"}\n' >"$CHROOT$I_DATA/mysqld.my"
chmod 0444 "$CHROOT$I_DATA/mysqld.my"
mv "$CHROOT$FILE_KEYRING" "$CHROOT$FILE_KEYRING.moved-away"

# ---------------------------------------------------------------- on component_keyring_pkcs11

verify() {	# verify WHEN
	check "$1: server runs on component_keyring_pkcs11" "component_keyring_pkcs11 Active" \
		"$(sql "SELECT GROUP_CONCAT(STATUS_VALUE ORDER BY STATUS_KEY SEPARATOR ' ')
		    FROM performance_schema.keyring_component_status
		    WHERE STATUS_KEY IN ('Component_name', 'Component_status')")"
	check "$1: every table opens, checksums unchanged" "$sums_before" "$(sql "$Q_SUM")"
	check "$1: the same tablespaces are encrypted" "$enc_before" "$(sql "$Q_ENC")"
	check "$1: the mysql tablespace is still encrypted" Y "$(sql "$Q_MYSQL_TS")"
	check "$1: redo and undo log encryption still on" "1	1" \
		"$(sql "SELECT @@innodb_redo_log_encrypt, @@innodb_undo_log_encrypt")"
	check "$1: the old encrypted binary log $old_binlog still decrypts" "$events_before" \
		"$(sql "SHOW BINLOG EVENTS IN '$old_binlog'" | cut -f2,6 | md5sum)"
}

start "on component_keyring_pkcs11"
verify "after the migration"
check "after the migration: the same keys are listed" "$keys_before" "$(sql "$Q_KEYS")"

# New keys through ours: InnoDB and binlog rotation, a new encrypted table.
sql "ALTER INSTANCE ROTATE INNODB MASTER KEY;
ALTER INSTANCE ROTATE BINLOG MASTER KEY;
CREATE TABLE kl.on_pkcs11 (id INT PRIMARY KEY, v VARCHAR(64)) ENCRYPTION='Y';
INSERT INTO kl.on_pkcs11 SELECT id, v FROM kl.fpt;
FLUSH BINARY LOGS;" >/dev/null && ok "master key rotations and a new encrypted table on ours"
keys_after=$(sql "$Q_KEYS")
(($(grep -c . <<<"$keys_after") > nkeys)) && ok "rotations added keys ($(grep -c . <<<"$keys_after") now)" ||
	not_ok "no new key after the rotations: $keys_after"
sum_new=$(sql "CHECKSUM TABLE kl.on_pkcs11 EXTENDED")
enc_before=$(sort <<<"$enc_before"$'\n'"kl/on_pkcs11")

"$SB" stop "$NAME" || not_ok "clean shutdown on component_keyring_pkcs11 failed"
start "on component_keyring_pkcs11, second start"
verify "after a second restart"
check "after a second restart: the key list is unchanged" "$keys_after" "$(sql "$Q_KEYS")"
check "after a second restart: the table made on ours opens" "$sum_new" \
	"$(sql "CHECKSUM TABLE kl.on_pkcs11 EXTENDED")"
"$SB" stop "$NAME" || not_ok "final clean shutdown failed"

finish
