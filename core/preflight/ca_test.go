package preflight_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/zonecert/zonecert/core/preflight"
	"github.com/zonecert/zonecert/internal/testenv"
)

// The CA check against real Pebble: what it offers, EAB required and not
// given, an unknown profile, a clock 2 minutes off (from the Date header),
// (whole seconds: 2m0s or 2m1s) and an unreachable directory.
func TestCheckCA(t *testing.T) {
	pebble := testenv.StartPebble(t, testenv.PebbleOptions{DNSServer: "127.0.0.1:53", EAB: map[string]string{"kid-1": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2U"}})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	skewed := func(d time.Duration) func() time.Time { return func() time.Time { return time.Now().Add(d) } }
	cases := []struct {
		name string
		now  func() time.Time
		opts preflight.CAOptions
		want preflight.Severity
		msg  string
	}{
		{"offers", nil, preflight.CAOptions{HasEAB: true}, preflight.OK, "directory reachable: ARI; profiles default, shortlived"},
		{"EAB required", nil, preflight.CAOptions{}, preflight.Error, "requires External Account Binding"},
		{"unknown profile", nil, preflight.CAOptions{HasEAB: true, Profile: "nope"}, preflight.Error, `no profile "nope"`},
		{"clock skew", skewed(2 * time.Minute), preflight.CAOptions{HasEAB: true}, preflight.Warning, "this clock is 2m"},
		{"unreachable", nil, preflight.CAOptions{DirectoryURL: "https://127.0.0.1:1/dir"}, preflight.Error, "directory unreachable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := preflight.New(preflight.Config{HTTPClient: pebble.HTTPClient, Now: tc.now})
			if tc.opts.DirectoryURL == "" {
				tc.opts.DirectoryURL = pebble.DirectoryURL
			}
			fs, _ := c.CheckCA(ctx, tc.opts)
			if preflight.Worst(fs) != tc.want || !strings.Contains(dump(fs), tc.msg) {
				t.Errorf("want %s %q:\n%s", tc.want, tc.msg, dump(fs))
			}
		})
	}
}
