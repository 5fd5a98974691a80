package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/zonecert/zonecert/plugin/sdk"
)

// threeNames are three records of one zone, two at one name.
func threeNames() []sdk.Record {
	return []sdk.Record{
		rec("a", "_acme-challenge.example.com.", "value-A"),
		rec("b", "_acme-challenge.example.com.", "value-B"),
		rec("c", "_acme-challenge.www.example.com.", "value-C"),
	}
}

func withStates(recs []sdk.Record, states map[string][]byte) []sdk.Record {
	out := slices.Clone(recs)
	for i := range out {
		out[i].State = states[out[i].ID]
	}
	return out
}

// The batch creates one record per value with the ids the states name.
func TestBatchPresentStates(t *testing.T) {
	t.Parallel()
	fake := startFake(t, 0)
	zid := fake.AddZone("example.com")
	p := newTestProvider(t, fake, Settings{})
	recs := threeNames()
	states := okResults(t)(p.Present(t.Context(), recs))
	if n := fake.Calls()["POST dns_records/batch"]; n != 1 {
		t.Fatalf("%d batch calls, want 1 (%v)", n, fake.Calls())
	}
	for _, r := range recs {
		var st state
		if err := json.Unmarshal(states[r.ID], &st); err != nil {
			t.Fatalf("state of %s: %v", r.ID, err)
		}
		var found bool
		for _, stored := range fake.Records(r.FQDN, "TXT") {
			if stored.ID == st.RecordID {
				found = stored.Content == quoteTXT(r.Value) && stored.TTL == minTTL && st.ZoneID == zid
			}
		}
		if !found {
			t.Fatalf("state %+v of %s names no record %s with its value", st, r.ID, r.Value)
		}
	}
	if got := served(t, fake, "_acme-challenge.example.com."); !slices.Equal(got, []string{"value-A", "value-B"}) {
		t.Fatalf("served %q", got)
	}
}

// One record already there makes the API refuse the whole batch (81058);
// the records are then created one by one and the existing one taken over.
// Presenting everything again still leaves one copy per value.
func TestBatchPresentFallsBackOnIdentical(t *testing.T) {
	t.Parallel()
	fake := startFake(t, 0)
	zid := fake.AddZone("example.com")
	existing := fake.AddRecord(zid, "_acme-challenge.example.com.", "TXT", "value-B")
	p := newTestProvider(t, fake, Settings{})
	recs := threeNames()
	states := okResults(t)(p.Present(t.Context(), recs))
	var st state
	_ = json.Unmarshal(states["b"], &st)
	if st.RecordID != existing {
		t.Fatalf("state of b names %s, want the existing record %s", st.RecordID, existing)
	}
	calls := fake.Calls()
	if calls["POST dns_records/batch"] != 1 || calls["POST dns_records"] != 3 {
		t.Fatalf("calls %v, want one refused batch, then 3 single creates", calls)
	}
	again := okResults(t)(p.Present(t.Context(), recs))
	for _, r := range recs {
		if got := fake.Records(r.FQDN, "TXT"); len(got) != map[string]int{"a": 2, "b": 2, "c": 1}[r.ID] {
			t.Fatalf("after Present twice, %d records at %s", len(got), r.FQDN)
		}
		if string(again[r.ID]) != string(states[r.ID]) {
			t.Fatalf("second Present of %s: state %s, want %s", r.ID, again[r.ID], states[r.ID])
		}
	}
}

// A record deleted behind zonecert's back makes the batch delete fail as a
// whole; the ids are then deleted one by one and the gone one counts as
// deleted. A record of someone else at the same name survives.
func TestBatchCleanUpWithGoneRecord(t *testing.T) {
	t.Parallel()
	fake := startFake(t, 0)
	zid := fake.AddZone("example.com")
	foreign := fake.AddRecord(zid, "_acme-challenge.example.com.", "TXT", "someone-else")
	p := newTestProvider(t, fake, Settings{})
	recs := threeNames()
	clean := withStates(recs, okResults(t)(p.Present(t.Context(), recs)))
	var st state
	_ = json.Unmarshal(clean[1].State, &st)
	fake.DeleteRecord(st.RecordID)
	fake.ResetCalls()

	okResults(t)(p.CleanUp(t.Context(), clean))
	calls := fake.Calls()
	if calls["POST dns_records/batch"] != 1 || calls["DELETE dns_record"] != 3 {
		t.Fatalf("calls %v, want one refused batch, then 3 single deletes", calls)
	}
	left := fake.Records("_acme-challenge.example.com.", "TXT")
	if len(left) != 1 || left[0].ID != foreign {
		t.Fatalf("records left %+v, want only the foreign one", left)
	}
	if got := served(t, fake, "_acme-challenge.www.example.com."); len(got) != 0 {
		t.Fatalf("served at www after cleanup: %q", got)
	}
	// All gone now: cleaning up again still succeeds.
	okResults(t)(p.CleanUp(t.Context(), clean))
}

// Two records whose states name the same record (an identical value taken
// over twice) are deleted with one operation and both succeed.
func TestBatchCleanUpSharedRecord(t *testing.T) {
	t.Parallel()
	fake := startFake(t, 0)
	fake.AddZone("example.com")
	p := newTestProvider(t, fake, Settings{})
	recs := []sdk.Record{rec("a", "_acme-challenge.example.com.", "same"), rec("b", "_acme-challenge.example.com.", "same"),
		rec("c", "_acme-challenge.example.com.", "other")}
	states := okResults(t)(p.Present(t.Context(), recs))
	if string(states["a"]) != string(states["b"]) {
		t.Fatalf("states %s and %s, want one record for the same value", states["a"], states["b"])
	}
	fake.ResetCalls()
	okResults(t)(p.CleanUp(t.Context(), withStates(recs, states)))
	if got := fake.Calls(); got["POST dns_records/batch"] != 1 || fake.TotalCalls() != 1 {
		t.Fatalf("calls %v, want one batch", got)
	}
	if n := len(fake.Records("_acme-challenge.example.com.", "TXT")); n != 0 {
		t.Fatalf("%d records left", n)
	}
}

// Auth and rate-limit errors of a batch apply to every record of it, with
// no record-by-record retry.
func TestBatchErrorsApplyToAll(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		token     sdk.Secret
		rateLimit int
		cleanUp   bool
		code      sdk.Code
		retryable bool
		calls     int
	}{
		{name: "Present without DNS:Edit", token: zoneOnly, code: sdk.CodeAuth, calls: 2},
		{name: "CleanUp with a wrong token", token: "nope", cleanUp: true, code: sdk.CodeAuth, calls: 1},
		{name: "CleanUp rate limited", rateLimit: 100, cleanUp: true, code: sdk.CodeRateLimited, retryable: true, calls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := startFake(t, 0)
			fake.AddZone("example.com")
			recs := threeNames()
			if tt.cleanUp {
				good := newTestProvider(t, fake, Settings{})
				recs = withStates(recs, okResults(t)(good.Present(t.Context(), recs)))
			}
			fake.ResetCalls()
			fake.RateLimit(tt.rateLimit, 0)
			p := newTestProvider(t, fake, Settings{DNSToken: tt.token, Retries: 0})
			call := p.Present
			if tt.cleanUp {
				call = p.CleanUp
			}
			res, err := call(t.Context(), recs)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res {
				if r.Err == nil || r.Err.Code != tt.code || r.Err.Retryable != tt.retryable {
					t.Fatalf("record %s: error %+v, want code %v retryable %v", r.ID, r.Err, tt.code, tt.retryable)
				}
			}
			if got := fake.TotalCalls(); got != tt.calls {
				t.Fatalf("%d calls (%v), want %d", got, fake.Calls(), tt.calls)
			}
			if tt.cleanUp {
				if n := len(fake.Records("_acme-challenge.example.com.", "TXT")); n != 2 {
					t.Fatalf("%d records left after a refused cleanup, want 2", n)
				}
			}
		})
	}
}

// Records in several zones get one batch per zone; a bad record is
// refused without touching the batch of the others.
func TestBatchPerZone(t *testing.T) {
	t.Parallel()
	fake := startFake(t, 0)
	fake.AddZone("example.com")
	fake.AddZone("example.org")
	p := newTestProvider(t, fake, Settings{})
	recs := threeNames()
	for i := range 2 {
		r := rec(fmt.Sprint("org", i), fmt.Sprintf("_acme-challenge.h%d.example.org.", i), "v")
		r.Zone = "example.org."
		recs = append(recs, r)
	}
	outside := rec("bad", "_acme-challenge.example.net.", "v") // not within its zone
	res, err := p.Present(t.Context(), append(slices.Clone(recs), outside))
	if err != nil {
		t.Fatal(err)
	}
	if last := res[len(res)-1]; last.Err == nil || last.Err.Code != sdk.CodeZoneNotFound {
		t.Fatalf("record outside its zone: %+v", last)
	}
	okResults(t)(res[:len(recs)], nil)
	if n := fake.Calls()["POST dns_records/batch"]; n != 2 {
		t.Fatalf("%d batch calls, want 2 (one per zone): %v", n, fake.Calls())
	}
	if got := served(t, fake, "_acme-challenge.h1.example.org."); !slices.Equal(got, []string{"v"}) {
		t.Fatalf("served %q", got)
	}
}

func TestMatchPosts(t *testing.T) {
	t.Parallel()
	want := threeNames()
	post := func(id, name, content string) posted {
		return posted{ID: id, Name: name, Content: content}
	}
	// Out of order, with the name in another case and one record missing.
	got := matchPosts(want, []posted{
		post("2", "_ACME-challenge.example.com", `"value-B"`),
		post("1", "_acme-challenge.example.com", `"value-A"`),
		post("x", "_acme-challenge.example.com", `"value-X"`),
	})
	if !slices.Equal(got, []string{"1", "2", ""}) {
		t.Fatalf("matchPosts = %q, want [1 2 \"\"]", got)
	}
}

// BenchmarkPresentAgain50 measures the batch's worst case: presenting a
// 50-name order whose records all exist already, so the batch is refused
// and every record is created (and taken over) one by one.
func BenchmarkPresentAgain50(b *testing.B) {
	fake, p, recs := fiftyNameOrder(b)
	if _, err := p.Present(b.Context(), recs); err != nil {
		b.Fatal(err)
	}
	fake.ResetCalls()
	for b.Loop() {
		res, err := p.Present(b.Context(), recs)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
		}
	}
	b.ReportMetric(float64(fake.TotalCalls())/float64(b.N), "api-calls/op")
}
