#!/bin/bash
# keylocker's benchmark, one command: every figure next to its baseline and
# the ratio, over interleaved runs (median [min .. max]), on this machine.
#
#   bench/run.sh                 the full run (about 15 minutes on 2 cores)
#   bench/run.sh --smoke         tiny sizes: proves every part runs (about a minute)
#   bench/run.sh --part 1|2|3    only that part (repeatable)
#
#   1. token path   kl-bench token: keylocker (audit on, audit off) vs bare SoftHSM2
#   2. MySQL        bench/mysql.sh: component_keyring_pkcs11 vs component_keyring_file
#   3. scale        kl-bench scale: a store of 100,000 wrapped entries
#
# Environment: KL_BENCH_BUILD (build directory, default build-bench, configured
# and built here), KL_BENCH_RUNS, KL_BENCH_SECONDS, KL_BENCH_TABLES,
# KL_BENCH_ENTRIES override the sizes.  docs/performance.md explains the output
# and records measured figures.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${KL_BENCH_BUILD:-$top/build-bench}
smoke=0
parts=()
while (($#)); do
	case $1 in
	--smoke) smoke=1; shift ;;
	--part) parts+=("$2"); shift 2 ;;
	-h|--help) sed -n '2,17p' "$0"; exit 0 ;;
	*) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done
((${#parts[@]})) || parts=(1 2 3)
want() { local p; for p in "${parts[@]}"; do [[ $p == "$1" ]] && return 0; done; return 1; }

if ((smoke)); then
	runs=${KL_BENCH_RUNS:-1} seconds=${KL_BENCH_SECONDS:-0.3}
	tables=${KL_BENCH_TABLES:-10} entries=${KL_BENCH_ENTRIES:-500}
	mruns=1 sruns=1 fetches=100
else
	runs=${KL_BENCH_RUNS:-7} seconds=${KL_BENCH_SECONDS:-3}
	tables=${KL_BENCH_TABLES:-2000} entries=${KL_BENCH_ENTRIES:-100000}
	mruns=${KL_BENCH_RUNS:-5} sruns=3 fetches=1000
fi

if [[ ! -f $build/CMakeCache.txt ]]; then
	cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DCMAKE_INSTALL_PREFIX=/usr -DKL_WERROR=ON >/dev/null
fi
cmake --build "$build" -j"$(nproc)" >/dev/null
export KL_BUILD_DIR=$build

echo "keylocker benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ)$( ((smoke)) && echo ' (smoke run: tiny sizes, figures mean nothing)')"
echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs (nproc)," \
	"$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r)"
echo "build: $build ($(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build/CMakeCache.txt")), commit" \
	"$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$top" diff --quiet 2>/dev/null || echo '+changes')," \
	"SoftHSM2 $(dpkg-query -W -f '${Version}' softhsm2 2>/dev/null || echo '?')"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (a shared machine is noisy: read the spreads)"
echo

if want 1; then
	"$build/bench/kl-bench" token --runs "$runs" --seconds "$seconds" ||
		{ echo "run.sh: the token path part failed" >&2; exit 1; }
	echo
fi

if want 2; then
	sb=$top/scripts/mysql-sandbox.sh
	"$sb" ensure >/dev/null
	"$sb" install-build "$build" >/dev/null
	root=$("$sb" root)
	# the component's defaults live in the chroot's /etc/keylocker: reuse it if
	# someone made it, else make it with the test PINs of tests/integration/klsetup.h
	if [[ ! -f $root/etc/keylocker/keylocker.yaml ]]; then
		"$sb" run keylocker init --dir /etc/keylocker --admin-pin admin-pin-1 \
			--keyring-pin keyring-pin-1 --auditor-pin auditor-pin-1 --no-syslog --quiet >/dev/null
	fi
	echo "MySQL: $("$sb" run mysqld --version | sed 's/^.*Ver /Ver /')"
	"$top/bench/mysql.sh" --tables "$tables" --runs "$mruns" ||
		{ echo "run.sh: the MySQL part failed" >&2; exit 1; }
	echo
fi

if want 3; then
	"$build/bench/kl-bench" scale --entries "$entries" --runs "$sruns" --fetches "$fetches" ||
		{ echo "run.sh: the scale part failed" >&2; exit 1; }
	echo
fi
