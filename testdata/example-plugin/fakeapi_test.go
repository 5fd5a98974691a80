package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zonecert/zonecert/plugin/conformance/dnstest"
)

// fakeAPI is ExampleDNS as a typical REST DNS API behaves, strictly:
// bearer-token auth (401); 404 zone_not_found for zones it does not host;
// names relative to the zone, "@" at the apex (422 for an absolute one);
// integer ids never reused; it stores an identical record again when asked
// (no 409); it keeps one TTL per name, so a record created at another TTL
// moves the name's whole set to it, as a DNS server does (422 below 30 s);
// lists come pageSize records a page with an absolute `next` link (a
// cursor, so records deleted meanwhile shift nothing); deleting
// an unknown id is 404 record_not_found. It throttles: after every
// burstSize requests (and at most once a second) it answers 429 until the
// next whole second, with that second in RateLimit-Reset as a Unix time,
// and throttleUntil makes longer windows. What it holds is served over DNS
// by an authoritative dnstest server, so tests see the plugin's effects as
// a CA would.
type fakeAPI struct {
	URL string // API base URL
	NS  string // host:port of the zone's nameserver

	zone string          // without the trailing dot, as the API names it
	dns  dnstest.Records // what the nameserver serves, one TTL per name

	mu        sync.Mutex
	token     string
	next      int
	records   []record // Name is the absolute FQDN, lower case
	calls     int
	served    int       // requests answered since the last 429 window
	limited   time.Time // 429 until then
	lastLimit time.Time
	throttled int // 429 answers given
}

const (
	pageSize  = 2
	burstSize = 25
)

func startFakeAPI(t *testing.T, zone, token string) *fakeAPI {
	f := &fakeAPI{token: token, zone: strings.TrimSuffix(zone, ".")}
	srv := httptest.NewServer(http.HandlerFunc(f.serveHTTP))
	t.Cleanup(srv.Close)
	f.URL = srv.URL + "/v1"
	f.NS = dnstest.StartValues(t, zone, f.dns.Values).Addr()
	return f
}

func (f *fakeAPI) requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// throttleUntil answers every request with 429 until t.
func (f *fakeAPI) throttleUntil(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.limited = t
}

func (f *fakeAPI) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.records)
}

func (f *fakeAPI) tooMany() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.throttled
}

// add creates a record as the API's POST does (one TTL per name) and
// returns its id; the caller holds f.mu.
func (f *fakeAPI) addLocked(fqdn, content string, ttl uint32) int {
	f.next++
	rec := record{ID: f.next, Name: fqdn, Type: "TXT", Content: content, TTL: ttl}
	for i := range f.records {
		if f.records[i].Name == fqdn {
			f.records[i].TTL = ttl
		}
	}
	f.records = append(f.records, rec)
	f.dns.Add(fqdn, content, ttl)
	return rec.ID
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// limit decides whether this request is throttled, and until when.
func (f *fakeAPI) limit() (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	now := time.Now()
	if now.Before(f.limited) {
		f.throttled++
		return f.limited, true
	}
	if f.served++; f.served > burstSize && now.Sub(f.lastLimit) > time.Second {
		f.served = 0
		f.limited = now.Truncate(time.Second).Add(time.Second)
		f.lastLimit = f.limited
		f.throttled++
		return f.limited, true
	}
	return time.Time{}, false
}

func (f *fakeAPI) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if until, ok := f.limit(); ok {
		w.Header().Set("RateLimit-Reset", strconv.FormatInt(until.Add(time.Second-1).Unix(), 10))
		writeError(w, http.StatusTooManyRequests, "rate_limited", "too many requests")
		return
	}
	f.mu.Lock()
	token := f.token
	f.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+token {
		writeError(w, http.StatusUnauthorized, "unauthorized", "invalid or missing API token")
		return
	}
	path, ok := strings.CutPrefix(r.URL.EscapedPath(), "/v1/zones")
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint")
		return
	}
	if path == "" && r.Method == http.MethodGet {
		writeJSON(w, http.StatusOK, map[string]any{"zones": []map[string]string{{"name": f.zone}}, "next": nil})
		return
	}
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if len(parts) < 2 || parts[1] != "records" {
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint")
		return
	}
	if parts[0] != f.zone {
		writeError(w, http.StatusNotFound, "zone_not_found", "zone "+parts[0]+" does not exist in this account")
		return
	}
	switch {
	case len(parts) == 2 && r.Method == http.MethodGet:
		f.list(w, r)
	case len(parts) == 2 && r.Method == http.MethodPost:
		f.create(w, r)
	case len(parts) == 3 && r.Method == http.MethodDelete:
		f.delete(w, parts[2])
	default:
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" not allowed here")
	}
}

// fqdn is the absolute name of a relative one; "" if it is not relative.
func (f *fakeAPI) fqdn(name string) string {
	switch {
	case name == "@":
		return f.zone + "."
	case name == "" || strings.HasSuffix(name, ".") || strings.HasPrefix(name, "."):
		return ""
	}
	return strings.ToLower(name) + "." + f.zone + "."
}

// relative is the API's name for a stored FQDN.
func (f *fakeAPI) relative(fqdn string) string {
	if fqdn == f.zone+"." {
		return "@"
	}
	return strings.TrimSuffix(fqdn, "."+f.zone+".")
}

func (f *fakeAPI) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	name, typ := q.Get("name"), q.Get("type")
	after := 0 // a cursor, the last id of the page before: stable while records come and go
	if a := q.Get("after"); a != "" {
		n, err := strconv.Atoi(a)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "bad_request", "after must be a record id")
			return
		}
		after = n
	}
	fqdn := ""
	if name != "" {
		if fqdn = f.fqdn(name); fqdn == "" {
			writeError(w, http.StatusUnprocessableEntity, "bad_name", "name must be relative to the zone (@ for the apex)")
			return
		}
	}
	f.mu.Lock()
	all := []record{} // in id order, as f.records is kept
	for _, rec := range f.records {
		if rec.ID > after && (fqdn == "" || rec.Name == fqdn) && (typ == "" || rec.Type == typ) {
			rec.Name = f.relative(rec.Name)
			all = append(all, rec)
		}
	}
	f.mu.Unlock()
	out := map[string]any{"records": all[:min(pageSize, len(all))], "next": nil}
	if len(all) > pageSize {
		q.Set("after", strconv.Itoa(all[pageSize-1].ID))
		out["next"] = f.URL + "/zones/" + url.PathEscape(f.zone) + "/records?" + q.Encode()
	}
	writeJSON(w, http.StatusOK, out)
}

func (f *fakeAPI) create(w http.ResponseWriter, r *http.Request) {
	var in record
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "invalid JSON: "+err.Error())
		return
	}
	fqdn := f.fqdn(in.Name)
	switch {
	case in.Type != "TXT":
		writeError(w, http.StatusUnprocessableEntity, "bad_type", "only TXT records are supported")
		return
	case fqdn == "":
		writeError(w, http.StatusUnprocessableEntity, "bad_name", in.Name+" is not relative to the zone (@ for the apex)")
		return
	case in.TTL < 30:
		writeError(w, http.StatusUnprocessableEntity, "bad_ttl", "ttl must be at least 30")
		return
	}
	f.mu.Lock()
	id := f.addLocked(fqdn, in.Content, in.TTL)
	f.mu.Unlock()
	writeJSON(w, http.StatusCreated, record{ID: id, Name: f.relative(fqdn), Type: "TXT", Content: in.Content, TTL: in.TTL})
}

func (f *fakeAPI) delete(w http.ResponseWriter, idText string) {
	id, err := strconv.Atoi(idText)
	if err != nil {
		writeError(w, http.StatusNotFound, "record_not_found", "no record "+idText)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.records, func(rec record) bool { return rec.ID == id })
	if i < 0 {
		writeError(w, http.StatusNotFound, "record_not_found", "no record "+idText)
		return
	}
	f.dns.Remove(f.records[i].Name, f.records[i].Content)
	f.records = slices.Delete(f.records, i, i+1)
	w.WriteHeader(http.StatusNoContent)
}

// foreign creates a user's own record through the API's back door, for the
// kit's foreign-rrset-restored check.
func (f *fakeAPI) foreign(fqdn, value string, ttl uint32) func() {
	f.mu.Lock()
	id := f.addLocked(strings.ToLower(fqdn), value, ttl)
	f.mu.Unlock()
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if i := slices.IndexFunc(f.records, func(rec record) bool { return rec.ID == id }); i >= 0 {
			f.dns.Remove(f.records[i].Name, f.records[i].Content)
			f.records = slices.Delete(f.records, i, i+1)
		}
	}
}
