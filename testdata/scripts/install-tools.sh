#!/usr/bin/env bash
# Installs the real components the test suite and the demo use.
#   install-tools.sh pebble   Pebble (pinned) into $TOOLS (no root needed)
#   install-tools.sh bind     BIND9 via apt-get when root, else a clear message
#   install-tools.sh etcd     etcd server and etcdctl via apt-get, like bind
set -euo pipefail
TOOLS=${TOOLS:-$(cd "$(dirname "$0")/../.." && pwd)/.tools}
PEBBLE_VERSION=${PEBBLE_VERSION:-v2.10.1}

install_pebble() {
	if [ -x "$TOOLS/pebble" ] && [ "$(cat "$TOOLS/.pebble-version" 2>/dev/null)" = "$PEBBLE_VERSION" ]; then
		return
	fi
	echo "installing pebble $PEBBLE_VERSION into $TOOLS" >&2
	mkdir -p "$TOOLS"
	GOBIN="$TOOLS" GOFLAGS=-mod=mod go install "github.com/letsencrypt/pebble/v2/cmd/pebble@$PEBBLE_VERSION"
	echo "$PEBBLE_VERSION" >"$TOOLS/.pebble-version"
}

install_bind() {
	if command -v named >/dev/null 2>&1 || [ -x /usr/sbin/named ]; then
		return
	fi
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "installing BIND9 (Debian package bind9) with apt-get" >&2
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq >/dev/null
		apt-get install -y -qq --no-install-recommends bind9 bind9-utils bind9-dnsutils >/dev/null
		return
	fi
	echo "BIND9 is required for the test suite: install the Debian package 'bind9' (sudo apt-get install bind9), then run make test again" >&2
	exit 1
}

install_etcd() {
	if { command -v etcd && command -v etcdctl; } >/dev/null 2>&1; then
		return
	fi
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "installing etcd (Debian packages etcd-server, etcd-client) with apt-get" >&2
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq >/dev/null
		apt-get install -y -qq --no-install-recommends etcd-server etcd-client >/dev/null
		return
	fi
	echo "etcd is required for the test suite: install the Debian packages 'etcd-server' and 'etcd-client' (sudo apt-get install etcd-server etcd-client), then run make test again" >&2
	exit 1
}

for what in "$@"; do
	case "$what" in
	pebble) install_pebble ;;
	bind) install_bind ;;
	etcd) install_etcd ;;
	*) echo "install-tools.sh: unknown component $what" >&2; exit 2 ;;
	esac
done
