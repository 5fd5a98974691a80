package acme

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// seeds adds every testdata file whose name starts with prefix to the
// corpus; under plain `go test` they run as ordinary test cases.
func seeds(f *testing.F, prefix string) {
	f.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", prefix+"*"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no testdata seeds for %s: %v", prefix, err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func FuzzProblem(f *testing.F) {
	seeds(f, "problem-")
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"type":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodeProblem(b)
		if err != nil {
			return
		}
		if p.Type == "" {
			t.Fatal("decoded problem without type")
		}
		if !strings.HasPrefix(p.Error(), "acme: ") {
			t.Fatalf("error %q lacks the package prefix", p.Error())
		}
		_ = p.LogValue().String()
		again, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		q, err := decodeProblem(again)
		if err != nil {
			t.Fatalf("re-encoded problem does not decode: %v", err)
		}
		if q.Type != p.Type || q.Detail != p.Detail || len(q.Subproblems) != len(p.Subproblems) {
			t.Fatalf("round trip changed the problem: %+v became %+v", p, q)
		}
	})
}

func FuzzDirectory(f *testing.F) {
	seeds(f, "directory-")
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := decodeDirectory(b)
		if err != nil {
			return
		}
		for _, u := range []string{d.NewNonce, d.NewAccount, d.NewOrder, d.RevokeCert, d.KeyChange} {
			if checkURL(u) != nil {
				t.Fatalf("accepted directory with bad URL %q", u)
			}
		}
		again, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := decodeDirectory(again); err != nil {
			t.Fatalf("re-encoded directory does not decode: %v", err)
		}
	})
}

func FuzzOrder(f *testing.F) {
	seeds(f, "order-")
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := decodeOrder(b)
		if err != nil {
			return
		}
		if o.Status == StatusValid && o.Certificate == "" {
			t.Fatal("valid order without certificate URL accepted")
		}
		if o.Status == StatusInvalid {
			_ = orderInvalid(o).Error()
		}
		again, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := decodeOrder(again); err != nil {
			t.Fatalf("re-encoded order does not decode: %v", err)
		}
	})
}

func FuzzAuthorization(f *testing.F) {
	seeds(f, "authorization-")
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := decodeAuthorization(b)
		if err != nil {
			return
		}
		if a.Identifier.Value == "" {
			t.Fatal("authorization without identifier accepted")
		}
		if a.Status != StatusValid && a.Status != StatusPending {
			_ = authorizationFailed(a).Error()
		}
		again, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := decodeAuthorization(again); err != nil {
			t.Fatalf("re-encoded authorization does not decode: %v", err)
		}
	})
}

func FuzzRenewalInfo(f *testing.F) {
	seeds(f, "renewalinfo-")
	f.Fuzz(func(t *testing.T, b []byte) {
		ri, err := decodeRenewalInfo(b)
		if err != nil {
			return
		}
		w := ri.SuggestedWindow
		if !w.End.After(w.Start) {
			t.Fatal("empty window accepted")
		}
		if rt := w.RandomTime(); rt.Before(w.Start) || !rt.Before(w.End) {
			t.Fatalf("RandomTime %s outside [%s, %s)", rt, w.Start, w.End)
		}
	})
}

func FuzzChain(f *testing.F) {
	seeds(f, "chain-")
	f.Fuzz(func(t *testing.T, b []byte) {
		chain, err := decodeChain(b)
		if err != nil {
			return
		}
		if len(chain) == 0 {
			t.Fatal("empty chain accepted")
		}
	})
}

func FuzzLinks(f *testing.F) {
	f.Add(`<https://a.example/cert/1/alternate/1>;rel="alternate", <https://a.example/dir>;rel="index"`)
	f.Add(`<https://a.example/x,y>; rel="alternate up"`)
	f.Fuzz(func(t *testing.T, h string) {
		r := &response{header: map[string][]string{"Link": {h}}}
		for _, l := range r.links("alternate") {
			if strings.ContainsAny(l, "<>") {
				t.Fatalf("link target %q keeps angle brackets", l)
			}
		}
	})
}

// TestSeeds pins which seeds are valid, so that the decoders' checks are
// themselves tested.
func TestSeeds(t *testing.T) {
	t.Parallel()
	decoders := map[string]func([]byte) error{
		"problem-":       func(b []byte) error { _, err := decodeProblem(b); return err },
		"directory-":     func(b []byte) error { _, err := decodeDirectory(b); return err },
		"order-":         func(b []byte) error { _, err := decodeOrder(b); return err },
		"authorization-": func(b []byte) error { _, err := decodeAuthorization(b); return err },
		"renewalinfo-":   func(b []byte) error { _, err := decodeRenewalInfo(b); return err },
		"chain-":         func(b []byte) error { _, err := decodeChain(b); return err },
	}
	invalid := map[string]bool{
		"directory-missing-neworder.json": true,
		"renewalinfo-reversed.json":       true,
		"chain-truncated.pem":             true,
	}
	files, _ := filepath.Glob("testdata/*")
	for _, p := range files {
		name := filepath.Base(p)
		var dec func([]byte) error
		for prefix, d := range decoders {
			if strings.HasPrefix(name, prefix) {
				dec = d
			}
		}
		if dec == nil {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := dec(b); (err != nil) != invalid[name] {
			t.Errorf("%s: error %v, want invalid=%v", name, err, invalid[name])
		}
	}
	p, _ := decodeProblem(mustRead(t, "testdata/problem-about-blank.json"))
	if p.Type != "about:blank" {
		t.Errorf("problem without type has type %q, want about:blank (RFC 9457 §4.2.1)", p.Type)
	}
	a, _ := decodeAuthorization(mustRead(t, "testdata/authorization-invalid.json"))
	if err := authorizationFailed(a); !IsProblem(err, ProblemDNS) {
		t.Errorf("failed authorization error %v does not wrap its dns problem", err)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzPersistRecord: whatever parses writes back to a record that parses
// to the same thing.
func FuzzPersistRecord(f *testing.F) {
	seeds(f, "persist-")
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParsePersistRecord(string(b))
		if err != nil {
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("parsed record %+v does not validate: %v", r, err)
		}
		again, err := ParsePersistRecord(r.String())
		if err != nil {
			t.Fatalf("%q → %q does not parse: %v", b, r.String(), err)
		}
		if again.Issuer != r.Issuer || again.AccountURI != r.AccountURI || again.Wildcard != r.Wildcard || !again.Until.Equal(r.Until) {
			t.Fatalf("round trip changed %+v into %+v", r, again)
		}
	})
}
