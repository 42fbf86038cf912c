#!/bin/bash
# keylocker: the main job, end to end, on the embedded default (SoftHSM2).
# Installs what it needs, builds, and then, in a fresh directory:
#   keylocker init           a token, master/MAC/audit keys, clients, config
#   keylocker status         what is there, with protective attributes
#   keylocker selftest       a wrap/unwrap round trip through the module
#   pkcs11-tool -O           a real client listing the keys (never their values)
# and prints how long it took.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
start=$(date +%s%N)
demo=${KL_DEMO_DIR:-/var/tmp/keylocker-demo}

step() { printf '\n--- %s\n' "$*"; }

step "dependencies and build"
scripts/deps.sh
cmake -S . -B build -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
export KEYLOCKER_MODULE=$top/build/pkcs11/libkeylocker-pkcs11.so
kl=$top/build/tools/keylocker

step "keylocker init --dir $demo"
if [ -e "$demo" ]; then
	chattr -R -a "$demo" 2>/dev/null || true
	rm -rf "$demo"
fi
# demo PINs; a real setup is asked for them (or reads them from files)
"$kl" init --dir "$demo" --admin-pin demo-admin-pin --keyring-pin demo-keyring-pin \
	--auditor-pin demo-auditor-pin
export KEYLOCKER_CONF=$demo/keylocker.yaml SOFTHSM2_CONF=$demo/softhsm2.conf

step "keylocker status (as the auditor)"
KEYLOCKER_PIN=demo-auditor-pin "$kl" status

step "keylocker selftest (as the keyring client, PIN from $demo/keyring.pin)"
"$kl" selftest --pin-file "$demo/keyring.pin"

step "pkcs11-tool -O through keylocker (as the auditor)"
pkcs11-tool --module "$KEYLOCKER_MODULE" --login --pin demo-auditor-pin -O 2>&1 |
	grep -v "^keylocker warning"

step "the audit trail ($demo/audit/audit.log, last records)"
tail -n 4 "$demo/audit/audit.log" | cut -c1-200

ms=$(( ($(date +%s%N) - start) / 1000000 ))
printf '\nkeylocker: demo done in %d.%03d s; export KEYLOCKER_CONF=%s to use it\n' \
	$((ms / 1000)) $((ms % 1000)) "$KEYLOCKER_CONF"
