#!/bin/bash
# mysql-sandbox.sh: build, cache and drive a real MySQL 9.7 in a Debian sid chroot.
#
# Debian bookworm ships no MySQL; sid has mysql-server-core 9.7, its client, its
# test suite (mysql-test-run) and mysql_migrate_keyring. This script keeps one sid
# chroot in a cache directory outside the checkout and runs any number of
# throwaway mysqld instances in it, each under /srv/mysql/NAME inside the chroot.
# Everything runs as root on the host: mysqld gets --user=root.
#
# Usage: see usage() below or run the script without arguments.
#
# Environment:
#   KL_SANDBOX_DIR            cache directory (default /var/cache/keylocker/mysql-sandbox)
#   KL_SANDBOX_MIRROR         Debian mirror (default http://deb.debian.org/debian)
#   KL_SANDBOX_PORT_BASE      first TCP port for instances (default 15300) and size
#   KL_SANDBOX_PORT_COUNT     of the range (default 400); mtr's automatic ports are
#                             13000-13999, `mtr` here uses 16000-18799
#   KL_SANDBOX_START_TIMEOUT  seconds `start` waits for mysqld to answer (default 120)
#   KL_SANDBOX_STOP_TIMEOUT   seconds `stop` waits for a clean shutdown (default 120)
#   KL_SANDBOX_LOCK_TIMEOUT   seconds to wait for another run's lock (default 1800)
#
# Layout of the cache directory:
#   root/             the chroot (debootstrap'ed sid)
#   stamp.base        written once debootstrap and the chroot's base config are done
#   stamp.packages    the package set and mirror last installed; a change means
#                     "apt-get update && apt-get install", never a rebuild
#   lock              flock: `ensure` and `install-build` exclusive, others shared
#   locks/            per-instance, port-allocation and mtr locks
# Layout of one instance, inside the chroot at /srv/mysql/NAME:
#   my.cnf port component data/ tmp/ files/ keyring/ error.log mysqld.out
#   mysqld.pid mysqld.sock, and optionally environment (VAR=VALUE lines that
#   `start` passes to mysqld)

set -euo pipefail
shopt -s nullglob

PROG=${0##*/}
SANDBOX=${KL_SANDBOX_DIR:-/var/cache/keylocker/mysql-sandbox}
CHROOT=$SANDBOX/root
MIRROR=${KL_SANDBOX_MIRROR:-http://deb.debian.org/debian}
SUITE=sid
PORT_BASE=${KL_SANDBOX_PORT_BASE:-15300}
PORT_COUNT=${KL_SANDBOX_PORT_COUNT:-400}
START_TIMEOUT=${KL_SANDBOX_START_TIMEOUT:-120}
STOP_TIMEOUT=${KL_SANDBOX_STOP_TIMEOUT:-120}
LOCK_TIMEOUT=${KL_SANDBOX_LOCK_TIMEOUT:-1800}

PLUGIN_DIR=/usr/lib/mysql/plugin     # Debian's plugin_dir inside the chroot
INST_TOP=/srv/mysql                  # instances, inside the chroot
CHROOT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# What the chroot must hold. MySQL itself and its test suite, then what our own
# binaries (libkeylocker-pkcs11.so, keylocker, component_keyring_pkcs11.so) and
# our tests load or run inside it. Changing this list makes `ensure` install
# the difference on its next run.
PACKAGES=(
	mysql-server-core mysql-client-core mysql-testsuite openssl
	zip	# mysql-testsuite depends on unzip only; some innodb tests run zip
	libyaml-0-2 libssl3t64 libp11-kit0 p11-kit p11-kit-modules
	softhsm2 opensc gnutls-bin e2fsprogs procps
)

# ---------------------------------------------------------------- helpers

usage() {
	cat <<EOF
usage: $PROG COMMAND [ARGS...]

  ensure                      build or update the sid chroot (no-op when current)
  install-build BUILD_DIR     install a configured CMake build into the chroot (/usr)
  root                        print the chroot path
  run CMD [ARGS...]           run a command inside the chroot as root
                              (clean env; use 'run env VAR=x CMD' to pass variables)
  list                        list instances and whether they run
  init NAME [--component URN|none] [--keyring-path PATH] [--config FILE]
                              fresh datadir at /srv/mysql/NAME; URN is
                              file://component_keyring_file (default),
                              file://component_keyring_pkcs11 or another
                              file://component_* in $PLUGIN_DIR;
                              PATH is the keyring's "path" (inside the chroot);
                              FILE replaces the generated <datadir>/<component>.cnf
  start NAME [MYSQLD-OPTS...] start mysqld, wait until it answers
  stop NAME                   clean shutdown (SIGTERM), wait until gone
  kill NAME                   SIGKILL, wait until gone
  status NAME                 print 'running PID PORT' (exit 0) or 'stopped' (exit 3)
  sql NAME [SQL]              run SQL (or stdin) with the mysql client, -N -B
  errlog NAME                 print the host path of the error log
  datadir NAME                print the host path of the datadir
  destroy NAME                stop if running, remove the instance
  mtr [MTR-ARGS...]           run mysql-test-run inside the chroot (one run at a
                              time; default --vardir=/srv/mtr/var, ports 16000+)
  purge                       stop every instance, unmount and delete the whole cache

Cache: $SANDBOX (set KL_SANDBOX_DIR to change)
EOF
}

die() {
	printf '%s: %s\n' "$PROG" "$*" >&2
	exit 1
}

warn() {
	printf '%s: %s\n' "$PROG" "$*" >&2
}

usage_die() {
	printf '%s: %s\n\n' "$PROG" "$*" >&2
	usage >&2
	exit 2
}

now_ms() {
	local t
	t=$(date +%s%N)
	echo $((t / 1000000))
}

# Write stdin to FILE only if the content differs, so reruns touch nothing.
write_if_changed() {
	local file=$1 tmp
	tmp=$(mktemp "$file.XXXXXX")
	cat >"$tmp"
	if [[ -f $file ]] && cmp -s "$tmp" "$file"; then
		rm -f "$tmp"
	else
		chmod 0644 "$tmp"
		mv -f "$tmp" "$file"
	fi
}

# Locks. fd 8 is the sandbox-wide lock, fd 7 an instance lock, fd 6 the port
# lock, fd 5 the mtr lock, fd 4 the host-wide lock of mtr's port block. Every
# process we leave running is started with these fds closed, or a daemon
# would hold a lock for its whole life.
lock_sandbox() {	# lock_sandbox -x|-s
	mkdir -p "$SANDBOX"
	exec 8>>"$SANDBOX/lock"
	flock "$1" -w "$LOCK_TIMEOUT" 8 ||
		die "timed out after ${LOCK_TIMEOUT}s waiting for $SANDBOX/lock (another run of $PROG holds it)"
}

lock_instance() {
	mkdir -p "$SANDBOX/locks"
	exec 7>>"$SANDBOX/locks/instance-$1.lock"
	flock -x -w "$LOCK_TIMEOUT" 7 ||
		die "timed out waiting for the lock of instance $1"
}

# Run a command inside the chroot with a clean, predictable environment.
in_chroot() {
	chroot "$CHROOT" /usr/bin/env -i \
		HOME=/root PATH="$CHROOT_PATH" LANG=C.UTF-8 TERM="${TERM:-dumb}" \
		DEBIAN_FRONTEND=noninteractive "$@"
}

require_built() {
	[[ -f $SANDBOX/stamp.base && -f $SANDBOX/stamp.packages && -x $CHROOT/usr/sbin/mysqld ]] ||
		die "no sandbox at $SANDBOX: run '$PROG ensure' first"
	mount_proc
}

mount_proc() {
	if ! mountpoint -q "$CHROOT/proc"; then
		mount -t proc proc "$CHROOT/proc" 2>/dev/null || mountpoint -q "$CHROOT/proc" ||
			die "cannot mount /proc in $CHROOT (is this run as root?)"
	fi
}

# Unmount everything below DIR (deepest first) so rm -rf cannot reach /proc.
umount_below() {
	local dir m
	dir=$(realpath -m "$1")
	findmnt -rn -o TARGET | awk -v d="$dir" 'index($0, d "/") == 1' | sort -r |
		while read -r m; do
			umount "$m" 2>/dev/null || umount -l "$m"
		done
}

remove_tree() {
	[[ -e $1 ]] || return 0
	umount_below "$1"
	rm -rf --one-file-system "$1"
}

# ---------------------------------------------------------------- ensure

host_prereqs() {
	local missing=()
	command -v debootstrap >/dev/null || missing+=(debootstrap)
	# debootstrap verifies sid's Release file with the archive keyring.
	[[ -f /usr/share/keyrings/debian-archive-keyring.gpg ]] || missing+=(debian-archive-keyring)
	if ((${#missing[@]})); then
		apt-get update -qq >/dev/null ||
			die "apt-get update failed on the host; cannot install ${missing[*]}"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			"${missing[@]}" >/dev/null ||
			die "could not install ${missing[*]} on the host: install them and rerun"
	fi
}

# Chroot configuration that must hold on every run (host name can change).
configure_chroot() {
	local r=$1
	# the chroot's / as a real one: debootstrap leaves the target 0700, which
	# locks every user but root (mysqld --user=mysql, say) out of everything
	chmod 0755 "$r"
	mkdir -p "$r/etc/apt/apt.conf.d" "$r/usr/sbin" "$r$INST_TOP"
	# sid's Release file can read as expired on the mirror.
	write_if_changed "$r/etc/apt/apt.conf.d/99keylocker-sandbox" <<-'EOF'
		Acquire::Check-Valid-Until "false";
		APT::Install-Recommends "false";
		APT::Install-Suggests "false";
		Dpkg::Use-Pty "false";
	EOF
	write_if_changed "$r/etc/apt/sources.list" <<<"deb $MIRROR $SUITE main"
	# mysql-test-run needs localhost ("Could not create testcase server port").
	write_if_changed "$r/etc/hosts" <<-EOF
		127.0.0.1	localhost
		::1	localhost ip6-localhost ip6-loopback
		127.0.1.1	$(hostname)
	EOF
	if [[ -f /etc/resolv.conf ]]; then
		write_if_changed "$r/etc/resolv.conf" </etc/resolv.conf
	fi
	# Keep package scripts from starting services inside the chroot.
	printf '#!/bin/sh\nexit 101\n' | write_if_changed "$r/usr/sbin/policy-rc.d"
	chmod 0755 "$r/usr/sbin/policy-rc.d"
}

# Files Debian's packages leave out; mysqld and mysql-test-run need them to
# load a keyring component from a datadir's local manifest and config.
configure_mysql() {
	write_if_changed "$CHROOT/usr/sbin/mysqld.my" <<<'{"read_local_manifest": true}'
	chmod 0444 "$CHROOT/usr/sbin/mysqld.my"	# mysqld warns about a writable manifest
	write_if_changed "$CHROOT$PLUGIN_DIR/component_keyring_file.cnf" <<<'{"read_local_config": true}'
}

cmd_ensure() {
	(($# == 0)) || usage_die "ensure takes no arguments"
	[[ $(id -u) == 0 ]] || die "must run as root (debootstrap, chroot, mount)"
	lock_sandbox -x
	host_prereqs

	if [[ ! -f $SANDBOX/stamp.base ]]; then
		local t0 partial=$SANDBOX/root.partial
		t0=$(now_ms)
		remove_tree "$partial"
		remove_tree "$CHROOT"
		# debootstrap is chatty: keep its log and show it only on failure.
		if ! debootstrap --variant=minbase "$SUITE" "$partial" "$MIRROR" \
			>"$SANDBOX/debootstrap.log" 2>&1; then
			tail -n 30 "$SANDBOX/debootstrap.log" >&2
			umount_below "$partial"
			die "debootstrap of $SUITE from $MIRROR failed (full log: $SANDBOX/debootstrap.log)"
		fi
		umount_below "$partial"
		configure_chroot "$partial"
		mv "$partial" "$CHROOT"
		echo "suite=$SUITE mirror=$MIRROR" >"$SANDBOX/stamp.base"
		warn "debootstrap $SUITE: $(($(now_ms) - t0)) ms"
	fi

	configure_chroot "$CHROOT"
	mount_proc

	local want
	want=$(printf 'mirror=%s\n' "$MIRROR"; printf '%s\n' "${PACKAGES[@]}" | sort -u)
	if [[ ! -f $SANDBOX/stamp.packages ]] || [[ $(<"$SANDBOX/stamp.packages") != "$want" ]]; then
		local t0 log=$SANDBOX/apt.log
		t0=$(now_ms)
		rm -f "$SANDBOX/stamp.packages"
		if ! { in_chroot apt-get update &&
			in_chroot apt-get install -y "${PACKAGES[@]}"; } >"$log" 2>&1; then
			tail -n 30 "$log" >&2
			die "installing packages in the chroot failed (full log: $log); fix and rerun '$PROG ensure'"
		fi
		in_chroot apt-get clean
		printf '%s\n' "$want" >"$SANDBOX/stamp.packages"
		warn "apt-get install in chroot: $(($(now_ms) - t0)) ms"
	fi
	configure_mysql
}

# ---------------------------------------------------------------- install-build

cmd_install_build() {
	(($# == 1)) || usage_die "install-build needs exactly one BUILD_DIR"
	local build prefix stage log
	build=$(realpath -e "$1" 2>/dev/null) || die "install-build: no such directory: $1"
	[[ -f $build/cmake_install.cmake ]] ||
		die "install-build: $build is not a configured CMake build directory (run: cmake -S . -B $1 && cmake --build $1)"
	command -v cmake >/dev/null || die "install-build: cmake not found on the host (apt-get install cmake)"
	require_built
	# Paths such as sysconfdir are fixed at configure time, not by --prefix.
	prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null || true)
	if [[ -n $prefix && $prefix != /usr ]]; then
		warn "install-build: $build was configured with CMAKE_INSTALL_PREFIX=$prefix;" \
			"absolute paths baked in at configure time keep that prefix (configure with -DCMAKE_INSTALL_PREFIX=/usr)"
	fi
	lock_sandbox -x
	# Install into a staging tree, then copy with --remove-destination: a file
	# overwritten in place would corrupt a library a running mysqld has mapped,
	# while unlinking first leaves that mysqld its old copy.
	stage=$(mktemp -d "$SANDBOX/stage.XXXXXX")
	chmod 0755 "$stage"	# cp -a below gives the chroot's / the stage's mode
	log=$SANDBOX/install-build.log
	if ! DESTDIR=$stage cmake --install "$build" --prefix /usr >"$log" 2>&1; then
		rm -rf "$stage"
		cat "$log" >&2
		die "install-build: cmake --install $build failed"
	fi
	cp -a --remove-destination "$stage/." "$CHROOT/"
	rm -rf "$stage"
	in_chroot ldconfig
}

# ---------------------------------------------------------------- instances

check_name() {
	[[ ${1-} =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$ ]] ||
		usage_die "bad instance name '${1-}': use 1-40 characters [A-Za-z0-9_.-], starting with a letter or digit"
}

# Instance paths: I_* inside the chroot, H_* on the host.
set_instance() {
	check_name "$1"
	NAME=$1
	I_DIR=$INST_TOP/$NAME
	H_DIR=$CHROOT$I_DIR
	I_CNF=$I_DIR/my.cnf
	I_DATA=$I_DIR/data
	I_SOCK=$I_DIR/mysqld.sock
}

require_instance() {
	set_instance "$1"
	require_built
	[[ -f $H_DIR/my.cnf && -d $H_DIR/data/mysql ]] ||
		die "no instance '$NAME' in $SANDBOX: run '$PROG init $NAME' first"
}

# Is PID alive (a zombie counts as gone)?
alive() {
	local stat
	[[ -r /proc/$1/stat ]] || return 1
	read -r stat </proc/"$1"/stat 2>/dev/null || return 1
	stat=${stat##*) }
	[[ ${stat%% *} != Z ]]
}

# Every live mysqld of this instance: a process whose root is our chroot and
# whose command line names this instance's defaults file. Scanning /proc
# instead of trusting the pid file makes stop/kill reliable after crashes,
# half-finished starts and pid reuse.
instance_pids() {
	local p args a
	for p in /proc/[0-9]*; do
		[[ $p/root -ef $CHROOT ]] 2>/dev/null || continue
		mapfile -d '' args <"$p/cmdline" 2>/dev/null || continue
		for a in "${args[@]:1}"; do
			if [[ $a == "--defaults-file=$I_CNF" ]]; then
				alive "${p#/proc/}" && echo "${p#/proc/}"
				break
			fi
		done
	done
}

# wait_gone SECONDS: wait until no mysqld of the instance is left.
wait_gone() {
	local deadline=$(($(now_ms) + $1 * 1000))
	while [[ -n $(instance_pids) ]]; do
		(($(now_ms) < deadline)) || return 1
		sleep 0.1
	done
}

# signal_all SIG: send SIG to every mysqld of the instance.
signal_all() {
	local pids
	mapfile -t pids < <(instance_pids)
	((${#pids[@]} == 0)) || kill "-$1" "${pids[@]}" 2>/dev/null || true
}

# Clean shutdown: SIGTERM is mysqld's normal shutdown path (the same as the
# SHUTDOWN statement) and needs no credentials a test may have changed. After
# STOP_TIMEOUT it falls back to SIGKILL and returns 1: no mysqld survives.
stop_instance() {
	signal_all TERM
	wait_gone "$STOP_TIMEOUT" && return 0
	signal_all KILL
	wait_gone 10 || die "mysqld of $NAME (pid $(instance_pids)) survives SIGKILL"
	return 1
}

# Print the TCP ports something listens on (state 0A in the kernel's
# tables), space-separated with a space at both ends.
listening_ports() {
	local f line state out=" "
	for f in /proc/net/tcp /proc/net/tcp6; do
		[[ -r $f ]] || continue
		while read -r _ line _ state _; do
			[[ $state == 0A ]] && out+="$((16#${line##*:})) "
		done <"$f"
	done
	echo "$out"
}

# Pick a free TCP port: start from a hash of the name so an instance tends to
# keep its port, skip ports of other instances and anything listening.
alloc_port() {
	local used=() listening port i h f
	for f in "$CHROOT$INST_TOP"/*/port; do
		[[ $f == "$H_DIR/port" ]] || used+=("$(<"$f")")
	done
	listening=$(listening_ports)
	h=$(cksum <<<"$NAME")
	h=${h%% *}
	for ((i = 0; i < PORT_COUNT; i++)); do
		port=$((PORT_BASE + (h + i) % PORT_COUNT))
		[[ " ${used[*]} " == *" $port "* || $listening == *" $port "* ]] && continue
		echo "$port"
		return 0
	done
	die "no free port in $PORT_BASE..$((PORT_BASE + PORT_COUNT - 1)) (set KL_SANDBOX_PORT_BASE/KL_SANDBOX_PORT_COUNT)"
}

json_string_ok() {
	[[ $1 != *[\"\\]* ]] || die "$2 must not contain '\"' or '\\': $1"
}

cmd_init() {
	(($# >= 1)) || usage_die "init needs an instance NAME"
	set_instance "$1"
	shift
	local urn=file://component_keyring_file comp="" kpath="" config="" port
	while (($#)); do
		case $1 in
		--component) (($# >= 2)) || usage_die "--component needs a value"; urn=$2; shift 2 ;;
		--component=*) urn=${1#*=}; shift ;;
		--keyring-path) (($# >= 2)) || usage_die "--keyring-path needs a value"; kpath=$2; shift 2 ;;
		--keyring-path=*) kpath=${1#*=}; shift ;;
		--config) (($# >= 2)) || usage_die "--config needs a file"; config=$2; shift 2 ;;
		--config=*) config=${1#*=}; shift ;;
		*) usage_die "init: unknown option '$1'" ;;
		esac
	done
	require_built
	if [[ $urn != none ]]; then
		[[ $urn =~ ^file://(component_[A-Za-z0-9_]+)$ ]] ||
			usage_die "init: --component must be file://component_NAME or none, not '$urn'"
		comp=${BASH_REMATCH[1]}
		if [[ ! -f $CHROOT$PLUGIN_DIR/$comp.so ]]; then
			if [[ $comp == component_keyring_pkcs11 ]]; then
				die "init: $PLUGIN_DIR/$comp.so is not in the chroot: build the project and run '$PROG install-build BUILD_DIR'"
			fi
			die "init: $PLUGIN_DIR/$comp.so is not in the chroot"
		fi
		kpath=${kpath:-$I_DIR/keyring/$comp}
		[[ $kpath == /* ]] || usage_die "init: --keyring-path must be absolute (a path inside the chroot)"
		json_string_ok "$kpath" "--keyring-path"
		if [[ -n $config ]]; then
			[[ -r $config ]] || die "init: cannot read --config file $config"
		fi
	else
		[[ -z $kpath && -z $config ]] || usage_die "init: --keyring-path/--config make no sense with --component none"
	fi

	lock_sandbox -s
	lock_instance "$NAME"
	[[ -z $(instance_pids) ]] || die "init: instance $NAME is running: run '$PROG stop $NAME' or '$PROG destroy $NAME' first"

	# A fresh datadir every time; the port survives a re-init. The port lock
	# is held until the port file is written, so concurrent inits differ.
	mkdir -p "$SANDBOX/locks"
	exec 6>>"$SANDBOX/locks/ports.lock"
	flock -x -w "$LOCK_TIMEOUT" 6 || die "timed out waiting for the port lock"
	if [[ -f $H_DIR/port ]]; then
		port=$(<"$H_DIR/port")
	else
		port=$(alloc_port)
	fi
	remove_tree "$H_DIR"
	mkdir -p "$H_DIR"/{data,tmp,files,keyring}
	echo "$port" >"$H_DIR/port"
	exec 6>&-
	chmod 0750 "$H_DIR/data"
	chmod 0700 "$H_DIR/files"	# mysqld warns when secure-file-priv is world-readable

	# A small buffer pool keeps many instances cheap; X Plugin off so it needs
	# no second port. (A redo capacity under the default 100M makes mysqld warn
	# about redo space during --initialize.)
	cat >"$H_DIR/my.cnf" <<-EOF
		[mysqld]
		user=root
		basedir=/usr
		plugin-dir=$PLUGIN_DIR
		datadir=$I_DATA
		socket=$I_SOCK
		pid-file=$I_DIR/mysqld.pid
		log-error=$I_DIR/error.log
		tmpdir=$I_DIR/tmp
		secure-file-priv=$I_DIR/files
		port=$port
		bind-address=127.0.0.1
		mysqlx=OFF
		innodb_buffer_pool_size=64M
		performance_schema=ON
		server-id=1
	EOF
	echo "${comp:-none}" >"$H_DIR/component"

	if ! in_chroot /usr/sbin/mysqld --defaults-file="$I_CNF" --initialize-insecure \
		</dev/null >"$H_DIR/mysqld.out" 2>&1 7>&- 8>&-; then
		tail -n 30 "$H_DIR/error.log" "$H_DIR/mysqld.out" >&2 2>/dev/null || true
		die "init: mysqld --initialize-insecure failed for $NAME (error log: $H_DIR/error.log)"
	fi

	if [[ -n $comp ]]; then
		write_if_changed "$H_DIR/data/mysqld.my" <<<"{\"components\": \"file://$comp\"}"
		chmod 0444 "$H_DIR/data/mysqld.my"
		if [[ -n $config ]]; then
			cp "$config" "$H_DIR/data/$comp.cnf"
		else
			mkdir -p "$CHROOT$(dirname "$kpath")"
			write_if_changed "$H_DIR/data/$comp.cnf" <<<"{\"path\": \"$kpath\", \"read_only\": false}"
		fi
		# The datadir config is read only when the plugin-dir one says so.
		local gcnf=$CHROOT$PLUGIN_DIR/$comp.cnf
		if [[ ! -f $gcnf ]]; then
			write_if_changed "$gcnf" <<<'{"read_local_config": true}'
		elif ! grep -Eq '"read_local_config"[[:space:]]*:[[:space:]]*true' "$gcnf"; then
			warn "init: $PLUGIN_DIR/$comp.cnf lacks \"read_local_config\": true; $I_DATA/$comp.cnf will be ignored"
		fi
	fi
}

cmd_start() {
	(($# >= 1)) || usage_die "start needs an instance NAME"
	require_instance "$1"
	shift
	lock_sandbox -s
	lock_instance "$NAME"
	local pids
	pids=$(instance_pids)
	[[ -z $pids ]] || die "start: instance $NAME is already running (pid $pids): run '$PROG stop $NAME' first"

	# No mysqld of ours is alive, so socket lock and pid files are stale. A
	# killed mysqld may linger as a zombie (a container's init need not reap),
	# and mysqld refuses a socket lock whose pid kill(pid, 0) still finds.
	rm -f "$H_DIR/mysqld.sock" "$H_DIR/mysqld.sock.lock" "$H_DIR/mysqld.pid"

	local t0 pid deadline rc status=""
	t0=$(now_ms)
	: >"$H_DIR/mysqld.out"
	# setsid: the daemon must outlive this script and not get the caller's
	# terminal signals. fds 6-8 (our locks) must not leak into it; stdio go to
	# files so a caller reading our output through a pipe is not kept waiting.
	# <instance>/environment: VAR=VALUE lines for mysqld (KEYLOCKER_CONF, say)
	local extra_env=()
	if [[ -f $H_DIR/environment ]]; then
		mapfile -t extra_env < <(grep -E '^[A-Za-z_][A-Za-z0-9_]*=' "$H_DIR/environment")
	fi
	setsid chroot "$CHROOT" /usr/bin/env -i HOME=/root PATH="$CHROOT_PATH" LANG=C.UTF-8 \
		"${extra_env[@]}" /usr/sbin/mysqld --defaults-file="$I_CNF" "$@" \
		</dev/null >>"$H_DIR/mysqld.out" 2>&1 6>&- 7>&- 8>&- &
	pid=$!
	echo "$pid" >"$H_DIR/launch.pid"
	deadline=$((t0 + START_TIMEOUT * 1000))
	while :; do
		if [[ -S $H_DIR/mysqld.sock ]] &&
			in_chroot mysqladmin --no-defaults --user=root --socket="$I_SOCK" \
				--connect-timeout=2 ping >/dev/null 2>&1; then
			break
		fi
		if ! alive "$pid"; then
			rc=0
			wait "$pid" || rc=$?
			status="mysqld exited with status $rc before answering"
			break
		fi
		if (($(now_ms) > deadline)); then
			status="mysqld did not answer within ${START_TIMEOUT}s (killed)"
			signal_all KILL
			wait_gone 10 || true
			break
		fi
		sleep 0.05
	done
	if [[ -n $status ]]; then
		{
			echo "--- last 30 lines of $H_DIR/error.log:"
			tail -n 30 "$H_DIR/error.log" 2>/dev/null || true
			if [[ -s $H_DIR/mysqld.out ]]; then
				echo "--- mysqld stdout/stderr ($H_DIR/mysqld.out):"
				tail -n 30 "$H_DIR/mysqld.out"
			fi
		} >&2
		die "start $NAME: $status"
	fi
	warn "$NAME started in $(($(now_ms) - t0)) ms (pid $pid, port $(<"$H_DIR/port"))"
}

cmd_stop() {
	(($# == 1)) || usage_die "stop needs exactly one instance NAME"
	require_instance "$1"
	lock_instance "$NAME"
	[[ -n $(instance_pids) ]] || return 0
	stop_instance ||
		die "stop $NAME: no clean shutdown within ${STOP_TIMEOUT}s; killed it (see $H_DIR/error.log)"
}

cmd_kill() {
	(($# == 1)) || usage_die "kill needs exactly one instance NAME"
	require_instance "$1"
	lock_instance "$NAME"
	signal_all KILL
	wait_gone 30 || die "kill $NAME: mysqld (pid $(instance_pids)) still there 30s after SIGKILL"
}

cmd_status() {
	(($# == 1)) || usage_die "status needs exactly one instance NAME"
	require_instance "$1"
	local pids
	pids=$(instance_pids)
	if [[ -n $pids ]]; then
		echo "running $pids $(<"$H_DIR/port")"
	else
		echo stopped
		exit 3
	fi
}

cmd_sql() {
	(($# == 1 || $# == 2)) || usage_die "sql needs an instance NAME and at most one SQL argument (or SQL on stdin)"
	require_instance "$1"
	[[ -S $H_DIR/mysqld.sock ]] || die "sql: instance $NAME is not running: run '$PROG start $NAME'"
	local client=(mysql --no-defaults --user=root --socket="$I_SOCK" -N -B)
	if (($# == 2)); then
		exec chroot "$CHROOT" /usr/bin/env -i HOME=/root PATH="$CHROOT_PATH" LANG=C.UTF-8 \
			"${client[@]}" -e "$2" </dev/null
	fi
	exec chroot "$CHROOT" /usr/bin/env -i HOME=/root PATH="$CHROOT_PATH" LANG=C.UTF-8 "${client[@]}"
}

cmd_destroy() {
	(($# == 1)) || usage_die "destroy needs exactly one instance NAME"
	set_instance "$1"
	[[ -d $CHROOT ]] || return 0
	lock_instance "$NAME"
	if [[ -n $(instance_pids) ]]; then
		stop_instance || warn "destroy $NAME: no clean shutdown within ${STOP_TIMEOUT}s; killed it"
	fi
	remove_tree "$H_DIR"
	rm -f "$SANDBOX/locks/instance-$NAME.lock"
}

cmd_list() {
	(($# == 0)) || usage_die "list takes no arguments"
	local d
	for d in "$CHROOT$INST_TOP"/*/; do
		d=${d%/}
		[[ -f $d/my.cnf ]] || continue
		set_instance "${d##*/}"
		if [[ -n $(instance_pids) ]]; then
			echo "$NAME running $(<"$d/port") $(<"$d/component")"
		else
			echo "$NAME stopped $(<"$d/port") $(<"$d/component")"
		fi
	done
}

# Claim an mtr build thread (ports 10*N+10000 up) for PARALLEL workers (mtr
# takes 30 ports each, more for some suites; reserve 50): slots of 40 threads
# from 600 (ports 16000-18799), the first whose host-wide lock file is free
# (fd 4, held until mtr ends) and where nothing listens. The lock, not the
# port check, keeps two mtr runs in different sandboxes on this host (which
# cannot see each other's /tmp/mysql-unique-ids) from taking the same ports
# when they start at the same moment. Sets MTR_BT.
MTR_LOCK_DIR=${KL_MTR_LOCK_DIR:-/run/lock}
mtr_claim_build_thread() {
	local parallel=$1 listening bt p free
	[[ $parallel =~ ^[0-9]+$ ]] && ((parallel > 0)) || parallel=1
	((5 * parallel <= 40)) || die "mtr: --parallel=$parallel needs more than one 40-thread slot; pass --build-thread=N"
	[[ -d $MTR_LOCK_DIR ]] || MTR_LOCK_DIR=/tmp
	for ((bt = 600; bt + 40 <= 880; bt += 40)); do
		exec 4>>"$MTR_LOCK_DIR/keylocker-mtr-$bt.lock"
		if flock -n 4; then
			listening=$(listening_ports)
			free=1
			for ((p = bt * 10 + 10000; p < (bt + 5 * parallel) * 10 + 10000; p++)); do
				[[ $listening == *" $p "* ]] && { free=0; break; }
			done
			((free)) && { MTR_BT=$bt; return 0; }
		fi
		exec 4>&-
	done
	die "mtr: no free port block in 16000-18799 (other mtr runs hold $MTR_LOCK_DIR/keylocker-mtr-*.lock); pass --build-thread=N"
}

# Put back the global files a keyring test moved aside (helper/
# backup_global_files_once.inc copies them to *.global_backup,
# binary_backup_manifest.inc and global_keyring_config_backup.inc rename
# them to *.backup) when mtr died before its teardown: a stale
# *.global_backup makes every later "customized" test fail on copy_file
# (EEXIST). Called with the mtr lock held, before and after a run.
mtr_restore_globals() {
	local b
	for b in "$CHROOT/usr/sbin/mysqld.my".{backup,global_backup} \
		"$CHROOT$PLUGIN_DIR"/*.cnf.{backup,global_backup}; do
		[[ -f $b ]] || continue
		warn "mtr: restoring ${b#"$CHROOT"} left by an interrupted test"
		mv -f "$b" "${b%.*}"
	done
}

# mysql-test-run inside the chroot. Runs are serialized: several keyring tests
# rewrite the global files /usr/sbin/mysqld.my and <plugin_dir>/<component>.cnf
# (not_parallel.inc guards that only within one run), so two runs at once
# would break each other. The vardir defaults to /srv/mtr/var instead of
# /usr/lib/mysql-test/var. Exported MTR_* variables (MTR_BUILD_THREAD,
# MTR_PORT_BASE, ...) are passed through; everything else stays outside.
cmd_mtr() {
	require_built
	local a vardir="" ports="" parallel rc=0 v
	parallel=$(nproc)	# mtr's default is 1; reserving more ports is harmless
	for a in "$@"; do
		case $a in
		--vardir=* | --vardir) vardir=given ;;
		--build-thread* | --mtr-build-thread* | --port-base* | --mtr-port-base*) ports=given ;;
		--parallel=auto) parallel=$(nproc) ;;
		--parallel=*) parallel=${a#*=} ;;
		esac
	done
	[[ -n $vardir ]] || set -- --vardir=/srv/mtr/var "$@"
	[[ -n ${MTR_BUILD_THREAD-}${MTR_PORT_BASE-} ]] && ports=given
	mkdir -p "$CHROOT/srv/mtr" "$SANDBOX/locks"
	exec 5>>"$SANDBOX/locks/mtr.lock"
	if ! flock -n 5; then
		warn "mtr: waiting for another mtr run in this sandbox to finish"
		flock -w "$LOCK_TIMEOUT" 5 || die "mtr: timed out waiting for $SANDBOX/locks/mtr.lock"
	fi
	if [[ -z $ports ]]; then
		# mtr's automatic ports (13000 up) are coordinated through lock files
		# in the chroot's /tmp, which mtr runs in other chroots on this host
		# cannot see. Start in 16000-18799 instead, where nothing listens.
		mtr_claim_build_thread "$parallel"
		set -- --build-thread="$MTR_BT" "$@"
	fi
	mtr_restore_globals
	configure_mysql
	local passenv=()
	for v in $(compgen -e); do
		[[ $v == MTR_* ]] && passenv+=("$v=${!v}")
	done
	# mtr finds its Perl modules relative to the current directory. No exec:
	# fds 4 and 5 (the locks) are held until mtr ends, and the global files
	# are put back afterwards in case a test died before restoring them.
	in_chroot env -C /usr/lib/mysql-test "${passenv[@]}" \
		./mtr --client-bindir=/usr/lib/mysql-test/bin "$@" 4>&- 5>&- 6>&- 7>&- 8>&- || rc=$?
	mtr_restore_globals
	configure_mysql
	return "$rc"
}

cmd_purge() {
	(($# == 0)) || usage_die "purge takes no arguments"
	[[ -d $SANDBOX ]] || return 0
	lock_sandbox -x
	local d p pids
	# Every process rooted in the chroot goes: instances, mtr servers, strays.
	pids=()
	for p in /proc/[0-9]*; do
		[[ $p/root -ef $CHROOT ]] 2>/dev/null && pids+=("${p#/proc/}")
	done
	if ((${#pids[@]})); then
		kill -TERM "${pids[@]}" 2>/dev/null || true
		for ((d = 0; d < 300; d++)); do
			local left=0
			for p in "${pids[@]}"; do alive "$p" && left=1; done
			((left)) || break
			sleep 0.1
		done
		kill -KILL "${pids[@]}" 2>/dev/null || true
	fi
	remove_tree "$CHROOT"
	remove_tree "$SANDBOX/root.partial"
	rm -rf --one-file-system "$SANDBOX"
}

# ---------------------------------------------------------------- main

main() {
	(($# >= 1)) || usage_die "no command given"
	local cmd=$1
	shift
	case $cmd in
	ensure) cmd_ensure "$@" ;;
	install-build) cmd_install_build "$@" ;;
	root) (($# == 0)) || usage_die "root takes no arguments"; echo "$CHROOT" ;;
	run)
		(($# >= 1)) || usage_die "run needs a command"
		require_built
		exec chroot "$CHROOT" /usr/bin/env -i HOME=/root PATH="$CHROOT_PATH" LANG=C.UTF-8 \
			TERM="${TERM:-dumb}" "$@"
		;;
	list) cmd_list "$@" ;;
	init) cmd_init "$@" ;;
	start) cmd_start "$@" ;;
	stop) cmd_stop "$@" ;;
	kill) cmd_kill "$@" ;;
	status) cmd_status "$@" ;;
	sql) cmd_sql "$@" ;;
	errlog) (($# == 1)) || usage_die "errlog needs exactly one instance NAME"; require_instance "$1"; echo "$H_DIR/error.log" ;;
	datadir) (($# == 1)) || usage_die "datadir needs exactly one instance NAME"; require_instance "$1"; echo "$CHROOT$I_DATA" ;;
	destroy) cmd_destroy "$@" ;;
	mtr) cmd_mtr "$@" ;;
	purge) cmd_purge "$@" ;;
	-h | --help | help) usage ;;
	*) usage_die "unknown command '$cmd'" ;;
	esac
}

main "$@"
