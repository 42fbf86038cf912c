# Sourced by tests/mysql/t-80-migrate.sh and t-90-mtr.sh: the sandbox, the
# keylocker token inside it, and pass/fail bookkeeping.  The sandbox is
# scripts/mysql-sandbox.sh's, KL_SANDBOX_DIR chooses which one.

KL_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
SB=$KL_TOP/scripts/mysql-sandbox.sh
MTR_DIR=$KL_TOP/tests/mysql/mtr
PLUGIN_DIR=/usr/lib/mysql/plugin	# inside the chroot
KL_ETC=/etc/keylocker			# the component's default token setup
CHROOT=$("$SB" root)

kl_passed=0
kl_failed=0

ok() {
	kl_passed=$((kl_passed + 1))
	printf 'ok   %s\n' "$*"
}

not_ok() {
	kl_failed=$((kl_failed + 1))
	printf 'FAIL %s\n' "$*"
}

# check DESCRIPTION EXPECTED ACTUAL
check() {
	if [[ $2 == "$3" ]]; then
		ok "$1"
	else
		not_ok "$1: expected '$2', got '$3'"
	fi
}

bail() {
	printf 'FAIL %s\n' "$*" >&2
	kl_failed=$((kl_failed + 1))
	finish
}

# The closing line; the exit status says whether anything failed.
finish() {
	printf '%s: %d passed, %d failed\n' "${0##*/}" "$kl_passed" "$kl_failed"
	((kl_failed == 0))
	exit
}

# The sandbox exists and holds our build: the test stage installs it
# (scripts/mysql-sandbox.sh ensure && install-build BUILD_DIR) before t-*.sh.
need_build() {
	[[ -x $CHROOT/usr/sbin/mysqld ]] ||
		bail "no MySQL sandbox at $CHROOT: run scripts/mysql-sandbox.sh ensure"
	[[ -f $CHROOT$PLUGIN_DIR/component_keyring_pkcs11.so && -x $CHROOT/usr/bin/keylocker ]] ||
		bail "component_keyring_pkcs11.so or keylocker is not installed in the sandbox: run scripts/mysql-sandbox.sh install-build BUILD_DIR"
}

# The token component_keyring_pkcs11 uses when its .cnf names none: the
# defaults (module, /etc/keylocker/keylocker.yaml, token "keylocker",
# keyring.pin) are what `keylocker init --dir /etc/keylocker` makes.  An
# existing setup is kept: other tests in the same chroot use it too.
need_token() {
	if [[ -f $CHROOT$KL_ETC/keylocker.yaml && -f $CHROOT$KL_ETC/keyring.pin ]]; then
		return 0
	fi
	[[ ! -e $CHROOT$KL_ETC/tokens ]] ||
		bail "$CHROOT$KL_ETC holds a half-made keylocker setup (tokens/ without keylocker.yaml): remove it"
	local out
	if ! out=$("$SB" run keylocker init --dir "$KL_ETC" --admin-pin admin-pin-1 \
		--keyring-pin keyring-pin-1 --no-syslog --quiet 2>&1); then
		printf '%s\n' "$out" >&2
		bail "keylocker init --dir $KL_ETC failed in the sandbox"
	fi
}

# The plugin-dir component_keyring_pkcs11.cnf that sends the component to
# the datadir's file, as the sandbox and mysql-test-run expect.
reset_global_cnf() {
	printf '{"read_local_config": true}\n' >"$CHROOT$PLUGIN_DIR/component_keyring_pkcs11.cnf"
	chmod 0644 "$CHROOT$PLUGIN_DIR/component_keyring_pkcs11.cnf"
}
