package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/zonecert/zonecert/core/storage"
	"github.com/zonecert/zonecert/plugin"
	"github.com/zonecert/zonecert/plugin/host"
)

// pluginsFlags are the flags `plugins` and `plugins lock` share.
type pluginsFlags struct {
	dirs []string
	path string
	json bool
}

func (f *pluginsFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringArrayVar(&f.dirs, "plugin-dir", nil, "directory searched first for zonecert-dns-<name> (repeatable), as for obtain")
	fl.StringVar(&f.path, "path", "", "state directory holding the lock file (default as for obtain)")
}

func (f *pluginsFlags) statePath(e env) (string, error) {
	if f.path != "" {
		return f.path, nil
	}
	return defaultStatePath(e)
}

func newPluginsCmd(e env) *cobra.Command {
	var f pluginsFlags
	cmd := &cobra.Command{
		Use:   "plugins",
		Short: "List the DNS provider plugins zonecert can find, and which one wins",
		Long: `List every zonecert-dns-<name> binary on the plugin search path: --plugin-dir,
the user plugin directory ($XDG_DATA_HOME/zonecert/plugins), the directory of
zonecert itself, then $PATH. For each: name, version, protocol version, the
capabilities it declares, path, SHA-256, whether the lock file pins it, and
which binary wins (the first found) and why.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runPlugins(cmd.Context(), e, &f) },
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&f.json, "json", false, "print JSON")
	var lf pluginsFlags
	lock := &cobra.Command{
		Use:   "lock [NAME...]",
		Short: "Pin plugins by SHA-256 in the state directory's lock file",
		Long: `Write the SHA-256 of each named plugin (every plugin found, without names) to
plugins.lock.json in the state directory. Every command that runs a plugin
(obtain, renew, persist, plugins, config check, run) then refuses a locked
plugin whose binary changed, without running it, until it is locked again. A
--plugin-sha256 flag (or a daemon instance's sha256) still pins a run and wins
over the lock file.`,
		RunE: func(cmd *cobra.Command, args []string) error { return runPluginsLock(cmd.Context(), e, &lf, args) },
	}
	lf.register(lock)
	cmd.AddCommand(lock)
	return cmd
}

// pluginInfo is one line of `zonecert plugins`.
type pluginInfo struct {
	Name            string               `json:"name"`
	Version         string               `json:"version,omitempty"`
	ProtocolVersion int                  `json:"protocol_version,omitempty"`
	Capabilities    *plugin.Capabilities `json:"capabilities,omitempty"`
	Path            string               `json:"path"`
	SHA256          string               `json:"sha256"`
	FoundIn         string               `json:"found_in"`
	Wins            bool                 `json:"wins"`
	Why             string               `json:"why"`
	Lock            string               `json:"lock"`
	Error           string               `json:"error,omitempty"`
	// Selector and Providers describe a bridge hosting many providers
	// (zonecert-dns-lego): the setting that chooses one, and each one's
	// environment variables.
	Selector  string         `json:"selector,omitempty"`
	Providers []providerInfo `json:"providers,omitempty"`
}

// providerInfo is one provider a bridge plugin hosts.
type providerInfo struct {
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Env         []string `json:"env"`
	SecretEnv   []string `json:"secret_env,omitempty"`
}

// bridgeProviders lists the variants of meta for `zonecert plugins`.
func bridgeProviders(meta plugin.Metadata) (selector string, out []providerInfo) {
	for _, s := range meta.Settings {
		if s.Name == meta.Selector && len(s.Env) > 0 {
			selector = s.Env[0]
		}
	}
	for _, v := range meta.Variants {
		pi := providerInfo{Name: v.Name, Description: v.Description, Env: []string{}}
		for _, s := range v.Settings {
			if len(s.Env) == 0 {
				continue
			}
			if s.Secret {
				pi.SecretEnv = append(pi.SecretEnv, s.Env[0])
			} else {
				pi.Env = append(pi.Env, s.Env[0])
			}
		}
		out = append(out, pi)
	}
	return selector, out
}

func runPlugins(ctx context.Context, e env, f *pluginsFlags) error {
	state, err := f.statePath(e)
	if err != nil {
		return usageError{err}
	}
	lock, lockPath, err := readLock(ctx, state)
	if err != nil {
		return err
	}
	cands := host.FindAll(f.dirs, e.lookupEnv)
	winner := map[string]host.Candidate{}
	for _, c := range cands {
		if c.Wins {
			winner[c.Name] = c
		}
	}
	infos := make([]pluginInfo, 0, len(cands))
	for _, c := range cands {
		info := pluginInfo{Name: c.Name, Path: c.Path, FoundIn: c.Source + " " + c.Dir, Wins: c.Wins}
		if c.Wins {
			info.Why = "first on the search path (" + c.Source + ")"
		} else {
			w := winner[c.Name]
			info.Why = fmt.Sprintf("shadowed by %s (%s comes first)", w.Path, w.Source)
		}
		// A locked plugin that changed is not run, not even its describe.
		sum, meta, err := host.Examine(ctx, c.Name, c.Path, lockPin(lock, lockPath, c.Name), e.lookupEnv)
		info.SHA256 = sum
		if err != nil {
			info.Error = err.Error()
		} else {
			info.Version, info.ProtocolVersion, info.Capabilities = meta.Version, meta.ProtocolVersion, &meta.Capabilities
			info.Selector, info.Providers = bridgeProviders(meta)
			if meta.Name != c.Name {
				info.Error = fmt.Sprintf("describes itself as %q", meta.Name)
			}
		}
		info.Lock = lockStatus(lock, c.Name, info.SHA256)
		infos = append(infos, info)
	}
	if f.json {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"lock_file": lockPath, "plugins": infos})
	}
	printPlugins(e.stdout, infos, lockPath)
	return nil
}

func lockStatus(lock *host.Lock, name, sum string) string {
	entry, ok := lock.Plugins[name]
	switch {
	case !ok:
		return "not locked"
	case entry.SHA256 == sum:
		return "locked"
	default:
		return fmt.Sprintf("CHANGED since locked (run `zonecert plugins lock %s` to accept it)", name)
	}
}

func printPlugins(w io.Writer, infos []pluginInfo, lockPath string) {
	if len(infos) == 0 {
		fmt.Fprintln(w, "No plugins found (zonecert-dns-<name> on the plugin search path; see zonecert plugins --help).")
		return
	}
	for i, p := range infos {
		if i > 0 {
			fmt.Fprintln(w)
		}
		head := p.Name
		if p.Version != "" {
			head += fmt.Sprintf(" %s (protocol %d)", p.Version, p.ProtocolVersion)
		}
		if !p.Wins {
			head += " [shadowed]"
		}
		fmt.Fprintln(w, head)
		line := func(k, v string) {
			if v != "" {
				fmt.Fprintf(w, "  %-13s %s\n", k+":", v)
			}
		}
		line("path", p.Path)
		line("sha256", p.SHA256)
		if p.Capabilities != nil {
			line("capabilities", capabilityList(*p.Capabilities))
		}
		line("wins", yesNo(p.Wins, p.Why))
		line("lock", p.Lock)
		line("error", p.Error)
		if len(p.Providers) > 0 {
			line("providers", fmt.Sprintf("%d, chosen by %s; settings by environment variable (* secret):", len(p.Providers), p.Selector))
			for _, v := range p.Providers {
				env := slices.Clone(v.SecretEnv)
				for i := range env {
					env[i] += "*"
				}
				fmt.Fprintf(w, "    %-20s %s\n", v.Name, strings.Join(append(env, v.Env...), " "))
			}
		}
	}
	fmt.Fprintf(w, "\nLock file: %s\n", lockPath)
}

func yesNo(ok bool, why string) string {
	if ok {
		return "yes: " + why
	}
	return "no: " + why
}

// capabilityList describes what a plugin declares in `describe`.
func capabilityList(c plugin.Capabilities) string {
	var parts []string
	if c.MaxBatch > 0 {
		parts = append(parts, fmt.Sprintf("max-batch=%d", c.MaxBatch))
	}
	if c.NoDelete {
		parts = append(parts, "no-delete")
	}
	if c.MaxValuesPerName > 0 {
		parts = append(parts, fmt.Sprintf("max-values-per-name=%d", c.MaxValuesPerName))
	}
	if c.ProvisionedNames {
		parts = append(parts, "provisioned-names")
	}
	if c.ChallengeDetails {
		parts = append(parts, "challenge-details")
	}
	if len(parts) == 0 {
		return "full contract (sync and list-zones are known once configured)"
	}
	return strings.Join(parts, ", ")
}

func runPluginsLock(ctx context.Context, e env, f *pluginsFlags, names []string) error {
	state, err := f.statePath(e)
	if err != nil {
		return usageError{err}
	}
	lock, lockPath, err := readLock(ctx, state)
	if err != nil {
		return err
	}
	cands := host.FindAll(f.dirs, e.lookupEnv)
	winner := map[string]host.Candidate{}
	all := len(names) == 0
	for _, c := range cands {
		if c.Wins {
			winner[c.Name] = c
			if all {
				names = append(names, c.Name)
			}
		}
	}
	if len(names) == 0 {
		return usageError{errors.New("no plugins found to lock")}
	}
	for _, name := range names {
		c, ok := winner[name]
		if !ok {
			_, err := host.Find(name, f.dirs, e.lookupEnv)
			return usageError{fmt.Errorf("cannot lock %q: %w", name, err)}
		}
		// The digest locked is that of the binary that described itself.
		sum, meta, err := host.Examine(ctx, name, c.Path, host.Pin{}, e.lookupEnv)
		if err == nil && meta.Name != name {
			err = fmt.Errorf("%s describes itself as %q", c.Path, meta.Name)
		}
		if err != nil && all {
			// Locking everything skips what is not a working plugin.
			fmt.Fprintf(e.stderr, "not locking %s: %v\n", name, err)
			continue
		}
		if err != nil {
			return fmt.Errorf("not locking %s: %w", name, err)
		}
		lock.Plugins[name] = host.LockEntry{SHA256: sum, Path: c.Path, Version: meta.Version, Locked: time.Now().UTC()}
		fmt.Fprintf(e.stdout, "locked %s %s: %s (%s)\n", name, meta.Version, sum, c.Path)
	}
	b, err := lock.Marshal()
	if err != nil {
		return err
	}
	store, err := storage.NewFS(state)
	if err != nil {
		return usageError{err}
	}
	if err := store.Put(ctx, storage.PluginLockKey, b, false); err != nil {
		return fmt.Errorf("writing the lock file: %w", err)
	}
	fmt.Fprintf(e.stdout, "Lock file: %s\n", lockPath)
	return nil
}

// readLock reads the lock file of the state directory; a missing file is
// an empty lock.
func readLock(ctx context.Context, state string) (*host.Lock, string, error) {
	store, err := storage.NewFS(state)
	if err != nil {
		return nil, "", usageError{err}
	}
	path, _ := store.LocalPath(storage.PluginLockKey)
	b, err := store.Get(ctx, storage.PluginLockKey)
	if errors.Is(err, storage.ErrNotFound) {
		return &host.Lock{Version: host.LockVersion, Plugins: map[string]host.LockEntry{}}, path, nil
	}
	if err != nil {
		return nil, path, err
	}
	lock, err := host.ParseLock(b)
	if err != nil {
		return nil, path, fmt.Errorf("%s: %w", path, err)
	}
	return lock, path, nil
}

// lockPin is the lock file's pin of the plugin name, if any.
func lockPin(lock *host.Lock, lockPath, name string) host.Pin {
	entry, ok := lock.Plugins[name]
	if !ok {
		return host.Pin{}
	}
	return host.Pin{SHA256: entry.SHA256, Source: "lock file " + filepath.Clean(lockPath),
		Hint: fmt.Sprintf("run `zonecert plugins lock %s` to accept the new binary", name)}
}

// pinsFor keeps the --plugin-sha256 pins of the plugin name: renew's pins
// cover all its lineages, and each lineage's run checks only its own.
func pinsFor(name string, pins []string) []string {
	var out []string
	for _, p := range pins {
		if n, _, ok := cutPin(p); !ok || n == name {
			out = append(out, p) // a malformed pin still reaches the check that reports it
		}
	}
	return out
}

// withLock applies the lock file's pin for cfg.Name, unless a
// --plugin-sha256 flag (or the configuration's sha256) already pinned it:
// the explicit pin wins. Every command that runs a plugin calls it with
// its state directory before host.Start or host.Inspect.
func withLock(ctx context.Context, state string, cfg host.Config) (host.Config, error) {
	lock, path, err := readLock(ctx, state)
	if err != nil {
		return cfg, err
	}
	if cfg.SHA256 != "" {
		return cfg, nil
	}
	pin := lockPin(lock, path, cfg.Name)
	cfg.SHA256, cfg.PinSource, cfg.PinHint = pin.SHA256, pin.Source, pin.Hint
	if pin.SHA256 != "" {
		// The command to accept it names the same state directory and plugin
		// directories as this run, so it locks the binary this run found.
		accept := "zonecert plugins lock " + cfg.Name + " --path " + shellQuote(filepath.Clean(state))
		for _, d := range cfg.Dirs {
			accept += " --plugin-dir " + shellQuote(d)
		}
		cfg.PinHint = fmt.Sprintf("run `%s` to accept the new binary", accept)
	}
	return cfg, nil
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+:=@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
