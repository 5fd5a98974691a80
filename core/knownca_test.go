package core

import "testing"

// TestKnownCAs: every short name users of acme.sh and lego expect
// resolves, over https, with its EAB requirement recorded.
func TestKnownCAs(t *testing.T) {
	want := map[string]bool{"letsencrypt": false, "letsencrypt-staging": false, "zerossl": true,
		"google": true, "google-staging": true, "buypass": false, "sslcom": true}
	for name, eab := range want {
		c, ok := KnownCAByName(name)
		if !ok || c.EAB != eab || len(c.DirectoryURL) < 9 || c.DirectoryURL[:8] != "https://" {
			t.Errorf("%s: %+v, %v", name, c, ok)
		}
		if u, ok := knownCAByURL(c.DirectoryURL); !ok || u.Name != name {
			t.Errorf("%s by URL: %+v", name, u)
		}
	}
	if len(KnownCAs()) != len(want) {
		t.Errorf("%d known CAs, want %d", len(KnownCAs()), len(want))
	}
	if _, ok := KnownCAByName("LetsEncrypt"); !ok {
		t.Error("short names are case-insensitive")
	}
}
