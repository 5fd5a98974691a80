package faultproxy

import (
	"context"
	"encoding/base64"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// upstream answers every request with its path and records the bodies it
// got; a newOrder is created (201) unless its body says "refuse".
func upstream(t *testing.T, bodies chan<- string) *httptest.Server {
	up := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if bodies != nil {
			bodies <- string(b)
		}
		if strings.HasSuffix(r.URL.Path, "/refuse") {
			w.WriteHeader(http.StatusBadRequest)
		} else if strings.HasPrefix(r.URL.Path, "/order-plz") {
			if strings.Contains(string(b), "refuse") {
				w.WriteHeader(http.StatusBadRequest)
			} else {
				w.WriteHeader(http.StatusCreated)
			}
		}
		_, _ = io.WriteString(w, "answer to "+r.URL.Path)
	}))
	t.Cleanup(up.Close)
	return up
}

func jws(payload string) string {
	return `{"protected":"e30","payload":"` + base64.RawURLEncoding.EncodeToString([]byte(payload)) + `","signature":"c2ln"}`
}

// Orders counts each identifier of each order created, OrderRequests of
// each newOrder request; the body passes on unchanged, and what the proxy
// cannot read counts under a name no test expects.
func TestOrdersCountsIdentifiers(t *testing.T) {
	t.Parallel()
	bodies := make(chan string, 10)
	up := upstream(t, bodies)
	p, err := Start(up.URL+"/dir", up.Client().Transport)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	base := strings.TrimSuffix(p.DirectoryURL, "/dir")
	for _, body := range []string{
		jws(`{"identifiers":[{"type":"dns","value":"a.test"},{"type":"dns","value":"*.a.test"}]}`),
		jws(`{"identifiers":[{"type":"dns","value":"a.test"}]}`),
		strings.Replace(jws(`{"identifiers":[{"type":"dns","value":"a.test"}]}`), `{`, `{"refuse":1,`, 1),
		`not json`,
	} {
		resp, err := p.Client().Post(base+"/order-plz", "application/jose+json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := <-bodies; got != body {
			t.Errorf("upstream got %q, want %q", got, body)
		}
	}
	// Not a newOrder: not counted.
	resp, err := p.Client().Post(base+"/finalize-order/1", "application/jose+json", strings.NewReader(jws(`{"identifiers":[{"value":"x.test"}]}`)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	<-bodies
	want := map[string]int{"a.test": 2, "*.a.test": 1, unparsed: 1}
	if got := p.Orders(); !maps.Equal(got, want) {
		t.Errorf("Orders = %v, want %v", got, want)
	}
	want["a.test"] = 3
	if got := p.OrderRequests(); !maps.Equal(got, want) {
		t.Errorf("OrderRequests = %v, want %v", got, want)
	}
}

// A held step reaches the upstream at once; its answer reaches the client
// only on Release. An error answer is not held (the hold stays armed);
// other requests pass meanwhile.
func TestHoldKeepsTheAnswer(t *testing.T) {
	t.Parallel()
	up := upstream(t, nil)
	p, err := Start(up.URL+"/dir", up.Client().Transport)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	base := strings.TrimSuffix(p.DirectoryURL, "/dir")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	h := p.Hold("certificate")
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/certZ/refuse", nil)
	resp, err := p.Client().Do(req)
	if err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("an error answer: %v %v, want it passed at once", resp, err)
	}
	resp.Body.Close()
	got := make(chan string, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/certZ/1", nil)
		resp, err := p.Client().Do(req)
		if err != nil {
			got <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got <- string(b)
	}()
	select {
	case <-h.Reached():
	case <-ctx.Done():
		t.Fatal("the request was not held")
	}
	if a := string(h.Answer()); a != "answer to /certZ/1" {
		t.Errorf("Answer = %q", a)
	}
	// The hold is spent on the first request; others pass.
	req, _ = http.NewRequestWithContext(ctx, http.MethodPost, base+"/certZ/2", nil)
	resp, err = p.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	select {
	case g := <-got:
		t.Fatalf("the held answer arrived before Release: %q", g)
	case <-time.After(100 * time.Millisecond):
	}
	h.Release()
	select {
	case g := <-got:
		if g != "answer to /certZ/1" {
			t.Errorf("client got %q", g)
		}
	case <-ctx.Done():
		t.Fatal("the released answer never arrived")
	}
}
