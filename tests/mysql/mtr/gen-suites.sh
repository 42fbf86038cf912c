#!/bin/bash
# gen-suites.sh: make MySQL's own keyring tests run against another keyring
# component, without touching the installed suites.
#
#   gen-suites.sh --root CHROOT --component NAME --list FILE [--full]
#                 [--disabled FILE] [--status FILE]
#   gen-suites.sh --root CHROOT --clean
#
# mysql-test-run finds the keyring component through include/plugin.defs, and
# a second plugin.defs under <basedir>/internal/mysql-test/include/ (read
# after the stock one) can point the variable KEYRING_FILE_COMPONENT at
# another library.  The tests themselves name no component, but every result
# file does (the setup and teardown echo the component's name, and some print
# keyring_component_status).  So for each test in FILE this writes, under
# CHROOT/usr/internal/mysql-test/suite/kl_<suite>/:
#   t/<test>.test     one line: --source of the stock test (which then finds
#                     its own includes next to itself, and mtr's tag scan
#                     follows it: big_test, have_debug, not_parallel hold)
#   t/<test>[-.]*     the stock test's option, cnf and combination files
#   r/<test>[,*].result  the stock result with the component's name replaced,
#                     and every full keyring_component_status block replaced
#                     by the rows in the --status file
#   suite-level files (combinations, my.cnf, *.cnf, t/suite.opt)
# plus, when NAME is not component_keyring_file, the plugin.defs line, and a
# collections/disabled.def made of the stock entries for the listed tests and
# those of --disabled, renamed to kl_<suite>.<test>.  With NAME =
# component_keyring_file the results are byte copies: the baseline run uses
# the very same wrappers.
#
# FILE: one <suite>.<test> per line (suite "main" is mysql-test/t), with
# an optional second word "full": such tests are left out unless --full is
# given; '#' starts a comment.  --disabled FILE: "<suite>.<test> : reason" lines.
# --status FILE: blocks "[<suite>.<test>#<n>]" followed by the rows (TAB
# between key and value) that replace the n-th full status block of that
# result (n counts from 1 over the result and its combination variants);
# @VERSION@ and @MODULE@ in a row stand for the project's version and the
# chroot's libkeylocker-pkcs11.so.
#
# Everything written lives under CHROOT/usr/internal, which nothing else in
# the chroot uses; --clean removes it.  The stock tree /usr/lib/mysql-test is
# only read.
set -euo pipefail
shopt -s nullglob

PROG=${0##*/}
STOCK=component_keyring_file
MARK=.keylocker-generated

die() {
	printf '%s: %s\n' "$PROG" "$*" >&2
	exit 1
}

usage() {
	sed -n '5,7p' "$0" | sed 's/^#   //' >&2
	exit 2
}

root="" comp="" list="" disabled="" status="" clean=0 full=0
while (($#)); do
	case $1 in
	--root) root=${2-}; shift 2 || usage ;;
	--component) comp=${2-}; shift 2 || usage ;;
	--list) list=${2-}; shift 2 || usage ;;
	--disabled) disabled=${2-}; shift 2 || usage ;;
	--status) status=${2-}; shift 2 || usage ;;
	--full) full=1; shift ;;
	--clean) clean=1; shift ;;
	*) usage ;;
	esac
done
[[ -n $root ]] || usage
[[ -x $root/usr/sbin/mysqld ]] || die "$root is not the MySQL sandbox chroot (no usr/sbin/mysqld)"
M=$root/usr/lib/mysql-test
OUT=$root/usr/internal/mysql-test

# Remove what an earlier run generated; refuse to remove anything else.
clean_out() {
	[[ -e $root/usr/internal ]] || return 0
	[[ -f $OUT/$MARK ]] ||
		die "$root/usr/internal exists but was not made by $PROG (no $MARK): remove it by hand"
	rm -rf --one-file-system "$root/usr/internal"
}

clean_out
((clean)) && exit 0

[[ $comp =~ ^component_[a-z0-9_]+$ ]] || die "--component must be a component name such as component_keyring_pkcs11"
[[ -f $root/usr/lib/mysql/plugin/$comp.so ]] ||
	die "$comp.so is not in the chroot's plugin directory: install the build first"
[[ -r $list ]] || die "cannot read --list $list"
[[ -z $disabled || -r $disabled ]] || die "cannot read --disabled $disabled"
[[ -z $status || -r $status ]] || die "cannot read --status $status"
[[ $comp == "$STOCK" || -n $status ]] ||
	die "--status is needed for $comp: the stock status rows are component_keyring_file's"

# Values the --status rows may name: @VERSION@ (the project's, as the
# component reports it) and @MODULE@ (libkeylocker-pkcs11.so in the chroot,
# the component's default module).
top=$(cd "$(dirname "$0")/../../.." && pwd)
version=$(sed -n 's/^project(keylocker VERSION \([0-9.]*\).*/\1/p' "$top/CMakeLists.txt")
module=$(cd "$root" && ls usr/lib/*/pkcs11/libkeylocker-pkcs11.so 2>/dev/null | head -n1)
module=${module:+/$module}
[[ $comp == "$STOCK" || ( -n $version && -n $module ) ]] ||
	die "cannot tell the project version ($top/CMakeLists.txt) or find libkeylocker-pkcs11.so in $root"

mkdir -p "$OUT/suite" "$OUT/include" "$OUT/collections"
: >"$OUT/$MARK"

# Stock result -> result for $comp (stdin to stdout).  A full status block
# is the eight rows component_keyring_file prints, in its order.
rewrite_result() {	# rewrite_result KEY (<suite>.<test>) COUNTER_FILE
	awk -v comp="$comp" -v stock="$STOCK" -v key="$1" -v cntfile="$2" \
	    -v statusfile="$status" -v version="$version" -v module="$module" '
	BEGIN {
		n = split("Component_name Author License Implementation_name Version " \
		    "Component_status Data_file Read_only", keys, " ")
		if (statusfile != "") {
			while ((getline line < statusfile) > 0) {
				if (line ~ /^#/ || line == "") continue
				if (line ~ /^\[.*\]$/) { sect = substr(line, 2, length(line) - 2); continue }
				gsub(/@VERSION@/, version, line)
				gsub(/@MODULE@/, module, line)
				block[sect] = block[sect] line "\n"
			}
		}
		getline seen < cntfile
		close(cntfile)
		seen += 0
	}
	{ lines[NR] = $0 }
	END {
		for (i = 1; i <= NR; i++) {
			full = (i + n - 1 <= NR)
			for (k = 1; full && k <= n; k++)
				if (index(lines[i + k - 1], keys[k] "\t") != 1) full = 0
			if (full && comp != stock) {
				seen++
				s = key "#" seen
				if (!(s in block)) {
					printf("no [%s] block in the --status file\n", s) > "/dev/stderr"
					missing = 1
				}
				printf("%s", block[s])
				i += n - 1
				continue
			}
			l = lines[i]
			if (comp != stock) gsub(stock, comp, l)
			print l
		}
		print seen > cntfile
		if (missing) exit 3
	}'
}

tests=0 suites=() bad_results=()
while read -r line; do
	line=${line%%#*}
	read -r line tag rest <<<"$line" || true
	[[ -n $line ]] || continue
	[[ $line =~ ^([a-z0-9_]+)\.([A-Za-z0-9_-]+)$ && -z $rest && ( -z $tag || $tag == full ) ]] ||
		die "$list: bad line '$line${tag:+ $tag}${rest:+ $rest}' (want: suite.test [full])"
	[[ -z $tag ]] || ((full)) || continue
	s=${BASH_REMATCH[1]} t=${BASH_REMATCH[2]}
	if [[ $s == main ]]; then
		src=$M src_rel=""
	else
		src=$M/suite/$s src_rel=suite/$s/
	fi
	[[ -f $src/t/$t.test ]] || die "$list: no test $src/t/$t.test"
	g=$OUT/suite/kl_$s
	if [[ ! -d $g ]]; then
		mkdir -p "$g/t" "$g/r"
		suites+=("kl_$s")
		if [[ $s != main ]]; then
			for f in "$src"/*; do
				[[ -f $f && ${f##*/} != README* ]] && cp -p "$f" "$g/"
			done
		fi
		[[ -f $src/t/suite.opt ]] && cp -p "$src/t/suite.opt" "$g/t/"
	fi
	printf -- '--source %st/%s.test\n' "$src_rel" "$t" >"$g/t/$t.test"
	for f in "$src/t/$t"-* "$src/t/$t".*; do
		[[ -f $f && $f != "$src/t/$t.test" ]] && cp -p "$f" "$g/t/"
	done
	cnt=$(mktemp)
	echo 0 >"$cnt"
	nres=0
	for f in "$src/r/$t.result" "$src/r/$t",*.result; do
		[[ -f $f ]] || continue
		rewrite_result "$s.$t" "$cnt" <"$f" >"$g/r/${f##*/}" || bad_results+=("$f")
		nres=$((nres + 1))
	done
	rm -f "$cnt"
	((nres)) || die "no result file for $s.$t"
	tests=$((tests + 1))
done <"$list"
((${#bad_results[@]} == 0)) || die "cannot rewrite ${bad_results[*]}"
((tests)) || die "$list names no test"

# Disabled tests: the stock list's entries for our tests, then ours (whose
# reasons get "BUG#0": mysql-test-run refuses an entry without BUG#/WL#).
disabled_entries() {	# disabled_entries FILE PREFIX
	local line name reason
	grep -hE '^[a-z0-9_]+\.[A-Za-z0-9_-]+[[:space:]]*:' "$1" |
		while IFS= read -r line; do
			name=${line%%:*}
			name=${name//[[:space:]]/}
			reason=$(sed 's/^[^:]*:[[:space:]]*//' <<<"$line")
			[[ -f $OUT/suite/kl_${name%%.*}/t/${name#*.}.test ]] || continue
			((${#reason} <= 72)) || die "$1: reason longer than 72 characters for $name"
			printf 'kl_%-50s : %s%s\n' "$name" "$2" "$reason"
		done
}
{
	echo "# Generated by $PROG: stock entries for the wrapped tests, then keylocker's"
	echo "# (BUG#0: not a MySQL bug; see tests/mysql/mtr/disabled.def)."
	disabled_entries "$M/collections/disabled.def" ""
	[[ -z $disabled ]] || disabled_entries "$disabled" "BUG#0 "
} >"$OUT/collections/disabled.def"

# Point KEYRING_FILE_COMPONENT (and _LOAD, _OPT, _DIR) at $comp.
if [[ $comp != "$STOCK" ]]; then
	printf '%s plugin_output_directory yes KEYRING_FILE_COMPONENT %s\n' "$comp" "$comp" \
		>"$OUT/include/plugin.defs"
fi

echo "$PROG: $tests tests in ${#suites[@]} suites for $comp: ${suites[*]}"
