package host

import (
	"maps"
	"strings"

	"github.com/zonecert/zonecert/plugin"
)

// withResolvers returns settings with plugin.ResolversSetting set to
// resolvers when the plugin declares that setting and neither the
// settings nor its environment variables give it: a plugin that asks DNS
// itself then uses zonecert's resolvers. settings is not modified.
func withResolvers(meta plugin.Metadata, settings map[string]string, resolvers []string,
	lookupEnv func(string) (string, bool)) map[string]string {
	if len(resolvers) == 0 {
		return settings
	}
	for _, s := range meta.Settings {
		if s.Name != plugin.ResolversSetting {
			continue
		}
		if _, set := settings[s.Name]; set {
			return settings
		}
		for _, e := range s.Env {
			if v, ok := lookupEnv(e); ok && v != "" {
				return settings
			}
		}
		out := maps.Clone(settings)
		if out == nil {
			out = map[string]string{}
		}
		out[s.Name] = strings.Join(resolvers, ",")
		return out
	}
	return settings
}
