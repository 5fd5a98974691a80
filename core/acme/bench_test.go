package acme

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
)

// BenchmarkSignedPost measures one signed request (§6.2) end to end:
// taking a pooled nonce, signing the JWS, sending it over a kept-alive
// loopback connection and reading the answer, whose Replay-Nonce refills the
// pool. The server does no verification, so signing and the client's HTTP
// path are what is measured. The sign-only variants isolate the JWS cost.
func BenchmarkSignedPost(b *testing.B) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Replay-Nonce", "n"+strconv.FormatInt(n.Add(1), 10))
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"valid"}`))
	}))
	b.Cleanup(srv.Close)
	payload := []byte(`{"identifiers":[{"type":"dns","value":"www.example.com"}]}`)
	for _, kt := range []KeyType{KeyECDSAP256, KeyECDSAP384, KeyRSA2048} {
		key := mustKey(b, kt)
		alg, err := signatureAlgorithm(key)
		if err != nil {
			b.Fatal(err)
		}
		k := signingKey{key: key, kid: srv.URL + "/acct/1"}
		b.Run(string(alg), func(b *testing.B) {
			c, err := New(Options{DirectoryURL: srv.URL + "/dir", HTTPClient: srv.Client(), AllowInsecureHTTP: true})
			if err != nil {
				b.Fatal(err)
			}
			c.nonces.push("seed")
			ctx := b.Context()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.post(ctx, k, srv.URL+"/order", payload, false, contentTypeJSON); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(string(alg)+"/sign-only", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := signJWS(k, srv.URL+"/order", "nonce", payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
