#!/bin/bash
# component_keyring_pkcs11 outside mysqld, in MySQL's own keyring tools
# (minimal chassis, their reduced log_builtins): mysql_keyring_encryption_test
# must print exactly what MySQL's keyring_encryption_test expects of
# component_keyring_file (our name in place of its), and
# mysql_migrate_keyring must load it as destination and as source, keys
# surviving the round trip byte-exact.  Server migrations: t-80-migrate.
. "$(dirname "$0")/lib.sh"

D=/srv/kt-tools			# inside the chroot
H=$KT_ROOT$D
rm -rf "$H"
mkdir -p "$H/a" "$H/b"
printf '{"path": "%s/a/store", "read_only": false}\n' "$D" >"$H/a/$KT_COMP.cnf"
printf '{"path": "%s/b/keyring_file", "read_only": false}\n' "$D" >"$H/b/component_keyring_file.cnf"
printf '{"path": "%s/b/store", "read_only": false}\n' "$D" >"$H/b/$KT_COMP.cnf"

kt_say "mysql_keyring_encryption_test"
# with NULL as configuration dir the component reads ./<name>.cnf
"$KT_SB" run sh -c "cd $D/a && /usr/lib/mysql-test/bin/mysql_keyring_encryption_test \
	--component-dir=/usr/lib/mysql/plugin --keyring=$KT_COMP >$D/enc.out 2>$D/enc.err"
kt_eq "exit status 0" 0 "$?"
expected=$(sed -n '/^# Keyring encryption tests$/,/^Successfully tested AES functionality$/p' \
	"$KT_ROOT/usr/lib/mysql-test/suite/component_keyring_file/r/keyring_encryption_test.result" |
	sed '1d; s/component_keyring_file/'$KT_COMP'/')
kt_match "the expected block was found in MySQL's result file" 'MY-013713' "$expected"
kt_eq "stdout is MySQL's expected output (timestamps masked)" "$expected" \
	"$(sed -E 's/^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} /TIMESTAMP /' "$H/enc.out")"
kt_eq "nothing on stderr" "" "$(cat "$H/enc.err" 2>&1)"

kt_say "mysql_migrate_keyring"
# keys in component_keyring_file's format (JSON, hex) -> ours -> back
mkdir -p "$H/c"
printf '{"path": "%s/c/keyring_file", "read_only": false}\n' "$D" >"$H/c/component_keyring_file.cnf"
k1=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n' | tr a-f A-F)
k2=$(od -An -tx1 -N20 /dev/urandom | tr -d ' \n' | tr a-f A-F)
printf '{"version":"1.0","elements":[{"user":"","data_id":"kt_k1","data_type":"AES","data":"%s","extension":[]},{"user":"u@h","data_id":"kt_k2","data_type":"SECRET","data":"%s","extension":[]}]}' \
	"$k1" "$k2" >"$H/b/keyring_file"
chmod 600 "$H/b/keyring_file"
migrate() {	# SRC SRC-DIR DST DST-DIR
	"$KT_SB" run mysql_migrate_keyring --component-dir=/usr/lib/mysql/plugin \
		--source-keyring=$1 --source-keyring-configuration-dir=$D/$2 \
		--destination-keyring=$3 --destination-keyring-configuration-dir=$D/$4 2>&1
}
out=$(migrate component_keyring_file b $KT_COMP b)
kt_eq "into ours: exit status 0" 0 "$?"
kt_match "into ours: our component loaded and initialized" \
	"\[Note\] \[MY-013713\] \[Keyring\] Component $KT_COMP reported: 'Keyring component initialized successfully.'" "$out"
kt_match "into ours: 2 keys migrated" 'Successfully migrated 2 keys. Skipped 0 keys.' "$out"
kt_nomatch "into ours: no error or warning" '\[(Error|Warning|ERROR)\]' "$out"
out=$(migrate $KT_COMP b component_keyring_file c)
kt_eq "out of ours: exit status 0" 0 "$?"
kt_match "out of ours: 2 keys migrated" 'Successfully migrated 2 keys. Skipped 0 keys.' "$out"
kt_match "out of ours: kt_k1 byte-exact" "\"data_id\":\"kt_k1\",\"data_type\":\"AES\",\"data\":\"$k1\"" "$(cat "$H/c/keyring_file")"
kt_match "out of ours: kt_k2 byte-exact, with its owner" "\"user\":\"u@h\",\"data_id\":\"kt_k2\",\"data_type\":\"SECRET\",\"data\":\"$k2\"" "$(cat "$H/c/keyring_file")"
out=$("$KT_TOP/tests/mysql/find-secret.pl" "$k1,$k2" "$H/b/store" "$H/b/store.prev" 2>&1)
kt_eq "our store holds neither key in cleartext" 0 "$?"
# a missing store is skipped by the search: it must have read one
kt_match "the search read our store" '^searched [1-9][0-9]* files' "$out"
rm -rf "$H"
kt_done
