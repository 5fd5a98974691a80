// Package fakecloudflare is a local stand-in for the Cloudflare v4 API, as
// far as a DNS-01 provider uses it: zone lookup by name and TXT record
// create, list, delete and batch changes (transactional, with the operation
// limit), with the documented JSON envelope, page-number pagination,
// bearer-token auth and error codes. It also serves its records
// over DNS so that tests can check what a resolver would see.
//
// It is a test helper: it refuses what the real service refuses (unknown
// zones and records, identical records, bad tokens, bad TTLs) and keeps
// count of the API calls it served.
package fakecloudflare

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Scope is what a token may do, after Cloudflare's permission groups.
type Scope struct {
	ZoneRead bool // Zone:Read — GET /zones
	DNSEdit  bool // DNS:Edit — read and write dns_records
}

// Config configures a fake.
type Config struct {
	// Tokens maps bearer tokens to their scope. Any other token is refused.
	Tokens map[string]Scope
	// MaxPerPage caps per_page so tests can force pagination; 0 means the
	// real API's limits (50 for zones, 5000 for records).
	MaxPerPage int
	// MaxBatch caps the operations of one batch request; 0 means 200, the
	// documented limit of a Free plan zone (Pro and above: 3500).
	MaxBatch int
}

// Record is a stored DNS record.
type Record struct {
	ID      string
	ZoneID  string
	Name    string // FQDN without trailing dot, lower case
	Type    string
	Content string // as sent by the client
	TTL     int
}

type zone struct {
	ID     string
	Name   string
	Status string // active, pending, ...
}

// Server is a running fake. Its zero value is not usable; call Start.
type Server struct {
	// URL is the API base URL, ending in /client/v4/, to pass as
	// CLOUDFLARE_BASE_URL.
	URL string
	// DNSAddr is the UDP and TCP address (127.0.0.1:port) of the fake's
	// authoritative DNS server.
	DNSAddr string

	cfg Config

	mu          sync.Mutex
	zones       []zone // in creation order; lookups are linear, fine for tests
	records     []Record
	calls       map[string]int // "METHOD kind" → count
	rateLimited int            // the next n requests get 429
	retryAfter  int            // seconds sent in Retry-After with an injected 429
}

// Start runs a fake until the test ends.
func Start(tb testing.TB, cfg Config) *Server {
	tb.Helper()
	s := &Server{cfg: cfg, calls: map[string]int{}}
	hs := httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	tb.Cleanup(hs.Close)
	s.URL = hs.URL + "/client/v4/"
	s.startDNS(tb)
	return s
}

// AddZone adds a zone (name without trailing dot) and returns its id.
func (s *Server) AddZone(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	z := zone{ID: newID(), Name: normName(name), Status: "active"}
	s.zones = append(s.zones, z)
	return z.ID
}

// SetZoneStatus sets a zone's status, e.g. "pending" for a zone added to a
// second account but never activated there.
func (s *Server) SetZoneStatus(id, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.zones {
		if s.zones[i].ID == id {
			s.zones[i].Status = status
		}
	}
}

// Records returns a copy of the stored records of type typ at name (FQDN,
// with or without trailing dot), in creation order.
func (s *Server) Records(name, typ string) []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	name = normName(name)
	var out []Record
	for _, r := range s.records {
		if r.Name == name && r.Type == typ {
			out = append(out, r)
		}
	}
	return out
}

// AddRecord stores a record directly, as if made in the dashboard.
func (s *Server) AddRecord(zoneID, name, typ, content string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := Record{ID: newID(), ZoneID: zoneID, Name: normName(name), Type: typ, Content: content, TTL: 1}
	s.records = append(s.records, r)
	return r.ID
}

// DeleteRecord removes a record directly, as if deleted in the dashboard.
func (s *Server) DeleteRecord(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deleteLocked(id)
}

// Calls returns the number of API requests served (including refused
// ones), by "METHOD kind" where kind is zones, dns_records, dns_record or
// dns_records/batch.
func (s *Server) Calls() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.calls))
	for k, v := range s.calls {
		out[k] = v
	}
	return out
}

// TotalCalls is the sum of Calls.
func (s *Server) TotalCalls() int {
	n := 0
	for _, v := range s.Calls() {
		n += v
	}
	return n
}

// ResetCalls zeroes the call counters.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.calls)
}

// RateLimit makes the next n API requests fail with 429 and the given
// Retry-After (seconds), as the real API does once a client exceeds 1200
// requests per five minutes.
func (s *Server) RateLimit(n, retryAfterSeconds int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rateLimited, s.retryAfter = n, retryAfterSeconds
}

// apiError is one entry of the envelope's errors array.
type apiError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

type resultInfo struct {
	Page       int `json:"page"`
	PerPage    int `json:"per_page"`
	Count      int `json:"count"`
	TotalCount int `json:"total_count"`
	TotalPages int `json:"total_pages"`
}

// envelope is the v4 API's response wrapper.
type envelope struct {
	Success    bool        `json:"success"`
	Errors     []apiError  `json:"errors"`
	Messages   []apiError  `json:"messages"`
	Result     any         `json:"result"`
	ResultInfo *resultInfo `json:"result_info,omitempty"`
}

// Documented error codes.
const (
	codeAuth          = 10000 // Authentication error
	codeRateLimited   = 971   // Please wait and consider throttling your request speed
	codeRoute         = 7003  // Could not route to ..., perhaps your object identifier is invalid?
	codeNoRoute       = 7000  // No route for that URI
	codeBadRequest    = 9000  // DNS validation error (generic)
	codeBadTTL        = 9021  // Invalid TTL
	codeRecordMissing = 81044 // Record does not exist.
	codeIdentical     = 81058 // An identical record already exists.
)

func writeJSON(w http.ResponseWriter, status int, env envelope) {
	if env.Errors == nil {
		env.Errors = []apiError{}
	}
	if env.Messages == nil {
		env.Messages = []apiError{}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(env)
}

func fail(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, envelope{Errors: []apiError{{Code: code, Message: msg}}})
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/client/v4/")
	if !ok {
		fail(w, http.StatusNotFound, codeNoRoute, "No route for that URI")
		return
	}
	parts := strings.Split(strings.Trim(rest, "/"), "/")
	kind := "other"
	switch {
	case len(parts) == 1 && parts[0] == "zones":
		kind = "zones"
	case len(parts) == 3 && parts[0] == "zones" && parts[2] == "dns_records":
		kind = "dns_records"
	case len(parts) == 4 && parts[0] == "zones" && parts[2] == "dns_records" && parts[3] == "batch":
		kind = "dns_records/batch"
	case len(parts) == 4 && parts[0] == "zones" && parts[2] == "dns_records":
		kind = "dns_record"
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[r.Method+" "+kind]++
	if s.rateLimited > 0 {
		s.rateLimited--
		w.Header().Set("Retry-After", strconv.Itoa(s.retryAfter))
		fail(w, http.StatusTooManyRequests, codeRateLimited,
			"More than 1200 requests per 300 seconds reached. Please wait and consider throttling your request speed")
		return
	}
	scope, status := s.authLocked(r)
	if status != 0 {
		fail(w, status, codeAuth, "Authentication error")
		return
	}

	switch {
	case kind == "zones" && r.Method == http.MethodGet:
		s.listZonesLocked(w, r, scope)
	case kind == "dns_records" && r.Method == http.MethodGet:
		if z := s.dnsZoneLocked(w, parts[1], scope); z != nil {
			s.listRecordsLocked(w, r, z)
		}
	case kind == "dns_records" && r.Method == http.MethodPost:
		if z := s.dnsZoneLocked(w, parts[1], scope); z != nil {
			s.createRecordLocked(w, r, z)
		}
	case kind == "dns_records/batch" && r.Method == http.MethodPost:
		if z := s.dnsZoneLocked(w, parts[1], scope); z != nil {
			s.batchLocked(w, r, z)
		}
	case kind == "dns_record" && r.Method == http.MethodDelete:
		if z := s.dnsZoneLocked(w, parts[1], scope); z != nil {
			s.deleteRecordLocked(w, z, parts[3])
		}
	default:
		fail(w, http.StatusMethodNotAllowed, codeNoRoute, "No route for that URI")
	}
}

// authLocked checks the bearer token: a missing one is 401, an unknown one
// 403, both with code 10000, as the real API answers.
func (s *Server) authLocked(r *http.Request) (Scope, int) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return Scope{}, http.StatusUnauthorized
	}
	scope, ok := s.cfg.Tokens[tok]
	if !ok {
		return Scope{}, http.StatusForbidden
	}
	return scope, 0
}

// dnsZoneLocked resolves the zone of a dns_records path, answering the
// error itself when the zone is unknown or the token may not edit DNS.
func (s *Server) dnsZoneLocked(w http.ResponseWriter, id string, scope Scope) *zone {
	if !scope.DNSEdit {
		fail(w, http.StatusForbidden, codeAuth, "Authentication error")
		return nil
	}
	for i := range s.zones {
		if s.zones[i].ID == id {
			return &s.zones[i]
		}
	}
	fail(w, http.StatusBadRequest, codeRoute,
		"Could not route to /zones/"+id+"/dns_records, perhaps your object identifier is invalid?")
	return nil
}

// paginate applies page and per_page (1-based; the real API's default and
// maximum per_page differ per endpoint).
func (s *Server) paginate(r *http.Request, n, def, maxPer int) (lo, hi int, info *resultInfo, err error) {
	q := r.URL.Query()
	page, per := 1, def
	if v := q.Get("page"); v != "" {
		if page, err = strconv.Atoi(v); err != nil || page < 1 {
			return 0, 0, nil, fmt.Errorf("invalid page %q", v)
		}
	}
	if v := q.Get("per_page"); v != "" {
		if per, err = strconv.Atoi(v); err != nil || per < 1 {
			return 0, 0, nil, fmt.Errorf("invalid per_page %q", v)
		}
	}
	if s.cfg.MaxPerPage > 0 {
		maxPer = s.cfg.MaxPerPage
	}
	per = min(per, maxPer)
	lo = min((page-1)*per, n)
	hi = min(lo+per, n)
	return lo, hi, &resultInfo{Page: page, PerPage: per, Count: hi - lo, TotalCount: n,
		TotalPages: (n + per - 1) / per}, nil
}

func (s *Server) listZonesLocked(w http.ResponseWriter, r *http.Request, scope Scope) {
	var match []map[string]any
	name := r.URL.Query().Get("name")
	// A token without Zone:Read sees no zones, as with a real token whose
	// zone resources do not include them.
	for _, z := range s.zones {
		if scope.ZoneRead && (name == "" || normName(name) == z.Name) {
			match = append(match, zoneJSON(z))
		}
	}
	lo, hi, info, err := s.paginate(r, len(match), 20, 50)
	if err != nil {
		fail(w, http.StatusBadRequest, 1001, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, envelope{Success: true, Result: nonNil(match[lo:hi]), ResultInfo: info})
}

func zoneJSON(z zone) map[string]any {
	return map[string]any{
		"id": z.ID, "name": z.Name, "status": z.Status, "paused": false, "type": "full",
		"name_servers": []string{"ns1.fake-cloudflare.test", "ns2.fake-cloudflare.test"},
		"account":      map[string]any{"id": "0123456789abcdef0123456789abcdef", "name": "test"},
		"created_on":   "2024-01-01T00:00:00Z", "modified_on": "2024-01-01T00:00:00Z",
	}
}

func recordJSON(rec Record, z *zone) map[string]any {
	return map[string]any{
		"id": rec.ID, "zone_id": z.ID, "zone_name": z.Name, "name": rec.Name, "type": rec.Type,
		"content": rec.Content, "ttl": rec.TTL, "proxiable": false, "proxied": false,
		"settings": map[string]any{}, "meta": map[string]any{}, "comment": nil, "tags": []string{},
		"created_on": "2024-01-01T00:00:00Z", "modified_on": "2024-01-01T00:00:00Z",
	}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// filterValue reads a record list filter that may be sent plain (name=x)
// or with an operator (name.exact=x); only exact matching is supported,
// and the other operators are refused rather than ignored.
func filterValue(r *http.Request, key string) (string, bool, error) {
	q := r.URL.Query()
	for k := range q {
		if strings.HasPrefix(k, key+".") && k != key+".exact" {
			return "", false, fmt.Errorf("fake: filter %s not supported", k)
		}
	}
	if q.Has(key + ".exact") {
		return q.Get(key + ".exact"), true, nil
	}
	return q.Get(key), q.Has(key), nil
}

func (s *Server) listRecordsLocked(w http.ResponseWriter, r *http.Request, z *zone) {
	typ, hasType := r.URL.Query().Get("type"), r.URL.Query().Has("type")
	name, hasName, err1 := filterValue(r, "name")
	content, hasContent, err2 := filterValue(r, "content")
	if err := cmpErr(err1, err2); err != nil {
		fail(w, http.StatusBadRequest, codeBadRequest, err.Error())
		return
	}
	var match []map[string]any
	for _, rec := range s.records {
		if rec.ZoneID != z.ID ||
			hasType && rec.Type != typ ||
			hasName && rec.Name != normName(name) ||
			// Content filters are case-insensitive, as documented.
			hasContent && !strings.EqualFold(rec.Content, content) {
			continue
		}
		match = append(match, recordJSON(rec, z))
	}
	lo, hi, info, err := s.paginate(r, len(match), 100, 5000)
	if err != nil {
		fail(w, http.StatusBadRequest, 1001, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, envelope{Success: true, Result: nonNil(match[lo:hi]), ResultInfo: info})
}

func cmpErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) createRecordLocked(w http.ResponseWriter, r *http.Request, z *zone) {
	var body postBody
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		fail(w, http.StatusBadRequest, codeBadRequest, "Invalid request body: "+err.Error())
		return
	}
	rec, f := newRecord(body, z, s.records)
	if f != nil {
		fail(w, f.status, f.code, f.msg)
		return
	}
	s.records = append(s.records, rec)
	writeJSON(w, http.StatusOK, envelope{Success: true, Result: recordJSON(rec, z)})
}

func (s *Server) deleteRecordLocked(w http.ResponseWriter, z *zone, id string) {
	for _, rec := range s.records {
		if rec.ID == id && rec.ZoneID == z.ID {
			s.deleteLocked(id)
			writeJSON(w, http.StatusOK, envelope{Success: true, Result: map[string]string{"id": id}})
			return
		}
	}
	fail(w, http.StatusNotFound, codeRecordMissing, "Record does not exist.")
}

func (s *Server) deleteLocked(id string) {
	for i, rec := range s.records {
		if rec.ID == id {
			s.records = append(s.records[:i], s.records[i+1:]...)
			return
		}
	}
}

func normName(n string) string { return strings.ToLower(strings.TrimSuffix(n, ".")) }

// newID returns a 32-hex-digit identifier like Cloudflare's.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
