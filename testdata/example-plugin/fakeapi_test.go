package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/zonecert/zonecert/plugin/conformance/dnstest"
)

// fakeAPI is ExampleDNS as its documentation describes it: bearer-token
// auth (401), 404 zone_not_found for zones it does not host, 400 for names
// outside the zone or a TTL below 60, 409 for an identical record, 404
// record_not_found for a deleted id, 429 with Retry-After while throttled,
// and ids that are never reused. Its
// records are served over DNS by an authoritative dnstest server, so tests
// see the plugin's effect exactly as a CA would.
type fakeAPI struct {
	URL string // API base URL
	NS  string // host:port of the zone's nameserver

	token string
	zone  string

	mu        sync.Mutex
	next      int
	records   []apiRecord
	calls     int
	throttled int // the next requests answered 429
}

func startFakeAPI(t *testing.T, zone, token string) *fakeAPI {
	f := &fakeAPI{token: token, zone: zone}
	srv := httptest.NewServer(http.HandlerFunc(f.serveHTTP))
	t.Cleanup(srv.Close)
	f.URL = srv.URL + "/v1"
	f.NS = dnstest.Start(t, zone, f.txt).Addr()
	return f
}

// txt is what the zone's nameserver serves at fqdn.
func (f *fakeAPI) txt(fqdn string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, r := range f.records {
		if strings.EqualFold(r.Name, fqdn) {
			out = append(out, r.Content)
		}
	}
	return out
}

func (f *fakeAPI) requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// throttle makes the next n requests fail with 429 Too Many Requests.
func (f *fakeAPI) throttle(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.throttled = n
}

func (f *fakeAPI) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.records)
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

func (f *fakeAPI) serveHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.calls++
	token := f.token
	throttled := f.throttled > 0
	if throttled {
		f.throttled--
	}
	f.mu.Unlock()
	if throttled {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusTooManyRequests, "rate_limited", "too many requests")
		return
	}
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
		writeJSON(w, http.StatusOK, map[string]any{"zones": []map[string]string{{"name": f.zone}}})
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

func (f *fakeAPI) list(w http.ResponseWriter, r *http.Request) {
	name, typ := r.URL.Query().Get("name"), r.URL.Query().Get("type")
	f.mu.Lock()
	out := []apiRecord{}
	for _, rec := range f.records {
		if (name == "" || strings.EqualFold(rec.Name, name)) && (typ == "" || rec.Type == typ) {
			out = append(out, rec)
		}
	}
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"records": out})
}

func (f *fakeAPI) create(w http.ResponseWriter, r *http.Request) {
	var in apiRecord
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "invalid JSON: "+err.Error())
		return
	}
	name := strings.ToLower(in.Name)
	switch {
	case in.Type != "TXT":
		writeError(w, http.StatusBadRequest, "bad_request", "only TXT records are supported")
		return
	case name != f.zone && !strings.HasSuffix(name, "."+f.zone):
		writeError(w, http.StatusBadRequest, "name_not_in_zone", in.Name+" is not in zone "+f.zone)
		return
	case in.TTL < 60:
		writeError(w, http.StatusBadRequest, "bad_ttl", "ttl must be at least 60")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, rec := range f.records {
		if rec.Name == name && rec.Content == in.Content {
			writeError(w, http.StatusConflict, "record_exists", "an identical record already exists")
			return
		}
	}
	f.next++
	rec := apiRecord{ID: "rec_" + strconv.Itoa(f.next), Name: name, Type: "TXT", Content: in.Content, TTL: in.TTL}
	f.records = append(f.records, rec)
	writeJSON(w, http.StatusCreated, rec)
}

func (f *fakeAPI) delete(w http.ResponseWriter, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, rec := range f.records {
		if rec.ID == id {
			f.records = append(f.records[:i], f.records[i+1:]...)
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	writeError(w, http.StatusNotFound, "record_not_found", "no record "+id)
}
