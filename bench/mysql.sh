#!/bin/bash
# Part 2 of keylocker's benchmark (bench/run.sh runs it): the same real MySQL
# 9.7 sandbox (scripts/mysql-sandbox.sh) with N encrypted tables, once with
# component_keyring_pkcs11 and once with component_keyring_file, measured in
# interleaved runs:
#   start   mysqld launched until it answers (the sandbox's own figure: it
#           polls with mysqladmin ping every 50 ms)
#   open    the first query after start, which opens every table (a UNION ALL
#           of a primary-key read in each of the N), timed inside the server
#           with NOW(6)
#   rotate  ALTER INSTANCE ROTATE INNODB MASTER KEY, timed the same way
# and, for keylocker, the token calls each phase made: audit records of this
# mysqld's pid, binned by their time between the phase markers.
#
#   bench/mysql.sh [--tables N] [--runs R] [--keep]
# Needs the sandbox, component_keyring_pkcs11 installed in it (install-build)
# and /etc/keylocker in the chroot.  Instances: bn-file, bn-p11.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
sb=$top/scripts/mysql-sandbox.sh
tables=2000
runs=5
keep=0
while (($#)); do
	case $1 in
	--tables) tables=$2; shift 2 ;;
	--runs) runs=$2; shift 2 ;;
	--keep) keep=1; shift ;;
	*) echo "mysql.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
[[ $tables =~ ^[0-9]+$ && $tables -ge 1 && $runs =~ ^[0-9]+$ && $runs -ge 1 ]] ||
	{ echo "mysql.sh: --tables and --runs take positive integers" >&2; exit 2; }

root=$("$sb" root)
audit_log=$root/var/log/keylocker-audit.log
work=$(mktemp -d /tmp/kl-bench-mysql.XXXXXX)
names=(bn-file bn-p11)
comps=(component_keyring_file component_keyring_pkcs11)
cleanup() {
	local n
	if ((keep == 0)); then
		for n in "${names[@]}"; do "$sb" destroy "$n" >/dev/null 2>&1 || true; done
		rm -rf "$work"
	fi
}
trap cleanup EXIT

die() { echo "mysql.sh: $*" >&2; exit 1; }
now_us() { date +%s%6N; }

[[ -f $root/usr/lib/mysql/plugin/component_keyring_pkcs11.so ]] ||
	die "component_keyring_pkcs11.so is not in the sandbox: run '$sb install-build BUILD_DIR'"
[[ -f $root/etc/keylocker/keylocker.yaml ]] ||
	die "no /etc/keylocker in the sandbox (keylocker init --dir /etc/keylocker inside it)"
sink=$(awk '/^ *- file:/ { print $3; exit }' "$root/etc/keylocker/keylocker.yaml")
[[ -n $sink ]] && audit_log=$root$sink

# The schema: N tables, each one encrypted row.
{
	echo "CREATE DATABASE bn;"
	for ((i = 1; i <= tables; i++)); do
		echo "CREATE TABLE bn.t$i (id INT PRIMARY KEY, v INT) ENCRYPTION='Y';"
		echo "INSERT INTO bn.t$i VALUES (1, $i);"
	done
} >"$work/schema.sql"
# The first query: open every table, a point read in each (COUNT(*) would
# start InnoDB's parallel-read threads per table, which made this phase
# mostly thread start-up and scheduling noise).
{
	echo "SELECT NOW(6) INTO @t0;"
	printf 'SELECT SUM(c) FROM ('
	for ((i = 1; i <= tables; i++)); do
		((i > 1)) && printf ' UNION ALL '
		printf 'SELECT v AS c FROM bn.t%d WHERE id = 1' "$i"
	done
	echo ') x;'
	echo "SELECT TIMESTAMPDIFF(MICROSECOND, @t0, NOW(6));"
} >"$work/open.sql"
rotate_sql="SELECT NOW(6) INTO @t0; ALTER INSTANCE ROTATE INNODB MASTER KEY;
SELECT TIMESTAMPDIFF(MICROSECOND, @t0, NOW(6));"

echo "== 2. MySQL: $tables encrypted tables, $runs interleaved runs per component"
t=$(date +%s)
for k in 0 1; do
	"$sb" init "${names[k]}" --component "file://${comps[k]}" >/dev/null 2>"$work/init.err" ||
		{ cat "$work/init.err" >&2; die "init ${names[k]} failed"; }
	"$sb" start "${names[k]}" 2>"$work/start.err" || { cat "$work/start.err" >&2; die "start failed"; }
	"$sb" sql "${names[k]}" <"$work/schema.sql" >/dev/null
	got=$("$sb" sql "${names[k]}" "SELECT COUNT(*) FROM information_schema.INNODB_TABLESPACES WHERE NAME LIKE 'bn/%' AND ENCRYPTION='Y'")
	[[ $got == "$tables" ]] || die "${names[k]}: $got encrypted tables, not $tables"
	"$sb" stop "${names[k]}"
done
echo "  set-up: both instances with $tables encrypted tables in $(($(date +%s) - t)) s"

# results: one line per run and component: k start_ms open_us rotate_us pid t0 t1 t2 t3
: >"$work/results"
for ((r = 0; r < runs; r++)); do
	for kk in 0 1; do
		k=$(((kk + r) % 2))	# alternate which goes first
		n=${names[k]}
		ta=$(now_us)
		"$sb" start "$n" 2>"$work/start.err" || { cat "$work/start.err" >&2; die "start $n failed"; }
		sleep 1.2
		tb=$(now_us)
		ms=$(sed -n 's/.* started in \([0-9]*\) ms.*/\1/p' "$work/start.err")
		[[ -n $ms ]] || die "start $n: no time in: $(cat "$work/start.err")"
		pid=$("$sb" status "$n" | awk '{ print $2 }')
		out=$("$sb" sql "$n" <"$work/open.sql")
		tc=$(now_us)
		# the audit writer flushes within sync_interval_ms (1 s): wait, untimed,
		# so this phase's records are written before the next phase starts
		sleep 1.2
		sum=$(sed -n 1p <<<"$out")
		open_us=$(sed -n 2p <<<"$out")
		[[ $sum == "$((tables * (tables + 1) / 2))" ]] ||
			die "$n: the open query gave '$sum', not $((tables * (tables + 1) / 2))"
		out=$("$sb" sql "$n" "$rotate_sql")
		td=$(now_us)
		[[ $out =~ ^[0-9]+$ ]] || die "$n: rotation printed '$out'"
		sleep 1.2
		"$sb" stop "$n"
		echo "$k $ms $open_us $out $pid $ta $tb $tc $td" >>"$work/results"
	done
done

# Audit records of one pid between two times (microseconds since the epoch).
audit_count() {
	[[ -f $audit_log ]] || { echo "-"; return; }
	python3 - "$audit_log" "$1" "$2" "$3" <<'PY'
import json, sys, datetime, collections
path, pid, t0, t1 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
c = collections.Counter()
for line in open(path, errors="replace"):
    try:
        r = json.loads(line)
    except ValueError:
        continue
    if r.get("pid") != pid:
        continue
    ts = datetime.datetime.strptime(r["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp() * 1e6
    if t0 <= ts < t1:
        c[r["op"]] += 1
print(sum(v for k, v in c.items() if k not in ("checkpoint",)),
      ",".join("%s=%d" % kv for kv in sorted(c.items())) or "none")
PY
}

sleep 1.5	# the audit writer syncs within sync_interval_ms (1 s by default)
python3 - "$work/results" "$tables" <<'PY' >"$work/report"
import sys, statistics
rows = [l.split() for l in open(sys.argv[1])]
names = ["component_keyring_file", "component_keyring_pkcs11"]
def col(k, i): return [float(r[i]) for r in rows if int(r[0]) == k]
def spread(v, fmt): return "%s  [%s .. %s]" % (fmt % statistics.median(v), fmt % min(v), fmt % max(v))
start = {k: col(k, 1) for k in (0, 1)}
opn = {k: [x / 1000 for x in col(k, 2)] for k in (0, 1)}
rot = {k: [x / 1000 for x in col(k, 3)] for k in (0, 1)}
both = {k: [a + b for a, b in zip(start[k], opn[k])] for k in (0, 1)}
# rows alternate which component goes first; run r's pair is (file, pkcs11) of run r
print("  %-30s %-28s %-28s %s" % ("phase, ms: median [min .. max]", names[0], names[1],
      "ratio of medians; per-run ratios median [min .. max]"))
for label, d, goal in (("start (until it answers)", start, None), ("first query, opens all", opn, None),
                       ("start + first query", both, 1.05), ("ROTATE INNODB MASTER KEY", rot, 1.10)):
    ratio = statistics.median(d[1]) / statistics.median(d[0])
    paired = [b / a for a, b in zip(d[0], d[1]) if a > 0]
    g = "" if goal is None else ("  goal <= %.2f: %s" % (goal, "met" if ratio <= goal else "MISSED"))
    print("  %-30s %-28s %-28s %.3f; %s%s" % (label, spread(d[0], "%.0f"), spread(d[1], "%.0f"),
          ratio, spread(paired, "%.3f") if paired else "-", g))
print("RESULT mysql tables=%s start_ms=%.0f/%.0f open_ms=%.1f/%.1f rotate_ms=%.1f/%.1f "
      "start_open_ratio=%.4f rotate_ratio=%.4f" % (sys.argv[2],
      statistics.median(start[0]), statistics.median(start[1]),
      statistics.median(opn[0]), statistics.median(opn[1]),
      statistics.median(rot[0]), statistics.median(rot[1]),
      statistics.median(both[1]) / statistics.median(both[0]),
      statistics.median(rot[1]) / statistics.median(rot[0])))
PY
cat "$work/report"
echo "  token calls by component_keyring_pkcs11 (audit records of its mysqld, per run):"
i=0
while read -r k ms open_us rot_us pid ta tb tc td; do
	[[ $k == 1 ]] || continue
	i=$((i + 1))
	s=$(audit_count "$pid" "$ta" "$tb")
	o=$(audit_count "$pid" "$tb" "$tc")
	ro=$(audit_count "$pid" "$tc" "$td")
	echo "    run $i: start ${s#* } (${s%% *}); first query ${o#* } (${o%% *}); rotate ${ro#* } (${ro%% *})"
	if ((i == 1)); then
		echo "RESULT mysql_token_calls start=${s%% *} open=${o%% *} rotate=${ro%% *}"
	fi
done <"$work/results"
exit 0
