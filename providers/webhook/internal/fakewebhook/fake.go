// Package fakewebhook is an ExternalDNS webhook provider server for tests,
// written from the protocol's published description: media type
// application/external.dns.webhook+json;version=1, GET / (domain filter),
// GET /records, POST /records (Create, UpdateOld/UpdateNew, Delete),
// POST /adjustendpoints. It keeps record sets in memory with real
// semantics (an update must name the current set, a create must not
// collide) and serves the TXT values over DNS through dnstest.
package fakewebhook

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/zonecert/zonecert/plugin/conformance/dnstest"
)

// MediaType is the protocol's media type.
const MediaType = "application/external.dns.webhook+json;version=1"

// Endpoint is one record set.
type Endpoint struct {
	DNSName       string   `json:"dnsName"`
	Targets       []string `json:"targets"`
	RecordType    string   `json:"recordType"`
	SetIdentifier string   `json:"setIdentifier,omitempty"`
	RecordTTL     int64    `json:"recordTTL,omitempty"`
}

type changes struct {
	Create, UpdateOld, UpdateNew, Delete []Endpoint
}

// Server is a running fake.
type Server struct {
	URL     string
	DNSAddr string

	zone    string
	publish Publisher
	mu      sync.Mutex
	sets    []Endpoint
}

// Publisher mirrors each applied change into a real DNS server: TXT
// records to insert and remove, in zone-file syntax (testenv.BIND.Update's
// shape, without the zone).
type Publisher func(ctx context.Context, insert, remove []string) error

// Start serves zone (the domain filter) until t ends.
func Start(t testing.TB, zone string) *Server {
	t.Helper()
	return StartWith(t, zone, nil)
}

// StartWith is Start with every applied change also sent to publish; a
// change publish refuses is not applied.
func StartWith(t testing.TB, zone string, publish Publisher) *Server {
	t.Helper()
	s := &Server{zone: strings.TrimSuffix(strings.ToLower(zone), "."), publish: publish}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	s.DNSAddr = dnstest.StartValues(t, zone, s.values).Addr()
	return s
}

func key(e Endpoint) string {
	return strings.TrimSuffix(strings.ToLower(e.DNSName), ".") + " " + e.RecordType + " " + e.SetIdentifier
}

func (s *Server) values(fqdn string) []dnstest.Value {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := strings.TrimSuffix(fqdn, ".")
	var out []dnstest.Value
	for _, e := range s.sets {
		if e.RecordType == "TXT" && strings.EqualFold(strings.TrimSuffix(e.DNSName, "."), name) {
			for _, t := range e.Targets {
				out = append(out, dnstest.Value{Text: t, TTL: uint32(max(e.RecordTTL, 1))})
			}
		}
	}
	return out
}

func (s *Server) inFilter(e Endpoint) bool {
	n := strings.TrimSuffix(strings.ToLower(e.DNSName), ".")
	return n == s.zone || strings.HasSuffix(n, "."+s.zone)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if !strings.Contains(r.Header.Get("Accept"), MediaType) {
		http.Error(w, "client must accept "+MediaType, http.StatusNotAcceptable)
		return
	}
	if r.Method == http.MethodPost && r.Header.Get("Content-Type") != MediaType {
		http.Error(w, "body must be "+MediaType, http.StatusUnsupportedMediaType)
		return
	}
	reply := func(v any) {
		w.Header().Set("Content-Type", MediaType)
		_ = json.NewEncoder(w).Encode(v)
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/":
		reply(map[string][]string{"include": {s.zone}, "exclude": {}})
	case r.Method == http.MethodGet && r.URL.Path == "/records":
		s.mu.Lock()
		sets := slices.Clone(s.sets)
		s.mu.Unlock()
		reply(sets)
	case r.Method == http.MethodPost && r.URL.Path == "/adjustendpoints":
		var eps []Endpoint
		if err := json.NewDecoder(r.Body).Decode(&eps); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		reply(eps)
	case r.Method == http.MethodPost && r.URL.Path == "/records":
		var c changes
		if err := json.NewDecoder(r.Body).Decode(&c); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if code, msg := s.apply(r.Context(), c); code != 0 {
			http.Error(w, msg, code)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		http.NotFound(w, r)
	}
}

// apply applies c all or nothing.
func (s *Server) apply(ctx context.Context, c changes) (int, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(c.UpdateOld) != len(c.UpdateNew) {
		return http.StatusBadRequest, "UpdateOld and UpdateNew differ in length"
	}
	next := slices.Clone(s.sets)
	find := func(e Endpoint) int {
		return slices.IndexFunc(next, func(x Endpoint) bool { return key(x) == key(e) })
	}
	same := func(a, b []string) bool {
		a, b = slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b))
		return slices.Equal(a, b)
	}
	for _, e := range slices.Concat(c.Create, c.UpdateOld, c.UpdateNew, c.Delete) {
		if !s.inFilter(e) {
			return http.StatusBadRequest, e.DNSName + " is outside the domain filter"
		}
	}
	for _, e := range c.Delete {
		i := find(e)
		if i < 0 || !same(next[i].Targets, e.Targets) {
			return http.StatusConflict, "delete of " + key(e) + ": not the current record set"
		}
		next = slices.Delete(next, i, i+1)
	}
	for j, e := range c.UpdateOld {
		i := find(e)
		if i < 0 || !same(next[i].Targets, e.Targets) || key(e) != key(c.UpdateNew[j]) {
			return http.StatusConflict, "update of " + key(e) + ": not the current record set"
		}
		next[i] = c.UpdateNew[j]
	}
	for _, e := range c.Create {
		if find(e) >= 0 {
			return http.StatusConflict, "create of " + key(e) + ": the record set exists"
		}
		if len(e.Targets) == 0 {
			return http.StatusBadRequest, "create of " + key(e) + " without targets"
		}
		next = append(next, e)
	}
	if s.publish != nil {
		insert, remove := txtDiff(s.sets, next), txtDiff(next, s.sets)
		if err := s.publish(ctx, insert, remove); err != nil {
			return http.StatusBadGateway, err.Error()
		}
	}
	s.sets = next
	return 0, ""
}

// txtDiff lists the TXT records of to that from lacks, in zone-file syntax.
func txtDiff(from, to []Endpoint) []string {
	has := map[string]bool{}
	for _, e := range from {
		for _, t := range e.Targets {
			has[key(e)+" "+t] = true
		}
	}
	var out []string
	for _, e := range to {
		if e.RecordType != "TXT" {
			continue
		}
		for _, t := range e.Targets {
			if !has[key(e)+" "+t] {
				out = append(out, fmt.Sprintf("%s. %d IN TXT %q", strings.TrimSuffix(e.DNSName, "."), max(e.RecordTTL, 1), t))
			}
		}
	}
	return out
}

// Put stores a record set as a user would have it, outside the protocol.
func (s *Server) Put(e Endpoint) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sets = append(s.sets, e)
}
