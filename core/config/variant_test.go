package config

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/zonecert/zonecert/plugin"
)

// TestBridgeInstanceSettings: an instance of a bridge plugin (lego) takes
// the settings of the provider its selector setting chooses, not another
// provider's; its Meta holds them, so the daemon hides their variables
// from the instance's environment; and the resolvers setting, filled from
// [dns] resolvers, may be left out.
func TestBridgeInstanceSettings(t *testing.T) {
	describe := func(context.Context, string, string, string, []string, string) (plugin.Metadata, error) {
		return plugin.Metadata{Name: "bridge", Selector: "provider",
			Settings: []plugin.SettingSpec{
				{Name: "provider", Env: []string{"BRIDGE_PROVIDER"}, Required: true},
				{Name: plugin.ResolversSetting, Env: []string{"BRIDGE_RESOLVERS"}, Required: true},
			},
			Variants: []plugin.Variant{
				{Name: "one", Settings: []plugin.SettingSpec{{Name: "one_token", Env: []string{"ONE_TOKEN"}, Secret: true, Required: true}}},
				{Name: "two", Settings: []plugin.SettingSpec{{Name: "two_key", Env: []string{"TWO_KEY"}}}},
			}}, nil
	}
	parse := func(settings string) (*Config, error) {
		doc := "state = \"/tmp/zc\"\n[acme]\nserver = \"https://127.0.0.1:1/dir\"\nagree_tos = true\n[dns]\nresolvers = [\"127.0.0.1\"]\n" +
			"[providers.b]\nplugin = \"bridge\"\nsettings = { " + settings + " }\n"
		return Parse(t.Context(), "b.toml", []byte(doc), 0o600, Options{Describe: describe,
			LookupEnv: func(k string) (string, bool) { return "t", k == "TOKEN" }})
	}
	cfg, err := parse(`provider = "one", one_token = "${TOKEN}"`)
	if err != nil {
		t.Fatal(err)
	}
	var envs []string
	for _, s := range cfg.Providers["b"].Meta.Settings {
		envs = append(envs, s.Env...)
	}
	if !slices.Contains(envs, "ONE_TOKEN") || slices.Contains(envs, "TWO_KEY") {
		t.Fatalf("instance settings' variables %v, want the chosen provider's", envs)
	}
	for settings, want := range map[string]string{
		`provider = "one", one_token = "${TOKEN}", two_key = "k"`: `no setting "two_key"`,
		`provider = "one"`: `needs setting "one_token"`,
	} {
		if _, err := parse(settings); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("settings {%s}: error %v, want %q", settings, err, want)
		}
	}
}
