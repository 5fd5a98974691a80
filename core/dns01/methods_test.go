package dns01

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/zonecert/zonecert/core/acme"
	"github.com/zonecert/zonecert/internal/testenv"
)

const (
	testIssuer  = "ca.test"
	testAccount = "https://ca.test/acct/1"
)

// TestMethodsWithBIND checks the names of dns-account-01 records (CNAMEs
// followed from the labelled name, aliases) and the dns-persist-01 check
// against a real BIND9 primary and secondary serving records of every kind.
func TestMethodsWithBIND(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs BIND9 and root")
	}
	label := acme.DNSAccountLabel(testAccount)
	future := time.Now().Add(24 * time.Hour).Unix()
	past := time.Now().Add(-time.Hour).Unix()
	rec := func(owner, value string) string { return fmt.Sprintf("%s TXT %q", owner, value) }
	b := testenv.StartBIND(t, testenv.BINDConfig{
		Zones: []testenv.Zone{
			{Name: "methods.test", Records: []string{
				label + "._acme-challenge.app CNAME acct.delegated.test.",
				rec("_validation-persist", "ca.test; accounturi="+testAccount+"; policy=wildcard"),
				rec("_validation-persist.plain", "ca.test; accounturi="+testAccount),
				rec("_validation-persist.until", fmt.Sprintf("ca.test; accounturi=%s; persistUntil=%d", testAccount, future)),
				rec("_validation-persist.expired", fmt.Sprintf("ca.test; accounturi=%s; persistUntil=%d", testAccount, past)),
				rec("_validation-persist.other", "ca.test; accounturi=https://ca.test/acct/2"),
				rec("_validation-persist.issuer", "elsewhere.test; accounturi="+testAccount),
				rec("_validation-persist.broken", "ca.test; accounturi="+testAccount+";"),
				// Two CAs' records at one name: only ours counts.
				rec("_validation-persist.shared", "elsewhere.test; accounturi=x"),
				rec("_validation-persist.shared", "ca.test; accounturi="+testAccount),
				"_validation-persist.cname CNAME persist.delegated.test.",
			}},
			{Name: "delegated.test", Records: []string{
				rec("persist", "ca.test; accounturi="+testAccount+"; policy=wildcard"),
			}},
		},
		Secondary: true,
	})
	cfg := testConfig(b)

	t.Run("dns-account-01 names follow CNAMEs and aliases", func(t *testing.T) {
		t.Parallel()
		c := cfg
		c.Aliases = map[string]string{"aliased.methods.test": "_acme.delegated.test."}
		p := &updateProvider{bind: b}
		s := mustSolver(t, c, p, &MemJournal{})
		v := txtValue("acct")
		batch, err := s.PrepareLabel(t.Context(), AccountChallengeLabel(label),
			[]Challenge{{"*.app.methods.test", v}, {"direct.methods.test", v}, {"aliased.methods.test", v}})
		if err != nil {
			t.Fatal(err)
		}
		want := []struct{ name, fqdn, zone string }{
			{label + "._acme-challenge.app.methods.test.", "acct.delegated.test.", "delegated.test."},
			{label + "._acme-challenge.direct.methods.test.", label + "._acme-challenge.direct.methods.test.", "methods.test."},
			{"_acme.delegated.test.", "_acme.delegated.test.", "delegated.test."},
		}
		for i, w := range want {
			it := batch.Items[i]
			if it.Name != w.name || it.FQDN != w.fqdn || it.Zone != w.zone || it.Label != AccountChallengeLabel(label) {
				t.Errorf("item %d = %+v; want name %s fqdn %s zone %s", i, it, w.name, w.fqdn, w.zone)
			}
		}
		if err := s.Publish(t.Context(), batch, time.Time{}); err != nil {
			t.Fatal(err)
		}
		assertServed(t, b, label+"._acme-challenge.direct.methods.test", v, true)
		assertServed(t, b, "_acme-challenge.direct.methods.test", v, false)
		if err := s.CleanUp(t.Context(), batch); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("dns-persist-01 check", func(t *testing.T) {
		t.Parallel()
		c, err := NewPersistChecker(cfg)
		if err != nil {
			t.Fatal(err)
		}
		want := PersistWant{Issuers: []string{"other-name.test", testIssuer}, AccountURI: testAccount}
		for _, tc := range []struct {
			id      string
			wantErr []string // empty: authorized everywhere
		}{
			{id: "methods.test"},
			{id: "*.methods.test"},
			{id: "plain.methods.test"},
			{id: "until.methods.test"},
			{id: "shared.methods.test"},
			{id: "*.cname.methods.test"},
			{id: "*.plain.methods.test", wantErr: []string{"no policy=wildcard"}},
			{id: "expired.methods.test", wantErr: []string{"persistUntil", "has passed"}},
			{id: "other.methods.test", wantErr: []string{"account URI is https://ca.test/acct/2, want " + testAccount}},
			{id: "issuer.methods.test", wantErr: []string{`issuer "elsewhere.test" is not one of the CA's`}},
			{id: "broken.methods.test", wantErr: []string{"trailing ';'"}},
			{id: "missing.methods.test", wantErr: []string{"no TXT record"}},
		} {
			st, err := c.Check(t.Context(), []string{tc.id}, want)
			if len(tc.wantErr) == 0 {
				if err != nil || !st[0].OK() {
					t.Errorf("%s: %+v, %v", tc.id, st, err)
				}
				if len(st) == 1 && len(st[0].Servers) != 2 {
					t.Errorf("%s: asked %d addresses, want the primary and the secondary", tc.id, len(st[0].Servers))
				}
				continue
			}
			var pe *PersistError
			if !errors.As(err, &pe) {
				t.Errorf("%s: error %v, want a *PersistError", tc.id, err)
				continue
			}
			errContainsAll(t, err, append(tc.wantErr, tc.id, "ns1.methods.test.", "ns2.methods.test.")...)
		}
		// Several names in one call: every failure is named.
		_, err = c.Check(t.Context(), []string{"methods.test", "*.plain.methods.test", "other.methods.test"}, want)
		var pe *PersistError
		if !errors.As(err, &pe) || len(pe.Failed) != 2 {
			t.Fatalf("error %v, want two failed names", err)
		}
		if strings.Contains(err.Error(), " methods.test (") {
			t.Errorf("the good name is reported: %v", err)
		}
	})
}
