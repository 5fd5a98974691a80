package main

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/miekg/dns"

	"github.com/zonecert/zonecert/internal/fakeroute53"
	"github.com/zonecert/zonecert/plugin"
)

const (
	zone = "example.test."
	name = "_acme-challenge.example.test."
)

// TestPresentMerges: Present keeps the values already at the name (another
// order's, or the wildcard's) and adds its own, in one change per call.
func TestPresentMerges(t *testing.T) {
	t.Parallel()
	f := fakeroute53.New(t, fakeroute53.Options{})
	id := f.AddZone(zone, false)
	if err := f.PutRRSet(id, name, "TXT", 300, `"someone-else"`); err != nil {
		t.Fatal(err)
	}
	p := goodProvider(t, f, Settings{})
	recs := []plugin.Record{rec("1", name, zone, "wildcard"), rec("2", name, zone, "apex")}
	res, err := p.Present(t.Context(), recs)
	mustOK(t, recs, res, err)
	if got := txtValues(f, id, name); !equal(got, "someone-else", "wildcard", "apex") {
		t.Fatalf("after Present: %v", got)
	}
	if n := f.Calls()[fakeroute53.OpChangeResourceRecordSets]; n != 1 {
		t.Errorf("%d change batches for one zone; want 1", n)
	}
	// A second call adds a third value; presenting a value again is a no-op.
	more := []plugin.Record{rec("3", name, zone, "third"), rec("4", name, zone, "apex")}
	res, err = p.Present(t.Context(), more)
	mustOK(t, more, res, err)
	if got := txtValues(f, id, name); !equal(got, "someone-else", "wildcard", "apex", "third") {
		t.Fatalf("after second Present: %v", got)
	}
	if ttl, _, _ := f.RRSet(id, name, "TXT"); ttl != 300 {
		t.Errorf("ttl %d; want the existing set's 300 kept", ttl)
	}
	if got := served(t, f, name); !equal(got, "someone-else", "wildcard", "apex", "third") {
		t.Errorf("nameserver serves %v", got)
	}
}

// TestCleanUpExact: CleanUp removes exactly its values (UPSERT of the rest),
// deletes the set with the last value (a DELETE matching the current set),
// and succeeds for absent values without writing.
func TestCleanUpExact(t *testing.T) {
	t.Parallel()
	f := fakeroute53.New(t, fakeroute53.Options{})
	id := f.AddZone(zone, false)
	if err := f.PutRRSet(id, name, "TXT", 300, `"keep"`); err != nil {
		t.Fatal(err)
	}
	p := goodProvider(t, f, Settings{})
	recs := []plugin.Record{rec("a", name, zone, "A"), rec("b", name, zone, "B")}
	res, err := p.Present(t.Context(), recs)
	recs = mustOK(t, recs, res, err)

	res, err = p.CleanUp(t.Context(), recs[:1])
	mustOK(t, recs[:1], res, err)
	if got := txtValues(f, id, name); !equal(got, "keep", "B") {
		t.Fatalf("after removing A: %v", got)
	}
	// Removing B and the other value empties the set: DELETE.
	last := []plugin.Record{recs[1], rec("k", name, zone, "keep")}
	res, err = p.CleanUp(t.Context(), last)
	mustOK(t, last, res, err)
	if _, values, ok := f.RRSet(id, name, "TXT"); ok {
		t.Fatalf("set still there: %v", values)
	}
	f.ResetCalls()
	res, err = p.CleanUp(t.Context(), recs)
	mustOK(t, recs, res, err)
	if n := f.Calls()[fakeroute53.OpChangeResourceRecordSets]; n != 0 {
		t.Errorf("cleaning up absent values made %d changes", n)
	}
}

// TestForeignSetRestored: another party's TXT set at the challenge name
// (TTL 60, a value of two character strings) comes out of Present and
// CleanUp exactly as it went in: values byte for byte and TTL, in the API and
// on the nameservers. A set zonecert creates gets the configured TTL.
func TestForeignSetRestored(t *testing.T) {
	t.Parallel()
	f := fakeroute53.New(t, fakeroute53.Options{})
	id := f.AddZone(zone, false)
	const foreign = `"v=verify1" "part two"`
	if err := f.PutRRSet(id, name, "TXT", 60, foreign); err != nil {
		t.Fatal(err)
	}
	p := goodProvider(t, f, Settings{})
	other := "_acme-challenge.www.example.test."
	recs := []plugin.Record{rec("1", name, zone, "wildcard"), rec("2", name, zone, "apex"), rec("3", other, zone, "www")}
	res, err := p.Present(t.Context(), recs)
	recs = mustOK(t, recs, res, err)
	if ttl, _, _ := f.RRSet(id, name, "TXT"); ttl != 60 {
		t.Errorf("during the order the foreign set has TTL %d; want its own 60", ttl)
	}
	if ttl, _, _ := f.RRSet(id, other, "TXT"); ttl != 10 {
		t.Errorf("a new set has TTL %d; want the configured 10", ttl)
	}
	for _, r := range recs { // one at a time, as separate orders would
		res, err := p.CleanUp(t.Context(), []plugin.Record{r})
		mustOK(t, []plugin.Record{r}, res, err)
	}
	ttl, values, ok := f.RRSet(id, name, "TXT")
	if !ok || ttl != 60 || !slices.Equal(values, []string{foreign}) {
		t.Errorf("after CleanUp the foreign set is %d %q (present %v); want 60 [%s]", ttl, values, ok, foreign)
	}
	if _, _, ok := f.RRSet(id, other, "TXT"); ok {
		t.Error("the set zonecert created is still there")
	}
	f.Pending() // publish
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeTXT)
	in, err := dns.Exchange(m, f.DNSAddr())
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Answer) != 1 || in.Answer[0].Header().Ttl != 60 ||
		!slices.Equal(in.Answer[0].(*dns.TXT).Txt, []string{"v=verify1", "part two"}) {
		t.Errorf("nameserver answers %v; want the foreign record as it was", in.Answer)
	}
}

// TestCleanUpDeleteLast presents one value in a fresh name and removes it:
// the set must be gone, not left empty or with a stale value.
func TestCleanUpDeleteLast(t *testing.T) {
	t.Parallel()
	f := fakeroute53.New(t, fakeroute53.Options{})
	id := f.AddZone(zone, false)
	p := goodProvider(t, f, Settings{})
	recs := []plugin.Record{{ID: "1", FQDN: name, Zone: zone, Value: "only", TTL: 42}}
	res, err := p.Present(t.Context(), recs)
	recs = mustOK(t, recs, res, err)
	if ttl, _, _ := f.RRSet(id, name, "TXT"); ttl != 42 {
		t.Errorf("ttl %d; want the record's 42", ttl)
	}
	// A fresh instance cleans up from the state alone: no zone lookup.
	q := goodProvider(t, f, Settings{})
	f.ResetCalls()
	res, err = q.CleanUp(t.Context(), recs)
	mustOK(t, recs, res, err)
	if _, _, ok := f.RRSet(id, name, "TXT"); ok {
		t.Fatal("set still there after removing its only value")
	}
	if n := f.Calls()[fakeroute53.OpListHostedZonesByName]; n != 0 {
		t.Errorf("CleanUp with state looked the zone up %d times", n)
	}
}

func TestThrottling(t *testing.T) {
	t.Parallel()
	t.Run("retried", func(t *testing.T) {
		t.Parallel()
		f := fakeroute53.New(t, fakeroute53.Options{})
		id := f.AddZone(zone, false)
		p := goodProvider(t, f, Settings{})
		f.Throttle(fakeroute53.OpChangeResourceRecordSets, 2)
		f.Throttle(fakeroute53.OpListHostedZonesByName, 1)
		recs := []plugin.Record{rec("1", name, zone, "v")}
		res, err := p.Present(t.Context(), recs)
		mustOK(t, recs, res, err)
		if got := txtValues(f, id, name); !equal(got, "v") {
			t.Fatalf("after throttled Present: %v", got)
		}
		th := f.Throttled()
		if th[fakeroute53.OpChangeResourceRecordSets] != 2 || th[fakeroute53.OpListHostedZonesByName] != 1 {
			t.Errorf("throttled calls %v; want 2 changes and 1 list", th)
		}
	})
	t.Run("persistent", func(t *testing.T) {
		t.Parallel()
		f := fakeroute53.New(t, fakeroute53.Options{})
		f.AddZone(zone, false)
		p := goodProvider(t, f, Settings{})
		f.Throttle("", -1)
		perr := oneErr(t)(p.Present(t.Context(), []plugin.Record{rec("1", name, zone, "v")}))
		if perr.Code != plugin.CodeRateLimited || !perr.Retryable {
			t.Fatalf("got %v (retryable=%v); want rate-limited, retryable", perr, perr.Retryable)
		}
		if n := f.Calls()[fakeroute53.OpListHostedZonesByName]; n != defaultMaxAttempts {
			t.Errorf("%d attempts; want %d", n, defaultMaxAttempts)
		}
	})
}

func TestZoneNotFound(t *testing.T) {
	t.Parallel()
	f := fakeroute53.New(t, fakeroute53.Options{})
	id := f.AddZone(zone, false)
	f.AddZone("private.test.", true)
	cases := []struct {
		desc string
		s    Settings
		r    plugin.Record
		want string
	}{
		{"no zone", Settings{}, rec("1", "_acme-challenge.other.test.", "other.test.", "v"), "no public hosted zone"},
		{"only private", Settings{}, rec("1", "_acme-challenge.private.test.", "private.test.", "v"), "AWS_PRIVATE_ZONE"},
		{"only public", Settings{PrivateZone: true}, rec("1", name, zone, "v"), "unset AWS_PRIVATE_ZONE"},
		{"bad zone id", Settings{HostedZoneID: "ZDOESNOTEXIST"}, rec("1", name, zone, "v"), "NoSuchHostedZone"},
		{"name outside zone id", Settings{HostedZoneID: id}, rec("1", "_acme-challenge.other.test.", "other.test.", "v"), "not within hosted zone"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			p := goodProvider(t, f, tc.s)
			perr := oneErr(t)(p.Present(t.Context(), []plugin.Record{tc.r}))
			if perr.Code != plugin.CodeZoneNotFound || !strings.Contains(perr.Message, tc.want) {
				t.Fatalf("got %v; want zone-not-found mentioning %q", perr, tc.want)
			}
		})
	}
	// CleanUp with a state naming a deleted zone fails the same way.
	p := goodProvider(t, f, Settings{})
	r := rec("1", name, zone, "v")
	r.State = encodeState(state{ZoneID: "ZGONE", Name: name, Value: "v"})
	if perr := oneErr(t)(p.CleanUp(t.Context(), []plugin.Record{r})); perr.Code != plugin.CodeZoneNotFound {
		t.Fatalf("cleanup in deleted zone: %v", perr)
	}
}

func TestBadCredentials(t *testing.T) {
	t.Parallel()
	f := fakeroute53.New(t, fakeroute53.Options{})
	f.AddZone(zone, false)
	f.AddKey("AKIAREADONLY", "readonly-secret")
	f.Deny("AKIAREADONLY", fakeroute53.OpChangeResourceRecordSets)
	cases := []struct{ desc, akid, secret, want string }{
		{"unknown key", "AKIAUNKNOWN", "x", "InvalidClientTokenId"},
		{"wrong secret", fakeroute53.AccessKeyID, "wrong", "SignatureDoesNotMatch"},
		{"not allowed to change", "AKIAREADONLY", "readonly-secret", "AccessDenied"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			p := testProvider(t, f, Settings{}, tc.akid, tc.secret)
			perr := oneErr(t)(p.Present(t.Context(), []plugin.Record{rec("1", name, zone, "v")}))
			if perr.Code != plugin.CodeAuth || perr.Retryable || !strings.Contains(perr.Message, tc.want) {
				t.Fatalf("got %v; want auth mentioning %s", perr, tc.want)
			}
		})
	}
}

// TestPrivateOrPublic: with a public and a private zone of one name, the
// setting picks which one is written; two of a kind are ambiguous.
func TestPrivateOrPublic(t *testing.T) {
	t.Parallel()
	f := fakeroute53.New(t, fakeroute53.Options{})
	pub := f.AddZone(zone, false)
	priv := f.AddZone(zone, true)
	for _, private := range []bool{false, true} {
		p := goodProvider(t, f, Settings{PrivateZone: private})
		v := fmt.Sprintf("private=%v", private)
		recs := []plugin.Record{rec("1", name, zone, v)}
		res, err := p.Present(t.Context(), recs)
		mustOK(t, recs, res, err)
	}
	if got := txtValues(f, pub, name); !equal(got, "private=false") {
		t.Errorf("public zone holds %v", got)
	}
	if got := txtValues(f, priv, name); !equal(got, "private=true") {
		t.Errorf("private zone holds %v", got)
	}
	f.AddZone(zone, false)
	p := goodProvider(t, f, Settings{})
	perr := oneErr(t)(p.Present(t.Context(), []plugin.Record{rec("1", name, zone, "v")}))
	if perr.Code != plugin.CodeConflict || !strings.Contains(perr.Message, "AWS_HOSTED_ZONE_ID") {
		t.Fatalf("two public zones: %v", perr)
	}
}

// TestZoneIDOverride: AWS_HOSTED_ZONE_ID skips the lookup by name and
// accepts the console's "/hostedzone/" form.
func TestZoneIDOverride(t *testing.T) {
	t.Parallel()
	f := fakeroute53.New(t, fakeroute53.Options{})
	f.AddZone(zone, false)
	chosen := f.AddZone(zone, false) // ambiguous by name, fine by id
	p := goodProvider(t, f, Settings{HostedZoneID: "/hostedzone/" + chosen})
	recs := []plugin.Record{rec("1", name, zone, "v"), rec("2", "_acme-challenge.sub.example.test.", "sub.example.test.", "w")}
	res, err := p.Present(t.Context(), recs)
	mustOK(t, recs, res, err)
	if got := txtValues(f, chosen, name); !equal(got, "v") {
		t.Fatalf("chosen zone holds %v", got)
	}
	c := f.Calls()
	if c[fakeroute53.OpListHostedZonesByName] != 0 || c[fakeroute53.OpChangeResourceRecordSets] != 1 {
		t.Errorf("calls %s; want no lookup by name and one change for both records", callsString(c))
	}
}

// TestConcurrentSameName: concurrent calls on one instance for one name must
// not lose each other's values (a read-modify-write race on UPSERT would).
func TestConcurrentSameName(t *testing.T) {
	t.Parallel()
	f := fakeroute53.New(t, fakeroute53.Options{})
	id := f.AddZone(zone, false)
	p := goodProvider(t, f, Settings{})
	var wg sync.WaitGroup
	var want []string
	for i := range 6 {
		v := fmt.Sprintf("value-%d", i)
		want = append(want, v)
		wg.Go(func() {
			recs := []plugin.Record{rec(v, name, zone, v)}
			res, err := p.Present(t.Context(), recs)
			mustOK(t, recs, res, err)
		})
	}
	wg.Wait()
	if got := txtValues(f, id, name); !equal(got, want...) {
		t.Fatalf("after concurrent Present: %v; want %v", got, want)
	}
}

// TestValueEncoding: values with quotes and backslashes, and values longer
// than one 255-byte character string, round-trip exactly.
func TestValueEncoding(t *testing.T) {
	t.Parallel()
	f := fakeroute53.New(t, fakeroute53.Options{})
	id := f.AddZone(zone, false)
	p := goodProvider(t, f, Settings{})
	long := strings.Repeat("0123456789", 30)
	odd := `a "quoted" \ value`
	recs := []plugin.Record{rec("1", name, zone, long), rec("2", name, zone, odd)}
	res, err := p.Present(t.Context(), recs)
	recs = mustOK(t, recs, res, err)
	if got := txtValues(f, id, name); !equal(got, long, odd) {
		t.Fatalf("stored %q", got)
	}
	if got := served(t, f, name); !equal(got, long, `a \"quoted\" \\ value`) {
		t.Errorf("served %q", got)
	}
	res, err = p.CleanUp(t.Context(), recs[1:])
	mustOK(t, recs[1:], res, err)
	if got := txtValues(f, id, name); !equal(got, long) {
		t.Fatalf("after removing the odd value: %q", got)
	}
}

func TestBadRecords(t *testing.T) {
	t.Parallel()
	f := fakeroute53.New(t, fakeroute53.Options{})
	f.AddZone(zone, false)
	p := goodProvider(t, f, Settings{})
	for _, tc := range []struct {
		r    plugin.Record
		code plugin.Code
	}{
		{rec("1", name, zone, ""), plugin.CodeOther},
		{rec("2", "_acme-challenge.example.test", zone, "v"), plugin.CodeOther},
		{rec("3", "_acme-challenge.other.test.", zone, "v"), plugin.CodeZoneNotFound},
		{rec("4", name, zone, "new\nline"), plugin.CodeOther},
	} {
		if perr := oneErr(t)(p.Present(t.Context(), []plugin.Record{tc.r})); perr.Code != tc.code {
			t.Errorf("record %+v: %v; want %v", tc.r, perr, tc.code)
		}
	}
	if n := f.Calls()[fakeroute53.OpChangeResourceRecordSets]; n != 0 {
		t.Errorf("bad records reached the API: %d changes", n)
	}
}

// TestLargeBatchSplits: when values already at the names push one change
// batch over Route 53's request limits (which the fake enforces), Present
// splits it into as few requests as fit, and every record gets the change
// id that covers it.
func TestLargeBatchSplits(t *testing.T) {
	t.Parallel()
	f := fakeroute53.New(t, fakeroute53.Options{SyncAfterPolls: 1})
	id := f.AddZone(zone, false)
	value := func(prefix string, i int) string { // ACME-sized: 43 characters
		v := fmt.Sprintf("%s-%d-", prefix, i)
		return v + strings.Repeat("x", 43-len(v))
	}
	recs := make([]plugin.Record, maxBatch)
	for i := range recs {
		fqdn := fmt.Sprintf("_acme-challenge.h%d.example.test.", i)
		if err := f.PutRRSet(id, fqdn, "TXT", 10, quoteTXT(value("stale", i))); err != nil {
			t.Fatal(err)
		}
		recs[i] = rec(fmt.Sprint(i), fqdn, zone, value("new", i))
	}
	p := goodProvider(t, f, Settings{})
	f.ResetCalls()
	res, err := p.Present(t.Context(), recs)
	recs = mustOK(t, recs, res, err)
	// 300 UPSERTs of 2 values: 1,200 records and 54,000 characters counted.
	if n := f.Calls()[fakeroute53.OpChangeResourceRecordSets]; n != 2 {
		t.Errorf("%d change requests; want 2", n)
	}
	changeIDs := map[string]bool{}
	for _, r := range recs {
		st, ok := decodeState(r.State)
		if !ok || st.ChangeID == "" {
			t.Fatalf("record %s: state %s lacks a change id", r.ID, r.State)
		}
		changeIDs[st.ChangeID] = true
	}
	if len(changeIDs) != 2 {
		t.Errorf("%d distinct change ids; want 2", len(changeIDs))
	}
	for _, i := range []int{0, maxBatch - 1} {
		if got := txtValues(f, id, recs[i].FQDN); !equal(got, value("stale", i), value("new", i)) {
			t.Fatalf("%s holds %v", recs[i].FQDN, got)
		}
	}
	if err := p.WaitForSync(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
	if got := served(t, f, recs[maxBatch-1].FQDN); !equal(got, value("stale", maxBatch-1), value("new", maxBatch-1)) {
		t.Fatalf("served after sync: %v", got)
	}
	// Cleaning up leaves one value per set: 600 records, 27,000 characters,
	// one request.
	f.ResetCalls()
	res, err = p.CleanUp(t.Context(), recs)
	mustOK(t, recs, res, err)
	if n := f.Calls()[fakeroute53.OpChangeResourceRecordSets]; n != 1 {
		t.Errorf("clean up made %d change requests; want 1", n)
	}
	if got := txtValues(f, id, recs[7].FQDN); !equal(got, value("stale", 7)) {
		t.Fatalf("after clean up %s holds %v", recs[7].FQDN, got)
	}
}

func TestSplitChanges(t *testing.T) {
	t.Parallel()
	upsert := func(n int) types.Change {
		values := make([]string, n)
		for i := range values {
			values[i] = fmt.Sprintf(`"%08d"`, i) // 10 characters
		}
		return txtChange(types.ChangeActionUpsert, name, 10, values)
	}
	for _, tc := range []struct {
		desc    string
		changes []types.Change
		want    []int // changes per part
	}{
		{"empty", nil, nil},
		{"one", []types.Change{upsert(1)}, []int{1}},
		{"records: 500 upserted values fit, 501 do not", []types.Change{upsert(250), upsert(250), upsert(1)}, []int{2, 1}},
		{"oversized change goes alone", []types.Change{upsert(1), upsert(600), upsert(1)}, []int{1, 1, 1}},
		{"delete counts once", []types.Change{txtChange(types.ChangeActionDelete, name, 10, make([]string, 1000))}, []int{1}},
	} {
		var got []int
		for _, part := range splitChanges(tc.changes) {
			got = append(got, len(part))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: parts %v; want %v", tc.desc, got, tc.want)
		}
	}
}

func TestTXTQuoting(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ raw, want string }{
		{`"plain"`, "plain"},
		{`unquoted`, "unquoted"},
		{`"a \"q\" \\ b"`, `a "q" \ b`},
		{`"two" "parts"`, "twoparts"},
		{`"a\040b"`, "a b"},            // octal 040 is a space
		{`"caf\303\251"`, "caf\u00e9"}, // octal UTF-8 bytes
		{`"\9x"`, "9x"},                // not an escape code
	} {
		if got := unquoteTXT(tc.raw); got != tc.want {
			t.Errorf("unquoteTXT(%s) = %q; want %q", tc.raw, got, tc.want)
		}
	}
	long := strings.Repeat("x", 300)
	if q := quoteTXT(long); q != `"`+long[:255]+`" "`+long[255:]+`"` || unquoteTXT(q) != long {
		t.Errorf("300-byte value quoted as %s", q)
	}
}

// TestZoneLookupPages: zones of one name that fill more than a page of
// ListHostedZonesByName (100) are all considered: the public one is found
// on the second page.
func TestZoneLookupPages(t *testing.T) {
	t.Parallel()
	f := fakeroute53.New(t, fakeroute53.Options{})
	for range 100 {
		f.AddZone(zone, true)
	}
	f.AddZone("a.test.", false) // sorts before: not listed from example.test.
	f.AddZone("zzz.test.", false)
	pub := f.AddZone(zone, false)
	p := goodProvider(t, f, Settings{})
	recs := []plugin.Record{rec("1", name, zone, "v")}
	res, err := p.Present(t.Context(), recs)
	mustOK(t, recs, res, err)
	if got := txtValues(f, pub, name); !equal(got, "v") {
		t.Fatalf("public zone holds %v", got)
	}
	if n := f.Calls()[fakeroute53.OpListHostedZonesByName]; n != 2 {
		t.Errorf("%d ListHostedZonesByName calls; want 2 pages", n)
	}
}

// TestConcurrentWriter: another writer changes the set between CleanUp's
// read and its DELETE, which then no longer matches (InvalidChangeBatch);
// CleanUp re-reads and keeps the other writer's value. A writer that keeps
// doing so makes CleanUp fail as a retryable conflict. Both of Route 53's
// InvalidChangeBatch shapes are recognised.
func TestConcurrentWriter(t *testing.T) {
	t.Parallel()
	for _, bare := range []bool{false, true} {
		t.Run(fmt.Sprintf("bare=%v", bare), func(t *testing.T) {
			t.Parallel()
			var (
				mu    sync.Mutex
				id    string
				races int // how many more changes the other writer precedes
				ttl   int64
				extra []string
				f     *fakeroute53.Server
			)
			f = fakeroute53.New(t, fakeroute53.Options{BareBatchErrors: bare, BeforeChange: func(string) {
				mu.Lock()
				defer mu.Unlock()
				if races == 0 {
					return
				}
				races--
				ttl++
				_ = f.PutRRSet(id, name, "TXT", ttl, append([]string{`"ours"`}, extra...)...)
			}})
			id = f.AddZone(zone, false)
			p := goodProvider(t, f, Settings{})
			recs := []plugin.Record{rec("1", name, zone, "ours")}
			res, err := p.Present(t.Context(), recs)
			recs = mustOK(t, recs, res, err)

			mu.Lock()
			races, ttl, extra = 1, 10, []string{`"theirs"`}
			mu.Unlock()
			f.ResetCalls()
			res, err = p.CleanUp(t.Context(), recs)
			mustOK(t, recs, res, err)
			if got := txtValues(f, id, name); !equal(got, "theirs") {
				t.Fatalf("after CleanUp raced: %v; want the other writer's value kept", got)
			}
			if n := f.Calls()[fakeroute53.OpChangeResourceRecordSets]; n != 2 {
				t.Errorf("%d change requests; want a failed DELETE and an UPSERT", n)
			}

			// Present again, then a writer that always wins the race.
			res, err = p.Present(t.Context(), recs)
			recs = mustOK(t, recs, res, err)
			_ = f.PutRRSet(id, name, "TXT", 10, `"ours"`)
			mu.Lock()
			races, extra = 100, nil
			mu.Unlock()
			perr := oneErr(t)(p.CleanUp(t.Context(), recs))
			if perr.Code != plugin.CodeConflict || !perr.Retryable || !strings.Contains(perr.Message, "do not match") {
				t.Fatalf("got %v (retryable=%v); want a retryable conflict naming the mismatch", perr, perr.Retryable)
			}
		})
	}
}
