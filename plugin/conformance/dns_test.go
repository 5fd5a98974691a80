package conformance

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/zonecert/zonecert/plugin"
	"github.com/zonecert/zonecert/plugin/conformance/dnstest"
)

// TestQueryTXTFallsBackToTCP: 40 values do not fit a 1232-octet UDP answer,
// so the server truncates and only the TCP retry returns them all.
func TestQueryTXTFallsBackToTCP(t *testing.T) {
	var values []string
	for i := range 40 {
		values = append(values, fmt.Sprintf("%02d-%s", i, strings.Repeat("v", 40)))
	}
	long := strings.Repeat("x", 600) // split into 255-octet strings, joined back
	srv := dnstest.Start(t, "example.test.", func(fqdn string) []string {
		switch fqdn {
		case "many.example.test.":
			return values
		case "long.example.test.":
			return []string{long}
		}
		return nil
	})
	got, err := queryTXT(t.Context(), srv.Addr(), "many.example.test.")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, values) {
		t.Errorf("got %d values, want %d: %q", len(got), len(values), got)
	}
	got, err = queryTXT(t.Context(), srv.Addr(), "long.example.test.")
	if err != nil || len(got) != 1 || got[0] != long {
		t.Errorf("long value: got %q, %v", got, err)
	}
	got, err = queryTXT(t.Context(), srv.Addr(), "none.example.test.")
	if err != nil || len(got) != 0 {
		t.Errorf("NXDOMAIN name: got %q, %v; want no values, no error", got, err)
	}
}

// TestQueryTXTRejectsNonAuthoritative: a server that is not authoritative
// for the name (REFUSED here) is a misconfiguration, not "no records".
func TestQueryTXTRejectsNonAuthoritative(t *testing.T) {
	srv := dnstest.Start(t, "example.test.", func(string) []string { return nil })
	if _, err := queryTXT(t.Context(), srv.Addr(), "x.other.test."); err == nil || !strings.Contains(err.Error(), "REFUSED") {
		t.Errorf("query outside the zone: err = %v, want REFUSED", err)
	}
}

func TestJudge(t *testing.T) {
	cases := []struct {
		e      expect
		values []string
		want   string
	}{
		{expect{present: []string{"a", "b"}}, []string{"b", "a", "c"}, ""},
		{expect{present: []string{"a", "b"}}, []string{"a"}, `missing "b"`},
		{expect{present: []string{"a"}, once: true}, []string{"a", "a"}, `2 copies of "a"`},
		{expect{present: []string{"a"}}, []string{"a", "a"}, ""},
		{expect{present: []string{"b"}, absent: []string{"a"}}, []string{"a", "b"}, `still serving "a"`},
		{expect{absent: []string{"a"}}, nil, ""},
	}
	for _, c := range cases {
		if got := c.e.judge(c.values); got != c.want {
			t.Errorf("%+v judge(%q) = %q, want %q", c.e, c.values, got, c.want)
		}
	}
}

func TestMatchResults(t *testing.T) {
	recs := []plugin.Record{{ID: "a"}, {ID: "b"}}
	cases := []struct {
		name string
		res  []plugin.Result
		want string // substring of the error; "" for success
	}{
		{"any order", []plugin.Result{{ID: "b"}, {ID: "a"}}, ""},
		{"missing", []plugin.Result{{ID: "a"}}, `no result for ID "b"`},
		{"unknown", []plugin.Result{{ID: "a"}, {ID: "c"}}, `unknown ID "c"`},
		{"duplicate", []plugin.Result{{ID: "a"}, {ID: "a"}, {ID: "b"}}, `two results for ID "a"`},
		{"positional", []plugin.Result{{ID: ""}, {ID: ""}}, `unknown ID ""`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := matchResults(recs, c.res)
			switch {
			case c.want == "" && (err != nil || len(got) != 2):
				t.Errorf("got %v, %v; want two results", got, err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("err = %v, want %q", err, c.want)
			}
		})
	}
}

func TestConfigValidation(t *testing.T) {
	good := Config{Target: InProcess("x", nil), Zone: "Example.TEST", Nameservers: []string{"127.0.0.1:53"}}
	cfg, err := good.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Zone != "example.test." || !strings.HasPrefix(cfg.Prefix, "zc-conformance-") || cfg.Timeout == 0 {
		t.Errorf("defaults not applied: %+v", cfg)
	}
	for name, mutate := range map[string]func(*Config){
		"no open":        func(c *Config) { c.Target.Open = nil },
		"no zone":        func(c *Config) { c.Zone = "" },
		"bad zone":       func(c *Config) { c.Zone = "a..b" },
		"no nameservers": func(c *Config) { c.Nameservers = nil },
	} {
		c := good
		mutate(&c)
		if _, err := c.withDefaults(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
