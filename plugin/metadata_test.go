package plugin

import (
	"slices"
	"testing"
)

func TestSelectVariant(t *testing.T) {
	m := Metadata{
		Selector: "provider",
		Settings: []SettingSpec{{Name: "provider", Env: []string{"LEGO_PROVIDER"}}},
		Variants: []Variant{
			{Name: "a", Settings: []SettingSpec{{Name: "a_token", Env: []string{"A_TOKEN"}}}},
			{Name: "b", Settings: []SettingSpec{{Name: "b_token", Env: []string{"B_TOKEN"}}}},
		},
	}
	envOf := func(m Metadata) []string {
		var out []string
		for _, s := range m.Settings {
			out = append(out, s.Env...)
		}
		return out
	}
	env := func(k string) (string, bool) { return map[string]string{"LEGO_PROVIDER": "b"}[k], k == "LEGO_PROVIDER" }
	got, ok := m.SelectVariant(nil, env)
	if !ok || !slices.Equal(envOf(got), []string{"LEGO_PROVIDER", "B_TOKEN"}) || got.Variants != nil {
		t.Fatalf("from the environment: ok=%v %v", ok, envOf(got))
	}
	// A setting wins over the environment, as in Configure.
	got, ok = m.SelectVariant(map[string]string{"provider": "a"}, env)
	if !ok || !slices.Equal(envOf(got), []string{"LEGO_PROVIDER", "A_TOKEN"}) {
		t.Fatalf("from settings: ok=%v %v", ok, envOf(got))
	}
	if got, ok = m.SelectVariant(map[string]string{"provider": "c"}, env); ok || len(got.Settings) != 1 {
		t.Fatalf("unknown variant: ok=%v %v", ok, envOf(got))
	}
	plain := Metadata{Settings: []SettingSpec{{Name: "x"}}}
	if got, ok := plain.SelectVariant(nil, env); !ok || len(got.Settings) != 1 {
		t.Fatal("a plugin without variants must come back unchanged")
	}
}

func TestWithoutChallengeDetails(t *testing.T) {
	r := Record{ID: "1", FQDN: "f.", Value: "v", Identifier: "d", Token: "t", KeyAuthorization: "t.k"}
	if got := r.WithoutChallengeDetails(); got.Identifier != "" || got.Token != "" || got.KeyAuthorization != "" || got.FQDN != "f." || got.Value != "v" {
		t.Fatalf("%+v", got)
	}
}
