package dns01

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNormalizeDomain(t *testing.T) {
	t.Parallel()
	long63 := strings.Repeat("a", 63)
	tests := []struct {
		in, want string // want "" means rejected
		why      string // part of the error
	}{
		{"example.com", "example.com", ""},
		{"Example.COM.", "example.com", ""},
		{"*.example.com", "*.example.com", ""},
		{"*.Bücher.example", "*.xn--bcher-kva.example", ""},
		{"bücher.example", "xn--bcher-kva.example", ""},
		{"ＥＸＡＭＰＬＥ．com", "example.com", ""}, // full-width letters and dot map
		{"xn--bcher-kva.example", "xn--bcher-kva.example", ""},
		{"a-b.example.com", "a-b.example.com", ""},
		{long63 + ".example.com", long63 + ".example.com", ""},
		{"", "", "empty"},
		{"  ", "", "empty"},
		{"192.0.2.1", "", "IP addresses"},
		{"2001:db8::1", "", "IP addresses"},
		{"[2001:db8::1]", "", "IP addresses"},
		{"a.*.example.com", "", "wildcard"},
		{"*.*.example.com", "", "wildcard"},
		{"*example.com", "", "wildcard"},
		{"foo*.example.com", "", "wildcard"},
		{"*", "", "wildcard"},
		{strings.Repeat("a", 64) + ".example.com", "", "over 63"},
		{strings.Repeat(long63+".", 4) + "com", "", "over 253"},
		{"a..example.com", "", ""},
		{"under_score.example.com", "", "character"},
		{"-lead.example.com", "", "hyphen"},
		{"trail-.example.com", "", "hyphen"},
		{"sp ace.example.com", "", ""},
		{"com", "", "two labels"},
		{"example.123", "", "numeric"},
		{"ex@mple.com", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := NormalizeDomain(tc.in)
			if tc.want != "" {
				if err != nil || got != tc.want {
					t.Fatalf("NormalizeDomain(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("NormalizeDomain(%q) = %q; want an error", tc.in, got)
			}
			if !errors.Is(err, ErrInvalidName) || !strings.Contains(err.Error(), tc.why) {
				t.Fatalf("NormalizeDomain(%q) error %q; want ErrInvalidName mentioning %q", tc.in, err, tc.why)
			}
		})
	}
}

func TestChallengeName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"example.com":             "_acme-challenge.example.com.",
		"*.example.com":           "_acme-challenge.example.com.",
		"*.xn--bcher-kva.example": "_acme-challenge.xn--bcher-kva.example.",
		"WWW.Example.com.":        "_acme-challenge.www.example.com.",
	} {
		if got, err := ChallengeName(in); err != nil || got != want {
			t.Errorf("ChallengeName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	// A valid 253-octet domain has no room for the label.
	long := strings.Repeat(strings.Repeat("a", 62)+".", 4)[:249] + ".com"
	if _, err := NormalizeDomain(long); err != nil {
		t.Fatalf("setup: %v", err)
	}
	if _, err := ChallengeName(long); !errors.Is(err, ErrInvalidName) {
		t.Errorf("ChallengeName(253 octets) error = %v; want ErrInvalidName", err)
	}
}

func TestSystemResolvers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(p, []byte("# comment\nsearch example.com\nnameserver 192.0.2.53\nnameserver 2001:db8::53\noptions ndots:2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := SystemResolvers(p)
	if want := []string{"192.0.2.53:53", "[2001:db8::53]:53"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("SystemResolvers = %q, %v; want %q", got, err, want)
	}
	empty := filepath.Join(dir, "empty.conf")
	if err := os.WriteFile(empty, []byte("search example.com\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := SystemResolvers(empty); err == nil {
		t.Error("SystemResolvers(no nameserver) succeeded")
	}
	if _, err := SystemResolvers(filepath.Join(dir, "missing")); err == nil {
		t.Error("SystemResolvers(missing file) succeeded")
	}
}

func TestNewSolverValidates(t *testing.T) {
	t.Parallel()
	p := &updateProvider{}
	j := &MemJournal{}
	for name, cfg := range map[string]Config{
		"no resolvers":      {},
		"resolver hostname": {Resolvers: []string{"dns.google:53"}},
		"bad port":          {Resolvers: []string{"127.0.0.1"}, NameserverPort: 70000},
	} {
		if _, err := NewSolver(cfg, p, j); err == nil {
			t.Errorf("%s: NewSolver accepted %+v", name, cfg)
		}
	}
	if _, err := NewSolver(Config{Resolvers: []string{"127.0.0.1"}}, nil, j); err == nil {
		t.Error("NewSolver accepted a nil provider")
	}
	s, err := NewSolver(Config{Resolvers: []string{"127.0.0.1", "[::1]:5353", "192.0.2.1:53"}}, p, j)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"127.0.0.1:53", "[::1]:5353", "192.0.2.1:53"}; !slices.Equal(s.q.resolvers, want) {
		t.Errorf("resolvers = %q; want %q", s.q.resolvers, want)
	}
}

func TestNormalizeName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"_acme-challenge.Bücher.example.net": "_acme-challenge.xn--bcher-kva.example.net.",
		"Example.COM.":                       "example.com.",
		"":                                   ".",
	} {
		if got, err := NormalizeName(in); err != nil || got != want {
			t.Errorf("NormalizeName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"not a name", "*.example.com", "a..b"} {
		if got, err := NormalizeName(bad); err == nil {
			t.Errorf("NormalizeName(%q) = %q; want an error", bad, got)
		}
	}
}

func TestParseWait(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Wait{
		"authoritative": WaitAuthoritative, "none": WaitNone, "fixed:1m30s": WaitFixed(90 * time.Second),
	} {
		got, err := ParseWait(in)
		if err != nil || got != want {
			t.Errorf("ParseWait(%q) = %v, %v", in, got, err)
		}
		if back, err := ParseWait(got.String()); err != nil || back != got {
			t.Errorf("ParseWait(%q.String()) = %v, %v", in, back, err)
		}
	}
	for _, bad := range []string{"", "fixed", "fixed:0s", "fixed:-1s", "fixed:x", "none:1s", "authoritative:", "sometimes"} {
		if _, err := ParseWait(bad); err == nil {
			t.Errorf("ParseWait(%q) accepted", bad)
		}
	}
}
