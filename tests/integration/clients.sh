#!/bin/bash
# Real PKCS#11 consumers against libkeylocker-pkcs11.so on a throwaway token:
# pkcs11-tool (OpenSC), p11tool (GnuTLS) and p11-kit list-modules.  Where the
# policy says nothing, they must see what they see on the bare SoftHSM2 token.
# Exit 0 when every check passes, 1 on a failure, 77 when a tool is missing.
set -u

build=${KL_BUILD_DIR:?run through ctest}
cli=$build/tools/keylocker
module=$build/pkcs11/libkeylocker-pkcs11.so
bare=/usr/lib/softhsm/libsofthsm2.so
for tool in pkcs11-tool p11tool p11-kit softhsm2-util runuser; do
	command -v $tool >/dev/null || { echo "SKIP: $tool is not installed"; exit 77; }
done

dir=$(mktemp -d /tmp/kl-clients-XXXXXX)
trap 'chattr -R -a "$dir" 2>/dev/null; rm -rf "$dir"' EXIT
fails=0
pass() { echo "ok   $*"; }
fail() { echo "FAIL $*"; fails=$((fails + 1)); }
# check NAME COMMAND...: the command succeeds
check() { local name=$1; shift; if "$@" >"$dir/out" 2>&1; then pass "$name"; else fail "$name"; sed 's/^/     /' "$dir/out"; fi; }
# expect NAME PATTERN: the last output matches
expect() { if grep -qE -- "$2" "$dir/out"; then pass "$1"; else fail "$1 (no /$2/)"; sed 's/^/     /' "$dir/out"; fi; }
refute() { if grep -qE -- "$2" "$dir/out"; then fail "$1 (found /$2/)"; sed 's/^/     /' "$dir/out"; else pass "$1"; fi; }

export KEYLOCKER_MODULE=$module
"$cli" init --dir "$dir/kl" --admin-pin admin-pin-1 --keyring-pin keyring-pin-1 \
	--auditor-pin auditor-pin-1 --pin-cost 10 --no-append-only --no-syslog --quiet >/dev/null ||
	{ echo "FAIL keylocker init"; exit 1; }
export KEYLOCKER_CONF=$dir/kl/keylocker.yaml SOFTHSM2_CONF=$dir/kl/softhsm2.conf
backend_pin=$(cat "$dir/kl/backend.pin")
kl() { pkcs11-tool --module "$module" "$@"; }
bt() { pkcs11-tool --module "$bare" "$@"; }

# -- pkcs11-tool: information, slots, mechanisms
check "pkcs11-tool -I" kl -I
expect "library is keylocker" "keylocker policy module"
check "pkcs11-tool -L" kl -L
expect "token label" "token label +: keylocker"
expect "login required" "login required"
kl -M >"$dir/kl.mech" 2>&1; bt -M >"$dir/bare.mech" 2>&1
if diff <(grep -v "^Using slot" "$dir/kl.mech") <(grep -v "^Using slot" "$dir/bare.mech") >/dev/null; then
	pass "pkcs11-tool -M lists the backend's mechanisms"
else
	fail "pkcs11-tool -M differs from bare SoftHSM2"
fi

# -- objects: the same keys as on the bare token, none of their values
check "pkcs11-tool -O as auditor" kl --login --pin auditor-pin-1 -O
expect "master key listed" "label: +keylocker-master"
expect "MAC key listed" "label: +keylocker-store-mac"
expect "audit key listed" "label: +keylocker-audit"
expect "master key is wrap/unwrap only" "Usage: +wrap, unwrap"
n_kl=$(grep -c "^Secret Key Object" "$dir/out")
bt --login --pin "$backend_pin" -O >"$dir/out" 2>&1
n_bare=$(grep -c "^Secret Key Object" "$dir/out")
[ "$n_kl" = "$n_bare" ] && pass "same number of keys as bare SoftHSM2 ($n_kl)" ||
	fail "keys: keylocker $n_kl, bare $n_bare"
check "pkcs11-tool -O without login" kl -O
refute "nothing private without login" "keylocker-master"
kl --login --pin wrong-pin -O >"$dir/out" 2>&1 && fail "a wrong PIN logs in" || true
expect "a wrong PIN is refused" "CKR_PIN_INCORRECT"

# -- admin keygen: --usage-wrap gets the forced master-key template
check "keygen --usage-wrap (admin)" kl --login --pin admin-pin-1 --keygen --key-type AES:32 \
	--usage-wrap --label keylocker-master-2
expect "forced: wrap, unwrap only" "Usage: +wrap, unwrap"
expect "forced: sensitive, never extractable, local" "sensitive, always sensitive, never extractable, local"
check "keygen without --usage-wrap: an ordinary key" kl --login --pin admin-pin-1 --keygen \
	--key-type AES:32 --label plain-aes
refute "an ordinary key cannot wrap" "wrap"
kl --login --pin keyring-pin-1 --keygen --key-type AES:32 --usage-wrap --label rogue >"$dir/out" 2>&1 &&
	fail "the keyring client generated a key" || expect "the keyring client may not keygen" "CKR_"
kl --login --pin admin-pin-1 --keygen --key-type AES:32 --usage-wrap --label keylocker-master-2 \
	>"$dir/out" 2>&1 && fail "a second key took a master key's label" ||
	expect "no second object with a master key's label" "CKR_TEMPLATE_INCONSISTENT"

# -- retire with pkcs11-tool: a data object names the key
printf 'retired by the clients test\n' >"$dir/retired.txt"
check "retire with --write-object (admin)" kl --login --pin admin-pin-1 --write-object "$dir/retired.txt" \
	--type data --label keylocker-retired:keylocker-master-2 --private
KEYLOCKER_PIN=auditor-pin-1 "$cli" status >"$dir/out" 2>&1
expect "status shows it retired" "keylocker-master-2 .*master key"
expect "status: RETIRED" "RETIRED \(unwraps only\)"
kl --login --pin admin-pin-1 --delete-object --type secrkey --label keylocker-master-2 >"$dir/out" 2>&1 &&
	fail "a master key was destroyed" || expect "master keys are not destroyed" "CKR_ACTION_PROHIBITED|0x1b"

# -- pkcs11-tool's own test, as the admin
check "pkcs11-tool --test" kl --login --pin admin-pin-1 --test
expect "pkcs11-tool --test: no errors" "No errors"

# -- p11tool (GnuTLS)
check "p11tool --list-tokens" p11tool --provider "$module" --list-tokens
expect "p11tool sees the token" "token=keylocker"
GNUTLS_PIN=auditor-pin-1 p11tool --provider "$module" --login --list-all >"$dir/out" 2>&1 &&
	pass "p11tool --login --list-all" || fail "p11tool --login --list-all"
expect "p11tool lists the master key" "object=keylocker-master;type=secret-key"
expect "p11tool: flags of the master key" "CKA_WRAP/UNWRAP; CKA_PRIVATE; CKA_NEVER_EXTRACTABLE; CKA_SENSITIVE"

# -- p11-kit, with the module file from conf/ as a user module.  p11-kit reads
# user modules only for non-root users: run it as nobody, owning a copy.
mkdir -p "$dir/home/.config/pkcs11/modules"
sed "s|^module: .*|module: $module|" "$build/keylocker.module" \
	>"$dir/home/.config/pkcs11/modules/keylocker.module"
cp -a "$dir/kl" "$dir/kl-nobody"
sed -i "s|$dir/kl/|$dir/kl-nobody/|g; s|$dir/kl\$|$dir/kl-nobody|" "$dir/kl-nobody/keylocker.yaml" \
	"$dir/kl-nobody/softhsm2.conf"
chown -R nobody "$dir/home" "$dir/kl-nobody"
chmod 755 "$dir"
runuser -u nobody -- env HOME="$dir/home" KEYLOCKER_CONF="$dir/kl-nobody/keylocker.yaml" \
	SOFTHSM2_CONF="$dir/kl-nobody/softhsm2.conf" p11-kit list-modules >"$dir/out" 2>&1 &&
	pass "p11-kit list-modules (as nobody)" || fail "p11-kit list-modules"
expect "p11-kit loads keylocker" "library-description: keylocker policy module"
expect "p11-kit sees its token through keylocker" "manufacturer: keylocker"

# -- init --owner: token, PIN files and trail for the account that loads the
#    module (mysql in the embedded mode); root's later commands become it
"$cli" init --dir "$dir/owned" --admin-pin admin-pin-1 --keyring-pin keyring-pin-1 \
	--pin-cost 10 --no-syslog --owner nobody --quiet >"$dir/out" 2>&1 &&
	pass "init --owner nobody" || { fail "init --owner nobody"; sed 's/^/     /' "$dir/out"; }
expect "init says it became nobody" "running as nobody"
n=$(find "$dir/owned" ! -user nobody | wc -l)
[ "$n" = 0 ] && pass "init --owner: every file is nobody's" || fail "init --owner: $n files not nobody's"
if [ ! -e "$dir/owned/audit/audit.log" ]; then
	fail "init --owner: no audit file at $dir/owned/audit/audit.log"
elif lsattr "$dir/owned/audit/audit.log" >"$dir/out" 2>&1; then
	expect "init --owner: the audit file is append-only" "^[^ ]*a[^ ]* "
else
	echo "note this filesystem has no append-only flag: not checked"
fi
KEYLOCKER_CONF=$dir/owned/keylocker.yaml SOFTHSM2_CONF=$dir/owned/softhsm2.conf \
	"$cli" selftest --pin-file "$dir/owned/keyring.pin" >"$dir/out" 2>&1 &&
	pass "selftest as root on nobody's token" || { fail "selftest on nobody's token"; sed 's/^/     /' "$dir/out"; }
expect "root's selftest ran as nobody" "running as nobody"
n=$(find "$dir/owned" ! -user nobody | wc -l)
[ "$n" = 0 ] && pass "after root's selftest every file is still nobody's" ||
	fail "after root's selftest $n files are not nobody's"

# -- nothing above put a PIN in the audit trail
if [ ! -s "$dir/kl/audit/audit.log" ]; then
	fail "no audit trail at $dir/kl/audit/audit.log to look for PINs"
elif grep -qE "admin-pin-1|keyring-pin-1|auditor-pin-1|wrong-pin|$backend_pin" "$dir"/kl/audit/audit.log; then
	fail "a PIN reached the audit trail"
else
	pass "no PIN in the audit trail"
fi

echo "$fails failure(s)"
[ $fails -eq 0 ]
