package main

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/zonecert/zonecert/internal/fakeroute53"
	"github.com/zonecert/zonecert/plugin"
	"github.com/zonecert/zonecert/plugin/conformance"
	"github.com/zonecert/zonecert/plugin/host"
)

// TestRoute53Conformance runs the kit against lego's route53 provider and
// the repository's Route 53 fake (SigV4, the API's errors, a nameserver
// that lags the API until GetChange says INSYNC), through the plugin
// binary. The endpoint is the AWS SDK's own override,
// AWS_ENDPOINT_URL_ROUTE_53, which a user passes with pass_env as the
// route53 variant does not declare it; lego finds the hosted zone itself
// (no AWS_HOSTED_ZONE_ID).
func TestRoute53Conformance(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs the plugin binary")
	}
	f := fakeroute53.New(t, fakeroute53.Options{SyncDelay: 150 * time.Millisecond})
	zoneID := f.AddZone("example.test.", false)
	env := map[string]string{
		"HOME":                      t.TempDir(),
		"LEGO_PROVIDER":             "route53",
		"AWS_ACCESS_KEY_ID":         fakeroute53.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY":     fakeroute53.SecretAccessKey,
		"AWS_REGION":                "us-east-1",
		"AWS_ENDPOINT_URL_ROUTE_53": f.URL,
		"AWS_EC2_METADATA_DISABLED": "true",
		"AWS_TTL":                   "60",
		"AWS_POLLING_INTERVAL":      "1",
	}
	conformance.Run(t, conformance.Config{
		Target: conformance.Binary(legoBinary(t), host.Config{
			Name: "lego", LookupEnv: envOf(env), Resolvers: []string{f.DNSAddr()},
			PassEnv: []string{"AWS_ENDPOINT_URL_ROUTE_53", "AWS_EC2_METADATA_DISABLED"},
		}),
		Zone:         "example.test.",
		Nameservers:  []string{f.DNSAddr()},
		Timeout:      15 * time.Second,
		PollInterval: 50 * time.Millisecond,
		TTL:          60,
		Capabilities: plugin.Capabilities{ChallengeDetails: true},
		Foreign:      foreignTXT(f, zoneID),
		Skip: map[string]string{
			"foreign-rrset-restored": "lego's route53 UPSERTs the whole TXT set at AWS_TTL, so a user's value at the name takes AWS_TTL and keeps it " +
				"(pinned by TestRoute53ForeignValue; README: per-provider limits)",
		},
	})
}

// route53Env is the plugin's environment against f, lego writing at ttl.
func route53Env(f *fakeroute53.Server, home, ttl string) map[string]string {
	return map[string]string{
		"HOME":                      home,
		"LEGO_PROVIDER":             "route53",
		"AWS_ACCESS_KEY_ID":         fakeroute53.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY":     fakeroute53.SecretAccessKey,
		"AWS_REGION":                "us-east-1",
		"AWS_ENDPOINT_URL_ROUTE_53": f.URL,
		"AWS_EC2_METADATA_DISABLED": "true",
		"AWS_TTL":                   ttl,
		"AWS_POLLING_INTERVAL":      "1",
	}
}

// TestRoute53ForeignValue pins what lego's route53 does to a user's own TXT
// value at the challenge name (the kit's foreign-rrset-restored rule,
// skipped in TestRoute53Conformance for this reason): the value is kept,
// but Present and CleanUp write the whole set at AWS_TTL, so the user's
// value takes AWS_TTL and keeps it after CleanUp. With AWS_TTL equal to
// the TTL of the user's values there, nothing changes, which is the
// README's advice. A value someone adds between lego's read and its UPSERT
// is lost.
func TestRoute53ForeignValue(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs the plugin binary")
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var (
		mu     sync.Mutex
		during func(zoneID string) // runs at the start of each change, once
	)
	f := fakeroute53.New(t, fakeroute53.Options{SyncDelay: 50 * time.Millisecond, BeforeChange: func(zoneID string) {
		mu.Lock()
		fn := during
		during = nil
		mu.Unlock()
		if fn != nil {
			fn(zoneID)
		}
	}})
	zoneID := f.AddZone("example.test.", false)
	bin := legoBinary(t)
	const name = "_acme-challenge.www.example.test."
	user := strconv.Quote("user's own value")
	set := func() (int64, []string) {
		ttl, values, _ := f.RRSet(zoneID, name, "TXT")
		slices.Sort(values)
		return ttl, values
	}
	run := func(awsTTL string, ka string, wantTTL int64, wantDuring []string) {
		t.Helper()
		p, err := host.Start(ctx, host.Config{Name: "lego", Path: bin, Resolvers: []string{f.DNSAddr()},
			LookupEnv: envOf(route53Env(f, t.TempDir(), awsTTL)), PassEnv: []string{"AWS_ENDPOINT_URL_ROUTE_53", "AWS_EC2_METADATA_DISABLED"}})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		rec := plugin.Record{ID: "1", FQDN: name, Zone: "example.test.", Value: digest(ka), TTL: 60,
			Identifier: "www.example.test", Token: "tok", KeyAuthorization: ka}
		res, err := p.Present(ctx, []plugin.Record{rec})
		if err != nil || res[0].Err != nil {
			t.Fatalf("Present: %v %+v", err, res)
		}
		if ttl, values := set(); ttl != wantTTL || !slices.Equal(values, wantDuring) {
			t.Fatalf("AWS_TTL=%s, after Present: TTL %d values %q; want TTL %d values %q", awsTTL, ttl, values, wantTTL, wantDuring)
		}
		res, err = p.CleanUp(ctx, []plugin.Record{rec})
		if err != nil || res[0].Err != nil {
			t.Fatalf("CleanUp: %v %+v", err, res)
		}
	}
	ours := func(ka string) string { return strconv.Quote(digest(ka)) }
	sorted := func(v ...string) []string { slices.Sort(v); return v }

	// The user's value at 300 s; lego writes at 60 s.
	if err := f.PutRRSet(zoneID, name, "TXT", 300, user); err != nil {
		t.Fatal(err)
	}
	run("60", "tok.a", 60, sorted(user, ours("tok.a")))
	if ttl, values := set(); ttl != 60 || !slices.Equal(values, []string{user}) {
		t.Fatalf("after CleanUp: TTL %d values %q; want the user's value alone, at lego's 60 s", ttl, values)
	}

	// AWS_TTL set to the user's TTL: the set is as it was.
	if err := f.PutRRSet(zoneID, name, "TXT", 300, user); err != nil {
		t.Fatal(err)
	}
	run("300", "tok.b", 300, sorted(user, ours("tok.b")))
	if ttl, values := set(); ttl != 300 || !slices.Equal(values, []string{user}) {
		t.Fatalf("AWS_TTL=300, after CleanUp: TTL %d values %q; want the user's value alone at 300 s", ttl, values)
	}

	// A value added between lego's read and its UPSERT is overwritten.
	meanwhile := strconv.Quote("added meanwhile")
	mu.Lock()
	during = func(zoneID string) {
		_, values, _ := f.RRSet(zoneID, name, "TXT")
		if err := f.PutRRSet(zoneID, name, "TXT", 300, append(values, meanwhile)...); err != nil {
			t.Error(err)
		}
	}
	mu.Unlock()
	run("300", "tok.c", 300, sorted(user, ours("tok.c")))
}

// foreignTXT creates a user's TXT value in the fake directly, as made in
// the console long ago, beside whatever values the name holds.
func foreignTXT(f *fakeroute53.Server, zoneID string) func(context.Context, string, string, uint32) (func(context.Context) error, error) {
	return func(_ context.Context, fqdn, value string, ttl uint32) (func(context.Context) error, error) {
		_, values, _ := f.RRSet(zoneID, fqdn, "TXT")
		if err := f.PutRRSet(zoneID, fqdn, "TXT", int64(ttl), append(values, strconv.Quote(value))...); err != nil {
			return nil, err
		}
		return func(context.Context) error {
			ttl, values, _ := f.RRSet(zoneID, fqdn, "TXT")
			values = slices.DeleteFunc(values, func(v string) bool { return v == strconv.Quote(value) })
			return f.PutRRSet(zoneID, fqdn, "TXT", ttl, values...)
		}, nil
	}
}
