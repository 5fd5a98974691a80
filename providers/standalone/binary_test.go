package main

import (
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecert/zonecert/internal/testenv"
	"github.com/zonecert/zonecert/plugin"
	"github.com/zonecert/zonecert/plugin/host"
)

// startBinary runs the built plugin behind the host, as zonecert does, with
// env as the only environment.
func startBinary(t *testing.T, env map[string]string) (*host.Client, error) {
	t.Helper()
	c, err := host.Start(t.Context(), host.Config{
		Name:      "standalone",
		Path:      testenv.PluginBinary(t, "standalone", "."),
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
	})
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

// ask queries server without recursion, as a CA's resolver asks an
// authoritative server.
func ask(t *testing.T, network string, server netip.AddrPort, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = false
	c := &dns.Client{Net: network, Timeout: 5 * time.Second}
	r, _, err := c.ExchangeContext(t.Context(), m, server.String())
	if err != nil {
		t.Fatalf("%s %s %s at %s: %v", network, name, dns.TypeToString[qtype], server, err)
	}
	return r
}

// TestBinary runs the built plugin on port 53 of its own loopback address,
// configured only through the STANDALONE_* environment, and checks what a
// CA's resolver would see over UDP and TCP, and that stopping the plugin
// frees the port.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs root for port 53")
	}
	t.Parallel()
	addr := netip.AddrPortFrom(testenv.LoopbackAddr(t), 53)
	env := map[string]string{
		"STANDALONE_LISTEN": addr.String(),
		"STANDALONE_ZONE":   "Acme.Example.Test",
		"STANDALONE_TTL":    "30",
	}
	c, err := startBinary(t, env)
	if err != nil {
		t.Fatalf("starting the plugin: %v", err)
	}
	name := "_acme-challenge.www." + zone
	recs := []plugin.Record{
		{ID: "w", FQDN: name, Zone: zone, Value: "wildcard"},
		{ID: "a", FQDN: name, Zone: zone, Value: "apex"},
	}
	res, err := c.Present(t.Context(), recs)
	if err != nil || len(res) != 2 || res[0].Err != nil || res[1].Err != nil {
		t.Fatalf("Present = %+v, %v", res, err)
	}
	for _, network := range []string{"udp", "tcp"} {
		r := ask(t, network, addr, name, dns.TypeTXT)
		if !r.Authoritative || r.Rcode != dns.RcodeSuccess {
			t.Fatalf("%s: rcode %s aa %v", network, dns.RcodeToString[r.Rcode], r.Authoritative)
		}
		if got := txtValues(r); !slices.Equal(got, []string{"apex", "wildcard"}) {
			t.Fatalf("%s: TXT %q; want apex and wildcard", network, got)
		}
		if ttl := r.Answer[0].Header().Ttl; ttl != 30 {
			t.Errorf("%s: TTL %d; want STANDALONE_TTL 30", network, ttl)
		}
		if r := ask(t, network, addr, zone, dns.TypeNS); len(r.Answer) != 1 || len(r.Extra) != 1 ||
			r.Extra[0].(*dns.A).A.String() != addr.Addr().String() {
			t.Errorf("%s: NS answer %v, glue %v; want ns.%s with address %s", network, r.Answer, r.Extra, zone, addr.Addr())
		}
	}

	// CleanUp with the state Present returned removes exactly that value.
	cl := plugin.Record{ID: "a", FQDN: name, Zone: zone, Value: "apex", State: res[1].State}
	if out, err := c.CleanUp(t.Context(), []plugin.Record{cl}); err != nil || len(out) != 1 || out[0].Err != nil {
		t.Fatalf("CleanUp = %+v, %v", out, err)
	}
	if got := txtValues(ask(t, "udp", addr, name, dns.TypeTXT)); !slices.Equal(got, []string{"wildcard"}) {
		t.Fatalf("after cleaning apex: TXT %q; want [wildcard]", got)
	}

	// A second plugin cannot take the address: a clear error on listen.
	_, err = startBinary(t, env)
	var ce *host.ConfigError
	if !errors.As(err, &ce) || len(ce.Diagnostics) != 1 || ce.Diagnostics[0].Setting != "listen" ||
		!strings.Contains(ce.Diagnostics[0].Message, "another process serves this port") {
		t.Fatalf("second plugin on %s: %v; want a listen diagnostic about the port in use", addr, err)
	}

	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// The process is gone with its sockets: the port can be bound again.
	for _, network := range []string{"udp", "tcp"} {
		var closer interface{ Close() error }
		var err error
		if network == "udp" {
			closer, err = net.ListenPacket("udp", addr.String())
		} else {
			closer, err = net.Listen("tcp", addr.String())
		}
		if err != nil {
			t.Fatalf("%s %s still taken after Close: %v", network, addr, err)
		}
		closer.Close()
	}
}

// TestBinarySettingsErrors checks that settings problems cross the process
// boundary against their setting names.
func TestBinarySettingsErrors(t *testing.T) {
	t.Parallel()
	_, err := startBinary(t, map[string]string{"STANDALONE_LISTEN": "127.0.0.1", "STANDALONE_ZONE": "a..b", "STANDALONE_TTL": "-1"})
	var ce *host.ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("Start error = %v; want a *host.ConfigError", err)
	}
	got := map[string]bool{}
	for _, d := range ce.Diagnostics {
		got[d.Setting] = true
	}
	if !got["listen"] || !got["zone"] || !got["ttl"] || len(got) != 3 {
		t.Fatalf("diagnostics %+v; want listen, zone and ttl", ce.Diagnostics)
	}
}
