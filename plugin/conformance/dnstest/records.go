package dnstest

import (
	"slices"
	"strings"
	"sync"
)

// Records is what a fake publishes, kept as a DNS server keeps it: one TXT
// RRset per name with one TTL (RFC 2181 §5.2). Adding a value at another
// TTL changes the TTL of the whole set, as BIND does for an UPDATE that adds
// to an existing RRset; removing a value leaves the set's TTL as it is, so
// a provider that wrote over a user's set at its own TTL leaves the user's
// values at that TTL after its cleanup. The set is gone with its last
// value. Unlike a DNS server, Records keeps a value added twice as two
// copies, so a fake API that stores duplicates shows them. Names are
// compared without case. The zero value is empty and ready; serve it with
// [StartValues](t, zone, records.Values).
type Records struct {
	mu   sync.Mutex
	sets map[string]*rrset
}

type rrset struct {
	ttl    uint32
	values []string
}

// Add publishes value at fqdn and sets the TTL of fqdn's whole set to ttl.
func (r *Records) Add(fqdn, value string, ttl uint32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sets == nil {
		r.sets = map[string]*rrset{}
	}
	k := strings.ToLower(fqdn)
	s := r.sets[k]
	if s == nil {
		s = &rrset{}
		r.sets[k] = s
	}
	s.ttl = ttl
	s.values = append(s.values, value)
}

// Remove withdraws one copy of value at fqdn and reports whether there was
// one. The set keeps its TTL.
func (r *Records) Remove(fqdn, value string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := strings.ToLower(fqdn)
	s := r.sets[k]
	if s == nil {
		return false
	}
	i := slices.Index(s.values, value)
	if i < 0 {
		return false
	}
	s.values = slices.Delete(s.values, i, i+1)
	if len(s.values) == 0 {
		delete(r.sets, k)
	}
	return true
}

// TTL is the TTL of the set at fqdn; found is false when fqdn has none.
func (r *Records) TTL(fqdn string) (ttl uint32, found bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.sets[strings.ToLower(fqdn)]; s != nil {
		return s.ttl, true
	}
	return 0, false
}

// Values is the set at fqdn, every value with the set's TTL; it is a
// ValuesFunc.
func (r *Records) Values(fqdn string) []Value {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.sets[strings.ToLower(fqdn)]
	if s == nil {
		return nil
	}
	out := make([]Value, len(s.values))
	for i, v := range s.values {
		out[i] = Value{Text: v, TTL: s.ttl}
	}
	return out
}
