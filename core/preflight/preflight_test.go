package preflight_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/zonecert/zonecert/core/acme"
	"github.com/zonecert/zonecert/core/preflight"
)

// Each check gets a case that produces its finding and one that passes,
// against real BIND. want is the worst severity of the check's findings
// and a fragment of the message.
func TestChecks(t *testing.T) {
	w := startWorld(t)
	c := w.checker()
	acct := "https://ca.test.invalid/acct/1"
	cases := []struct {
		name   string
		target preflight.Target
		check  string
		want   preflight.Severity
		msg    string
	}{
		{"delegation ok", preflight.Target{Domains: []string{"ex.test"}}, preflight.CheckDelegation, preflight.OK, "answer authoritatively"},
		{"lame NS", preflight.Target{Domains: []string{"lame.test"}}, preflight.CheckDelegation, preflight.Error, "ns3.lame.test. (" + w.L.String() + ":53 over UDP): lame: answers REFUSED"},
		{"lame NS over TCP", preflight.Target{Domains: []string{"lame.test"}}, preflight.CheckDelegation, preflight.Error, "over TCP): lame"},
		{"lame NS without AA", preflight.Target{Domains: []string{"referral.test"}}, preflight.CheckDelegation, preflight.Error, "ns5.referral.test. (" + w.P.String() + ":53 over UDP): lame: answers without the AA bit"},
		{"NS timeout", preflight.Target{Domains: []string{"dead.test"}}, preflight.CheckDelegation, preflight.Error, "ns4.dead.test. (" + w.D.String() + ":53 over UDP): timed out"},
		{"NS timeout over TCP", preflight.Target{Domains: []string{"dead.test"}}, preflight.CheckDelegation, preflight.Error, "over TCP): timed out"},
		{"parent NS set differs", preflight.Target{Domains: []string{"mismatch.test"}}, preflight.CheckDelegation, preflight.Warning, "the parent test. delegates to ns1.mismatch.test., ns9.mismatch.test. but the zone lists ns1.mismatch.test."},
		{"CNAME direct", preflight.Target{Domains: []string{"direct.ex.test"}}, preflight.CheckChallenge, preflight.OK, "TXT goes to _acme-challenge.direct.ex.test. in zone ex.test."},
		{"CNAME into another zone", preflight.Target{Domains: []string{"good.ex.test"}}, preflight.CheckChallenge, preflight.OK, "TXT goes to good.acme.test. in zone acme.test. via _acme-challenge.good.ex.test."},
		{"CNAME in the provider's zones", preflight.Target{Domains: []string{"good.ex.test"}, ProviderZones: []string{"acme.test."}}, preflight.CheckChallenge, preflight.OK, "managed by the provider"},
		{"CNAME leaves the provider's zones", preflight.Target{Domains: []string{"good.ex.test"}, ProviderZones: []string{"ex.test."}}, preflight.CheckChallenge, preflight.Error, "which the provider does not manage"},
		{"delegated challenge label on the same servers", preflight.Target{Domains: []string{"deleg.ex.test"}}, preflight.CheckChallenge, preflight.OK, "in zone _acme-challenge.deleg.ex.test."},
		{"CNAME loop", preflight.Target{Domains: []string{"loop.ex.test"}}, preflight.CheckChallenge, preflight.Error, "CNAME loop: _acme-challenge.loop.ex.test. -> a.loop.ex.test. -> _acme-challenge.loop.ex.test."},
		{"dangling CNAME", preflight.Target{Domains: []string{"dangle.ex.test"}}, preflight.CheckChallenge, preflight.Error, "dangling CNAME"},
		{"dns-account-01 label", preflight.Target{Domains: []string{"direct.ex.test"}, Method: acme.ChallengeDNSAccount01, AccountURI: acct}, preflight.CheckChallenge, preflight.OK, acme.DNSAccountLabel(acct) + "._acme-challenge.direct.ex.test."},
		{"dns-persist-01 label", preflight.Target{Domains: []string{"direct.ex.test"}, Method: acme.ChallengeDNSPersist01}, preflight.CheckChallenge, preflight.OK, "_validation-persist.direct.ex.test."},
		{"CAA none", preflight.Target{Domains: []string{"direct.ex.test"}, CAAIdentities: []string{caaID}}, preflight.CheckCAA, preflight.OK, "no CAA records"},
		{"CAA allows", preflight.Target{Domains: []string{"caa-ok.ex.test"}, CAAIdentities: []string{caaID}, AccountURI: acct}, preflight.CheckCAA, preflight.OK, "allows " + caaID},
		{"CAA forbids the CA", preflight.Target{Domains: []string{"caa-other.ex.test"}, CAAIdentities: []string{caaID}}, preflight.CheckCAA, preflight.Error, "forbids this CA"},
		{"CAA tree climbing", preflight.Target{Domains: []string{"www.caa-other.ex.test"}, CAAIdentities: []string{caaID}}, preflight.CheckCAA, preflight.Error, "at caa-other.ex.test."},
		{"CAA accounturi of another account", preflight.Target{Domains: []string{"caa-acct.ex.test"}, CAAIdentities: []string{caaID}, AccountURI: acct}, preflight.CheckCAA, preflight.Error, "accounturi https://ca.test.invalid/acct/2 is not this account"},
		{"CAA validationmethods=http-01", preflight.Target{Domains: []string{"caa-http.ex.test"}, CAAIdentities: []string{caaID}}, preflight.CheckCAA, preflight.Error, "validationmethods=http-01 excludes dns-01"},
		{"CAA issuewild forbids a wildcard", preflight.Target{Domains: []string{"*.caa-wild.ex.test"}, CAAIdentities: []string{caaID}}, preflight.CheckCAA, preflight.Error, "issuewild"},
		{"CAA issue allows its apex", preflight.Target{Domains: []string{"caa-wild.ex.test"}, CAAIdentities: []string{caaID}}, preflight.CheckCAA, preflight.OK, "allows"},
		{"CAA forbids every CA, CA identity unknown", preflight.Target{Domains: []string{"caa-none.ex.test"}}, preflight.CheckCAA, preflight.Error, "forbids every CA"},
		{"DNSSEC unsigned", preflight.Target{Domains: []string{"ex.test"}}, preflight.CheckDNSSEC, preflight.OK, "unsigned"},
		{"DNSSEC signed", preflight.Target{Domains: []string{"signed.test"}}, preflight.CheckDNSSEC, preflight.OK, "signatures valid"},
		{"DNSSEC expired RRSIG", preflight.Target{Domains: []string{"expired.test"}}, preflight.CheckDNSSEC, preflight.Error, "outside its validity period"},
		{"DNSSEC DS without key", preflight.Target{Domains: []string{"badds.test"}}, preflight.CheckDNSSEC, preflight.Error, "matches no DNSKEY"},
		{"DNSSEC DS with a wrong digest", preflight.Target{Domains: []string{"baddigest.test"}}, preflight.CheckDNSSEC, preflight.Error, "matches no DNSKEY"},
		{"DNSSEC two signed levels", preflight.Target{Domains: []string{"www.sub.signed.test"}}, preflight.CheckDNSSEC, preflight.OK, "sub.signed.test.: signed: DS at signed.test."},
		{"DNSSEC broken link above the zone", preflight.Target{Domains: []string{"www.sub.badds.test"}}, preflight.CheckDNSSEC, preflight.Error, "badds.test.: the DS at test. (key tag"},
		{"negative caching ok", preflight.Target{Domains: []string{"ex.test"}}, preflight.CheckNegativeCache, preflight.OK, "cached for 1s"},
		{"negative caching 86400", preflight.Target{Domains: []string{"slowneg.test"}}, preflight.CheckNegativeCache, preflight.Warning, "longer than the propagation timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			all := c.Doctor(ctx, tc.target)
			fs := only(all, tc.check)
			if len(fs) == 0 {
				t.Fatalf("no %s finding:\n%s", tc.check, dump(all))
			}
			if got := preflight.Worst(fs); got != tc.want {
				t.Errorf("worst %s = %s, want %s:\n%s", tc.check, got, tc.want, dump(fs))
			}
			if !strings.Contains(dump(fs), tc.msg) {
				t.Errorf("no %q in:\n%s", tc.msg, dump(fs))
			}
			for _, f := range fs {
				if f.Severity != preflight.OK && f.Fix == "" {
					t.Errorf("a problem without a fix: %s", f)
				}
			}
			// Preflight stops exactly the orders Doctor finds an error in
			// among the cheap checks.
			err := c.Preflight(ctx, tc.target)
			cheapErr := preflight.Worst(only(all, preflight.CheckChallenge)) == preflight.Error ||
				preflight.Worst(only(all, preflight.CheckCAA)) == preflight.Error ||
				preflight.Worst(only(all, preflight.CheckDNSSEC)) == preflight.Error ||
				preflight.Worst(only(all, preflight.CheckDelegation)) == preflight.Error
			var p preflight.Problems
			if cheapErr != errors.As(err, &p) {
				t.Errorf("Preflight = %v, want an error: %v", err, cheapErr)
			}
		})
	}
}
