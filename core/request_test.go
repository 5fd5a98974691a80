package core

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/zonecert/zonecert/core/acme"
	"github.com/zonecert/zonecert/core/dns01"
)

func TestNormalizeRequest(t *testing.T) {
	t.Parallel()
	in := Request{
		Domains:      []string{"*.Bücher.example.", "bücher.example", "xn--bcher-kva.example"},
		DirectoryURL: "https://ca.example/dir",
		KeyType:      "ec384",
		Resolvers:    []string{"192.0.2.53", "[2001:db8::1]:5353"},
		ChallengeAliases: map[string]string{
			"*.bücher.example": "_acme-challenge.Bücher.example.net",
		},
		Zones: map[string]string{"www.bücher.example": "Bücher.example."},
	}
	aliases := maps.Clone(in.ChallengeAliases)
	got, err := NormalizeRequest(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"*.xn--bcher-kva.example", "xn--bcher-kva.example"}; !slices.Equal(got.Domains, want) {
		t.Errorf("domains %q, want %q", got.Domains, want)
	}
	if got.CertName != "_.xn--bcher-kva.example" || got.KeyType != acme.KeyECDSAP384 {
		t.Errorf("cert name %q, key type %q", got.CertName, got.KeyType)
	}
	if want := []string{"192.0.2.53:53", "[2001:db8::1]:5353"}; !slices.Equal(got.Resolvers, want) {
		t.Errorf("resolvers %q", got.Resolvers)
	}
	if got.NameserverPort != 53 || got.PropagationTimeout != dns01.DefaultPropagationTimeout || got.Wait != dns01.WaitAuthoritative {
		t.Errorf("defaults: port %d, timeout %s, wait %s", got.NameserverPort, got.PropagationTimeout, got.Wait)
	}
	// Names typed in Unicode match the A-label identifiers; a wildcard and
	// its apex share one alias.
	if a := got.ChallengeAliases["xn--bcher-kva.example"]; a != "_acme-challenge.xn--bcher-kva.example.net." || len(got.ChallengeAliases) != 1 {
		t.Errorf("aliases %q", got.ChallengeAliases)
	}
	if z := got.Zones["www.xn--bcher-kva.example."]; z != "xn--bcher-kva.example." {
		t.Errorf("zones %q", got.Zones)
	}
	if !maps.Equal(in.ChallengeAliases, aliases) {
		t.Error("NormalizeRequest changed the caller's map")
	}
	again, err := NormalizeRequest(got)
	if err != nil || !slices.Equal(again.Domains, got.Domains) || !maps.Equal(again.ChallengeAliases, got.ChallengeAliases) ||
		!maps.Equal(again.Zones, got.Zones) || !slices.Equal(again.Resolvers, got.Resolvers) || again.KeyType != got.KeyType {
		t.Errorf("not idempotent: %+v, %v", again, err)
	}
}

func TestNormalizeRequestRejects(t *testing.T) {
	t.Parallel()
	base := Request{Domains: []string{"example.com"}, DirectoryURL: "https://ca.example/dir", Resolvers: []string{"127.0.0.1"}}
	for name, mod := range map[string]func(*Request){
		"no domains":      func(r *Request) { r.Domains = nil },
		"ip":              func(r *Request) { r.Domains = []string{"192.0.2.1"} },
		"wildcard":        func(r *Request) { r.Domains = []string{"a.*.example.com"} },
		"cert name path":  func(r *Request) { r.CertName = "../x" },
		"cert name slash": func(r *Request) { r.CertName = "a/b" },
		"cert name dot":   func(r *Request) { r.CertName = ".hidden" },
		"key type":        func(r *Request) { r.KeyType = "dsa" },
		"no server":       func(r *Request) { r.DirectoryURL = "" },
		"ftp server":      func(r *Request) { r.DirectoryURL = "ftp://ca.example/dir" },
		"email":           func(r *Request) { r.Email = "nobody" },
		"eab":             func(r *Request) { r.EAB = &EAB{KID: "k"} },
		"no resolver":     func(r *Request) { r.Resolvers = nil },
		"resolver name":   func(r *Request) { r.Resolvers = []string{"dns.google"} },
		"port":            func(r *Request) { r.NameserverPort = 70000 },
		"timeout":         func(r *Request) { r.PropagationTimeout = -time.Second },
		"alias key":       func(r *Request) { r.ChallengeAliases = map[string]string{"a.*.example.com": "x.example.net"} },
		"alias target":    func(r *Request) { r.ChallengeAliases = map[string]string{"example.com": "not a name"} },
		"alias one label": func(r *Request) { r.ChallengeAliases = map[string]string{"example.com": "net"} },
		"alias conflict": func(r *Request) {
			r.ChallengeAliases = map[string]string{"example.com": "a.example.net", "*.example.com": "b.example.net"}
		},
		"root zone": func(r *Request) { r.Zones = map[string]string{"example.com": "."} },
		"bad zone":  func(r *Request) { r.Zones = map[string]string{"example.com": "a b"} },
	} {
		r := base
		mod(&r)
		if _, err := NormalizeRequest(r); KindOf(err) != KindInput {
			t.Errorf("%s: err %v (kind %v), want KindInput", name, err, KindOf(err))
		}
	}
}
