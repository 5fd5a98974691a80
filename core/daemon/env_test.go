package daemon

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/zonecert/zonecert/core/config"
	"github.com/zonecert/zonecert/internal/testenv"
	"github.com/zonecert/zonecert/plugin"
	"github.com/zonecert/zonecert/plugin/host"
)

// TestInstanceGetsOnlyItsOwn: a provider instance's plugin process (the
// real test plugin) gets its own settings through Configure and, from the
// environment, only the base variables and what its pass_env allows: not
// the variables of its settings (another instance of the same plugin may
// rely on them), not the secrets it asks for in pass_env, never
// ZONECERT_*.
func TestInstanceGetsOnlyItsOwn(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("-short: builds the test plugin")
	}
	bin := testenv.PluginBinary(t, "testplug", "../../plugin/internal/testplugin")
	hostEnv := map[string]string{
		"PATH": "/usr/bin:/bin", "TESTPLUGIN_TOKEN": "env-token", "RFC2136_TSIG_SECRET": "tsig",
		"AWS_SECRET_ACCESS_KEY": "aws", "ZONECERT_EAB_HMAC": "eab", "TESTPLUGIN_PASSED": "passed",
	}
	lookup := func(k string) (string, bool) { v, ok := hostEnv[k]; return v, ok }
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	meta, err := host.Inspect(ctx, host.Config{Name: "testplug", Path: bin, LookupEnv: lookup})
	if err != nil {
		t.Fatal(err)
	}
	launch := func(ctx context.Context, def config.Provider, _, _ []string, env func(string) (string, bool), log *slog.Logger) (Plugin, error) {
		c, err := host.Start(ctx, host.Config{Name: def.Plugin, Instance: def.Name, Path: bin,
			Settings: def.Settings, LookupEnv: env, PassEnv: def.PassEnv, Logger: log})
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	vars := []string{"TESTPLUGIN_TOKEN", "RFC2136_TSIG_SECRET", "AWS_SECRET_ACCESS_KEY", "ZONECERT_EAB_HMAC", "TESTPLUGIN_PASSED", "PATH"}
	for _, tc := range []struct {
		passEnv []string
		want    []string
	}{
		{nil, []string{"<unset>", "<unset>", "<unset>", "<unset>", "<unset>", "/usr/bin:/bin"}},
		{[]string{"TESTPLUGIN_*"}, []string{"<unset>", "<unset>", "<unset>", "<unset>", "passed", "/usr/bin:/bin"}},
	} {
		def := config.Provider{Name: "a", Plugin: "testplug", Meta: meta, Settings: map[string]string{"token": "a-token"}, PassEnv: tc.passEnv}
		inst := newInstance(def, nil, nil, lookup, launch, slog.New(slog.DiscardHandler))
		p, err := inst.provider(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var recs []plugin.Record
		for i, v := range vars {
			recs = append(recs, plugin.Record{ID: string(rune('a' + i)), FQDN: "x.example.test.", Value: "env:" + v})
		}
		res, err := p.Present(ctx, recs)
		inst.close()
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if string(r.State) != tc.want[i] {
				t.Errorf("pass_env %v: instance sees %s = %q, want %q", tc.passEnv, vars[i], r.State, tc.want[i])
			}
		}
	}
}
