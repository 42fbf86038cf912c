#!/bin/bash
# docs/dba-guide.md, sections 1 to 3 and the checks of 5, as a DBA would type
# them: Debian's paths and defaults, mysqld running as the mysql user,
# `keylocker init --dir /etc/keylocker --owner mysql`, `keylocker mysql wire`
# with no options, then encrypted tables, rotation, restart, keyring verify
# and audit verify.  The sandbox's own /etc/keylocker, global manifest and
# plugin-dir .cnf are moved aside for the test and put back afterwards.
. "$(dirname "$0")/lib.sh"

R=$KT_ROOT
G=/srv/kt-guide			# datadir, socket, logs (inside the chroot)
PLUGIN=/usr/lib/mysql/plugin
SAVE=/srv/kt-guide-saved
in_sb() { "$KT_SB" run "$@"; }
gsql() { in_sb mysql --no-defaults --user=root --socket=$G/mysqld.sock -N -B -e "$1" 2>&1; }

restore() {
	in_sb sh -c "mysqladmin --no-defaults --user=root --socket=$G/mysqld.sock \
		shutdown 2>/dev/null; sleep 1; pkill -9 -f 'datadir=$G/dat[a]' 2>/dev/null; true"
	local f kept=0
	chattr -R -a "$R/etc/keylocker" 2>/dev/null
	rm -rf "$R/etc/keylocker" "$R/var/lib/mysql-keyring" "$R$G" "$R/usr/sbin/mysqld.my" \
		"$R$PLUGIN/$KT_COMP.cnf"
	for f in etc/keylocker usr/sbin/mysqld.my $PLUGIN/$KT_COMP.cnf; do
		[ -e "$R$SAVE/${f//\//_}" ] || continue
		if [ -e "$R/${f#/}" ]; then
			echo "t-70: cannot remove the guide's /${f#/}; the sandbox's is kept in $SAVE" >&2
			kept=1
		else
			mv "$R$SAVE/${f//\//_}" "$R/${f#/}"
		fi
	done
	[ $kept = 1 ] || rm -rf "$R$SAVE"
}
# a run killed before its restore left the sandbox's files aside: back first
[ ! -d "$R$SAVE" ] || restore
[ ! -d "$R$SAVE" ] || { kt_bad "$SAVE is left from an earlier run and cannot be put back"; kt_done; }
rm -rf "$R$G"
mkdir -p "$R$SAVE" "$R$G"
for f in etc/keylocker usr/sbin/mysqld.my $PLUGIN/$KT_COMP.cnf; do
	[ -e "$R/${f#/}" ] && mv "$R/${f#/}" "$R$SAVE/${f//\//_}"
done
trap restore EXIT

in_sb sh -c 'id mysql >/dev/null 2>&1 || useradd --system --no-create-home --home-dir /nonexistent mysql'

kt_say "1. keylocker init --dir /etc/keylocker --owner mysql"
out=$(in_sb keylocker init --dir /etc/keylocker --owner mysql --admin-pin guide-admin-1 \
	--keyring-pin guide-keyring-1 --auditor-pin guide-auditor-1 --no-syslog 2>&1)
kt_eq "init exits 0" 0 "$?"
kt_match "init made the master key" 'master key +keylocker-master' "$out"
kt_eq "every file under /etc/keylocker is mysql's" "" \
	"$(in_sb find /etc/keylocker ! -user mysql 2>&1)"
out=$(in_sb env KEYLOCKER_PIN=guide-auditor-1 keylocker status 2>&1)
kt_match "status (as root) runs as mysql" 'running as mysql' "$out"
kt_match "status shows the master key" 'keylocker-master' "$out"
out=$(in_sb keylocker selftest --pin-file /etc/keylocker/keyring.pin 2>&1)
kt_match "selftest: a wrap/unwrap round trip" 'round trip through keylocker OK' "$out"

kt_say "2. keylocker mysql wire"
out=$(in_sb keylocker mysql wire 2>&1)
kt_eq "wire exits 0" 0 "$?"
kt_eq "the global manifest names the component" \
	'{"components":"file://component_keyring_pkcs11"}' "$(tr -d ' \n' <"$R/usr/sbin/mysqld.my")"
kt_match "the plugin-dir .cnf has the store path" '"path": *"/var/lib/mysql-keyring/' \
	"$(cat "$R$PLUGIN/$KT_COMP.cnf")"
kt_eq "the store directory is mysql's, 0750" "mysql 750" \
	"$(in_sb stat -c '%U %a' /var/lib/mysql-keyring)"

kt_say "   mysqld as mysql"
in_sb install -d -o mysql -g mysql -m 0750 $G $G/data
in_sb mysqld --no-defaults --user=mysql --datadir=$G/data --initialize-insecure \
	--log-error=$G/init.log >/dev/null 2>&1
kt_eq "datadir initialised" 0 "$?"
# As the mysql user from the start, as Debian's and Ubuntu's systemd units run
# it (User=mysql): keyring components load before mysqld drops root, and
# keylocker refuses, as root, a configuration another user can change.
start() {
	setsid chroot --userspec=mysql:mysql "$R" /usr/bin/env -i HOME=/nonexistent \
		PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
		/usr/sbin/mysqld --no-defaults --datadir=$G/data \
		--socket=$G/mysqld.sock --skip-networking --mysqlx=OFF \
		--log-error=$G/error.log --secure-file-priv=$G </dev/null >/dev/null 2>&1 &
	for _ in $(seq 120); do
		in_sb mysqladmin --no-defaults --user=root --socket=$G/mysqld.sock ping \
			>/dev/null 2>&1 && return 0
		sleep 0.5
	done
	return 1
}
stop() {
	in_sb mysqladmin --no-defaults --user=root --socket=$G/mysqld.sock shutdown
	for _ in $(seq 120); do
		[ -S "$R$G/mysqld.sock" ] || break
		sleep 0.5
	done
	tail -n 2 "$R$G/error.log" | grep -q 'Shutdown complete'
}
start
kt_eq "mysqld (user mysql) answers" 0 "$?"
uid=$(in_sb id -u mysql)
kt_eq "mysqld runs as mysql (uid $uid)" "$uid" \
	"$(ps -o uid= -C mysqld | tr -d ' ' | sort -u | grep -x "$uid")"
kt_eq "Component_status" Active "$(gsql "SELECT STATUS_VALUE FROM
	performance_schema.keyring_component_status WHERE STATUS_KEY='Component_status'")"

kt_say "3. encrypt"
out=$(gsql "SET PERSIST default_table_encryption = ON;
	CREATE DATABASE shop;
	CREATE TABLE shop.customers (id INT PRIMARY KEY, name VARCHAR(40)) ENCRYPTION='Y';
	CREATE TABLE shop.orders (id INT PRIMARY KEY, total INT) ENCRYPTION='N';
	INSERT INTO shop.customers VALUES (1, 'guide-customer-one');
	INSERT INTO shop.orders VALUES (1, 42);
	ALTER TABLE shop.orders ENCRYPTION='Y';
	SET PERSIST innodb_redo_log_encrypt = ON, innodb_undo_log_encrypt = ON;
	SET PERSIST binlog_encryption = ON;
	ALTER INSTANCE ROTATE INNODB MASTER KEY;
	ALTER INSTANCE ROTATE BINLOG MASTER KEY;")
kt_eq "the guide's SQL runs without an error" "" "$out"
kt_eq "both tables encrypted" "ENCRYPTION='Y' ENCRYPTION='Y'" \
	"$(gsql "SELECT CREATE_OPTIONS FROM information_schema.TABLES
		WHERE TABLE_SCHEMA='shop' ORDER BY TABLE_NAME" | tr '\n' ' ' | sed 's/ $//')"
out=$(in_sb keylocker keyring list 2>&1)
kt_match "keyring list (as root) runs as mysql" 'running as mysql' "$out"
kt_match "keyring list shows InnoDB master keys" '^INNODBKey-' "$out"
kt_match "keyring list shows the binlog master key" '^MySQLReplicationKey_' "$out"
out=$(in_sb keylocker keyring verify 2>&1)
kt_eq "keyring verify exits 0" 0 "$?"
kt_match "keyring verify: every entry unwrapped" '0 failed' "$out"

kt_say "   restart"
stop
kt_eq "clean shutdown" 0 "$?"
start
kt_eq "mysqld answers again" 0 "$?"
kt_eq "the rows read back" "1	guide-customer-one 1	42" \
	"$(gsql "SELECT * FROM shop.customers; SELECT * FROM shop.orders" | tr '\n' ' ' | sed 's/ $//')"
kt_eq "no [ERROR] in the error log" "" \
	"$(grep -F '[ERROR]' "$R$G/error.log" 2>&1 || test -s "$R$G/error.log" || echo "no error log")"
stop

kt_say "5. audit verify"
out=$(in_sb env KEYLOCKER_PIN=guide-auditor-1 keylocker audit verify 2>&1)
kt_eq "audit verify exits 0" 0 "$?"
kt_match "audit verify: the trail verified" 'audit trail verified' "$out"
kt_match "the trail has mysqld's unwraps" 'unwrap [0-9]+' "$out"

kt_done
