#!/bin/bash
# keylocker: the main job, end to end, on the embedded default.
#
# Installs what it needs (Debian packages, and the cached MySQL 9.7 sandbox of
# scripts/mysql-sandbox.sh), builds and installs keylocker into the sandbox,
# and then:
#   keylocker init            a SoftHSM2 token, its master key, clients
#   mysqld + the component    component_keyring_pkcs11, status rows
#   an encrypted table        with rows; ALTER INSTANCE ROTATE INNODB MASTER KEY
#   restart                   the rows read back, through the token
#   the store                 wrapped blobs only: a known secret is not in it
#   keylocker keyring verify  every entry unwraps in the token
#   keylocker audit verify    the trail of all of it verifies
# and prints how long it took.  Exit 0 only when every step worked.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
t0=$(date +%s%N)
SB=scripts/mysql-sandbox.sh
inst=kl-demo
kdir=/srv/keylocker-demo                       # the token, inside the sandbox
store=/srv/mysql/$inst/keyring/component_keyring_pkcs11

step() { printf '\n--- %s (%ss)\n' "$*" $(( ($(date +%s%N) - t0) / 1000000000 )); }
die() { echo "demo: FAILED: $*" >&2; exit 1; }
sql() { $SB sql "$inst" "$1"; }
# a keylocker command inside the sandbox, on the demo token
kl() { $SB run env KEYLOCKER_CONF=$kdir/keylocker.yaml "$@"; }

step "dependencies, the MySQL 9.7 sandbox, build and install"
scripts/deps.sh
$SB ensure
cmake -S . -B build -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
$SB install-build build >/dev/null
root=$($SB root)

step "keylocker init --dir $kdir (in the sandbox)"
$SB destroy "$inst" >/dev/null 2>&1 || true
chattr -R -a "$root$kdir" 2>/dev/null || true
rm -rf "${root:?}$kdir"
# demo PINs; a real setup is asked for them (or reads them from files)
kl keylocker init --dir $kdir --admin-pin demo-admin-pin --keyring-pin demo-keyring-pin \
	--auditor-pin demo-auditor-pin --no-syslog

step "a mysqld with component_keyring_pkcs11 on that token"
cnf=$(mktemp)
trap 'rm -f "$cnf"' EXIT
cat >"$cnf" <<EOF
{
  "path": "$store",
  "read_only": false,
  "token": "keylocker",
  "master_key": "keylocker-master",
  "pin_file": "$kdir/keyring.pin"
}
EOF
$SB init "$inst" --component file://component_keyring_pkcs11 --config "$cnf" >/dev/null
echo "KEYLOCKER_CONF=$kdir/keylocker.yaml" >"$root/srv/mysql/$inst/environment"
$SB start "$inst"
sql "SELECT STATUS_KEY, STATUS_VALUE FROM performance_schema.keyring_component_status" |
	column -t -s $'\t'
[ "$(sql "SELECT STATUS_VALUE FROM performance_schema.keyring_component_status
	WHERE STATUS_KEY='Component_status'")" = Active ] || die "the component is not Active"

step "an encrypted table with rows, and a master key rotation"
sql "CREATE DATABASE clinic;
     CREATE TABLE clinic.patients (id INT PRIMARY KEY, name VARCHAR(64), dx VARCHAR(64))
       ENCRYPTION='Y';
     INSERT INTO clinic.patients VALUES (1, 'Ada Lovelace', 'J45.909'),
       (2, 'Alan Turing', 'E11.9'), (3, 'Grace Hopper', 'I10');
     ALTER INSTANCE ROTATE INNODB MASTER KEY;"
sql "SELECT TABLE_NAME, CREATE_OPTIONS FROM information_schema.TABLES
     WHERE TABLE_SCHEMA='clinic'"
before=$(sql "SELECT * FROM clinic.patients ORDER BY id")
if grep -aq "Ada Lovelace" "$root/srv/mysql/$inst/data/clinic/patients.ibd"; then
	die "the tablespace holds the rows in clear"
fi
echo "clinic/patients.ibd: the rows are not in it in clear"

step "restart: the rows read back through the token"
$SB stop "$inst"
$SB start "$inst"
after=$(sql "SELECT * FROM clinic.patients ORDER BY id")
printf '%s\n' "$after"
[ "$before" = "$after" ] || die "the rows differ after the restart"

step "the store: wrapped blobs only"
sql "INSTALL PLUGIN keyring_udf SONAME 'keyring_udf.so';
     CREATE FUNCTION keyring_key_store RETURNS INTEGER SONAME 'keyring_udf.so';
     CREATE FUNCTION keyring_key_fetch RETURNS STRING SONAME 'keyring_udf.so';"
secret="demo-secret-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
[ "$(sql "SELECT keyring_key_store('demo_key', 'SECRET', '$secret')")" = 1 ] ||
	die "keyring_key_store failed"
[ "$(sql "SELECT keyring_key_fetch('demo_key')")" = "$secret" ] ||
	die "keyring_key_fetch did not give the secret back"
hex=$(printf '%s' "$secret" | od -An -tx1 | tr -d ' \n')
if grep -rqaF -e "$secret" -e "$hex" "$root/srv/mysql/$inst" "$root$kdir"; then
	die "the secret is in a file in clear"
fi
echo "a secret stored through keyring_udf is in no file of the server or the token, in clear or hex"
kl keylocker keyring list --config "/srv/mysql/$inst/data/component_keyring_pkcs11.cnf"

step "keylocker keyring verify: every entry unwraps in the token"
kl keylocker keyring verify --config "/srv/mysql/$inst/data/component_keyring_pkcs11.cnf"

step "keylocker audit verify (as the auditor)"
$SB stop "$inst"
kl env KEYLOCKER_PIN=demo-auditor-pin keylocker audit verify

ms=$(( ($(date +%s%N) - t0) / 1000000 ))
printf '\nkeylocker: demo done in %d.%03d s.  The server: %s start %s; sql %s\n' \
	$((ms / 1000)) $((ms % 1000)) "$SB" "$inst" "$inst"
