package daemon

import (
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zonecert/zonecert/core/config"
	"github.com/zonecert/zonecert/plugin"
)

// recordingPlugin is a plugin that was "started" with the given resolvers.
type recordingPlugin struct {
	resolvers []string
	closed    bool
}

func (p *recordingPlugin) Present(context.Context, []plugin.Record) ([]plugin.Result, error) {
	return nil, nil
}
func (p *recordingPlugin) CleanUp(context.Context, []plugin.Record) ([]plugin.Result, error) {
	return nil, nil
}
func (p *recordingPlugin) Metadata() plugin.Metadata { return plugin.Metadata{} }
func (p *recordingPlugin) Close() error              { p.closed = true; return nil }

// TestInstancesGetTheConfigsResolvers: a provider instance's plugin is
// launched with [dns] resolvers (the host gives them to a plugin declaring
// the resolvers setting, which may then be left out of the instance's
// settings), and a reload that changes them restarts the plugin.
func TestInstancesGetTheConfigsResolvers(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	state := filepath.Join(t.TempDir(), "state")
	describe := func(context.Context, string, string, string, []string, string) (plugin.Metadata, error) {
		return plugin.Metadata{Name: "asker", Settings: []plugin.SettingSpec{{Name: plugin.ResolversSetting, Required: true}}}, nil
	}
	parse := func(resolvers string) *config.Config {
		t.Helper()
		doc := "state = \"" + state + "\"\n[acme]\nserver = \"https://127.0.0.1:1/dir\"\nagree_tos = true\n[dns]\nresolvers = [" + resolvers + "]\n" +
			"[providers.p]\nplugin = \"asker\"\n[[certificate]]\nname = \"c\"\ndomains = [\"c.example.test\"]\nprovider = \"p\"\n"
		cfg, err := config.Parse(ctx, "r.toml", []byte(doc), 0o600, config.Options{Describe: describe})
		if err != nil {
			t.Fatalf("a config without the plugin's resolvers setting was refused: %v", err)
		}
		return cfg
	}
	var mu sync.Mutex
	var started []*recordingPlugin
	launch := func(_ context.Context, _ config.Provider, _, resolvers []string, _ func(string) (string, bool), _ *slog.Logger) (Plugin, error) {
		mu.Lock()
		defer mu.Unlock()
		p := &recordingPlugin{resolvers: resolvers}
		started = append(started, p)
		return p, nil
	}
	d, err := New(parse(`"127.0.0.9:5353", "127.0.0.10"`), Options{Launch: launch,
		HTTPClient: func(string) (*http.Client, error) { return http.DefaultClient, nil }})
	if err != nil {
		t.Fatal(err)
	}
	start := func() *recordingPlugin {
		t.Helper()
		p, err := d.current().insts["p"].provider(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return p.(*recordingPlugin)
	}
	first := start()
	if want := []string{"127.0.0.9:5353", "127.0.0.10:53"}; !slices.Equal(first.resolvers, want) {
		t.Fatalf("plugin launched with resolvers %q, want %q", first.resolvers, want)
	}
	if err := d.Reload(parse(`"127.0.0.9:5353", "127.0.0.10"`)); err != nil {
		t.Fatal(err)
	}
	if p := start(); p != first || first.closed {
		t.Fatal("a reload that changed nothing restarted the plugin")
	}
	if err := d.Reload(parse(`"127.0.0.11"`)); err != nil {
		t.Fatal(err)
	}
	second := start()
	if second == first || !first.closed || strings.Join(second.resolvers, ",") != "127.0.0.11:53" {
		t.Fatalf("after the resolvers changed: same plugin %v, old closed %v, new resolvers %q", second == first, first.closed, second.resolvers)
	}
}
