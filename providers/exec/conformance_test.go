//go:build unix

package main

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecert/zonecert/internal/testenv"
	"github.com/zonecert/zonecert/plugin/conformance"
	"github.com/zonecert/zonecert/plugin/host"
	"github.com/zonecert/zonecert/plugin/sdk"
)

const zone = "exec.test."

// Hook scripts that really update BIND with nsupdate, keeping the TTL of a
// set already at the name. The TSIG key file and server reach them through
// EXEC_ENV, never through argv.
const (
	legoHook = `set -eu
case "$1" in
present) op=add ;;
cleanup) op=delete ;;
*) echo "unknown action $1" >&2; exit 2 ;;
esac
ttl=$(dig +noall +answer +norecurse @"$NSUPDATE_SERVER" "$2" TXT | awk '{ print $2; exit }')
printf 'server %s\nzone %s\nupdate %s %s %s TXT "%s"\nsend\n' "$NSUPDATE_SERVER" "$NSUPDATE_ZONE" "$op" "$2" "${ttl:-60}" "$3" | nsupdate -k "$NSUPDATE_KEY"
`
	certbotAuth = `set -eu
ttl=$(dig +noall +answer +norecurse @"$NSUPDATE_SERVER" "_acme-challenge.$CERTBOT_DOMAIN." TXT | awk '{ print $2; exit }')
printf 'server %s\nzone %s\nupdate add _acme-challenge.%s. %s TXT "%s"\nsend\n' "$NSUPDATE_SERVER" "$NSUPDATE_ZONE" "$CERTBOT_DOMAIN" "${ttl:-60}" "$CERTBOT_VALIDATION" | nsupdate -k "$NSUPDATE_KEY"
echo "added $CERTBOT_DOMAIN"
`
	certbotCleanup = `set -eu
test "$CERTBOT_AUTH_OUTPUT" = "" || test "$CERTBOT_AUTH_OUTPUT" = "added $CERTBOT_DOMAIN"
printf 'server %s\nzone %s\nupdate delete _acme-challenge.%s. TXT "%s"\nsend\n' "$NSUPDATE_SERVER" "$NSUPDATE_ZONE" "$CERTBOT_DOMAIN" "$CERTBOT_VALIDATION" | nsupdate -k "$NSUPDATE_KEY"
`
)

// startBIND runs a real BIND primary for the zone and writes its TSIG key
// file (0600) for nsupdate.
func startBIND(t *testing.T) (ns string, env string) {
	t.Helper()
	if _, err := exec.LookPath("nsupdate"); err != nil {
		t.Fatalf("nsupdate is required (Debian package bind9-dnsutils): %v", err)
	}
	b := testenv.StartBIND(t, testenv.BINDConfig{Zones: []testenv.Zone{{Name: zone}}})
	keyFile := filepath.Join(t.TempDir(), "tsig.key")
	key := "key \"" + b.TSIGKey + "\" {\n\talgorithm " + strings.TrimSuffix(b.TSIGAlgorithm, ".") +
		";\n\tsecret \"" + b.TSIGSecret + "\";\n};\n"
	if err := os.WriteFile(keyFile, []byte(key), 0o600); err != nil {
		t.Fatal(err)
	}
	ns = netip.AddrPortFrom(b.Primary, 53).String()
	env = "NSUPDATE_KEY=" + keyFile + "\nNSUPDATE_SERVER=" + b.Primary.String() + "\nNSUPDATE_ZONE=" + zone
	return ns, env
}

// TestConformance runs the kit twice against one real BIND: lego-style in
// process, and certbot-style as the built binary behind the host.
func TestConformance(t *testing.T) {
	t.Parallel()
	ns, env := startBIND(t)
	t.Run("lego", func(t *testing.T) {
		t.Parallel()
		conformanceLego(t, ns, env)
	})
	t.Run("certbot-binary", func(t *testing.T) {
		t.Parallel()
		conformanceCertbotBinary(t, ns, env)
	})
}

func conformanceLego(t *testing.T, ns, env string) {
	hook := writeScript(t, t.TempDir(), "nsupdate-hook.sh", legoHook)
	s := Settings{Path: hook, Timeout: 10 * time.Second, Zones: zone, Env: sdk.Secret(env)}
	conformance.Run(t, conformance.Config{
		Target: conformance.InProcess("exec-lego", func(ctx context.Context) (sdk.Provider, error) {
			return newProvider(s, []string{"PATH=" + os.Getenv("PATH")}, nil)
		}),
		Zone:        zone,
		Nameservers: []string{ns},
		// A bound, not a wait: the sweep runs every leftover record through
		// nsupdate one at a time, slow on a loaded machine under -race.
		Timeout: time.Minute,
	})
}

// conformanceCertbotBinary runs the built plugin through the host, as
// zonecert does: settings arrive only through the declared environment.
func conformanceCertbotBinary(t *testing.T, ns, env string) {
	dir := t.TempDir()
	hostEnv := map[string]string{
		"PATH":              os.Getenv("PATH"),
		"EXEC_AUTH_HOOK":    writeScript(t, dir, "auth.sh", certbotAuth),
		"EXEC_CLEANUP_HOOK": writeScript(t, dir, "cleanup.sh", certbotCleanup),
		"EXEC_TIMEOUT":      "10s",
		"EXEC_ZONES":        zone,
		"EXEC_ENV":          env,
		"UNDECLARED_SECRET": "must-not-reach-the-plugin",
	}
	conformance.Run(t, conformance.Config{
		Target: conformance.Binary(testenv.PluginBinary(t, "exec", "."), host.Config{
			Name: "exec",
			LookupEnv: func(k string) (string, bool) {
				v, ok := hostEnv[k]
				return v, ok
			},
		}),
		Zone:        zone,
		Nameservers: []string{ns},
		// A bound, not a wait: the sweep runs every leftover record through
		// nsupdate one at a time, slow on a loaded machine under -race.
		Timeout: time.Minute,
	})
}

// TestReadmeExampleKeepsOtherValues runs the lego-style example of README.md
// against a real BIND holding another party's TXT set (TTL 3600) at the
// challenge name: through Present and CleanUp that set must stay exactly as
// it was, TTL included, which the program, not the plugin, has to get right.
func TestReadmeExampleKeepsOtherValues(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"nsupdate", "dig"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is required (Debian package bind9-dnsutils): %v", tool, err)
		}
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, _ := strings.Cut(string(readme), "## Example")
	_, after, _ = strings.Cut(after, "```sh\n#!/bin/sh\n")
	script, _, ok := strings.Cut(after, "```")
	if !ok || !strings.Contains(script, "nsupdate") {
		t.Fatal("README.md has no example script under ## Example")
	}
	b := testenv.StartBIND(t, testenv.BINDConfig{Zones: []testenv.Zone{{Name: zone}}})
	keyFile := filepath.Join(t.TempDir(), "tsig.key")
	key := "key \"" + b.TSIGKey + "\" {\n\talgorithm " + strings.TrimSuffix(b.TSIGAlgorithm, ".") +
		";\n\tsecret \"" + b.TSIGSecret + "\";\n};\n"
	if err := os.WriteFile(keyFile, []byte(key), 0o600); err != nil {
		t.Fatal(err)
	}
	name := "_acme-challenge.foreign." + zone
	if err := b.Update(t.Context(), zone, []string{name + ` 3600 IN TXT "someone-else" "second string"`}, nil); err != nil {
		t.Fatal(err)
	}
	served := func() []string {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeTXT)
		r, _, err := (&dns.Client{Net: "tcp", Timeout: 5 * time.Second}).ExchangeContext(t.Context(), m, netip.AddrPortFrom(b.Primary, 53).String())
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, rr := range r.Answer {
			out = append(out, rr.String())
		}
		slices.Sort(out)
		return out
	}
	before := served()
	p, logs := mustProvider(t, Settings{Path: writeScript(t, t.TempDir(), "example.sh", script), Zones: zone,
		Env: sdk.Secret("KEY_FILE=" + keyFile + "\nNS=" + b.Primary.String())}, nil)
	recs := []sdk.Record{{ID: "w", FQDN: name, Zone: zone, Value: "wildcard"}, {ID: "a", FQDN: name, Zone: zone, Value: "apex"}}
	for _, call := range []func(context.Context, []sdk.Record) ([]sdk.Result, error){p.Present, p.CleanUp} {
		res, err := call(t.Context(), recs)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				t.Fatalf("record %s: %v\n%s", r.ID, r.Err, logs)
			}
		}
		for _, rr := range served() {
			if !strings.Contains(rr, "\t3600\t") {
				t.Errorf("served %s; want the set's TTL 3600 kept", rr)
			}
		}
	}
	if got := served(); !slices.Equal(got, before) {
		t.Errorf("after cleanup %q; want %q as before", got, before)
	}
}
