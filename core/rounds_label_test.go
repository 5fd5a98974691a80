package core

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/zonecert/zonecert/core/acme"
	"github.com/zonecert/zonecert/plugin"
)

// cappedProvider keeps one value per name, as acme-dns keeps two: the
// engine must give it rounds. It records every name it was given.
type cappedProvider struct {
	*zoneProvider
	mu    sync.Mutex
	names []string
}

func (p *cappedProvider) Capabilities() plugin.Capabilities {
	return plugin.Capabilities{MaxValuesPerName: 1}
}

func (p *cappedProvider) Present(ctx context.Context, recs []plugin.Record) ([]plugin.Result, error) {
	p.mu.Lock()
	for _, r := range recs {
		p.names = append(p.names, r.FQDN)
	}
	p.mu.Unlock()
	return p.zoneProvider.Present(ctx, recs)
}

// Rounds keep the method's label: dns-account-01 with a provider that caps
// values per name publishes each round under the account's label, never
// under _acme-challenge, and the order succeeds.
func TestRoundsKeepTheMethodsLabel(t *testing.T) {
	env := startEngineEnv(t)
	prov := &cappedProvider{zoneProvider: env.prov}
	eng, err := New(Config{Storage: env.store, Provider: prov, HTTPClient: env.pebble.HTTPClient})
	if err != nil {
		t.Fatal(err)
	}
	req := env.request("*.capped.engine.test", "capped.engine.test")
	req.Challenge = acme.ChallengeDNSAccount01
	res, err := eng.Obtain(t.Context(), req)
	if err != nil {
		t.Fatalf("dns-account-01 in rounds: %v\npresented: %v", err, prov.names)
	}
	if res.Challenge != acme.ChallengeDNSAccount01 {
		t.Errorf("challenge %s", res.Challenge)
	}
	if len(prov.names) != 2 {
		t.Errorf("presented %v, want two rounds of one record", prov.names)
	}
	for _, n := range prov.names {
		if strings.HasPrefix(n, "_acme-challenge.") {
			t.Errorf("a round published %s under the dns-01 label", n)
		}
	}
}
