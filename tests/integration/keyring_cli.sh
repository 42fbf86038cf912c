#!/bin/bash
# keylocker keyring and keylocker mysql wire, the real CLI against a throwaway
# keylocker (keylocker init, SoftHSM2 behind libkeylocker-pkcs11.so), with
# stores written by the engine as the component writes them (kr_fill).
#   keyring_cli.sh <path of kr_fill>
# Exit 0 when every check passes, 1 on a failure, 77 when a tool is missing.
set -u

build=${KL_BUILD_DIR:?run through ctest}
fill=${1:?usage: keyring_cli.sh KR_FILL}
cli=$build/tools/keylocker
module=$build/pkcs11/libkeylocker-pkcs11.so
bare=/usr/lib/softhsm/libsofthsm2.so
for tool in pkcs11-tool softhsm2-util cmp stat; do
	command -v $tool >/dev/null || { echo "SKIP: $tool is not installed"; exit 77; }
done
[ -r "$bare" ] || { echo "SKIP: SoftHSM2 is not installed"; exit 77; }
getent passwd nobody >/dev/null || { echo "SKIP: no user nobody"; exit 77; }

dir=$(mktemp -d /tmp/kl-kcli-XXXXXX)
holder=
trap '[ -n "$holder" ] && kill $holder 2>/dev/null; rm -rf "$dir"' EXIT
fails=0 passes=0
pass() { echo "ok   $*"; passes=$((passes + 1)); }
fail() { echo "FAIL $*"; fails=$((fails + 1)); }
# run NAME RC COMMAND...: the command exits with RC; its output in $dir/out, $dir/err
run() {
	local name=$1 want=$2 got; shift 2
	"$@" >"$dir/out" 2>"$dir/err"; got=$?
	if [ "$got" = "$want" ]; then pass "$name"; else
		fail "$name (exit $got, expected $want)"; sed 's/^/     out: /' "$dir/out"
		sed 's/^/     err: /' "$dir/err"; fi
}
# expect NAME PATTERN [FILE]: the last output (or FILE) matches
expect() { if grep -qE -- "$2" "${3:-$dir/out}"; then pass "$1"; else fail "$1 (no /$2/)"
	sed 's/^/     /' "${3:-$dir/out}" | head -20; fi; }
refute() { if grep -qE -- "$2" "${3:-$dir/out}"; then fail "$1 (found /$2/)"; else pass "$1"; fi; }
same() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1 ('$2' != '$3')"; fi; }

init() {	# init DIR: a keylocker of its own
	KEYLOCKER_MODULE=$module "$cli" init --dir "$1" --admin-pin admin-pin-1 \
		--keyring-pin keyring-pin-1 --pin-cost 10 --no-append-only --no-syslog \
		--quiet >/dev/null
}
init "$dir/kl" || { echo "FAIL keylocker init"; exit 1; }
export KEYLOCKER_MODULE=$module KEYLOCKER_CONF=$dir/kl/keylocker.yaml
export SOFTHSM2_CONF=$dir/kl/softhsm2.conf
mkdir "$dir/store"
store=$dir/store/keyring
cnf=$dir/k.cnf
printf '{"path": "%s", "read_only": false, "module": "%s", "pin_file": "%s"}\n' \
	"$store" "$module" "$dir/kl/keyring.pin" >"$cnf"
K() { "$cli" keyring "$@"; }
# pkcs11-tool is not instrumented: under ASan it needs the runtime preloaded
# to load an instrumented module (its own leaks are not ours to report)
sanrt=$(ldd "$module" 2>/dev/null | awk '/lib(asan|ubsan)\.so/ { printf "%s ", $3 }')
admin() {
	LD_PRELOAD=$sanrt ASAN_OPTIONS=detect_leaks=0 \
		pkcs11-tool --module "$module" --login --pin admin-pin-1 "$@"
}

# -- usage: exit 2, --help exit 0
run "keyring without a verb" 2 K
run "keyring unknown verb" 2 K frobnicate
run "backup without --out" 2 K backup --config "$cnf"
expect "backup: says --out is required" "--out FILE is required" "$dir/err"
run "rewrap without --to" 2 K rewrap --config "$cnf"
run "list with an option of another verb" 2 K list --config "$cnf" --to x
run "list --help" 0 K list --help
expect "list --help: usage" "usage: keylocker keyring list"
run "restore --help documents the server check" 0 K restore --help
expect "restore --help: stop mysqld" "stop\s+mysqld"
run "--config and --store together" 1 K list --config "$cnf" --store "$store"
run "a missing .cnf" 1 K list --config "$dir/nope.cnf"
expect "a missing .cnf: names it" "nope.cnf" "$dir/err"

# -- a store written by the engine: 30 generated keys and one known value
known=8f3a0b1c2d3e4f5061728394a5b6c7d8e9fa0b1c2d3e4f506172839405162738
run "engine writes 30 entries" 0 "$fill" "$cnf" generate 30 INNODBKey-6c3a
run "engine stores a known value" 0 "$fill" "$cnf" store persisted_variables_key "$known"
run "digest of every value" 0 "$fill" "$cnf" digest
d0=$(cat "$dir/out")
expect "31 entries" "^31 "

# -- list: metadata only
run "list" 0 K list --config "$cnf"
expect "list: header" "DATA_ID +AUTH_ID +TYPE +LENGTH +WRAPPED BY"
expect "list: an entry with its wrapping key" "INNODBKey-6c3a-3 +root@localhost +AES +32 +keylocker-master"
expect "list: the count" "^31 entries in $store \(generation 31\)"
refute "list: no value printed" "$known"
run "list --json" 0 K list --config "$cnf" --json
same "list --json: 31 entries" "$(grep -o '"data_id"' "$dir/out" | wc -l)" 31
expect "list --json: one object" '^\{"store": ".*", "generation": 31, "entries": \['
expect "list --json: fields" '"data_id": "persisted_variables_key", "auth_id": "", "type": "SECRET", "length": 32, "master_key": "keylocker-master"\}'
refute "list --json: no value printed" "$known"
run "list --store with the component's defaults" 0 K list --store "$store" \
	--pin-file "$dir/kl/keyring.pin"
expect "list --store" "^31 entries"

# -- verify
run "verify" 0 K verify --config "$cnf"
expect "verify: counts" "generation 31: MAC verified with key keylocker-store-mac; 31 entries, 31 unwrapped in the token, 0 failed"
expect "verify: progress" "verify: 31/31 entries \(100%\)" "$dir/err"
refute "verify: no value printed" "$known"
cp -p "$store" "$dir/store.good"
printf 'X' | dd of="$store" bs=1 seek=300 conv=notrunc 2>/dev/null
run "verify: a tampered store" 1 K verify --config "$cnf"
expect "verify: the MAC names the tampering" "MAC does not verify" "$dir/err"
cp -p "$dir/store.good" "$store"

# -- backup
run "backup" 0 K backup --config "$cnf" --out "$dir/b1.kls"
expect "backup: read back" "generation 31, 31 entries\) to $dir/b1.kls; it was read back and its MAC verified"
cmp -s "$store" "$dir/b1.kls" && pass "backup: byte for byte the store" || fail "backup differs"
same "backup: mode 0600" "$(stat -c %a "$dir/b1.kls")" 600
run "backup never overwrites" 1 K backup --config "$cnf" --out "$dir/b1.kls"
expect "backup: says it exists" "exists: not overwriting" "$dir/err"
run "backup of a missing store" 1 K backup --store "$dir/store/none" \
	--pin-file "$dir/kl/keyring.pin" --out "$dir/b0.kls"
expect "backup of a missing store: says so" "does not exist: nothing to back up" "$dir/err"

# -- rewrap: the admin makes the new master key, the keyring client re-wraps
run "admin generates keylocker-master-2" 0 admin --keygen --key-type AES:32 --usage-wrap \
	--label keylocker-master-2
run "rewrap --to keylocker-master-2" 0 K rewrap --config "$cnf" --to keylocker-master-2
expect "rewrap: report" "re-wrapped 31 entries of $store under keylocker-master-2 inside the token .* now generation 32"
expect "rewrap: progress" "rewrap: 31/31 entries \(100%\)" "$dir/err"
expect "rewrap: the next step" "set \"master_key\": \"keylocker-master-2\" in $cnf"
run "list after rewrap" 0 K list --config "$cnf"
same "every entry under the new key" "$(grep -c ' keylocker-master-2$' "$dir/out")" 31
run "digest after rewrap" 0 "$fill" "$cnf" digest
same "rewrap: every value unchanged" "$(cat "$dir/out")" "$d0"
run "verify after rewrap" 0 K verify --config "$cnf" --quiet
expect "verify after rewrap: all unwrap" "31 unwrapped in the token, 0 failed"
cp -p "$store" "$dir/store.rewrapped"
run "rewrap again: nothing to do" 0 K rewrap --config "$cnf" --to keylocker-master-2 --quiet
expect "rewrap again: says so" "already wrapped by keylocker-master-2: nothing to do"
cmp -s "$store" "$dir/store.rewrapped" && pass "rewrap again: store untouched" ||
	fail "rewrap again rewrote the store"
run "admin generates other-master (not the keyring client's)" 0 admin --keygen \
	--key-type AES:32 --usage-wrap --label other-master
run "rewrap to a key the client may not use" 1 K rewrap --config "$cnf" --to other-master
expect "rewrap refused: the policy's answer" "CKR_KEY_FUNCTION_NOT_PERMITTED; nothing was written" "$dir/err"
expect "rewrap refused: warned first" "no keyring client of .* may use master key \"other-master\"" "$dir/err"
run "rewrap to a missing key" 1 K rewrap --config "$cnf" --to no-such-key
expect "rewrap to a missing key: says so" "no secret key labelled 'no-such-key'" "$dir/err"
cmp -s "$store" "$dir/store.rewrapped" && pass "refused rewraps: store untouched" ||
	fail "a refused rewrap changed the store"
# the operator's next step: new keys under the new master key, then retire the old one
printf '{"path": "%s", "read_only": false, "module": "%s", "pin_file": "%s", "master_key": "keylocker-master-2"}\n' \
	"$store" "$module" "$dir/kl/keyring.pin" >"$cnf"
run "retire the old master key" 0 env KEYLOCKER_PIN=admin-pin-1 "$cli" retire keylocker-master
run "rewrap back to a retired key" 1 K rewrap --config "$cnf" --to keylocker-master
expect "retired keys wrap nothing" "retired|CKR_KEY_FUNCTION_NOT_PERMITTED" "$dir/err"

# -- verify names the entries that do not unwrap: two written (bare SoftHSM2,
# outside the policy) under other-master, which the keyring client may not use
bcnf=$dir/bare.cnf
printf '{"path": "%s", "read_only": false, "module": "%s", "pin_file": "%s", "master_key": "other-master"}\n' \
	"$store" "$bare" "$dir/kl/backend.pin" >"$bcnf"
run "two entries under other-master" 0 "$fill" "$bcnf" generate 2 ROGUE
run "verify: two entries fail" 1 K verify --config "$cnf" --quiet
expect "verify: the count" "33 entries, 31 unwrapped in the token, 2 failed"
expect "verify: names ROGUE-1" "BAD entry data_id 'ROGUE-1'" "$dir/err"
expect "verify: names ROGUE-2" "BAD entry data_id 'ROGUE-2'.*client-key-patterns|BAD entry data_id 'ROGUE-2'.*CKR_" "$dir/err"

# -- restore
# a stand-in for mysqld: any library mapped under the component's name
cp "$bare" "$dir/component_keyring_pkcs11.so"
LD_PRELOAD=$dir/component_keyring_pkcs11.so sleep 120 &
holder=$!
for i in $(seq 50); do grep -q component_keyring_pkcs11 /proc/$holder/maps 2>/dev/null && break; sleep 0.1; done
run "restore while a process has the component loaded" 1 K restore --config "$cnf" \
	--from "$dir/b1.kls"
expect "restore: names the process" "process $holder \(sleep\) has component_keyring_pkcs11.so loaded" "$dir/err"
expect "restore: says stop mysqld" "stop mysqld first" "$dir/err"
kill $holder; wait $holder 2>/dev/null; holder=
run "restore would lose ROGUE-1/2: refused" 1 K restore --config "$cnf" --from "$dir/b1.kls" \
	--no-server-check
expect "restore: names what would be lost" "holds 2 entries that backup $dir/b1.kls lacks or holds differently \(first: 'ROGUE-1'\)" "$dir/err"
run "restore --force" 0 K restore --config "$cnf" --from "$dir/b1.kls" --no-server-check \
	--force --quiet
expect "restore: new generation" "restored $store from $dir/b1.kls: 31 entries, every one unwrapped in the token, now generation 35"
expect "restore: the replaced store kept" "kept as $store.pre-restore-34"
[ -f "$store.pre-restore-34" ] && pass "pre-restore copy exists" || fail "no pre-restore copy"
run "digest after restore" 0 "$fill" "$cnf" digest
same "restore: the backup's values" "$(cat "$dir/out")" "$d0"
run "list after restore" 0 K list --config "$cnf"
same "restore: entries under the backup's key" "$(grep -c ' keylocker-master$' "$dir/out")" 31
run "the engine writes after a restore" 0 "$fill" "$cnf" generate 1 AFTER-RESTORE
run "digest with the new entry" 0 "$fill" "$cnf" digest
d1=$(cat "$dir/out")
run "backup of the current store" 0 K backup --config "$cnf" --out "$dir/b3.kls"
run "restore it: nothing would be lost, no --force needed" 0 K restore --config "$cnf" \
	--from "$dir/b3.kls" --no-server-check --quiet
run "digest after the second restore" 0 "$fill" "$cnf" digest
same "second restore: same values" "$(cat "$dir/out")" "$d1"

# a backup from another keylocker (another token and MAC key)
init "$dir/kl2" || fail "second keylocker init"
mkdir "$dir/store2"
printf '{"path": "%s", "read_only": false, "module": "%s", "pin_file": "%s"}\n' \
	"$dir/store2/keyring" "$module" "$dir/kl2/keyring.pin" >"$dir/k2.cnf"
KEYLOCKER_CONF=$dir/kl2/keylocker.yaml SOFTHSM2_CONF=$dir/kl2/softhsm2.conf \
	run "other keylocker: engine writes" 0 "$fill" "$dir/k2.cnf" generate 3 OTHER
KEYLOCKER_CONF=$dir/kl2/keylocker.yaml SOFTHSM2_CONF=$dir/kl2/softhsm2.conf \
	run "other keylocker: backup" 0 K backup --config "$dir/k2.cnf" --out "$dir/b2.kls"
cp -p "$store" "$dir/store.before-foreign"
run "restore a backup of another token: refused" 1 K restore --config "$cnf" \
	--from "$dir/b2.kls" --no-server-check --force
expect "another token: the MAC says so" "MAC does not verify.*another token or MAC key" "$dir/err"
cmp -s "$store" "$dir/store.before-foreign" && pass "refused restore: store untouched" ||
	fail "a refused restore changed the store"
run "restore a missing backup" 1 K restore --config "$cnf" --from "$dir/none.kls" \
	--no-server-check
expect "missing backup: says so" "backup $dir/none.kls does not exist" "$dir/err"
printf '{"path": "%s", "read_only": true, "module": "%s", "pin_file": "%s"}\n' \
	"$store" "$module" "$dir/kl/keyring.pin" >"$dir/ro.cnf"
run "rewrap of a read_only store: refused" 1 K rewrap --config "$dir/ro.cnf" \
	--to keylocker-master-2
expect "read_only: says so" "sets read_only" "$dir/err"

# -- mysql wire, against a temporary tree laid out like Debian's
T=$dir/root
mkdir -p "$T/usr/sbin" "$T/usr/lib/mysql/plugin" "$T/var/lib/mysql" "$T/etc/keylocker" "$T/var/lib"
: >"$T/usr/sbin/mysqld"
W() { "$cli" mysql wire --mysqld "$T/usr/sbin/mysqld" --plugin-dir "$T/usr/lib/mysql/plugin" \
	--datadir "$T/var/lib/mysql" --user nobody --store "$T/var/lib/mysql-keyring/keyring" \
	--pin-file "$T/etc/keylocker/keyring.pin" --module "$module" "$@"; }
group=$(id -gn nobody)
run "mysql without a verb" 2 "$cli" mysql
run "mysql wire --help" 0 "$cli" mysql wire --help
expect "wire --help: the manifest" "mysqld.my beside mysqld"
run "wire without a PIN" 1 W
expect "wire: asks for --pin-from" "give --pin-from FILE" "$dir/err"
run "wire --dry-run" 0 W --pin-from "$dir/kl/keyring.pin" --dry-run
expect "dry run: says what it would write" "would write +$T/usr/sbin/mysqld.my"
[ ! -e "$T/usr/sbin/mysqld.my" ] && [ ! -e "$T/var/lib/mysql-keyring" ] &&
	pass "dry run: nothing written" || fail "dry run wrote files"
run "wire" 0 W --pin-from "$dir/kl/keyring.pin"
expect "wire: the next step" "SELECT \* FROM performance_schema.keyring_component_status"
expect "wire: manifest" '"components": "file://component_keyring_pkcs11"' "$T/usr/sbin/mysqld.my"
same "wire: manifest root:$group 0640" "$(stat -c '%U:%G %a' "$T/usr/sbin/mysqld.my")" "root:$group 640"
c=$T/usr/lib/mysql/plugin/component_keyring_pkcs11.cnf
expect "wire: .cnf path" "\"path\": \"$T/var/lib/mysql-keyring/keyring\"" "$c"
expect "wire: .cnf read_only" '"read_only": false' "$c"
expect "wire: .cnf pin_file" "\"pin_file\": \"$T/etc/keylocker/keyring.pin\"" "$c"
same "wire: .cnf root:$group 0640" "$(stat -c '%U:%G %a' "$c")" "root:$group 640"
same "wire: store dir nobody 0750" "$(stat -c '%U %a' "$T/var/lib/mysql-keyring")" "nobody 750"
same "wire: PIN nobody 0400" "$(stat -c '%U %a' "$T/etc/keylocker/keyring.pin")" "nobody 400"
cmp -s "$T/etc/keylocker/keyring.pin" "$dir/kl/keyring.pin" && pass "wire: the PIN copied" ||
	fail "wire: PIN differs"
run "the wired .cnf loads as the component reads it" 0 K list --config "$c" --user root \
	--pin-file "$dir/kl/keyring.pin"
expect "wired store: empty keyring" "^0 entries in $T/var/lib/mysql-keyring/keyring"
run "wire again: idempotent" 0 W --pin-from "$dir/kl/keyring.pin"
expect "wire again: no change" "keylocker: 0 changes"
printf '{"components": "file://component_keyring_file"}\n' >"$T/usr/sbin/mysqld.my"
run "wire over another keyring component: refused" 1 W
expect "refused: points to mysql_migrate_keyring" "mysql_migrate_keyring" "$dir/err"
expect "refused: manifest kept" "component_keyring_file" "$T/usr/sbin/mysqld.my"
run "wire --force" 0 W --force
expect "--force: replaced" "replaced +$T/usr/sbin/mysqld.my"
printf 'other-pin-9\n' >"$dir/other.pin"; chmod 600 "$dir/other.pin"
run "wire with another PIN: refused" 1 W --pin-from "$dir/other.pin"
expect "another PIN: says so" "holds another PIN" "$dir/err"
run "wire: no such user" 1 W --user no-such-user-kl
run "wire: no mysqld" 1 "$cli" mysql wire --mysqld "$T/nope/mysqld" --dry-run
expect "no mysqld: says where" "no mysqld at $T/nope/mysqld" "$dir/err"

# --local: the global files point to the datadir's
L=$dir/local
mkdir -p "$L/sbin" "$L/plugin" "$L/data"
: >"$L/sbin/mysqld"
run "wire --local" 0 "$cli" mysql wire --local --mysqld "$L/sbin/mysqld" --plugin-dir "$L/plugin" \
	--datadir "$L/data" --user nobody --store "$L/keyring-dir/keyring" \
	--pin-file "$L/keyring.pin" --pin-from "$dir/kl/keyring.pin" --module "$module"
expect "--local: global manifest" '"read_local_manifest": true' "$L/sbin/mysqld.my"
expect "--local: local manifest" '"components": "file://component_keyring_pkcs11"' "$L/data/mysqld.my"
expect "--local: global config" '"read_local_config": true' "$L/plugin/component_keyring_pkcs11.cnf"
expect "--local: local config" "\"path\": \"$L/keyring-dir/keyring\"" "$L/data/component_keyring_pkcs11.cnf"
run "keyring verbs find the store as the component does" 0 K list --plugin-dir "$L/plugin" \
	--datadir "$L/data" --user root --pin-file "$dir/kl/keyring.pin"
expect "found through read_local_config" "^0 entries in $L/keyring-dir/keyring"
run "read_local_config without --datadir" 1 K list --config "$L/plugin/component_keyring_pkcs11.cnf"
expect "asks for --datadir" "read_local_config: give --datadir" "$dir/err"

# -- nothing above put a key value or a PIN into the audit trail
if [ ! -s "$dir/kl/audit/audit.log" ]; then
	fail "no audit trail at $dir/kl/audit/audit.log to look for values and PINs"
elif grep -qE "$known|keyring-pin-1|admin-pin-1" "$dir"/kl/audit/audit.log; then
	fail "a value or PIN reached the audit trail"
else
	pass "no value or PIN in the audit trail"
fi

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
