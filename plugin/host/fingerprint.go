package host

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"

	"github.com/zonecert/zonecert/plugin"
)

// Fingerprint names this provider and its settings for the cleanup journal:
// "<name>" or "<name>@<12 hex digits>", a hash of the values of the
// settings the plugin does not mark secret (from the settings file or the
// environment). Two runs against the same server and zone get the same
// instance; a run with another server or provider gets another, and the
// engine never hands it records it did not present. Secret values stay out,
// so rotating a credential keeps the instance (and leaks nothing).
func (c *Client) Fingerprint() string { return c.fingerprint }

func fingerprintOf(name string, meta plugin.Metadata, settings map[string]string, lookupEnv func(string) (string, bool)) string {
	var parts []string
	for _, s := range meta.Settings {
		if s.Secret {
			continue
		}
		v, ok := settings[s.Name]
		for _, e := range s.Env {
			if ok {
				break
			}
			v, ok = lookupEnv(e)
		}
		if ok && v != "" {
			parts = append(parts, s.Name+"="+v)
		}
	}
	if len(parts) == 0 {
		return name
	}
	slices.Sort(parts)
	sum := sha256.Sum256([]byte(strings.Join(parts, "\n")))
	return name + "@" + hex.EncodeToString(sum[:6])
}
