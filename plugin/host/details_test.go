package host

import (
	"strings"
	"testing"

	"github.com/zonecert/zonecert/plugin"
)

func TestDetailsOnlyForPluginsThatAsk(t *testing.T) {
	recs := []plugin.Record{{ID: "1", FQDN: "f.", Value: "v", Identifier: "d", Token: "t", KeyAuthorization: "t.k"}}
	if got := forPlugin(plugin.Capabilities{}, recs)[0]; got.Identifier != "" || got.Token != "" || got.KeyAuthorization != "" || got.Value != "v" {
		t.Fatalf("a plugin without challenge_details got %+v", got)
	}
	if got := forPlugin(plugin.Capabilities{ChallengeDetails: true}, recs)[0]; got.KeyAuthorization != "t.k" || got.Token != "t" || got.Identifier != "d" {
		t.Fatalf("a plugin with challenge_details got %+v", got)
	}
	if recs[0].Token != "t" {
		t.Fatal("forPlugin changed the caller's records")
	}
}

// TestBridgeEnvIsTheChosenVariants: a bridge plugin gets the environment
// of the provider it hosts for this run, nothing of another's.
func TestBridgeEnvIsTheChosenVariants(t *testing.T) {
	meta := plugin.Metadata{
		Selector: "provider",
		Settings: []plugin.SettingSpec{{Name: "provider", Env: []string{"LEGO_PROVIDER"}}},
		Variants: []plugin.Variant{
			{Name: "httpreq", Settings: []plugin.SettingSpec{{Name: "httpreq_password", Env: []string{"HTTPREQ_PASSWORD"}, Secret: true}}},
			{Name: "dnsupdate", Settings: []plugin.SettingSpec{{Name: "dnsupdate_tsig_secret", Env: []string{"DNSUPDATE_TSIG_SECRET"}, Secret: true}}},
		},
	}
	env := map[string]string{"LEGO_PROVIDER": "dnsupdate", "HTTPREQ_PASSWORD": "other", "DNSUPDATE_TSIG_SECRET": "s", "UNRELATED": "u"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	chosen, _ := meta.SelectVariant(nil, lookup)
	got := pluginEnv(&chosen, lookup, nil)
	want := []string{"LEGO_PROVIDER=dnsupdate", "DNSUPDATE_TSIG_SECRET=s"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("plugin environment %q; want %q", got, want)
	}
}

func TestResolversForPluginsThatDeclareThem(t *testing.T) {
	meta := plugin.Metadata{Settings: []plugin.SettingSpec{{Name: plugin.ResolversSetting, Env: []string{"LEGO_DNS_RESOLVERS"}}}}
	none := func(string) (string, bool) { return "", false }
	if got := withResolvers(meta, nil, []string{"127.0.0.1:53", "[::1]:53"}, none); got[plugin.ResolversSetting] != "127.0.0.1:53,[::1]:53" {
		t.Fatalf("settings %v", got)
	}
	if got := withResolvers(meta, map[string]string{"resolvers": "10.0.0.1:53"}, []string{"127.0.0.1:53"}, none); got["resolvers"] != "10.0.0.1:53" {
		t.Fatalf("the user's setting was overridden: %v", got)
	}
	if got := withResolvers(plugin.Metadata{}, nil, []string{"127.0.0.1:53"}, none); len(got) != 0 {
		t.Fatalf("a plugin that does not declare the setting got %v", got)
	}
}
