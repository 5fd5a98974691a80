package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/zonecert/zonecert/core"
)

// lifecycleFlags are obtain's flags about the lineage rather than the order.
type lifecycleFlags struct {
	deployHook  string
	hookTimeout time.Duration
	dryRun      bool
	reuseKey    bool
	force       bool
	expand      bool
}

func bindLifecycleFlags(fl *pflag.FlagSet, f *lifecycleFlags) {
	fl.StringVar(&f.deployHook, "deploy-hook", "", "command run after the certificate is stored (saved for renewals); gets RENEWED_LINEAGE and RENEWED_DOMAINS")
	fl.DurationVar(&f.hookTimeout, "hook-timeout", core.DefaultHookTimeout, "how long one hook may run")
	fl.BoolVar(&f.dryRun, "dry-run", false, "run the whole order (against Let's Encrypt staging when the server is letsencrypt) but store nothing and run no hook")
	fl.BoolVar(&f.reuseKey, "reuse-key", false, "keep the lineage's private key across renewals")
	fl.BoolVar(&f.force, "force", false, "order even if the certificate is not due, replace its names, or move it to another CA")
	fl.BoolVar(&f.expand, "expand", false, "add names to an existing certificate (the new names must include the old)")
}

// setLifecycle fills req's lineage settings from flags: the plan records
// the provider by where its settings come from, never their values.
func setLifecycle(req *core.Request, f *obtainFlags) error {
	if f.hookTimeout <= 0 {
		return fmt.Errorf("--hook-timeout must be positive")
	}
	src := core.ProviderSource{Name: f.dns, PluginSHA256: pinFor(f.dns, f.pluginSHA256)}
	var err error
	if src.ConfigFile, err = absPath(f.dnsConfig); err != nil {
		return err
	}
	if src.PluginPath, err = absPath(f.pluginPath); err != nil {
		return err
	}
	for _, d := range f.pluginDirs {
		a, err := absPath(d)
		if err != nil {
			return err
		}
		src.PluginDirs = append(src.PluginDirs, a)
	}
	req.Lifecycle = core.Lifecycle{
		ReuseKey: f.reuseKey, DryRun: f.dryRun, Force: f.force,
		Provider: src, DeployHook: f.deployHook, SystemResolvers: req.SystemResolvers,
	}
	return nil
}

func absPath(p string) (string, error) {
	if p == "" {
		return "", nil
	}
	return filepath.Abs(p)
}

// pinFor is the --plugin-sha256 pin of provider name, "" if none.
func pinFor(name string, pins []string) string {
	for _, p := range pins {
		if n, hex, ok := cutPin(p); ok && n == name {
			return hex
		}
	}
	return ""
}

// declaredEnv keeps the names (the variables a plugin process got) that
// are set in the process environment (not those read from --dns-config):
// the plan records them, and a renewal needs them set again.
func declaredEnv(names []string, lookupEnv func(string) (string, bool)) []string {
	var out []string
	for _, n := range names {
		if _, ok := lookupEnv(n); ok && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// defaultHookPath is the PATH hooks get when zonecert runs without one.
const defaultHookPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// hookEnv is the hooks' clean environment: enough to run programs and
// format output, nothing that could hold a credential.
func hookEnv(e env) []string {
	out := []string{"PATH=" + defaultHookPath}
	if p, ok := e.lookupEnv("PATH"); ok && p != "" {
		out[0] = "PATH=" + p
	}
	for _, k := range []string{"HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "TMPDIR"} {
		if v, ok := e.lookupEnv(k); ok {
			out = append(out, k+"="+v)
		}
	}
	return out
}

func newHooks(e env, statePath string, timeout time.Duration, log *slog.Logger) *core.Hooks {
	return &core.Hooks{Dir: filepath.Join(statePath, "renewal-hooks"), Timeout: timeout, Env: hookEnv(e), Logger: log}
}

// isTerminal reports whether r is an interactive terminal.
func isTerminal(r any) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func cutPin(p string) (name, hex string, ok bool) {
	name, hex, ok = strings.Cut(p, "=")
	return name, strings.ToLower(hex), ok && len(hex) == 64
}

// dryRunServer is the CA of a dry run: Let's Encrypt's staging for its
// production, so a rehearsal spends no production rate limit.
func dryRunServer(server string, dryRun bool) string {
	if prod, _ := knownServer("letsencrypt"); dryRun && (strings.EqualFold(server, "letsencrypt") || server == prod) {
		return "letsencrypt-staging"
	}
	return server
}
