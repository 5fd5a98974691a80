package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecert/zonecert/internal/testenv"
	"github.com/zonecert/zonecert/plugin"
	"github.com/zonecert/zonecert/plugin/conformance"
	"github.com/zonecert/zonecert/plugin/host"
)

// httpreqServer is what lego's httpreq provider talks to: POST /present
// and /cleanup with {"fqdn","value"} behind basic auth. It publishes into
// BIND with RFC 2136, keeping the TTL of an existing RRset as a real
// server would, so the kit checks real outcomes.
func httpreqServer(t *testing.T, b *testenv.BIND, zone, user, pass string) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "want a JSON POST", http.StatusBadRequest)
			return
		}
		var m struct{ FQDN, Value string }
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil || m.FQDN == "" || m.Value == "" {
			http.Error(w, "want {fqdn, value}", http.StatusBadRequest)
			return
		}
		if !dns.IsSubDomain(zone, dns.CanonicalName(m.FQDN)) {
			http.Error(w, "not in zone "+zone, http.StatusNotFound)
			return
		}
		ttl := uint32(60)
		if rr, err := existingTTL(b, m.FQDN); err == nil && rr > 0 {
			ttl = rr
		}
		rr := fmt.Sprintf("%s %d IN TXT %q", m.FQDN, ttl, m.Value)
		var err error
		switch r.URL.Path {
		case "/present":
			err = b.Update(r.Context(), zone, []string{rr}, nil)
		case "/cleanup":
			err = b.Update(r.Context(), zone, nil, []string{rr})
		default:
			http.NotFound(w, r)
			return
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
		}
	}))
	ln, err := net.Listen("tcp", testenv.LoopbackAddr(t).String()+":0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// existingTTL is the TTL BIND serves for the TXT RRset at name, 0 if none.
func existingTTL(b *testenv.BIND, name string) (uint32, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.CanonicalName(name), dns.TypeTXT)
	c := &dns.Client{Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, net.JoinHostPort(b.Primary.String(), "53"))
	if err != nil {
		return 0, err
	}
	for _, a := range r.Answer {
		return a.Header().Ttl, nil
	}
	return 0, nil
}

// TestHTTPReqConformance runs the kit against lego's httpreq provider,
// through the plugin binary, with a server publishing into BIND9.
func TestHTTPReqConformance(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("needs BIND9")
	}
	b := testenv.StartBIND(t, testenv.BINDConfig{Zones: []testenv.Zone{{Name: "example.test"}}})
	srv := httpreqServer(t, b, "example.test.", "zc", "s3cret-httpreq")
	env := map[string]string{
		"LEGO_PROVIDER":      "httpreq",
		"HTTPREQ_ENDPOINT":   srv.URL,
		"HTTPREQ_USERNAME":   "zc",
		"HTTPREQ_PASSWORD":   "s3cret-httpreq",
		"HTTPREQ_RAW_MODE":   "false",
		"UNRELATED_SECRET":   "must-not-reach-the-plugin",
		"DNSUPDATE_TSIG_KEY": "another-provider's",
	}
	conformance.Run(t, conformance.Config{
		Target: conformance.Binary(legoBinary(t), host.Config{
			Name: "lego", LookupEnv: envOf(env), Resolvers: []string{b.Primary.String() + ":53"},
		}),
		Zone:         "example.test.",
		Nameservers:  []string{b.Primary.String() + ":53"},
		Timeout:      10 * time.Second,
		PollInterval: 50 * time.Millisecond,
		TTL:          60,
		Capabilities: plugin.Capabilities{ChallengeDetails: true},
	})
}
