#!/bin/bash
# Install what keylocker needs to build and test, from Debian's packages.
# Idempotent and quiet when everything is there.  Needs root (or sudo).
set -euo pipefail

packages=(
	build-essential cmake pkg-config          # the build
	libssl-dev libyaml-dev libp11-kit-dev     # OpenSSL 3, libyaml, PKCS#11 headers
	libcunit1-dev                             # unit tests
	softhsm2 opensc p11-kit gnutls-bin        # the token and real PKCS#11 clients
	clang libclang-rt-14-dev                  # libFuzzer, sanitizers
	debootstrap e2fsprogs util-linux procps   # the MySQL sandbox, chattr, runuser
	rsyslog                                   # the audit trail's central-copy test
	ca-certificates
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
echo "keylocker: installing ${missing[*]}" >&2
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	"${missing[@]}" >/dev/null
