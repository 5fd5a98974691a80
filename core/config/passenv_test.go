package config

import (
	"slices"
	"strings"
	"testing"
)

// providers.X.pass_env is the user's allow-list: kept on the instance, and
// zonecert's own variables (or everything) cannot be allowed.
func TestPassEnvKey(t *testing.T) {
	env := map[string]string{"RFC2136_TSIG_SECRET": "ZnJvbSBlbnY="}
	doc := strings.Replace(goodDoc, "[providers.other]\n", "[providers.other]\npass_env = [\"AWS_*\", \"HTTP_TIMEOUT\"]\n", 1)
	cfg, err := parse(t, doc, 0o600, env)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Providers["other"].PassEnv; !slices.Equal(got, []string{"AWS_*", "HTTP_TIMEOUT"}) {
		t.Errorf("pass_env = %v", got)
	}
	if cfg.Providers["other"].Equal(Provider{}) || len(cfg.Providers["bind"].PassEnv) != 0 {
		t.Errorf("instances: %+v", cfg.Providers)
	}
	changed := cfg.Providers["other"]
	changed.PassEnv = []string{"AWS_*"}
	if changed.Equal(cfg.Providers["other"]) {
		t.Error("a reload that changes pass_env must restart the instance")
	}
	for _, bad := range []string{`"ZONECERT_EAB_HMAC"`, `"ZONECERT_*"`, `"*"`, `"A=B"`} {
		doc := strings.Replace(goodDoc, "[providers.other]\n", "[providers.other]\npass_env = ["+bad+"]\n", 1)
		_, err := parse(t, doc, 0o600, env)
		if err == nil || !strings.Contains(err.Error(), "providers.other.pass_env") {
			t.Errorf("pass_env = [%s]: err = %v", bad, err)
		}
	}
}
