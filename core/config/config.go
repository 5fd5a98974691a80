// Package config reads zonecert's TOML configuration (`zonecert run
// --config FILE`) into an immutable, validated [Config].
//
// Decoding is strict: an unknown key is an error. Every error names its line.
// Provider settings are checked against the plugin's own description
// (`zonecert-dns-<plugin> describe`): unknown and missing settings are
// errors, and a file that holds a literal secret must not be readable by
// group or others. Setting values may be literal, "${ENV}" (an environment
// variable) or "file:PATH" (a file's content, trailing newline dropped);
// references are resolved here, at the edge, never in core.
package config

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/zonecert/zonecert/core"
	"github.com/zonecert/zonecert/core/acme"
	"github.com/zonecert/zonecert/core/dns01"
	"github.com/zonecert/zonecert/plugin"
)

// Config is one validated configuration. A reload builds a new one; a
// running Config is never mutated.
type Config struct {
	// File is the path the configuration was read from.
	File string
	// State is the state directory (like --path).
	State    string
	ACME     ACME
	DNS      DNS
	Defaults Defaults
	Hooks    Hooks
	Daemon   Daemon
	// PluginDirs are searched first for plugin binaries.
	PluginDirs []string
	// Providers are the named provider instances, by name.
	Providers map[string]Provider
	// Certificates in file order; names are unique.
	Certificates []Certificate
	// Storage, when it names etcd, holds the state instead of State's files.
	Storage Storage

	byName map[string]int // index into Certificates
}

// ACME is the CA and the account.
type ACME struct {
	DirectoryURL string
	CABundle     string
	Email        string
	AgreeTOS     bool
	EAB          *core.EAB
}

// DNS holds the DNS-01 settings shared by every certificate.
type DNS struct {
	Resolvers          []string // host:port
	PropagationTimeout time.Duration
	Wait               dns01.Wait
	NameserverPort     int // tests only; 53 normally
}

// Defaults apply to certificates that do not set their own.
type Defaults struct {
	KeyType        acme.KeyType
	Profile        string
	PreferredChain string
}

// Hooks are shell commands run around orders: Pre before, Post after (success
// or not), Deploy after a certificate was stored.
type Hooks struct {
	Pre, Post, Deploy string
}

// Daemon tunes the scheduler.
type Daemon struct {
	// CheckInterval is the longest time between two checks of a
	// certificate, so a changed ARI window is noticed.
	CheckInterval time.Duration
	// Jitter is the most random delay added to every scheduled check, so
	// that restarts and reloads do not synchronise.
	Jitter time.Duration
	// MaxConcurrent bounds the orders running at once.
	MaxConcurrent int
	// NewOrderConcurrency bounds the newOrder requests in flight to the CA
	// (acme.Options.NewOrderConcurrency; 1 by default, out of courtesy and
	// for the CA's per-account order limits).
	NewOrderConcurrency int
	// FleetNewOrderConcurrency bounds the newOrder requests in flight to
	// the CA across every daemon sharing a store with leases (etcd), by
	// slot locks (core/daemon/fleetgate.go). It defaults to
	// NewOrderConcurrency: a fleet is as gentle with the CA as one daemon.
	FleetNewOrderConcurrency int
	// RetryMin and RetryMax bound the exponential backoff after a failure.
	RetryMin, RetryMax time.Duration
	// StopTimeout bounds how long running orders may finish on SIGTERM.
	StopTimeout time.Duration
}

// Provider is one named provider instance: its own plugin process.
type Provider struct {
	Name   string
	Plugin string
	Path   string // explicit binary; empty means discovery
	SHA256 string // optional pin
	// PassEnv is the user's allow-list of environment variables the
	// plugin may have (names, or prefixes ending in '*'; never ZONECERT_*):
	// of what it asks for in pass_env, it gets only these.
	PassEnv []string
	// Settings are resolved values by setting name. They may hold secrets:
	// never log them.
	Settings map[string]string
	// Meta is what the plugin's describe reported.
	Meta plugin.Metadata
	// Limits shape the calls to the instance (limits.go).
	Limits Limits
}

// Equal reports whether p and q would run the same plugin the same way.
func (p Provider) Equal(q Provider) bool {
	if p.Name != q.Name || p.Plugin != q.Plugin || p.Path != q.Path || p.SHA256 != q.SHA256 || p.Limits != q.Limits || len(p.Settings) != len(q.Settings) ||
		!slices.Equal(p.PassEnv, q.PassEnv) {
		return false
	}
	for k, v := range p.Settings {
		if w, ok := q.Settings[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// Certificate is one certificate to keep.
type Certificate struct {
	Name    string
	Domains []string // normalized
	// Provider is the instance for every zone, or empty when Zones is set.
	Provider string
	// Zones maps a zone (lower case, no trailing dot) to an instance; a
	// record goes to the instance of the longest zone it lies in.
	Zones          map[string]string
	KeyType        acme.KeyType
	Profile        string
	PreferredChain string
	Hooks          Hooks
}

// Instances lists the provider instances the certificate uses, sorted.
func (c Certificate) Instances() []string {
	if c.Provider != "" {
		return []string{c.Provider}
	}
	var out []string
	for _, inst := range c.Zones {
		if !slices.Contains(out, inst) {
			out = append(out, inst)
		}
	}
	slices.Sort(out)
	return out
}

// Equal reports whether two certificate definitions are the same.
func (c Certificate) Equal(d Certificate) bool {
	if c.Name != d.Name || c.Provider != d.Provider || c.KeyType != d.KeyType || c.Profile != d.Profile ||
		c.PreferredChain != d.PreferredChain || c.Hooks != d.Hooks || !slices.Equal(c.Domains, d.Domains) ||
		len(c.Zones) != len(d.Zones) {
		return false
	}
	for k, v := range c.Zones {
		if d.Zones[k] != v {
			return false
		}
	}
	return true
}

// Certificate returns the certificate called name.
func (c *Config) Certificate(name string) (Certificate, bool) {
	if i, ok := c.byName[name]; ok {
		return c.Certificates[i], true
	}
	return Certificate{}, false
}

// DescribeFunc returns a plugin's metadata (host.Inspect, usually). path
// and sha256 are the instance's explicit binary and pin, maybe empty;
// state is the configuration's state directory, whose plugin lock file
// pins the rest: a changed binary must not run, not even its describe.
type DescribeFunc func(ctx context.Context, name, path, sha256 string, dirs []string, state string) (plugin.Metadata, error)

// Options are what Load needs from the process.
type Options struct {
	// LookupEnv resolves ${ENV} references; nil means no environment.
	LookupEnv func(string) (string, bool)
	// ReadFile reads file: references; nil means os.ReadFile.
	ReadFile func(string) ([]byte, error)
	// Describe returns a plugin's metadata; required.
	Describe DescribeFunc
	// PluginDirs are searched before the file's own plugin_dirs.
	PluginDirs []string
	// DefaultResolvers are used when the file names none (the system's,
	// from /etc/resolv.conf).
	DefaultResolvers []string
}

// Error is one problem with the file, at a line (0 if unknown).
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return e.File + ": " + e.Msg
}

// Errors are all the problems found in one file, in line order.
type Errors []*Error

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Unwrap lets errors.As find each *Error.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// Load reads and validates the file at path. The error is an Errors value
// listing every problem with its line, or an I/O error.
func Load(ctx context.Context, path string, opts Options) (*Config, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("reading config: %s is not a regular file", path)
	}
	doc, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return Parse(ctx, path, doc, fi.Mode().Perm(), opts)
}

// Parse validates doc, read from file with permissions mode.
func Parse(ctx context.Context, file string, doc []byte, mode fs.FileMode, opts Options) (*Config, error) {
	if opts.Describe == nil {
		return nil, errors.New("config: Options.Describe is required")
	}
	if opts.LookupEnv == nil {
		opts.LookupEnv = func(string) (string, bool) { return "", false }
	}
	if opts.ReadFile == nil {
		opts.ReadFile = os.ReadFile
	}
	raw, errs := decode(file, doc)
	if raw == nil {
		return nil, errs
	}
	v := &validator{file: file, lines: indexLines(doc), opts: opts, mode: mode}
	cfg := v.validate(ctx, raw)
	v.errs = append(errs, v.errs...) // every error of the file at once
	if len(v.errs) > 0 {
		slices.SortStableFunc(v.errs, func(a, b *Error) int { return a.Line - b.Line })
		return nil, v.errs
	}
	cfg.File = file
	cfg.byName = make(map[string]int, len(cfg.Certificates))
	for i, c := range cfg.Certificates {
		cfg.byName[c.Name] = i
	}
	return cfg, nil
}
