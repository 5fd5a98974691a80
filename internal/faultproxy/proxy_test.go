package faultproxy

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// Each fault answers as documented, once; then requests pass through with
// the client's Host, which the upstream sees.
func TestFaults(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	var host atomic.Value
	up := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		host.Store(r.Host)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"valid","url":"https://`+r.Host+r.URL.Path+`"}`)
	}))
	defer up.Close()
	for _, kind := range Kinds {
		t.Run(string(kind), func(t *testing.T) {
			before := hits.Load()
			p, err := Start(up.URL+"/dir", up.Client().Transport, Fault{Step: "finalize", Kind: kind})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			c := p.Client()
			base := strings.TrimSuffix(p.DirectoryURL, "/dir")
			// Another step passes through.
			resp, err := c.Get(base + "/my-order/1")
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("pass-through: %v %v", resp, err)
			}
			resp.Body.Close()
			if h, _ := host.Load().(string); !strings.HasPrefix(base, "https://"+h) {
				t.Errorf("upstream saw Host %q, want the proxy's (%s)", h, base)
			}
			resp, err = c.Post(base+"/finalize-order/1", "application/jose+json", strings.NewReader("{}"))
			forwarded := hits.Load() - before - 1
			switch kind {
			case Drop:
				if err == nil {
					resp.Body.Close()
					t.Fatalf("dropped connection: got a response %d", resp.StatusCode)
				}
				if forwarded != 1 {
					t.Errorf("dropped: the upstream got %d requests, want 1", forwarded)
				}
			case Malformed:
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				var v any
				if json.Unmarshal(b, &v) == nil || forwarded != 1 {
					t.Errorf("malformed: body %q parses, or forwarded %d times", b, forwarded)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				want := map[Kind]int{Status500: 500, Status503: 503, Status429: 429}[kind]
				if resp.StatusCode != want || forwarded != 0 {
					t.Errorf("status %d (want %d), forwarded %d (want 0)", resp.StatusCode, want, forwarded)
				}
				if ra := resp.Header.Get("Retry-After"); (kind != Status500) != (ra == "1") {
					t.Errorf("Retry-After %q", ra)
				}
			}
			if p.Fired() != 1 {
				t.Errorf("Fired = %d, want 1", p.Fired())
			}
			// Spent: the next finalize passes.
			resp, err = c.Post(base+"/finalize-order/1", "application/jose+json", strings.NewReader("{}"))
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("after the fault: %v %v", resp, err)
			}
			resp.Body.Close()
		})
	}
}
