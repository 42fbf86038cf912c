#!/bin/bash
# The `mysql` stage of scripts/test.sh: component_keyring_pkcs11 in a real
# MySQL 9.7 mysqld (the Debian sid sandbox of scripts/mysql-sandbox.sh).
#
#   scripts/test-mysql.sh            every tests/mysql/t-*.sh
#   scripts/test-mysql.sh t-20-udf   only these (names without .sh)
#
# Steps: Debian packages (scripts/deps.sh), the sandbox (`ensure`), a build
# in build-mysql (warnings are errors, no test programs), installed into the
# chroot's /usr, a keylocker token in the chroot's /etc/keylocker (made by
# `keylocker init` when there is none: the defaults of the component point
# there), then the tests.
#
# Convention for tests/mysql/: this script runs every tests/mysql/t-*.sh in
# name order (t-10 before t-20 ...), each as its own process from the top of
# the tree, and fails when any of them exits non-zero.  A test prints one
# "ok"/"FAIL" line per check and uses instance names starting with "kt-";
# tests/mysql/lib.sh has the helpers.  Add a test by adding a t-NN-name.sh.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
SB=scripts/mysql-sandbox.sh
build=build-mysql
start=$(date +%s)
say() { printf '\n=== mysql: %s (%ss)\n' "$*" $(($(date +%s) - start)); }

say "dependencies and the sandbox"
scripts/deps.sh
$SB ensure
root=$($SB root)

say "build ($build) and install into the sandbox"
cmake -S "$top" -B "$build" -DCMAKE_INSTALL_PREFIX=/usr -DKL_WERROR=ON \
	-DKL_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
$SB install-build "$build"
[ -f "$root/usr/lib/mysql/plugin/component_keyring_pkcs11.so" ] ||
	{ echo "test-mysql: component_keyring_pkcs11.so was not installed" >&2; exit 1; }

say "keylocker token in the sandbox (/etc/keylocker)"
if [ ! -f "$root/etc/keylocker/keylocker.yaml" ]; then
	# Test PINs: this token guards only the sandbox's test servers.
	$SB run keylocker init --dir /etc/keylocker --admin-pin admin-pin-1 \
		--keyring-pin keyring-pin-1 --auditor-pin auditor-pin-1 --no-syslog \
		--audit-file /var/log/keylocker-audit.log
fi
for f in keylocker.yaml keyring.pin; do
	[ -f "$root/etc/keylocker/$f" ] ||
		{ echo "test-mysql: /etc/keylocker/$f missing in the sandbox" >&2; exit 1; }
done

tests=()
if [ $# -gt 0 ]; then
	for t in "$@"; do tests+=("tests/mysql/${t%.sh}.sh"); done
else
	for t in tests/mysql/t-*.sh; do tests+=("$t"); done
fi
[ ${#tests[@]} -gt 0 ] || { echo "test-mysql: no tests/mysql/t-*.sh" >&2; exit 1; }

failed=()
for t in "${tests[@]}"; do
	t0=$(date +%s)
	say "$(basename "$t" .sh)"
	if bash "$t"; then
		echo "--- $(basename "$t" .sh): passed in $(($(date +%s) - t0))s"
	else
		echo "--- $(basename "$t" .sh): FAILED in $(($(date +%s) - t0))s"
		failed+=("$(basename "$t" .sh)")
	fi
done

say "done: ${#tests[@]} test scripts, ${#failed[@]} failed${failed:+: ${failed[*]}}"
[ ${#failed[@]} -eq 0 ]
