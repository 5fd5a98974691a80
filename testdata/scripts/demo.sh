#!/usr/bin/env bash
# make demo: obtain a wildcard + apex certificate from a local Pebble test CA
# through the standalone provider plugin, then show it. No root, no internet:
#   - Pebble (installed by the Makefile into .tools) listens on 127.0.0.1,
#     with a TLS certificate generated here, and resolves through
#   - the standalone plugin, which zonecert starts: an authoritative DNS
#     server for demo.zonecert.test on 127.0.0.1:$DNS_PORT.
# Everything this script starts is stopped on exit; state is left in .demo/.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${ZONECERT_BIN:-$ROOT/bin}
PEBBLE=${ZONECERT_PEBBLE:-$ROOT/.tools/pebble}
DEMO=$ROOT/.demo
ACME_PORT=${ZONECERT_DEMO_ACME_PORT:-14000}
MGMT_PORT=${ZONECERT_DEMO_MGMT_PORT:-15000}
DNS_PORT=${ZONECERT_DEMO_DNS_PORT:-5353}
ZONE=demo.zonecert.test

for f in "$BIN/zonecert" "$BIN/zonecert-dns-standalone" "$PEBBLE"; do
	[ -x "$f" ] || { echo "demo: $f is missing; run make demo (it builds and installs everything)" >&2; exit 1; }
done

mkdir -p "$DEMO"
chmod 700 "$DEMO"
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
for _ in $(seq 100); do
	if (exec 3<>"/dev/tcp/127.0.0.1/$ACME_PORT") 2>/dev/null; then break; fi
	if ! kill -0 "${pids[0]}" 2>/dev/null; then
		echo "demo: Pebble exited; see $DEMO/pebble.log" >&2; tail -5 "$DEMO/pebble.log" >&2; exit 1
	fi
	sleep 0.1
done

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
