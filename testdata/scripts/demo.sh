#!/usr/bin/env bash
# make demo: obtain a wildcard + apex certificate from a local Pebble test CA
# through the standalone provider plugin, then show it. No root, no internet:
#   - Pebble (installed by the Makefile into .tools) listens on 127.0.0.1,
#     with a TLS certificate generated here, and resolves through
#   - the standalone plugin, which zonecert starts: an authoritative DNS
#     server for demo.zonecert.test on 127.0.0.1:$DNS_PORT.
# Everything this script starts is stopped on exit; state is left in .demo/
# (ZONECERT_DEMO_DIR). With ZONECERT_PLAYGROUND=1 (make playground) Pebble
# keeps running after the demo, with the environment to try other commands
# printed, until Ctrl-C.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${ZONECERT_BIN:-$ROOT/bin}
PEBBLE=${ZONECERT_PEBBLE:-$ROOT/.tools/pebble}
DEMO=${ZONECERT_DEMO_DIR:-$ROOT/.demo}
ZONE=demo.zonecert.test

for f in "$BIN/zonecert" "$BIN/zonecert-dns-standalone" "$PEBBLE"; do
	[ -x "$f" ] || { echo "demo: $f is missing; run make demo (it builds and installs everything)" >&2; exit 1; }
done

mkdir -p "$DEMO"
chmod 700 "$DEMO"

# Ports: free ones (TCP and UDP on 127.0.0.1), unless set in the environment;
# a port that is set must be free. Whatever else listens is never used: the
# demo checks that the Pebble answering is the one it started.
(cd "$ROOT" && go build -o "$DEMO/demonet" ./cmd/zonecert/internal/demonet)
free=($("$DEMO/demonet" ports 3))
ACME_PORT=${ZONECERT_DEMO_ACME_PORT:-${free[0]}}
MGMT_PORT=${ZONECERT_DEMO_MGMT_PORT:-${free[1]}}
DNS_PORT=${ZONECERT_DEMO_DNS_PORT:-${free[2]}}
for v in ZONECERT_DEMO_ACME_PORT ZONECERT_DEMO_MGMT_PORT ZONECERT_DEMO_DNS_PORT; do
	if [ -n "${!v:-}" ] && ! "$DEMO/demonet" free "${!v}"; then
		echo "demo: $v=${!v} is taken; unset it to let the demo pick a free port" >&2
		exit 1
	fi
done
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

# Pebble's own TLS certificate (self-signed, localhost/127.0.0.1).
(cd "$ROOT" && go run ./cmd/zonecert/internal/demotls "$DEMO/pebble")
cat >"$DEMO/pebble/config.json" <<JSON
{
  "pebble": {
    "listenAddress": "127.0.0.1:$ACME_PORT",
    "managementListenAddress": "127.0.0.1:$MGMT_PORT",
    "certificate": "$DEMO/pebble/cert.pem",
    "privateKey": "$DEMO/pebble/key.pem",
    "httpPort": 5002,
    "tlsPort": 5001,
    "ocspResponderURL": "",
    "externalAccountBindingRequired": false,
    "retryAfter": {"authz": 1, "order": 1},
    "profiles": {"default": {"description": "90 days", "validityPeriod": 7776000}}
  }
}
JSON

echo "== starting Pebble on 127.0.0.1:$ACME_PORT (validation DNS: 127.0.0.1:$DNS_PORT)"
PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=10 \
	"$PEBBLE" -strict -config "$DEMO/pebble/config.json" -dnsserver "127.0.0.1:$DNS_PORT" \
	>"$DEMO/pebble.log" 2>&1 &
pids+=($!)
# Ready once it answers over TLS with the certificate made above, which
# only this Pebble holds; a process on the port that is not it never passes.
for i in $(seq 100); do
	if ! kill -0 "${pids[0]}" 2>/dev/null; then
		echo "demo: Pebble exited; see $DEMO/pebble.log" >&2; tail -5 "$DEMO/pebble.log" >&2
		if grep -q "address already in use" "$DEMO/pebble.log"; then
			echo "demo: port $ACME_PORT or $MGMT_PORT on 127.0.0.1 was taken before Pebble could listen; run make demo again" >&2
		fi
		exit 1
	fi
	if "$DEMO/demonet" probe "https://127.0.0.1:$ACME_PORT/dir" "$DEMO/pebble/cert.pem" 2>"$DEMO/probe.err"; then break; fi
	if [ "$i" = 100 ]; then
		echo "demo: the demo's Pebble does not answer on 127.0.0.1:$ACME_PORT: $(cat "$DEMO/probe.err")" >&2; exit 1
	fi
	sleep 0.1
done

# Each run starts a new Pebble, on new ports, that knows none of the last
# run's accounts or certificates: a state directory kept from it would
# belong to another CA. Start from an empty one.
rm -rf "$DEMO/state"

echo "== zonecert obtain -d '*.$ZONE' -d $ZONE --dns standalone"
# The standalone plugin serves $ZONE itself, so no CNAME is needed. zonecert
# asks it for zone data (--dns-resolver) and polls it as the zone's only
# authoritative nameserver (the hidden --nameserver-port: real servers use 53).
STANDALONE_LISTEN=127.0.0.1:$DNS_PORT STANDALONE_ZONE=$ZONE \
	"$BIN/zonecert" obtain \
	--server "https://127.0.0.1:$ACME_PORT/dir" --ca-bundle "$DEMO/pebble/cert.pem" \
	--agree-tos --email demo@example.com \
	--dns standalone --plugin-dir "$BIN" \
	--dns-resolver "127.0.0.1:$DNS_PORT" --nameserver-port "$DNS_PORT" \
	--path "$DEMO/state" \
	-d "*.$ZONE" -d "$ZONE"

echo
echo "== the stored certificate"
"$BIN/zonecert" certificates --path "$DEMO/state"
echo
echo "files: $DEMO/state/live/_.$ZONE/ (Pebble's log: $DEMO/pebble.log)"

if [ "${ZONECERT_PLAYGROUND:-}" = 1 ]; then
	cat <<EOF

== playground: the demo's CA runs until Ctrl-C. In another shell:
export PATH="$BIN:\$PATH" ZONECERT_PATH="$DEMO/state" ZONECERT_CA_BUNDLE="$DEMO/pebble/cert.pem"
export STANDALONE_LISTEN=127.0.0.1:$DNS_PORT STANDALONE_ZONE=$ZONE
SERVER=https://127.0.0.1:$ACME_PORT/dir
# the standalone plugin serves $ZONE on 127.0.0.1:$DNS_PORT while a command runs
zonecert account show --server \$SERVER --email demo@example.com
zonecert renew --force --dns-resolver 127.0.0.1:$DNS_PORT --nameserver-port $DNS_PORT --plugin-dir "$BIN"
zonecert obtain --server \$SERVER --agree-tos --email demo@example.com --dns standalone --plugin-dir "$BIN" \\
    --dns-resolver 127.0.0.1:$DNS_PORT --nameserver-port $DNS_PORT -d www.$ZONE
zonecert revoke --cert-name www.$ZONE
EOF
	wait "${pids[0]}"
fi
