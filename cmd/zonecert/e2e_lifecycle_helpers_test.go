package main

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// countingProxy is a TLS reverse proxy in front of Pebble that counts the
// requests zonecert sends, by method, first path segment and answer
// status ("POST /order-plz 201"). It keeps the Host header, so Pebble writes the proxy's
// address into every URL it returns and all traffic passes through it.
type countingProxy struct {
	URL    string // directory URL through the proxy
	Bundle string // file with the proxy's TLS certificate, for --ca-bundle

	mu     sync.Mutex
	counts map[string]int
}

func startCountingProxy(t testing.TB, e *e2eEnv) *countingProxy {
	t.Helper()
	target, err := url.Parse(e.pebble.DirectoryURL)
	if err != nil {
		t.Fatal(err)
	}
	cp := &countingProxy{counts: map[string]int{}}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(&url.URL{Scheme: target.Scheme, Host: target.Host})
			r.Out.Host = r.In.Host
		},
		Transport: e.pebble.HTTPClient.Transport,
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seg, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		rp.ServeHTTP(sw, r)
		cp.mu.Lock()
		cp.counts[fmt.Sprintf("%s /%s %d", r.Method, seg, sw.status)]++
		cp.mu.Unlock()
	}))
	srv.StartTLS()
	t.Cleanup(srv.Close)
	cp.URL = srv.URL + target.Path
	cp.Bundle = filepath.Join(t.TempDir(), "proxy-tls.pem")
	if err := os.WriteFile(cp.Bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cp
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// orders counts the orders created (201) in counts.
func orders(counts map[string]int) int { return counts["POST /order-plz 201"] }

// take returns the counts since the last take and resets them.
func (cp *countingProxy) take() map[string]int {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	out := cp.counts
	cp.counts = map[string]int{}
	return out
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// renewLine is one object of `renew --json`.
type renewJSON struct {
	Name      string    `json:"name"`
	Renewed   bool      `json:"renewed"`
	Reason    string    `json:"reason"`
	Replaces  string    `json:"replaces"`
	NextCheck time.Time `json:"next_check"`
	Error     string    `json:"error"`
}

func parseRenewJSON(t testing.TB, out string) map[string]renewJSON {
	t.Helper()
	res := map[string]renewJSON{}
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var r renewJSON
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("renew --json output %q: %v", out, err)
		}
		res[r.Name] = r
	}
	return res
}

// liveLeaf parses live/<name>/cert.pem.
func liveLeaf(t testing.TB, state, name string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(state, "live", name, "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("live/%s/cert.pem holds no PEM", name)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// expireCheck moves the cached renewal check of a lineage into the past,
// as if the CA's Retry-After (six hours at Pebble) had passed.
func expireCheck(t testing.TB, state, name string) {
	t.Helper()
	p := filepath.Join(state, "renewal", name+".json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var plan map[string]any
	if err := json.Unmarshal(b, &plan); err != nil {
		t.Fatal(err)
	}
	chk, ok := plan["check"].(map[string]any)
	if !ok {
		t.Fatalf("plan %s has no cached check:\n%s", name, b)
	}
	chk["next_check"] = "2000-01-01T00:00:00Z"
	out, err := json.Marshal(plan)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, out, 0o600); err != nil {
		t.Fatal(err)
	}
}

// snapshot maps every file under root to its content (symlinks to their
// target), to prove a failed command changed nothing.
func snapshot(t testing.TB, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		switch {
		case strings.HasPrefix(rel, "locks"):
		case fi.Mode()&os.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out[rel] = "-> " + l
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[rel] = string(b)
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return out
}

func sameSnapshot(t testing.TB, what string, before, after map[string]string) {
	t.Helper()
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s changed %s", what, k)
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			t.Errorf("%s created %s", what, k)
		}
	}
}

// grepTree reports the files under root that contain needle.
func grepTree(t testing.TB, root string, needle []byte) []string {
	t.Helper()
	var hits []string
	_ = filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, needle) {
				hits = append(hits, p)
			}
		}
		return nil
	})
	return hits
}

// hookScript writes an executable deploy hook that appends a marker and its
// whole environment to log.
func hookScript(t testing.TB, dir, name, log string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	script := "#!/bin/sh\n{ echo '--- run'; env | sort; } >> '" + log + "'\n"
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// hookRuns splits a hook log into its runs' environments.
func hookRuns(t testing.TB, log string) []map[string]string {
	t.Helper()
	b, err := os.ReadFile(log)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var runs []map[string]string
	for _, line := range strings.Split(string(b), "\n") {
		if line == "--- run" {
			runs = append(runs, map[string]string{})
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok && len(runs) > 0 {
			runs[len(runs)-1][k] = v
		}
	}
	return runs
}
