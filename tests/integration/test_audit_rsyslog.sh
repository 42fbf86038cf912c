#!/bin/bash
# docs/audit.md's recipe for a central copy, on loopback: the syslog sink
# hands records to a local rsyslogd, which forwards them over TCP (omfwd,
# disk-assisted queue) to a second rsyslogd, which writes one file per host
# holding only the records.  That central file must then verify together
# with the local sinks, checkpoints checked in the token.
# Exit 0 when every check passes, 1 on a failure, 77 when rsyslogd is missing.
set -u

build=${KL_BUILD_DIR:?run through ctest}
cli=$build/tools/keylocker
command -v rsyslogd >/dev/null || { echo "SKIP: rsyslogd is not installed"; exit 77; }

dir=$(mktemp -d /tmp/kl-rsyslog-XXXXXX)
cleanup() {
	local p
	for p in "$dir"/client.pid "$dir"/server.pid; do
		[ -s "$p" ] && kill "$(cat "$p")" 2>/dev/null
	done
	sleep 0.2
	rm -rf "$dir"
}
trap cleanup EXIT
fails=0
pass() { echo "ok   $*"; }
fail() { echo "FAIL $*"; fails=$((fails + 1)); }

export KEYLOCKER_MODULE=$build/pkcs11/libkeylocker-pkcs11.so
"$cli" init --dir "$dir/kl" --admin-pin admin-pin-1 --keyring-pin keyring-pin-1 \
	--auditor-pin auditor-pin-1 --pin-cost 10 --no-append-only --no-syslog --quiet >/dev/null ||
	{ echo "FAIL keylocker init"; exit 1; }
export KEYLOCKER_CONF=$dir/kl/keylocker.yaml SOFTHSM2_CONF=$dir/kl/softhsm2.conf

# the server: TCP in, one file per host, the record alone on each line
port=$((20000 + RANDOM % 20000))
mkdir -p "$dir/server" "$dir/client"
cat >"$dir/server.conf" <<EOF
global(workDirectory="$dir/server" maxMessageSize="16k")
module(load="imtcp")
input(type="imtcp" port="$port" address="127.0.0.1")
template(name="kl_audit_file" type="string"
         string="$dir/remote/%hostname%/keylocker-audit.log")
template(name="kl_audit_line" type="string" string="%msg:2:\$%\n")
if \$programname == 'keylocker-audit' then {
    action(type="omfile" dynaFile="kl_audit_file" template="kl_audit_line")
    stop
}
EOF
# the host: a private log socket standing in for /dev/log, forwarded over TCP
cat >"$dir/client.conf" <<EOF
global(workDirectory="$dir/client" maxMessageSize="16k")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="$dir/log")
if \$programname == 'keylocker-audit' then {
    action(type="omfwd" target="127.0.0.1" port="$port" protocol="tcp"
           queue.type="linkedList" queue.filename="keylocker_fwd"
           queue.saveOnShutdown="on" action.resumeRetryCount="-1")
    stop
}
EOF
rsyslogd -n -f "$dir/server.conf" -i "$dir/server.pid" >"$dir/server.out" 2>&1 &
rsyslogd -n -f "$dir/client.conf" -i "$dir/client.pid" >"$dir/client.out" 2>&1 &
for _ in $(seq 50); do [ -S "$dir/log" ] && [ -s "$dir/server.pid" ] && break; sleep 0.1; done
[ -S "$dir/log" ] || { echo "FAIL rsyslogd did not start"; cat "$dir"/*.out; exit 1; }

# a fresh trail with the syslog sink from its first record: move the one init wrote aside
mkdir "$dir/old"
mv "$dir/kl/audit/audit.log" "$dir/old/a.log"
mv "$dir/kl/audit-mirror/audit.log" "$dir/old/b.log"
mv "$dir/kl/state/audit.head" "$dir/old/audit.head"
cat >>"$KEYLOCKER_CONF" <<EOF
    - syslog: authpriv
      ident: keylocker-audit
      socket: $dir/log
EOF
for _ in 1 2 3; do
	KEYLOCKER_PIN=keyring-pin-1 "$cli" selftest >/dev/null 2>&1 || fail "selftest"
done
local_a=$dir/kl/audit/audit.log
want=$(wc -l <"$local_a")
central=
for _ in $(seq 100); do
	central=$(ls "$dir"/remote/*/keylocker-audit.log 2>/dev/null | head -1)
	[ -n "$central" ] && [ "$(wc -l <"$central")" -ge "$want" ] && break
	sleep 0.1
done
if [ -n "$central" ] && [ "$(wc -l <"$central")" -eq "$want" ]; then
	pass "the central file has all $want records"
else
	fail "the central file has $( [ -n "$central" ] && wc -l <"$central" || echo no) records of $want"
	cat "$dir"/*.out
fi
if [ -n "$central" ] && cmp -s "$local_a" "$central"; then
	pass "the central file is byte for byte the local sink"
else
	fail "the central file differs from the local sink"
fi

# the verifier holds the central copy against the local sinks and the token
cp "$central" "$dir/central.log" 2>/dev/null
if KEYLOCKER_PIN=auditor-pin-1 "$cli" audit verify "$local_a" "$dir/kl/audit-mirror/audit.log" \
    "$dir/central.log" >"$dir/out" 2>&1 && grep -q "3 files that agree" "$dir/out"; then
	pass "local sinks and the central copy verify together"
else
	fail "verify with the central copy"
	sed 's/^/     /' "$dir/out"
fi
# and a change made on the log server alone is caught, and named
sed -i '3s/"pid":[0-9]*/"pid":1/' "$dir/central.log"
KEYLOCKER_PIN=auditor-pin-1 "$cli" audit verify "$local_a" "$dir/central.log" >"$dir/out" 2>&1
rc=$?
if [ $rc -eq 1 ] && grep -q "record 2 (line 3) was edited" "$dir/out"; then
	pass "an edit on the log server is caught"
else
	fail "an edit on the log server (status $rc)"
	sed 's/^/     /' "$dir/out"
fi

echo "$fails failed"
[ $fails -eq 0 ]
