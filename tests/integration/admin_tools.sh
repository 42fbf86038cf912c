#!/bin/bash
# The admin's tools still do their job through keylocker, and the keyring
# role still wraps and unwraps (issue 5, docs/policy.md):
#  - pkcs11-tool (OpenSC, real) as the admin: -O listing, --keygen with
#    --usage-wrap gets the forced master-key template whatever else it asks
#    for, retire with --write-object; reading or deleting a master key is refused;
#  - the keyring client (attacks_tool, keylocker selftest): wraps and unwraps
#    with a master key; after the key is retired (pkcs11-tool or `keylocker
#    retire`) it no longer wraps but still unwraps what it wrapped.
# pkcs11-tool is given --module: run as root it ignores p11-kit's user config.
# Exit 0 when every check passes, 1 on a failure, 77 when a tool is missing.
set -u

build=${KL_BUILD_DIR:?run through ctest}
cli=$build/tools/keylocker
tool=$build/tests/attacks_tool
module=$build/pkcs11/libkeylocker-pkcs11.so
for t in pkcs11-tool softhsm2-util; do
	command -v $t >/dev/null || { echo "SKIP: $t is not installed"; exit 77; }
done
[ -x "$tool" ] || { echo "FAIL: $tool is not built"; exit 1; }

dir=$(mktemp -d /tmp/kl-admin-XXXXXX)
trap 'chattr -R -a "$dir" 2>/dev/null; rm -rf "$dir"' EXIT
fails=0
pass() { echo "ok   $*"; }
fail() { echo "FAIL $*"; fails=$((fails + 1)); }
show() { sed 's/^/     /' "$dir/out"; }
# check NAME COMMAND...: the command succeeds (its output in $dir/out)
check() { local n=$1; shift; if "$@" >"$dir/out" 2>&1; then pass "$n"; else fail "$n"; show; fi; }
# refused NAME PATTERN COMMAND...: the command fails and says PATTERN
refused() {
	local n=$1 p=$2; shift 2
	if "$@" >"$dir/out" 2>&1; then
		fail "$n (it succeeded)"; show
	elif grep -qE -- "$p" "$dir/out"; then
		pass "$n"
	else
		fail "$n (no /$p/)"; show
	fi
}
expect() { if grep -qE -- "$2" "$dir/out"; then pass "$1"; else fail "$1 (no /$2/)"; show; fi; }
refute() { if grep -qE -- "$2" "$dir/out"; then fail "$1 (found /$2/)"; show; else pass "$1"; fi; }

export KEYLOCKER_MODULE=$module
"$cli" init --dir "$dir/kl" --admin-pin admin-pin-1 --keyring-pin keyring-pin-1 \
	--auditor-pin auditor-pin-1 --pin-cost 10 --no-append-only --no-syslog --quiet >/dev/null ||
	{ echo "FAIL keylocker init"; exit 1; }
export KEYLOCKER_CONF=$dir/kl/keylocker.yaml SOFTHSM2_CONF=$dir/kl/softhsm2.conf
admin() { pkcs11-tool --module "$module" --login --pin admin-pin-1 "$@"; }
keyring() { "$tool" keyring-pin-1 "$@"; }
log="$dir/kl/audit/audit.log"

# -- listing
check "pkcs11-tool -O as admin" admin -O
expect "lists the master key" "label: +keylocker-master$"
expect "lists the store MAC key" "label: +keylocker-store-mac"
expect "lists the audit key" "label: +keylocker-audit"
expect "master key: wrap and unwrap only" "Usage: +wrap, unwrap$"
expect "master key: sensitive, never extractable, generated in the token" \
	"Access: +sensitive, always sensitive, never extractable, local"

# -- keygen: whatever the admin asks for beside --usage-wrap, the template is forced
check "keygen AES:32 --usage-wrap" admin --keygen --key-type AES:32 --usage-wrap \
	--label keylocker-master-2
expect "keygen: wrap and unwrap only" "Usage: +wrap, unwrap$"
expect "keygen: sensitive, never extractable, local" \
	"sensitive, always sensitive, never extractable, local"
check "keygen AES:32 --usage-wrap --usage-decrypt --extractable" admin --keygen \
	--key-type AES:32 --usage-wrap --usage-decrypt --extractable --label keylocker-master-3
expect "keygen: no decrypt, no encrypt" "Usage: +wrap, unwrap$"
refute "keygen: not extractable" "Access:.*(:|,) +extractable"
for key in keylocker-master-2 keylocker-master-3; do
	check "read the attributes of $key" "$tool" admin-pin-1 attrs $key
	for want in CKA_KEY_TYPE=CKK_AES CKA_VALUE_LEN=32 CKA_TOKEN=TRUE CKA_PRIVATE=TRUE \
	    CKA_SENSITIVE=TRUE CKA_ALWAYS_SENSITIVE=TRUE CKA_EXTRACTABLE=FALSE \
	    CKA_NEVER_EXTRACTABLE=TRUE CKA_LOCAL=TRUE CKA_MODIFIABLE=FALSE CKA_COPYABLE=FALSE \
	    CKA_ENCRYPT=FALSE CKA_DECRYPT=FALSE CKA_SIGN=FALSE CKA_VERIFY=FALSE \
	    CKA_WRAP=TRUE CKA_UNWRAP=TRUE CKA_DERIVE=FALSE; do
		grep -qx "$want" "$dir/out" || { fail "$key: $want"; show; }
	done
	grep -qx "CKA_MODIFIABLE=FALSE" "$dir/out" && pass "$key has the forced template"
done
refused "keygen: no second key with a master key's label" "CKR_TEMPLATE_INCONSISTENT" \
	admin --keygen --key-type AES:32 --usage-wrap --label keylocker-master
refused "keygen: a master key is AES-256" "CKR_TEMPLATE_INCONSISTENT" \
	admin --keygen --key-type AES:16 --usage-wrap --label keylocker-master-short
refused "the keyring client may not keygen a wrapping key" "CKR_" \
	pkcs11-tool --module "$module" --login --pin keyring-pin-1 --keygen --key-type AES:32 \
	--usage-wrap --label keylocker-master-rogue
refused "the admin may not read a master key's value" "CKR_ATTRIBUTE_SENSITIVE|sensitive" \
	admin --read-object --type secrkey --label keylocker-master
refused "the admin may not delete a master key" "CKR_ACTION_PROHIBITED|0x1b" \
	admin --delete-object --type secrkey --label keylocker-master-2

# -- the keyring role wraps and unwraps with both keys
KEYLOCKER_PIN=keyring-pin-1 check "keylocker selftest (keyring client)" "$cli" selftest
expect "selftest: round trip" "round trip through keylocker OK"
check "keyring client wraps with keylocker-master-2" keyring wrap keylocker-master-2 \
	"$dir/blob2" "$dir/value2"
check "keyring client unwraps it" keyring unwrap keylocker-master-2 "$dir/blob2" "$dir/value2"
check "keyring client wraps with keylocker-master-3" keyring wrap keylocker-master-3 \
	"$dir/blob3" "$dir/value3"
refused "the admin may not wrap" "CKR_KEY_FUNCTION_NOT_PERMITTED" \
	"$tool" admin-pin-1 wrap keylocker-master "$dir/blob-admin" "$dir/value-admin"
refused "the auditor may not unwrap" "CKR_KEY_FUNCTION_NOT_PERMITTED" \
	"$tool" auditor-pin-1 unwrap keylocker-master-2 "$dir/blob2" "$dir/value2"

# -- retire keylocker-master-2 with pkcs11-tool, keylocker-master-3 with the CLI
printf 'retired by admin_tools.sh\n' >"$dir/retired.txt"
check "retire with pkcs11-tool --write-object" admin --write-object "$dir/retired.txt" \
	--type data --label keylocker-retired:keylocker-master-2 --private
KEYLOCKER_PIN=admin-pin-1 check "retire with keylocker retire" "$cli" retire keylocker-master-3
refused "a marker for a key that does not exist" "CKR_TEMPLATE_INCONSISTENT" \
	admin --write-object "$dir/retired.txt" --type data \
	--label keylocker-retired:no-such-key --private
refused "the keyring client may not retire a key" "CKR_" \
	pkcs11-tool --module "$module" --login --pin keyring-pin-1 --write-object \
	"$dir/retired.txt" --type data --label keylocker-retired:keylocker-master --private
KEYLOCKER_PIN=auditor-pin-1 check "keylocker status" "$cli" status
for key in keylocker-master-2 keylocker-master-3; do
	# a key's line, then its attributes' line ending in its state
	grep -A1 -E "^ +$key +master key" "$dir/out" | grep -q "RETIRED (unwraps only)" &&
		pass "status: $key RETIRED" || { fail "status: $key not RETIRED"; show; }
done
grep -A1 -E "^ +keylocker-master +master key" "$dir/out" | grep -qE "active$" &&
	pass "status: keylocker-master still active" || { fail "status: keylocker-master"; show; }

for key in keylocker-master-2 keylocker-master-3; do
	n=${key##*-}
	refused "$key no longer wraps" "C_WrapKey: CKR_KEY_FUNCTION_NOT_PERMITTED" \
		keyring wrap $key "$dir/blob-new" "$dir/value-new"
	check "$key still unwraps what it wrapped" keyring unwrap $key "$dir/blob$n" "$dir/value$n"
done
grep -q '"rule":"master-key-retired"' "$log" && pass "audit: the refused wrap names its rule" ||
	fail "audit: no master-key-retired deny record"
KEYLOCKER_PIN=keyring-pin-1 check "keylocker-master still wraps and unwraps" "$cli" selftest
check "pkcs11-tool -O after the retirements" admin -O
expect "the pkcs11-tool marker is listed" "label: +'keylocker-retired:keylocker-master-2'"
expect "the keylocker retire marker is listed" "label: +'keylocker-retired:keylocker-master-3'"
[ "$(grep -c "^Secret Key Object" "$dir/out")" = 5 ] && pass "no key was lost or added (5)" ||
	{ fail "secret keys after retiring: $(grep -c "^Secret Key Object" "$dir/out"), not 5"; show; }

echo "$fails failure(s)"
[ $fails -eq 0 ]
