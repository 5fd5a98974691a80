package libdnsadapter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/libdns/libdns"

	"github.com/zonecert/zonecert/plugin/sdk"
)

// memory is a libdns provider in memory that returns ids as ProviderData
// and fails with err when set.
type memory struct {
	mu   sync.Mutex
	recs []libdns.TXT
	next int
	err  error
}

func (m *memory) AppendRecords(_ context.Context, _ string, recs []libdns.Record) ([]libdns.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return nil, m.err
	}
	var out []libdns.Record
	for _, r := range recs {
		rr := r.RR()
		m.next++
		t := libdns.TXT{Name: rr.Name, TTL: rr.TTL, Text: rr.Data, ProviderData: fmt.Sprintf("id-%d", m.next)}
		m.recs = append(m.recs, t)
		out = append(out, t)
	}
	return out, nil
}

func (m *memory) DeleteRecords(_ context.Context, _ string, recs []libdns.Record) ([]libdns.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return nil, m.err
	}
	kept := m.recs[:0]
	for _, have := range m.recs {
		gone := false
		for _, r := range recs {
			rr := r.RR()
			gone = gone || rr.Name == have.Name && rr.Data == have.Text
		}
		if !gone {
			kept = append(kept, have)
		}
	}
	m.recs = kept
	return nil, nil
}

func TestStateKeepsTheRecordID(t *testing.T) {
	m := &memory{}
	p := Wrap(m)
	res, err := p.Present(t.Context(), []sdk.Record{
		{ID: "a", FQDN: "_acme-challenge.example.test.", Zone: "example.test.", Value: "v1", TTL: 60},
		{ID: "b", FQDN: "_acme-challenge.x.other.test.", Zone: "other.test.", Value: "v2"},
		{ID: "c", FQDN: "_acme-challenge.elsewhere.", Zone: "example.test.", Value: "v3"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var st state
	if err := json.Unmarshal(res[0].State, &st); err != nil {
		t.Fatalf("state %q: %v", res[0].State, err)
	}
	var id string
	for _, r := range m.recs {
		if r.Text == "v1" {
			id = r.ProviderData.(string)
		}
	}
	if st.Name != "_acme-challenge" || st.Text != "v1" || string(st.ProviderData) != `"`+id+`"` {
		t.Errorf("state = %+v (%s), want the stored record's id %s", st, st.ProviderData, id)
	}
	if res[1].Err != nil || len(m.recs) != 2 {
		t.Errorf("second zone: %+v, stored %+v", res[1], m.recs)
	}
	if res[2].Err == nil || res[2].Err.Code != sdk.CodeZoneNotFound {
		t.Errorf("name outside its zone: %+v", res[2].Err)
	}
	if _, err := p.CleanUp(t.Context(), []sdk.Record{{ID: "a", FQDN: "_acme-challenge.example.test.", Zone: "example.test.", Value: "v1", State: res[0].State}}); err != nil {
		t.Fatal(err)
	}
	if len(m.recs) != 1 {
		t.Errorf("after CleanUp: %+v", m.recs)
	}
}

type statusErr int

func (e statusErr) Error() string   { return fmt.Sprintf("API said %d", int(e)) }
func (e statusErr) StatusCode() int { return int(e) }

func TestErrorsMapToCodes(t *testing.T) {
	tests := []struct {
		err       error
		code      sdk.Code
		retryable bool
	}{
		{statusErr(401), sdk.CodeAuth, false},
		{fmt.Errorf("wrapped: %w", statusErr(429)), sdk.CodeRateLimited, true},
		{statusErr(503), sdk.CodeOther, true},
		{&sdk.HTTPError{Status: 403}, sdk.CodeAuth, false},
		{errors.New("request failed: Unauthorized"), sdk.CodeAuth, false},
		{errors.New("Too Many Requests, slow down"), sdk.CodeRateLimited, true},
		{errors.New("zone not found: example.test"), sdk.CodeZoneNotFound, false},
		{errors.New("HTTP 429: slow"), sdk.CodeRateLimited, true},
		{errors.New("unexpected status code: 403"), sdk.CodeAuth, false},
		{errors.New("HTTP/1.1 401"), sdk.CodeAuth, false},
		// Digits inside a name are not a status (a conformance run's
		// random zone once read as a 429).
		{errors.New("zone not found: zc-conformance-429d59c4.zonecert-conformance.invalid."), sdk.CodeZoneNotFound, false},
		{errors.New("adding host-401.example.test.: connection reset"), sdk.CodeOther, true},
		{errors.New("record 403.example.test. 429 not written"), sdk.CodeOther, true},
		{context.DeadlineExceeded, sdk.CodeOther, false},
		{errors.New("connection reset by peer"), sdk.CodeOther, true},
	}
	for _, tt := range tests {
		m := &memory{err: tt.err}
		res, err := Wrap(m).Present(t.Context(), []sdk.Record{{ID: "1", FQDN: "a.example.test.", Zone: "example.test.", Value: "v"}})
		if err != nil {
			t.Fatal(err)
		}
		if e := res[0].Err; e == nil || e.Code != tt.code || e.Retryable != tt.retryable {
			t.Errorf("%v: got %+v, want %v retryable=%v", tt.err, e, tt.code, tt.retryable)
		}
	}
}

// getter is memory that can also list a zone.
type getter struct{ *memory }

func (g getter) GetRecords(context.Context, string) ([]libdns.Record, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]libdns.Record, len(g.recs))
	for i, r := range g.recs {
		out[i] = r
	}
	return out, nil
}

// TestPresentKeepsTheNameTTL: with a RecordGetter, a value joins the TXT
// set already at its name at that set's TTL, so the user's records keep
// theirs; at an empty name it takes its own.
func TestPresentKeepsTheNameTTL(t *testing.T) {
	m := &memory{recs: []libdns.TXT{{Name: "_acme-challenge", TTL: 300 * time.Second, Text: "theirs"}}}
	p := Wrap(getter{m})
	res, err := p.Present(t.Context(), []sdk.Record{
		{ID: "a", FQDN: "_acme-challenge.example.test.", Zone: "example.test.", Value: "ours", TTL: 60},
		{ID: "b", FQDN: "_acme-challenge.www.example.test.", Zone: "example.test.", Value: "ours", TTL: 60},
	})
	if err != nil || res[0].Err != nil || res[1].Err != nil {
		t.Fatal(res, err)
	}
	want := map[string]time.Duration{"_acme-challenge": 300 * time.Second, "_acme-challenge.www": 60 * time.Second}
	for _, r := range m.recs {
		if r.TTL != want[r.Name] {
			t.Errorf("%s %q stored with TTL %s, want %s", r.Name, r.Text, r.TTL, want[r.Name])
		}
	}
}
