package main

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestEveryHelpHasExamplesAndExitCodes runs `--help` of every command and
// checks that it shows examples and the exit codes.
func TestEveryHelpHasExamplesAndExitCodes(t *testing.T) {
	e, _, _ := testEnv(nil)
	var paths [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" {
			return
		}
		paths = append(paths, path)
		for _, s := range c.Commands() {
			walk(s, append(path[:len(path):len(path)], s.Name()))
		}
	}
	walk(newRoot(e), nil)
	if len(paths) < 10 {
		t.Fatalf("only %d commands found", len(paths))
	}
	for _, p := range paths {
		e, stdout, _ := testEnv(nil)
		if err := run(t.Context(), append(p, "--help"), e); err != nil {
			t.Errorf("%v --help: %v", p, err)
			continue
		}
		out := stdout.String()
		if !strings.Contains(out, "Examples:") || !strings.Contains(out, "Exit codes:") {
			t.Errorf("zonecert %s --help lacks examples or exit codes:\n%s", strings.Join(p, " "), out)
		}
	}
}

// TestVersion: `zonecert version` and `zonecert --version` print the
// version, the Go version and the plugin protocol version, exit 0.
func TestVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	bin := binaries(t)
	home := t.TempDir()
	for _, args := range [][]string{{"version"}, {"--version"}} {
		r := zonecert(t.Context(), t, bin, baseEnv(home), args...)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "zonecert ") || !strings.Contains(r.stdout, "go:              go1.") ||
			!strings.Contains(r.stdout, "plugin protocol: v1") {
			t.Errorf("%v: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
		}
	}
	r := zonecert(t.Context(), t, bin, baseEnv(home), "version", "--json")
	if v := decodeJSON[versionInfo](t, "version --json", r.stdout); v.PluginProtocol != 1 || v.Go == "" || v.Version == "" {
		t.Errorf("version --json: %+v", v)
	}
}

// TestPersistFlagsPerVerb: persist show offers no provider flags and
// persist remove no --until, since neither uses them.
func TestPersistFlagsPerVerb(t *testing.T) {
	e, _, _ := testEnv(nil)
	root := newRoot(e)
	for verb, absent := range map[string][]string{
		"show":   {"dns", "dns-config", "plugin-dir", "plugin-path", "plugin-sha256", "propagation-timeout", "agree-tos"},
		"remove": {"until", "agree-tos"},
		"setup":  {},
	} {
		c, _, err := root.Find([]string{"persist", verb})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range absent {
			if c.Flags().Lookup(f) != nil {
				t.Errorf("persist %s offers --%s", verb, f)
			}
		}
		if c.Flags().Lookup("domain") == nil || c.Flags().Lookup("server") == nil {
			t.Errorf("persist %s lacks -d or --server", verb)
		}
	}
}
