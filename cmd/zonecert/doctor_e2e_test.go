package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecert/zonecert/internal/faultproxy"
	"github.com/zonecert/zonecert/internal/testenv"
)

// doctorZones add the broken set-ups of the doctor's cases to e2e zones.
var doctorZones = testenv.BINDConfig{Zones: []testenv.Zone{
	{Name: "example.test", Records: []string{
		"_acme-challenge.loop CNAME a.loop",
		"a.loop CNAME _acme-challenge.loop",
		"_acme-challenge.dangle CNAME _acme-challenge.gone.invalid.",
		`caa-none CAA 0 issue ";"`,
		"www A 192.0.2.1",
	}},
}}

type doctorOutput struct {
	Findings []struct {
		Check, Name, Severity, Message, Fix, Zone string
		Elapsed                                   time.Duration `json:"elapsed_ns"`
	} `json:"findings"`
	Fail bool `json:"order_would_fail"`
}

func runDoctorJSON(ctx context.Context, t *testing.T, e *e2eEnv, home string, args ...string) (doctorOutput, runResult) {
	t.Helper()
	r := zonecert(ctx, t, e.bin, e.rfc2136Env(home), append([]string{"doctor", "--json", "--dns-resolver", e.bind.Primary.String(),
		"--system-resolver", e.bind.Primary.String()}, args...)...)
	var out doctorOutput
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("doctor --json output %q (stderr %s): %v", r.stdout, r.stderr, err)
	}
	return out, r
}

// The doctor's verdict and exit code, and obtain stopping before the CA
// sees a newOrder for each set-up the doctor calls an error.
func TestDoctorAndPreflight(t *testing.T) {
	e := startE2E(t, doctorZones)
	proxy, err := faultproxy.Start(e.pebble.DirectoryURL, e.pebble.HTTPClient.Transport)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	bundle := filepath.Join(t.TempDir(), "proxy.pem")
	if err := os.WriteFile(bundle, proxy.CABundlePEM, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		domain, check, msg string
	}{
		{"loop.example.test", "challenge-path", "CNAME loop"},
		{"dangle.example.test", "challenge-path", "dangling CNAME"},
		{"caa-none.example.test", "caa", "forbids every CA"},
	} {
		t.Run(tc.domain, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			home := t.TempDir()
			out, r := runDoctorJSON(ctx, t, e, home, "-d", tc.domain)
			if r.code != exitDNS || !out.Fail {
				t.Errorf("doctor exit %d, would fail %v; want %d, true", r.code, out.Fail, exitDNS)
			}
			found := false
			for _, f := range out.Findings {
				if f.Check == tc.check && f.Severity == "error" && strings.Contains(f.Message, tc.msg) && f.Fix != "" {
					found = true
				}
			}
			if !found {
				t.Errorf("no %s error %q with a fix in %+v", tc.check, tc.msg, out.Findings)
			}
			before := proxy.Seen("new-order")
			args := []string{"obtain", "--server", proxy.DirectoryURL, "--ca-bundle", bundle, "--agree-tos",
				"--dns", "rfc2136", "--plugin-dir", e.bin, "--dns-resolver", e.bind.Primary.String(),
				"--propagation-timeout", "5s", "--path", filepath.Join(home, "state"), "-d", tc.domain}
			r = zonecert(ctx, t, e.bin, e.rfc2136Env(home), args...)
			if r.code != exitDNS || !strings.Contains(r.stderr, tc.msg) {
				t.Errorf("obtain exit %d, want %d with %q; stderr:\n%s", r.code, exitDNS, tc.msg, r.stderr)
			}
			if n := proxy.Seen("new-order") - before; n != 0 {
				t.Errorf("the CA saw %d newOrder requests, want none", n)
			}
			// --no-preflight lets the same order reach the CA (Pebble
			// checks no CAA: that order even succeeds).
			r = zonecert(ctx, t, e.bin, e.rfc2136Env(home), append(args, "--no-preflight")...)
			if proxy.Seen("new-order") == before {
				t.Errorf("--no-preflight: exit %d, no newOrder request; want the order placed:\n%s", r.code, r.stderr)
			}
		})
	}
	t.Run("config", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		home := t.TempDir()
		doc := fmt.Sprintf(`state = %q
[acme]
server = %q
ca_bundle = %q
agree_tos = true
[dns]
resolvers = [%q]
[providers.bind]
plugin = "rfc2136"
settings = { nameserver = %q, tsig_key = %q, tsig_secret = "${TSIG}" }
[[certificate]]
name = "good"
domains = ["www.example.test"]
provider = "bind"
[[certificate]]
name = "bad"
domains = ["loop.example.test"]
provider = "bind"
`, filepath.Join(home, "state"), e.pebble.DirectoryURL, e.bundle, e.bind.Primary.String()+":53",
			e.bind.Primary.String()+":53", e.bind.TSIGKey)
		path := filepath.Join(home, "zonecert.toml")
		if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		r := zonecert(ctx, t, e.bin, baseEnv(home, "TSIG="+e.bind.TSIGSecret), "doctor", "--json", "--config", path,
			"--plugin-dir", e.bin, "--system-resolver", e.bind.Primary.String())
		var out doctorOutput
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
			t.Fatalf("output %q (stderr %s): %v", r.stdout, r.stderr, err)
		}
		if r.code != exitDNS {
			t.Errorf("exit %d, want %d", r.code, exitDNS)
		}
		worst := map[string]string{}
		for _, f := range out.Findings {
			cert, _, ok := strings.Cut(f.Name, ": ")
			if ok && f.Severity == "error" {
				worst[cert] = "error"
			} else if ok && worst[cert] == "" {
				worst[cert] = f.Severity
			}
		}
		if worst["good"] == "error" || worst["bad"] != "error" {
			t.Errorf("per certificate %v, want good without error and bad with one: %+v", worst, out.Findings)
		}
	})
	t.Run("passing name and the CA", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		out, r := runDoctorJSON(ctx, t, e, t.TempDir(), "-d", "www.example.test", "-d", "*.example.test",
			"--server", e.pebble.DirectoryURL, "--ca-bundle", e.bundle)
		if r.code != 0 || out.Fail {
			t.Fatalf("doctor exit %d: %+v\nstderr %s", r.code, out.Findings, r.stderr)
		}
		checks := map[string]bool{}
		for _, f := range out.Findings {
			checks[f.Check] = true
		}
		for _, c := range []string{"ca", "delegation", "challenge-path", "caa", "dnssec", "negative-cache"} {
			if !checks[c] {
				t.Errorf("no %s finding in %+v", c, out.Findings)
			}
		}
	})
}

// The write test publishes through the provider and times propagation to
// a secondary that lags the primary by 2 s: the doctor reports between 2
// and 4 s, and removes its record.
func TestDoctorWriteTest(t *testing.T) {
	e := startE2E(t, testenv.BINDConfig{Secondary: true, SecondaryLag: 2 * time.Second, Zones: []testenv.Zone{{Name: "example.test"}}})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	out, r := runDoctorJSON(ctx, t, e, t.TempDir(), "-d", "www.example.test", "--dns", "rfc2136", "--plugin-dir", e.bin,
		"--write-test", "--propagation-timeout", "20s")
	if r.code != 0 {
		t.Fatalf("doctor exit %d: %+v\nstderr %s", r.code, out.Findings, r.stderr)
	}
	var took time.Duration
	for _, f := range out.Findings {
		if f.Check == "provider" {
			took = f.Elapsed
		}
	}
	if took < 2*time.Second || took > 4*time.Second {
		t.Errorf("write test took %s, want 2 to 4 s (the secondary's lag): %+v", took, out.Findings)
	}
	// Cleaned up: the primary serves no test record any more (its name
	// is random, so ask the zone for every TXT by transfer).
	for _, rr := range axfr(t, e.bind.Primary, "example.test.") {
		if strings.Contains(rr, "_zonecert-doctor-") {
			t.Errorf("the write test left %s", rr)
		}
	}
}

// axfr transfers zone from server (dns.Transfer bounds it with its own
// dial and read timeouts).
func axfr(t *testing.T, server netip.Addr, zone string) []string {
	t.Helper()
	m := new(dns.Msg)
	m.SetAxfr(zone)
	tr := &dns.Transfer{}
	ch, err := tr.In(m, netip.AddrPortFrom(server, 53).String())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for env := range ch {
		if env.Error != nil {
			t.Fatal(env.Error)
		}
		for _, rr := range env.RR {
			out = append(out, rr.String())
		}
	}
	return out
}

// doctor --config --write-test writes through each certificate's own
// provider instance, once per (instance, zone) however many certificates
// share it, times propagation to a secondary lagging 2 s, and leaves no
// record behind. The instance "broken" has a wrong TSIG secret: its write
// test, and only its, fails, so each test went through the right instance.
func TestDoctorConfigWriteTest(t *testing.T) {
	e := startE2E(t, testenv.BINDConfig{Secondary: true, SecondaryLag: 2 * time.Second,
		Zones: []testenv.Zone{{Name: "example.test"}, {Name: "example.org"}}})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	home := t.TempDir()
	ns := e.bind.Primary.String() + ":53"
	doc := fmt.Sprintf(`state = %q
[acme]
server = %q
ca_bundle = %q
agree_tos = true
[dns]
resolvers = [%q]
propagation_timeout = "20s"
[providers.bind]
plugin = "rfc2136"
settings = { nameserver = %q, tsig_key = %q, tsig_secret = "${TSIG}" }
[providers.broken]
plugin = "rfc2136"
settings = { nameserver = %q, tsig_key = %q, tsig_secret = "d3Jvbmcgc2VjcmV0IHdyb25nIHNlY3JldA==" }
[[certificate]]
name = "a"
domains = ["www.example.test"]
provider = "bind"
[[certificate]]
name = "b"
domains = ["api.example.test", "www.example.org"]
provider = "bind"
[[certificate]]
name = "c"
domains = ["mail.example.test"]
providers = { "example.test" = "broken" }
`, filepath.Join(home, "state"), e.pebble.DirectoryURL, e.bundle, e.bind.Primary.String(), ns, e.bind.TSIGKey, ns, e.bind.TSIGKey)
	path := filepath.Join(home, "zonecert.toml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	// RFC2136_* in the environment must not reach a named instance, as in
	// the daemon: "bind" sets no tsig_algorithm, so it would take this
	// wrong one instead of its default (hmac-sha256., the key's).
	env := append(e.rfc2136Env(home), "TSIG="+e.bind.TSIGSecret, "RFC2136_TSIG_ALGORITHM=hmac-sha512.")
	r := zonecert(ctx, t, e.bin, env, "doctor", "--json", "--config", path,
		"--write-test", "--plugin-dir", e.bin, "--system-resolver", e.bind.Primary.String())
	var out doctorOutput
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("output %q (stderr %s): %v", r.stdout, r.stderr, err)
	}
	if r.code != exitDNS || !out.Fail {
		t.Errorf("exit %d, would fail %v; want %d, true (the broken instance)", r.code, out.Fail, exitDNS)
	}
	got := map[string]string{}
	for _, f := range out.Findings {
		if f.Check != "provider" {
			continue
		}
		if _, dup := got[f.Name]; dup {
			t.Errorf("write test %s run twice", f.Name)
		}
		got[f.Name] = f.Severity
		if f.Severity == "ok" && (f.Elapsed < 2*time.Second || f.Elapsed > 4*time.Second) {
			t.Errorf("%s took %s, want 2 to 4 s (the secondary's lag)", f.Name, f.Elapsed)
		}
	}
	want := map[string]string{
		"providers.bind: example.test.":   "ok",
		"providers.bind: example.org.":    "ok",
		"providers.broken: example.test.": "error",
	}
	if !maps.Equal(got, want) {
		t.Errorf("write tests %v, want %v: %+v\nstderr %s", got, want, out.Findings, r.stderr)
	}
	// The primary is the zone's source (the secondary follows it, 2 s late).
	for _, zone := range []string{"example.test.", "example.org."} {
		for _, rr := range axfr(t, e.bind.Primary, zone) {
			if strings.Contains(rr, "_zonecert-doctor-") {
				t.Errorf("the write test left %s", rr)
			}
		}
	}
}
