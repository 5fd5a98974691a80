package host

import "github.com/zonecert/zonecert/plugin"

// forPlugin returns recs as the plugin may see them: the ACME details
// (identifier, token, key authorization) only for a plugin that declares
// Capabilities.ChallengeDetails. The key authorization is not secret, but
// a plugin that does not need it gets nothing it did not ask for.
func forPlugin(caps plugin.Capabilities, recs []plugin.Record) []plugin.Record {
	if caps.ChallengeDetails {
		return recs
	}
	out := make([]plugin.Record, len(recs))
	for i, r := range recs {
		out[i] = r.WithoutChallengeDetails()
	}
	return out
}
