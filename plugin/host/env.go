package host

import "github.com/zonecert/zonecert/plugin"

// baseEnv lists what every plugin gets: enough to run programs and reach
// the network through a proxy, nothing that identifies credentials.
func baseEnv() []string {
	return []string{
		"PATH", "HOME", "TMPDIR",
		"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
		"http_proxy", "https_proxy", "no_proxy", "all_proxy",
	}
}

// pluginEnv builds a plugin's environment: the base variables, plus those
// its metadata declares (settings' env and PassEnv), and nothing else from
// the host. A nil meta gives the base only (used for describe).
func pluginEnv(meta *plugin.Metadata, lookupEnv func(string) (string, bool)) []string {
	names := baseEnv()
	if meta != nil {
		for _, s := range meta.Settings {
			names = append(names, s.Env...)
		}
		names = append(names, meta.PassEnv...)
	}
	seen := make(map[string]bool, len(names))
	var env []string
	for _, n := range names {
		if n == "" || seen[n] {
			continue
		}
		seen[n] = true
		if v, ok := lookupEnv(n); ok {
			env = append(env, n+"="+v)
		}
	}
	if env == nil {
		// A nil Env would make os/exec inherit the host's environment.
		env = []string{}
	}
	return env
}
