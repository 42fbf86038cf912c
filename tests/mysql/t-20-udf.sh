#!/bin/bash
# keyring_udf over component_keyring_pkcs11: generate, store, fetch (bytes,
# type, length), remove, the error paths, keys surviving a restart, cache:
# false; then no key in cleartext in any file the server, the component or
# the token wrote (keys fetched through keyring_udf, searched as raw bytes,
# hex and base64 by find-secret.pl).
. "$(dirname "$0")/lib.sh"

N=kt-udf
OPTS=(--log_error_verbosity=3 --innodb_redo_log_encrypt=ON --innodb_undo_log_encrypt=ON --binlog_encryption=ON)
kt_new $N || kt_done
kt_start $N "${OPTS[@]}" || kt_done

out=$(kt_sql $N "INSTALL PLUGIN keyring_udf SONAME 'keyring_udf.so';
CREATE FUNCTION keyring_key_generate RETURNS INTEGER SONAME 'keyring_udf.so';
CREATE FUNCTION keyring_key_fetch RETURNS STRING SONAME 'keyring_udf.so';
CREATE FUNCTION keyring_key_length_fetch RETURNS INTEGER SONAME 'keyring_udf.so';
CREATE FUNCTION keyring_key_type_fetch RETURNS STRING SONAME 'keyring_udf.so';
CREATE FUNCTION keyring_key_store RETURNS INTEGER SONAME 'keyring_udf.so';
CREATE FUNCTION keyring_key_remove RETURNS INTEGER SONAME 'keyring_udf.so';")
kt_eq "keyring_udf installed" "" "$out"

kt_say "generate"
for len in 16 32 64; do
	kt_eq "generate AES $len bytes" 1 "$(kt_sql $N "SELECT keyring_key_generate('gen$len', 'AES', $len)")"
	kt_eq "length of gen$len" $len "$(kt_sql $N "SELECT keyring_key_length_fetch('gen$len')")"
	kt_eq "type of gen$len" AES "$(kt_sql $N "SELECT keyring_key_type_fetch('gen$len')")"
	kt_eq "fetch gen$len gives $len bytes" $len "$(kt_sql $N "SELECT LENGTH(keyring_key_fetch('gen$len'))")"
done
kt_eq "generate SECRET 24 bytes" 1 "$(kt_sql $N "SELECT keyring_key_generate('gensecret', 'SECRET', 24)")"
kt_eq "type of gensecret" SECRET "$(kt_sql $N "SELECT keyring_key_type_fetch('gensecret')")"
g1=$(kt_sql $N "SELECT HEX(keyring_key_fetch('gen32'))")
g2=$(kt_sql $N "SELECT HEX(keyring_key_fetch('gen32'))")
kt_eq "two fetches give the same bytes" "$g1" "$g2"
kt_nomatch "generated keys differ" "^$(kt_sql $N "SELECT HEX(keyring_key_fetch('gen16'))")\$" \
	"$(kt_sql $N "SELECT LEFT(HEX(keyring_key_fetch('gen32')), 32)")"

kt_say "store and fetch"
# low and high byte values (keyring_udf takes the key as a C string: no NUL)
aes40=FF0102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F2021222324252627
# random bytes without NUL
rnd() { head -c 4096 /dev/urandom | tr -d '\000' | head -c "$1" | od -An -tx1 | tr -d ' \n' | tr a-f A-F; }
sec29=$(rnd 29)
sec24=$(rnd 24)
kt_eq "store AES 40 bytes" 1 "$(kt_sql $N "SELECT keyring_key_store('aes40', 'AES', X'$aes40')")"
kt_eq "store SECRET 29 bytes" 1 "$(kt_sql $N "SELECT keyring_key_store('sec29', 'SECRET', X'$sec29')")"
kt_eq "store SECRET 24 bytes" 1 "$(kt_sql $N "SELECT keyring_key_store('sec24', 'SECRET', X'$sec24')")"
kt_eq "fetch aes40 byte-exact" "$aes40" "$(kt_sql $N "SELECT HEX(keyring_key_fetch('aes40'))")"
kt_eq "fetch sec29 byte-exact" "$sec29" "$(kt_sql $N "SELECT HEX(keyring_key_fetch('sec29'))")"
kt_eq "type and length of sec29" "SECRET	29" \
	"$(kt_sql $N "SELECT keyring_key_type_fetch('sec29'), keyring_key_length_fetch('sec29')")"
# keyring_udf returns NULL when the keyring refuses
kt_eq "storing over an existing key fails (NULL)" NULL \
	"$(kt_sql $N "SELECT keyring_key_store('aes40', 'AES', 'another value, 32 bytes long....')")"
kt_eq "the existing key is unchanged" "$aes40" "$(kt_sql $N "SELECT HEX(keyring_key_fetch('aes40'))")"
kt_eq "generating over an existing key fails (NULL)" NULL \
	"$(kt_sql $N "SELECT keyring_key_generate('gen16', 'AES', 16)")"
kt_eq "keyring_keys shows the udf keys with their owner" "aes40,gen16,gen32,gen64,gensecret,sec24,sec29" \
	"$(kt_sql $N "SELECT GROUP_CONCAT(KEY_ID ORDER BY KEY_ID) FROM performance_schema.keyring_keys WHERE KEY_OWNER='root@localhost'")"

kt_mark $N
# an empty value from a table row reaches the keyring (MySQL's
# keyring_udf_invalid_args expects 1, NULL, 1)
kt_eq "empty, NULL and normal values from a table" "1,NULL,1" \
	"$(kt_sql $N "CREATE DATABASE u; CREATE TABLE u.val (id INT, name VARCHAR(10), val VARCHAR(16));
INSERT INTO u.val VALUES (1, 'empty1', ''), (2, 'null2', NULL), (3, 'text3', 'Valid key text');
SELECT GROUP_CONCAT(IFNULL(keyring_key_store(name, 'SECRET', val), 'NULL') ORDER BY id) FROM u.val")"
kt_eq "the empty secret is listed in keyring_keys" "empty1" \
	"$(kt_sql $N "SELECT KEY_ID FROM performance_schema.keyring_keys WHERE KEY_ID='empty1'")"
# keyring_udf turns a zero-length key into NULLs (so it does over
# component_keyring_file: checked by hand on the same server)
kt_eq "keyring_udf reads the empty secret as NULLs" "NULL	NULL	NULL" \
	"$(kt_sql $N "SELECT keyring_key_fetch('empty1'), keyring_key_type_fetch('empty1'), keyring_key_length_fetch('empty1')")"
kt_eq "keyring_udf's type check and the empty secret logged no error or warning" "" "$(kt_log_problems $N)"
kt_eq "remove the empty secret and text3" "1	1" \
	"$(kt_sql $N "SELECT keyring_key_remove('empty1'), keyring_key_remove('text3')")"

kt_say "missing keys and remove"
kt_mark $N
kt_eq "fetch of a missing key is NULL" NULL "$(kt_sql $N "SELECT keyring_key_fetch('nosuch')")"
kt_match "the miss is Note MY-013721 with MySQL's text" \
	"\[Note\] \[MY-013721\] .*Component $KT_COMP reported: 'Could not find the data corresponding to Data ID: 'nosuch', Auth ID: 'root@localhost'.'" \
	"$(kt_log $N)"
kt_eq "remove sec24" 1 "$(kt_sql $N "SELECT keyring_key_remove('sec24')")"
kt_eq "sec24 is gone" NULL "$(kt_sql $N "SELECT keyring_key_fetch('sec24')")"
kt_eq "removing it again fails (NULL)" NULL "$(kt_sql $N "SELECT keyring_key_remove('sec24')")"
kt_eq "the misses logged no error or warning" "" "$(kt_log_problems $N)"

kt_say "restart and cache: false"
kt_stop $N
kt_start $N "${OPTS[@]}" || kt_done
kt_eq "aes40 after restart" "$aes40" "$(kt_sql $N "SELECT HEX(keyring_key_fetch('aes40'))")"
kt_eq "gen32 after restart" "$g1" "$(kt_sql $N "SELECT HEX(keyring_key_fetch('gen32'))")"
kt_eq "sec24 still gone after restart" NULL "$(kt_sql $N "SELECT keyring_key_fetch('sec24')")"
cnf=$(kt_cnf_h $N)
printf '{"path": "%s", "read_only": false, "cache": false}\n' "$(kt_store_i $N)" >"$cnf"
kt_eq "RELOAD with cache: false" "" "$(kt_sql $N "ALTER INSTANCE RELOAD KEYRING")"
kt_eq "Cache Off" Off "$(kt_status $N Cache)"
kt_eq "sec29 fetched with cache off" "$sec29" "$(kt_sql $N "SELECT HEX(keyring_key_fetch('sec29'))")"
kt_eq "nothing cached with cache off" 0 "$(kt_status $N Cached_entries)"

kt_say "no key in cleartext on disk"
# more work for the server to write: encrypted rows, binlog, a rotation
kt_sql $N "CREATE DATABASE d; CREATE TABLE d.t (id INT PRIMARY KEY, v TEXT) ENCRYPTION='Y';
INSERT INTO d.t VALUES (1, REPEAT('x', 5000)); ALTER INSTANCE ROTATE INNODB MASTER KEY;
ALTER INSTANCE ROTATE BINLOG MASTER KEY; FLUSH BINARY LOGS" >/dev/null
secrets=$aes40,$sec29,$sec24,$g1
for k in gen16 gen64 gensecret; do
	secrets=$secrets,$(kt_sql $N "SELECT HEX(keyring_key_fetch('$k'))")
done
kt_stop $N	# everything flushed and closed
# every key of the keyring, InnoDB's and the binlog's included: copied in
# clear (hex) into a component_keyring_file store outside the searched dirs
M=/srv/kt-udf-mig
rm -rf "$KT_ROOT$M"; mkdir -p "$KT_ROOT$M"
printf '{"path": "%s/keyring_file", "read_only": false}\n' "$M" >"$KT_ROOT$M/component_keyring_file.cnf"
cp "$(kt_cnf_h $N)" "$KT_ROOT$M/"
"$KT_SB" run mysql_migrate_keyring --component-dir=/usr/lib/mysql/plugin \
	--source-keyring=$KT_COMP --source-keyring-configuration-dir=$M \
	--destination-keyring=component_keyring_file --destination-keyring-configuration-dir=$M >/dev/null 2>&1
# (not the binlog's sequence records, MySQLReplicationKey_<uuid> and
# ..._last_purged: counters such as 1 and 2, which any file may hold)
allhex=$(grep -o '"data_id":"[^"]*","data_type":"[^"]*","data":"[0-9A-F]*"' "$KT_ROOT$M/keyring_file" |
	grep -vE '"data_id":"MySQLReplicationKey_[0-9a-f-]+(_last_purged)?"' | cut -d'"' -f12 | paste -sd, -)
rm -rf "$KT_ROOT$M"
kt_match "all keys copied out for the search (InnoDB and binlog keys among them)" \
	'^([0-9A-F]{32,},){9}$' "$allhex,"
secrets=$secrets,$allhex
dirs=("$(kt_hdir $N)" "$KT_ROOT/etc/keylocker")
[ -e "$KT_ROOT/var/log/keylocker-audit.log" ] && dirs+=("$KT_ROOT/var/log/keylocker-audit.log")
out=$("$KT_TOP/tests/mysql/find-secret.pl" "$secrets" "${dirs[@]}")
rc=$?
kt_eq "find-secret: no key in any file (instance dir, /etc/keylocker, audit log)" 0 "$rc"
[ "$rc" -eq 0 ] || printf '%s\n' "$out" | head -20
kt_match "find-secret searched the store, binlogs, redo and tablespaces" \
	'searched ([5-9][0-9]|[1-9][0-9]{2,}) files' "$out"
# the search can fail: put one key's hex into a file the search covers
printf 'leak %s\n' "${sec29,,}" >"$(kt_hdir $N)/files/control.txt"
"$KT_TOP/tests/mysql/find-secret.pl" "$secrets" "$(kt_hdir $N)" >/dev/null
kt_eq "control: a planted hex copy is found" 1 "$?"
rm -f "$(kt_hdir $N)/files/control.txt"
kt_done
