package acme

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// The draft's example (draft-ietf-acme-dns-account-label §3.1) and Pebble's
// account URLs; Pebble 2.10.1 computes the same label in va.go
// (validateDNSAccount01), which the engine's end-to-end tests exercise.
func TestDNSAccountLabel(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"https://example.com/acme/acct/ExampleAccount", "_ujmmovf2vn55tgye"},
		{"https://localhost:14000/my-account/1", "_bpjsk7g2c3iuj47a"},
	} {
		if got := DNSAccountLabel(tc.url); got != tc.want {
			t.Errorf("DNSAccountLabel(%q) = %q, want %q", tc.url, got, tc.want)
		}
	}
}

func TestPersistRecordString(t *testing.T) {
	r := PersistRecord{Issuer: "authority.example", AccountURI: "https://ca.example/acct/123", Wildcard: true,
		Until: time.Unix(1767225600, 0)}
	const want = "authority.example; accounturi=https://ca.example/acct/123; policy=wildcard; persistUntil=1767225600"
	if got := r.String(); got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
	if got := (PersistRecord{Issuer: "a.example", AccountURI: "u"}).String(); got != "a.example; accounturi=u" {
		t.Fatalf("minimal record = %q", got)
	}
	for _, bad := range []PersistRecord{
		{AccountURI: "u"},
		{Issuer: "-a.example", AccountURI: "u"},
		{Issuer: "a..example", AccountURI: "u"},
		{Issuer: "a.example"},
		{Issuer: "a.example", AccountURI: "https://x/a b"},
		{Issuer: "a.example", AccountURI: "https://x/a;b"},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("Validate(%+v) accepted", bad)
		}
	}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestParsePersistRecord(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    PersistRecord
		wantErr string
	}{
		{in: "authority.example; accounturi=https://ca.example/acct/123; policy=wildcard; persistUntil=1767225600",
			want: PersistRecord{Issuer: "authority.example", AccountURI: "https://ca.example/acct/123", Wildcard: true, Until: time.Unix(1767225600, 0).UTC()}},
		{in: " authority.example ;\taccounturi = u ", want: PersistRecord{Issuer: "authority.example", AccountURI: "u"}},
		// Tags are case-insensitive; an unknown policy counts as absent
		// and unknown tags are ignored, as the draft says.
		{in: "a.example; ACCOUNTURI=u; Policy=WildCard", want: PersistRecord{Issuer: "a.example", AccountURI: "u", Wildcard: true}},
		{in: "a.example; accounturi=u; policy=other; x-new=1", want: PersistRecord{Issuer: "a.example", AccountURI: "u"}},
		{in: "a.example; accounturi=u;", wantErr: "trailing"},
		{in: "a.example; accounturi=u;; policy=wildcard", wantErr: "empty parameter"},
		{in: "a.example", wantErr: "no accounturi"},
		{in: "a.example; accounturi=", wantErr: "no accounturi"},
		{in: "a.example; accounturi=u; accountURI=v", wantErr: "twice"},
		{in: "a.example; accounturi=u; policy", wantErr: "not tag=value"},
		{in: "a.example; accounturi=u; persistUntil=tomorrow", wantErr: "persistUntil"},
		{in: "a.example; accounturi=a\x01b", wantErr: "character"},
		{in: "; accounturi=u", wantErr: "no issuer"},
		{in: "not a domain; accounturi=u", wantErr: "not a domain name"},
	} {
		got, err := ParsePersistRecord(tc.in)
		if tc.wantErr != "" {
			if err == nil || !errors.Is(err, ErrPersistSyntax) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParsePersistRecord(%q) = %+v, %v; want an error with %q", tc.in, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got.Issuer != tc.want.Issuer || got.AccountURI != tc.want.AccountURI ||
			got.Wildcard != tc.want.Wildcard || !got.Until.Equal(tc.want.Until) {
			t.Errorf("ParsePersistRecord(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestPersistRecordAuthorizes(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	r := PersistRecord{Issuer: "ca.example", AccountURI: "https://ca.example/acct/1"}
	if err := r.Authorizes([]string{"other.example", "ca.example"}, r.AccountURI, false, now); err != nil {
		t.Fatalf("a matching record: %v", err)
	}
	bad := PersistRecord{Issuer: "evil.example", AccountURI: "https://ca.example/acct/2", Until: now.Add(-time.Hour)}
	err := bad.Authorizes([]string{"ca.example"}, r.AccountURI, true, now)
	for _, want := range []string{`issuer "evil.example"`, "account URI is https://ca.example/acct/2, want https://ca.example/acct/1",
		"no policy=wildcard", "persistUntil 2027-01-15T07:00:00Z has passed"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Authorizes error %v lacks %q", err, want)
		}
	}
}
