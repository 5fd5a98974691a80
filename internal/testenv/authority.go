package testenv

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// AuthZone is a zone an Authority serves verbatim from Text (a whole zone
// file: ZoneText writes one, SignZone signs one).
type AuthZone struct {
	Name string
	Text string
}

// AuthView is a BIND view answered on its own address (match-destinations),
// so one server gives two addresses two views: split horizon.
type AuthView struct {
	Addr  netip.Addr
	Zones []AuthZone
}

// AuthorityConfig describes one named serving zone files as given, for
// set-ups StartBIND does not make: hand-written delegations, CAA, signed
// zones and views. It accepts no updates and has no secondary.
type AuthorityConfig struct {
	// Addrs are the addresses it listens on (LoopbackAddr); at least one.
	Addrs []netip.Addr
	// Zones are served on every address. Either Zones or Views.
	Zones []AuthZone
	// Views each get their own address, which must be in Addrs.
	Views []AuthView
}

// Authority is a running named started by StartAuthority.
type Authority struct {
	Addrs []netip.Addr
	Dir   string
}

// ZoneText writes a zone file for zone: an SOA with the given serial and
// MINIMUM (the negative-caching TTL), default TTL 60, NS records for
// nsHosts (absolute names), then records, each a zone-file line relative to
// the apex (add the name servers' A records there or in the parent).
func ZoneText(zone string, serial, minimum uint32, nsHosts []string, records ...string) string {
	zone = dns.CanonicalName(zone)
	var sb strings.Builder
	fmt.Fprintf(&sb, "$ORIGIN %s\n$TTL 60\n", zone)
	mname := "ns1." + zone
	if len(nsHosts) > 0 {
		mname = dns.CanonicalName(nsHosts[0])
	}
	// The SOA TTL is an hour: negative caching is the lesser of it and
	// MINIMUM (RFC 2308 §5), so MINIMUM is what a test varies.
	fmt.Fprintf(&sb, "@ 3600 IN SOA %s hostmaster.%s %d 3600 600 86400 %d\n", mname, zone, serial, minimum)
	for _, h := range nsHosts {
		fmt.Fprintf(&sb, "@ IN NS %s\n", dns.CanonicalName(h))
	}
	for _, r := range records {
		sb.WriteString(r)
		sb.WriteByte('\n')
	}
	return sb.String()
}

// StartAuthority runs named for cfg and stops it when the test ends. It
// returns once every zone is served on its addresses.
func StartAuthority(t testing.TB, cfg AuthorityConfig) *Authority {
	t.Helper()
	if _, err := os.Stat(bindNamed); err != nil {
		t.Fatalf("testenv: BIND9 is not installed (%v)", err)
	}
	if len(cfg.Addrs) == 0 {
		t.Fatal("testenv: AuthorityConfig has no address")
	}
	a := &Authority{Addrs: cfg.Addrs, Dir: t.TempDir()}
	var sb strings.Builder
	// Challenge labels may be zones of their own: allow underscores.
	sb.WriteString(bindOptions(a.Dir, cfg.Addrs, "check-names primary ignore;"))
	type serve struct {
		addr netip.Addr
		zone string
	}
	var want []serve
	writeZones := func(prefix string, zones []AuthZone, addrs []netip.Addr) string {
		var zs strings.Builder
		for _, z := range zones {
			name := dns.CanonicalName(z.Name)
			file := prefix + bindZoneFile(name)
			if err := os.WriteFile(filepath.Join(a.Dir, file), []byte(z.Text), 0o600); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&zs, "zone %q { type primary; file %q; notify no; };\n", name, file)
			for _, ad := range addrs {
				want = append(want, serve{ad, name})
			}
		}
		return zs.String()
	}
	if len(cfg.Views) == 0 {
		sb.WriteString(writeZones("", cfg.Zones, cfg.Addrs))
	}
	for i, v := range cfg.Views {
		fmt.Fprintf(&sb, "view \"v%d\" { match-destinations { %s; }; recursion no;\n%s};\n",
			i, v.Addr, writeZones(fmt.Sprintf("v%d-", i), v.Zones, []netip.Addr{v.Addr}))
	}
	bindRun(t, a.Dir, sb.String())
	ctx, cancel := context.WithTimeout(context.Background(), bindStartTimeout)
	defer cancel()
	for _, s := range want {
		for {
			m := new(dns.Msg)
			m.SetQuestion(s.zone, dns.TypeSOA)
			r, err := bindExchange(ctx, m, s.addr)
			if err == nil && r.Authoritative {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("testenv: named at %s does not serve %s: %v", s.addr, s.zone, err)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return a
}

// Signing says how SignZone signs.
type Signing struct {
	// Inception and Expiration bound every RRSIG; zero means an hour ago
	// and 30 days from now. A past Expiration makes expired signatures.
	Inception, Expiration time.Time
}

// SignZone signs text (a zone file of zone) with a fresh ECDSA P-256 KSK
// and ZSK using dnssec-signzone, and returns the signed zone file and the
// DS record of the KSK (a zone-file line, absolute owner) for the parent.
func SignZone(t testing.TB, zone, text string, s Signing) (signed, ds string) {
	t.Helper()
	zone = dns.CanonicalName(zone)
	dir := t.TempDir()
	if s.Inception.IsZero() {
		s.Inception = time.Now().Add(-time.Hour)
	}
	if s.Expiration.IsZero() {
		s.Expiration = time.Now().Add(30 * 24 * time.Hour)
	}
	ksk := dnssecKey(t, dir, zone, true)
	zsk := dnssecKey(t, dir, zone, false)
	in := filepath.Join(dir, "zone.db")
	// The keys are given explicitly, not found by -S (smart signing),
	// which refuses keys whose metadata says they are not yet active at
	// a past inception time. -P: no post-signing check, which refuses
	// expired signatures made on purpose.
	text += fmt.Sprintf("$INCLUDE %s.key\n$INCLUDE %s.key\n", filepath.Join(dir, ksk), filepath.Join(dir, zsk))
	if err := os.WriteFile(in, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "zone.signed")
	stamp := func(tm time.Time) string { return tm.UTC().Format("20060102150405") }
	runTool(t, dir, "dnssec-signzone", "-P", "-K", dir, "-o", zone, "-s", stamp(s.Inception), "-e", stamp(s.Expiration),
		"-f", out, "-d", dir, in, ksk, zsk)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), dsOf(t, dir, ksk)
}

// UnrelatedDS returns the DS of a fresh key the zone does not hold: a DS
// with no matching DNSKEY.
func UnrelatedDS(t testing.TB, zone string) string {
	t.Helper()
	dir := t.TempDir()
	return dsOf(t, dir, dnssecKey(t, dir, dns.CanonicalName(zone), true))
}

// dnssecKey makes a key in dir and returns its base name (Kzone+013+tag).
func dnssecKey(t testing.TB, dir, zone string, ksk bool) string {
	t.Helper()
	args := []string{"-q", "-K", dir, "-a", "ECDSAP256SHA256", "-n", "ZONE"}
	if ksk {
		args = append(args, "-f", "KSK")
	}
	return strings.TrimSpace(runTool(t, dir, "dnssec-keygen", append(args, zone)...))
}

func dsOf(t testing.TB, dir, key string) string {
	t.Helper()
	return strings.TrimSpace(runTool(t, dir, "dnssec-dsfromkey", "-2", filepath.Join(dir, key+".key")))
}

func runTool(t testing.TB, dir, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("testenv: %s %s: %v: %s", name, strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}
