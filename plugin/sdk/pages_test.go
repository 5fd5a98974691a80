package sdk

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

type page struct {
	Items []string `json:"items"`
	Next  string   `json:"next"`
}

func TestEachPage(t *testing.T) {
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.RequestURI() {
		case "/records":
			_, _ = w.Write([]byte(`{"items":["a","b"],"next":"` + srv.URL + `/records?cursor=2"}`))
		case "/records?cursor=2":
			_, _ = w.Write([]byte(`{"items":["c"],"next":""}`))
		case "/loop":
			_, _ = w.Write([]byte(`{"items":["x"],"next":"/loop"}`))
		case "/away":
			_, _ = w.Write([]byte(`{"items":["x"],"next":"http://elsewhere.test/records"}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	c := &JSONAPI{Base: srv.URL}
	var got []string
	collect := func(p page) error { got = append(got, p.Items...); return nil }
	nextOf := func(p page) string { return p.Next }
	if err := EachPage(t.Context(), c, "/records", nextOf, collect); err != nil || !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("absolute next links: %v, %v", got, err)
	}
	if err := EachPage(t.Context(), c, "/loop", nextOf, collect); err == nil || !strings.Contains(err.Error(), "links back") {
		t.Fatalf("a loop: %v", err)
	}
	if err := EachPage(t.Context(), c, "/away", nextOf, collect); err == nil || !strings.Contains(err.Error(), "leaves") {
		t.Fatalf("a link to another host: %v", err)
	}
}
