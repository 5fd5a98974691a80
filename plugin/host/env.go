package host

import (
	"log/slog"
	"strings"

	"github.com/zonecert/zonecert/plugin"
)

// baseEnv lists what every plugin gets: enough to run programs, format
// text and reach the network through a proxy, nothing that identifies
// credentials.
func baseEnv() []string {
	return []string{
		"PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "TZ",
		"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
		"http_proxy", "https_proxy", "no_proxy", "all_proxy",
	}
}

// ownPrefix marks zonecert's own variables (ZONECERT_EAB_HMAC, ...): no
// plugin ever gets one, whatever it declares or the user allows.
const ownPrefix = "ZONECERT_"

// pluginEnv builds a plugin's environment: the base variables, the
// variables of its settings (their env), and the variables of pass allowed
// by the user (Config.PassEnv), never zonecert's own, and nothing else
// from the host. What the plugin lists in PassEnv is only a request: it
// gets none of it unless allowed. A nil meta gives the base only (used for
// describe).
func pluginEnv(meta *plugin.Metadata, lookupEnv func(string) (string, bool), allow []string) []string {
	names := baseEnv()
	if meta != nil {
		for _, s := range meta.Settings {
			names = append(names, s.Env...)
		}
		for _, n := range meta.PassEnv {
			if allowed(allow, n) {
				names = append(names, n)
			}
		}
		// A pattern such as AWS_* passes what it matches even if the
		// plugin did not list it; a plain name passes that name.
		for _, a := range allow {
			if !strings.HasSuffix(a, "*") {
				names = append(names, a)
			}
		}
	}
	seen := make(map[string]bool, len(names))
	var env []string
	for _, n := range names {
		if n == "" || seen[n] || strings.HasPrefix(n, ownPrefix) || strings.ContainsRune(n, '=') {
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

// allowed reports whether name is on the user's allow-list: an exact name
// or a prefix pattern ending in '*'.
func allowed(allow []string, name string) bool {
	for _, a := range allow {
		if p, ok := strings.CutSuffix(a, "*"); ok && strings.HasPrefix(name, p) || a == name {
			return true
		}
	}
	return false
}

// logWithheld tells the operator which variables the plugin asked for in
// pass_env, that are set, and that it does not get: the usual reason a
// vendor SDK then finds no credentials.
func logWithheld(log *slog.Logger, meta plugin.Metadata, lookupEnv func(string) (string, bool), allow []string) {
	var withheld []string
	for _, n := range meta.PassEnv {
		if _, set := lookupEnv(n); set && !allowed(allow, n) && !strings.HasPrefix(n, ownPrefix) {
			withheld = append(withheld, n)
		}
	}
	if len(withheld) > 0 {
		log.Info("plugin asks for environment variables it does not get (allow them with --plugin-pass-env or pass_env)",
			slog.Any("withheld", withheld))
	}
}
