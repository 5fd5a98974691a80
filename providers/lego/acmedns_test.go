package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/zonecert/zonecert/internal/fakeacmedns"
	"github.com/zonecert/zonecert/internal/testenv"
	"github.com/zonecert/zonecert/plugin"
)

// TestACMEDNSThroughTheBridge: lego's acmedns provider against the
// repository's acme-dns fake, with the user's CNAME from
// _acme-challenge.d0.example.test (BIND9) to the account's name. lego
// writes at the CNAME's target, which is the record zonecert asks for;
// the bridge declares acme-dns's limits (no delete, two values per name)
// because lego's CleanUp does nothing and acme-dns keeps two values, and
// both are what the fake does. The conformance kit cannot run it: its
// provisioned names are the accounts' names, from which it derives
// identifiers that lego would resolve elsewhere.
//
// Not parallel: configure exports the settings into this process's
// environment, where lego reads them.
func TestACMEDNSThroughTheBridge(t *testing.T) {
	if testing.Short() {
		t.Skip("needs BIND9")
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	f := fakeacmedns.Start(t, "auth.example.test.", "")
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, f.URL+"/register", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var acct map[string]any
	err = json.NewDecoder(resp.Body).Decode(&acct)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	full := acct["fulldomain"].(string) + "."
	storage := filepath.Join(t.TempDir(), "acme-dns.json")
	raw, _ := json.Marshal(map[string]any{"d0.example.test": acct})
	if err := os.WriteFile(storage, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	b := testenv.StartBIND(t, testenv.BINDConfig{Zones: []testenv.Zone{{Name: "example.test",
		Records: []string{"_acme-challenge.d0 CNAME " + full}}}})
	prov, meta, diags, err := configure(ctx, map[string]string{
		"provider": "acmedns", "acme_dns_api_base": f.URL, "acme_dns_storage_path": storage,
		"resolvers": b.Primary.String() + ":53",
	}, func(string) (string, bool) { return "", false }, slog.New(slog.DiscardHandler))
	if err != nil || len(diags) > 0 {
		t.Fatalf("configure: %v %v", err, diags)
	}
	if c := meta.Capabilities; !c.NoDelete || c.MaxValuesPerName != 2 {
		t.Fatalf("capabilities %+v, want no delete and two values per name", c)
	}
	rec := func(ka string) plugin.Record {
		return plugin.Record{ID: "1", FQDN: full, Zone: "example.test.", Value: digest(ka),
			Identifier: "d0.example.test", Token: "tok", KeyAuthorization: ka}
	}
	var want []string
	for _, ka := range []string{"tok.a", "tok.b", "tok.c"} {
		res, err := prov.Present(ctx, []plugin.Record{rec(ka)})
		if err != nil || res[0].Err != nil {
			t.Fatalf("present %s: %v %+v", ka, err, res)
		}
		want = append(want, digest(ka))
		if len(want) > 2 {
			want = want[1:]
		}
		if got := f.TXT(full); !sameSet(got, want) {
			t.Fatalf("after presenting %s the account serves %q, want %q", ka, got, want)
		}
	}
	res, err := prov.CleanUp(ctx, []plugin.Record{rec("tok.c")})
	if err != nil || res[0].Err != nil {
		t.Fatalf("cleanup: %v %+v", err, res)
	}
	if got := f.TXT(full); !sameSet(got, want) {
		t.Fatalf("after cleanup the account serves %q; acme-dns deletes nothing", got)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
