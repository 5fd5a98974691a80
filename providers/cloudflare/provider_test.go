package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecert/zonecert/plugin/sdk"
	"github.com/zonecert/zonecert/providers/cloudflare/internal/fakecloudflare"
)

const (
	goodToken = "dns-edit-and-zone-read"
	dnsOnly   = "dns-edit-only"
	zoneOnly  = "zone-read-only"
)

func startFake(t *testing.T, perPage int) *fakecloudflare.Server {
	t.Helper()
	return fakecloudflare.Start(t, fakecloudflare.Config{
		MaxPerPage: perPage,
		Tokens: map[string]fakecloudflare.Scope{
			goodToken: {ZoneRead: true, DNSEdit: true},
			dnsOnly:   {DNSEdit: true},
			zoneOnly:  {ZoneRead: true},
		},
	})
}

func newTestProvider(t *testing.T, fake *fakecloudflare.Server, s Settings) *provider {
	t.Helper()
	if s.DNSToken == "" {
		s.DNSToken = goodToken
	}
	s.BaseURL = fake.URL
	if s.Timeout == 0 {
		s.Timeout = 5 * time.Second
	}
	p, err := newProvider(s, nil, nil)
	if err != nil {
		t.Fatalf("newProvider: %v", err)
	}
	return p
}

func rec(id, fqdn, value string) sdk.Record {
	return sdk.Record{ID: id, FQDN: fqdn, Zone: "example.com.", Value: value}
}

// okResults fails the test unless every result succeeded, and returns the
// states by record id.
func okResults(t *testing.T) func([]sdk.Result, error) map[string][]byte {
	return func(res []sdk.Result, err error) map[string][]byte {
		t.Helper()
		if err != nil {
			t.Fatalf("call failed: %v", err)
		}
		states := map[string][]byte{}
		for _, r := range res {
			if r.Err != nil {
				t.Fatalf("record %s: %v", r.ID, r.Err)
			}
			states[r.ID] = r.State
		}
		return states
	}
}

// served asks the fake's nameserver for the TXT values at name.
func served(t *testing.T, fake *fakecloudflare.Server, name string) []string {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeTXT)
	in, err := dns.Exchange(m, fake.DNSAddr)
	if err != nil {
		t.Fatalf("querying %s: %v", name, err)
	}
	var out []string
	for _, rr := range in.Answer {
		if txt, ok := rr.(*dns.TXT); ok {
			out = append(out, strings.Join(txt.Txt, ""))
		}
	}
	slices.Sort(out)
	return out
}

func TestPresentAppendsAndCleanUpIsExact(t *testing.T) {
	t.Parallel()
	fake := startFake(t, 0)
	fake.AddZone("example.com")
	p := newTestProvider(t, fake, Settings{})
	ctx := t.Context()
	name := "_acme-challenge.example.com."

	states := okResults(t)(p.Present(ctx, []sdk.Record{rec("a", name, "value-A"), rec("b", name, "value-B")}))
	if got := served(t, fake, name); !slices.Equal(got, []string{"value-A", "value-B"}) {
		t.Fatalf("served after Present = %q, want both values", got)
	}
	// Presenting again is idempotent: one copy per value.
	okResults(t)(p.Present(ctx, []sdk.Record{rec("a2", name, "value-A")}))
	if n := len(fake.Records(name, "TXT")); n != 2 {
		t.Fatalf("%d records after re-Present, want 2", n)
	}

	a := rec("a", name, "value-A")
	a.State = states["a"]
	okResults(t)(p.CleanUp(ctx, []sdk.Record{a}))
	if got := served(t, fake, name); !slices.Equal(got, []string{"value-B"}) {
		t.Fatalf("served after CleanUp(A) = %q, want only value-B", got)
	}
	// Cleaning up again (record id gone) succeeds and removes nothing else.
	okResults(t)(p.CleanUp(ctx, []sdk.Record{a}))
	if got := served(t, fake, name); !slices.Equal(got, []string{"value-B"}) {
		t.Fatalf("served after second CleanUp(A) = %q, want only value-B", got)
	}
	b := rec("b", name, "value-B")
	b.State = states["b"]
	okResults(t)(p.CleanUp(ctx, []sdk.Record{b}))
	if got := served(t, fake, name); len(got) != 0 {
		t.Fatalf("served after cleanup = %q, want none", got)
	}
}

// TestOtherRecordsUntouched: another party's TXT record at the challenge
// name (its own TTL and content form) comes out of Present and CleanUp, with
// and without state, exactly as it went in: Cloudflare keeps a TTL per
// record, and the provider only creates and deletes its own.
func TestOtherRecordsUntouched(t *testing.T) {
	t.Parallel()
	fake := startFake(t, 0)
	zid := fake.AddZone("example.com")
	name := "_acme-challenge.example.com."
	fake.AddRecord(zid, name, "TXT", `"someone-else" "second string"`)
	before := fake.Records(name, "TXT")
	p := newTestProvider(t, fake, Settings{})
	ctx := t.Context()
	states := okResults(t)(p.Present(ctx, []sdk.Record{rec("a", name, "value-A"), rec("b", name, "value-B")}))
	a := rec("a", name, "value-A")
	a.State = states["a"]
	okResults(t)(p.CleanUp(ctx, []sdk.Record{a}))
	okResults(t)(p.CleanUp(ctx, []sdk.Record{rec("b", name, "value-B")})) // stateless: by content
	if after := fake.Records(name, "TXT"); !slices.Equal(after, before) {
		t.Fatalf("records after cleanup %+v; want %+v as before", after, before)
	}
}

func TestStateNamesRecord(t *testing.T) {
	t.Parallel()
	fake := startFake(t, 0)
	zid := fake.AddZone("example.com")
	p := newTestProvider(t, fake, Settings{})
	name := "x.example.com."
	states := okResults(t)(p.Present(t.Context(), []sdk.Record{rec("a", name, "v")}))
	var st state
	if err := json.Unmarshal(states["a"], &st); err != nil {
		t.Fatalf("state %q: %v", states["a"], err)
	}
	recs := fake.Records(name, "TXT")
	if len(recs) != 1 || st.ZoneID != zid || st.RecordID != recs[0].ID {
		t.Fatalf("state %+v, records %+v, zone %s", st, recs, zid)
	}
	if recs[0].TTL != minTTL || recs[0].Content != `"v"` {
		t.Fatalf("record %+v, want TTL %d and quoted content", recs[0], minTTL)
	}
}

// Without a state, CleanUp finds the record by name and content, paging
// through the other values at the name, and deletes only it.
func TestCleanUpWithoutStatePaginates(t *testing.T) {
	t.Parallel()
	fake := startFake(t, 2)
	zid := fake.AddZone("example.com")
	name := "_acme-challenge.example.com."
	for i := range 5 {
		fake.AddRecord(zid, name, "TXT", fmt.Sprintf("other-%d", i))
	}
	fake.AddRecord(zid, name, "TXT", "target") // unquoted, as typed in the dashboard
	p := newTestProvider(t, fake, Settings{})
	okResults(t)(p.CleanUp(t.Context(), []sdk.Record{rec("a", name, "target")}))
	got := served(t, fake, name)
	if len(got) != 5 || slices.Contains(got, "target") {
		t.Fatalf("served after CleanUp = %q, want the 5 others only", got)
	}
	if n := fake.Calls()["GET dns_records"]; n != 3 {
		t.Fatalf("%d list calls for 6 records at 2 per page, want 3", n)
	}
}

// The zone list is paged: the active zone of that name sits on page 3,
// after two pending copies in other accounts.
func TestZonePagination(t *testing.T) {
	t.Parallel()
	fake := startFake(t, 1)
	fake.SetZoneStatus(fake.AddZone("example.com"), "pending")
	fake.SetZoneStatus(fake.AddZone("example.com"), "pending")
	active := fake.AddZone("example.com")
	p := newTestProvider(t, fake, Settings{})
	states := okResults(t)(p.Present(t.Context(), []sdk.Record{rec("a", "_acme-challenge.example.com.", "v")}))
	var st state
	_ = json.Unmarshal(states["a"], &st)
	if st.ZoneID != active {
		t.Fatalf("record made in zone %s, want the active zone %s", st.ZoneID, active)
	}
	if n := fake.Calls()["GET zones"]; n != 3 {
		t.Fatalf("%d zone list calls, want 3 (one per page)", n)
	}
}

// A record made outside zonecert with the same value makes the API answer
// 81058; Present takes that record as its own.
func TestPresentIdenticalRecord(t *testing.T) {
	t.Parallel()
	fake := startFake(t, 0)
	zid := fake.AddZone("example.com")
	name := "_acme-challenge.example.com."
	existing := fake.AddRecord(zid, name, "TXT", "same")
	p := newTestProvider(t, fake, Settings{})
	states := okResults(t)(p.Present(t.Context(), []sdk.Record{rec("a", name, "same")}))
	var st state
	_ = json.Unmarshal(states["a"], &st)
	if st.RecordID != existing {
		t.Fatalf("state names record %s, want the existing %s", st.RecordID, existing)
	}
	if n := len(fake.Records(name, "TXT")); n != 1 {
		t.Fatalf("%d records, want 1", n)
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		settings  Settings
		zone      string
		rateLimit int
		// retryAfter is the fake's Retry-After in seconds; a 429 the SDK
		// does not retry away must reach the host with it.
		retryAfter int
		code       sdk.Code
		retryable  bool
	}{
		{name: "wrong token", settings: Settings{DNSToken: "nope"}, code: sdk.CodeAuth},
		{name: "token without DNS:Edit", settings: Settings{DNSToken: zoneOnly}, code: sdk.CodeAuth},
		{name: "token without Zone:Read", settings: Settings{DNSToken: dnsOnly}, code: sdk.CodeZoneNotFound},
		{name: "unknown zone", zone: "example.org.", code: sdk.CodeZoneNotFound},
		{name: "rate limited", settings: Settings{Retries: 1}, rateLimit: 100, code: sdk.CodeRateLimited, retryable: true},
		{name: "rate limited with Retry-After", rateLimit: 100, retryAfter: 7, code: sdk.CodeRateLimited, retryable: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := startFake(t, 0)
			fake.AddZone("example.com")
			fake.RateLimit(tt.rateLimit, tt.retryAfter)
			p := newTestProvider(t, fake, tt.settings)
			r := rec("a", "_acme-challenge.example.com.", "v")
			if tt.zone != "" {
				r.Zone, r.FQDN = tt.zone, "_acme-challenge."+tt.zone
			}
			res, err := p.Present(t.Context(), []sdk.Record{r})
			if err != nil {
				t.Fatalf("Present: %v", err)
			}
			e := res[0].Err
			if e == nil || e.Code != tt.code || e.Retryable != tt.retryable || e.RetryAfter != time.Duration(tt.retryAfter)*time.Second {
				t.Fatalf("result error %+v, want code %v retryable %v RetryAfter %ds", e, tt.code, tt.retryable, tt.retryAfter)
			}
			if strings.Contains(e.Message, goodToken) || strings.Contains(e.Message, dnsOnly) {
				t.Fatalf("error message leaks the token: %s", e.Message)
			}
		})
	}
}

// A separate Zone:Read token finds the zone for a DNS-only token.
func TestZoneToken(t *testing.T) {
	t.Parallel()
	fake := startFake(t, 0)
	fake.AddZone("example.com")
	p := newTestProvider(t, fake, Settings{DNSToken: dnsOnly, ZoneToken: zoneOnly})
	okResults(t)(p.Present(t.Context(), []sdk.Record{rec("a", "_acme-challenge.example.com.", "v")}))
	if got := served(t, fake, "_acme-challenge.example.com."); !slices.Equal(got, []string{"v"}) {
		t.Fatalf("served %q", got)
	}
}

// One 429 is retried by the SDK after Retry-After and the call succeeds.
func TestRateLimitRetried(t *testing.T) {
	t.Parallel()
	fake := startFake(t, 0)
	fake.AddZone("example.com")
	fake.RateLimit(1, 0)
	p := newTestProvider(t, fake, Settings{Retries: 2})
	okResults(t)(p.Present(t.Context(), []sdk.Record{rec("a", "_acme-challenge.example.com.", "v")}))
	if n := fake.Calls()["GET zones"]; n != 2 {
		t.Fatalf("%d zone list calls, want 2 (429 then success)", n)
	}
}

func TestNewProviderValidates(t *testing.T) {
	t.Parallel()
	for _, s := range []Settings{
		{},
		{DNSToken: "t", BaseURL: "ftp://x/"},
		{DNSToken: "t", BaseURL: "not a url"},
		{DNSToken: "t", Retries: -1},
	} {
		if _, err := newProvider(s, nil, nil); err == nil {
			t.Errorf("newProvider(%+v) succeeded, want an error", s)
		}
	}
}

// TestAPICalls measures the API calls of Present followed by CleanUp (with
// the states Present returned) for typical orders.
func TestAPICalls(t *testing.T) {
	t.Parallel()
	fifty := make([]sdk.Record, 50)
	for i := range fifty {
		fifty[i] = rec(fmt.Sprint(i), fmt.Sprintf("_acme-challenge.host%d.example.com.", i), fmt.Sprint("v", i))
	}
	many := make([]sdk.Record, 250)
	for i := range many {
		many[i] = rec(fmt.Sprint(i), fmt.Sprintf("_acme-challenge.host%d.example.com.", i), fmt.Sprint("v", i))
	}
	// Present: zone lookup + one batch per 200 records (a lone record is a
	// plain POST); CleanUp: one batch per 200 ids, no lookup.
	tests := []struct {
		name string
		recs []sdk.Record
		want int
	}{
		{"1 name", []sdk.Record{rec("a", "_acme-challenge.example.com.", "v")}, 3},
		{"2 values at one name", []sdk.Record{
			rec("a", "_acme-challenge.example.com.", "v1"), rec("b", "_acme-challenge.example.com.", "v2")}, 3},
		{"50 names in one zone", fifty, 3},
		{"250 names in one zone", many, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := startFake(t, 0)
			fake.AddZone("example.com")
			p := newTestProvider(t, fake, Settings{})
			states := okResults(t)(p.Present(t.Context(), tt.recs))
			clean := slices.Clone(tt.recs)
			for i := range clean {
				clean[i].State = states[clean[i].ID]
			}
			okResults(t)(p.CleanUp(t.Context(), clean))
			if got := fake.TotalCalls(); got != tt.want {
				t.Fatalf("%d API calls (%v), want %d", got, fake.Calls(), tt.want)
			}
			t.Logf("%s: %d API calls: %v", tt.name, fake.TotalCalls(), fake.Calls())
		})
	}
}

// BenchmarkPresentCleanUp50 measures a 50-name order against the fake:
// time per Present+CleanUp and API calls per order.
func BenchmarkPresentCleanUp50(b *testing.B) {
	fake, p, recs := fiftyNameOrder(b)
	fake.ResetCalls()
	for b.Loop() {
		res, err := p.Present(b.Context(), recs)
		if err != nil {
			b.Fatal(err)
		}
		clean := slices.Clone(recs)
		for i, r := range res {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
			clean[i].State = r.State
		}
		if _, err := p.CleanUp(b.Context(), clean); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(fake.TotalCalls())/float64(b.N), "api-calls/op")
}

// fiftyNameOrder is a provider on a fresh fake and the records of a
// 50-name order in one zone, for the benchmarks.
func fiftyNameOrder(b *testing.B) (*fakecloudflare.Server, *provider, []sdk.Record) {
	b.Helper()
	fake := fakecloudflare.Start(b, fakecloudflare.Config{Tokens: map[string]fakecloudflare.Scope{
		goodToken: {ZoneRead: true, DNSEdit: true}}})
	fake.AddZone("example.com")
	p, err := newProvider(Settings{DNSToken: goodToken, BaseURL: fake.URL}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	recs := make([]sdk.Record, 50)
	for i := range recs {
		recs[i] = rec(fmt.Sprint(i), fmt.Sprintf("_acme-challenge.host%d.example.com.", i), fmt.Sprint("v", i))
	}
	return fake, p, recs
}
