// Package host discovers, verifies, starts and supervises DNS provider
// plugin processes, and speaks to each as a [plugin.Provider].
//
// A plugin runs as its own process, started through hashicorp/go-plugin with
// gRPC only, automatic mutual TLS and a fixed handshake cookie; the protocol
// major version is negotiated (zonecert.provider.v1 today). The process gets
// only the environment variables of its settings and those the user allows
// (Config.PassEnv), plus PATH, HOME, TMPDIR and proxy variables, never
// zonecert's own ZONECERT_*; settings and secrets travel in Configure over
// the mTLS channel, never in arguments. On Linux the kernel kills a plugin
// whose host dies (parent-death signal), and the SDK's watchdog does the same
// everywhere.
package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/zonecert/zonecert/plugin"
	"github.com/zonecert/zonecert/plugin/internal/wire"
)

// ErrUnsupported is returned (wrapped) when a plugin lacks an optional
// capability such as ListZones.
var ErrUnsupported = errors.New("capability not supported by plugin")

// ErrCrashed is returned (wrapped, with the plugin's name) when a plugin
// process died or dropped its connection during a call.
var ErrCrashed = errors.New("plugin process crashed")

// ErrStdoutNoise is returned (wrapped) when a plugin prints to stdout
// before the go-plugin handshake line, which the host cannot then read.
var ErrStdoutNoise = errors.New("plugin wrote to stdout before the handshake")

// DefaultCallTimeout bounds each plugin call.
const DefaultCallTimeout = 2 * time.Minute

// startTimeout bounds the go-plugin handshake.
const startTimeout = 20 * time.Second

// Config says which plugin to run and how.
type Config struct {
	// Name is the provider name; the binary is zonecert-dns-<Name>.
	Name string
	// Instance names this process among several of the same plugin (the
	// daemon's provider instances, each with its own settings): the
	// Manager keys by it and log records carry it. Empty means Name.
	Instance string
	// Path is an explicit binary path; it skips discovery.
	Path string
	// Dirs are configured plugin directories, searched first.
	Dirs []string
	// SHA256 optionally pins the binary (hex). A mismatch refuses to run it:
	// every execution (describe, start, restart) hashes and runs the same
	// open file (verify.go).
	SHA256 string
	// PinSource says where SHA256 came from, for the mismatch message.
	PinSource string
	// PinHint, when set, ends the message of a pin mismatch: how to accept
	// the new binary (the lock file's command, say).
	PinHint string
	// Settings by name, sent with Configure (over mTLS, never in args).
	Settings map[string]string
	// Resolvers are zonecert's recursive resolvers (host:port), passed to
	// a plugin that declares plugin.ResolversSetting (see withResolvers).
	Resolvers []string
	// LookupEnv is the host environment (cmd passes os.LookupEnv) and the
	// only source of environment variables; nil means an empty environment.
	LookupEnv func(string) (string, bool)
	// PassEnv is the user's allow-list of other variables the plugin may
	// get (names, or prefixes ending in '*'); what the plugin's metadata
	// asks for in pass_env is passed only when allowed here.
	PassEnv []string
	// Logger receives the plugin's stderr as records tagged plugin=<Name>;
	// nil discards.
	Logger *slog.Logger
	// CallTimeout bounds every call (a context deadline may shorten it);
	// 0 means DefaultCallTimeout.
	CallTimeout time.Duration
	// Restarts is how many times in a row a crashed plugin is restarted,
	// a successful call resetting the count: a long-lived host (the
	// daemon) sets it. 0 means once in the Client's life, for one order.
	Restarts int

	// noPdeathsig turns off the kernel parent-death signal so tests can
	// prove the SDK watchdog alone stops an orphan.
	noPdeathsig bool
}

// ConfigError lists the settings a plugin rejected in Configure.
type ConfigError struct {
	Plugin      string
	Diagnostics []plugin.Diagnostic
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "plugin %s: invalid settings:", e.Plugin)
	for _, d := range e.Diagnostics {
		fmt.Fprintf(&b, "\n  %s: %s", d.Setting, d.Message)
	}
	return b.String()
}

// Client is a running, configured plugin. It is safe for concurrent use. If
// the process crashes, the failing call returns an error wrapping
// ErrCrashed (and a retryable *plugin.Error: the calls are idempotent) and
// the next call starts a fresh process, as Config.Restarts allows.
type Client struct {
	cfg  Config
	path string // where the binary was found; each launch verifies it again
	env  []string
	log  *slog.Logger

	mu          sync.Mutex
	inst        *instance // nil after a crash, until restarted
	meta        plugin.Metadata
	restarts    int // in a row (see Config.Restarts)
	started     int // processes started after the first
	closed      bool
	fingerprint string // see Fingerprint
}

var (
	_ plugin.Provider           = (*Client)(nil)
	_ plugin.CapabilityReporter = (*Client)(nil)
	_ plugin.Syncer             = (*Client)(nil)
	_ plugin.ZoneLister         = (*Client)(nil)
)

// instance is one plugin process.
type instance struct {
	gp  *goplugin.Client
	rpc *wire.Client
}

// Start finds (unless cfg.Path is set), verifies and runs the plugin, learns
// its declared environment from `<bin> describe`, starts it with only that
// environment, negotiates the protocol and sends Configure. Rejected
// settings come back as a *ConfigError.
func Start(ctx context.Context, cfg Config) (*Client, error) {
	if err := validName(cfg.Name); err != nil {
		return nil, err
	}
	if cfg.LookupEnv == nil {
		cfg.LookupEnv = noEnv
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("plugin", cfg.Name)
	if cfg.Instance != "" && cfg.Instance != cfg.Name {
		log = log.With("instance", cfg.Instance)
	}
	c := &Client{cfg: cfg, log: log}
	bin, meta, err := locate(ctx, cfg)
	if err != nil {
		return nil, err
	}
	c.path = bin.path
	// A bridge hosting many providers gets only the chosen one's
	// environment; an unknown choice is the plugin's to report.
	meta, _ = meta.SelectVariant(cfg.Settings, cfg.LookupEnv)
	c.cfg.Settings = withResolvers(meta, cfg.Settings, cfg.Resolvers, cfg.LookupEnv)
	c.env = pluginEnv(&meta, cfg.LookupEnv, cfg.PassEnv)
	logWithheld(log, meta, cfg.LookupEnv, cfg.PassEnv)
	inst, meta, err := c.launch(ctx, bin) // the file describe ran
	if err != nil {
		return nil, err
	}
	c.inst, c.meta = inst, meta
	c.fingerprint = fingerprintOf(cfg.Name, meta, cfg.Settings, cfg.LookupEnv)
	return c, nil
}

// launch starts one process from bin (closing it), configures it and
// reads its metadata. A nil bin opens and verifies the binary again (a
// restart).
func (c *Client) launch(ctx context.Context, bin *binary) (*instance, plugin.Metadata, error) {
	name := c.cfg.Name
	if bin == nil {
		var err error
		if bin, err = verifyBinary(name, c.path, c.cfg.pin()); err != nil {
			return nil, plugin.Metadata{}, err
		}
	}
	// The child has its own copy of the file from fork on; ours can go
	// once go-plugin started it.
	defer bin.Close()
	cmd := bin.command()
	cmd.Env = append([]string(nil), c.env...)
	cmd.SysProcAttr = sysProcAttr(!c.cfg.noPdeathsig)
	timeout := startTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, max(time.Until(dl), time.Millisecond))
	}
	gp := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  wire.Handshake(),
		VersionedPlugins: wire.HostPlugins(),
		Cmd:              cmd,
		GRPCDialOptions:  wire.HostDialOptions(),
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		AutoMTLS:         true,
		SkipHostEnv:      true,
		StartTimeout:     timeout,
		Logger:           &hclogSlog{l: c.log, name: name},
		Stderr:           newStderrSink(c.log, time.Now),
	})
	rpc, err := gp.Client()
	if err != nil {
		gp.Kill()
		return nil, plugin.Metadata{}, startError(name, c.path, err)
	}
	if err := adopt(cmd); err != nil { // a plugin dies with its host
		gp.Kill()
		return nil, plugin.Metadata{}, fmt.Errorf("plugin %s: %w", name, err)
	}
	raw, err := rpc.Dispense(wire.PluginName)
	if err != nil {
		gp.Kill()
		return nil, plugin.Metadata{}, fmt.Errorf("plugin %s: dispensing provider: %w", name, err)
	}
	inst := &instance{gp: gp, rpc: raw.(*wire.Client)}
	fail := func(err error) (*instance, plugin.Metadata, error) {
		gp.Kill()
		return nil, plugin.Metadata{}, err
	}
	cctx, cancel := c.callContext(ctx)
	defer cancel()
	diags, err := inst.rpc.Configure(cctx, c.cfg.Settings)
	if err != nil {
		return fail(fmt.Errorf("plugin %s: configure: %w", name, err))
	}
	if len(diags) > 0 {
		return fail(&ConfigError{Plugin: name, Diagnostics: diags})
	}
	meta, err := inst.rpc.Metadata(cctx)
	if err != nil {
		return fail(fmt.Errorf("plugin %s: metadata: %w", name, err))
	}
	if meta.ProtocolVersion != plugin.ProtocolVersion {
		return fail(fmt.Errorf("plugin %s: reports protocol version %d on the v%d channel", name, meta.ProtocolVersion, plugin.ProtocolVersion))
	}
	return inst, meta, nil
}

// startError explains the common ways a launch fails.
func startError(name, path string, err error) error {
	msg := err.Error()
	switch {
	case strings.HasPrefix(msg, "Unrecognized remote plugin message: "):
		// go-plugin appends a page of generic advice; the first line
		// holds what the plugin printed.
		line, _, _ := strings.Cut(strings.TrimPrefix(msg, "Unrecognized remote plugin message: "), "\n")
		return fmt.Errorf("plugin %s: %w: %s printed %q (a plugin must log to stderr, never stdout)", name, ErrStdoutNoise, path, line)
	case strings.Contains(msg, "Incompatible API version"), strings.Contains(msg, "incompatible"):
		return fmt.Errorf("plugin %s: %s speaks no protocol version this zonecert knows: %w", name, path, err)
	}
	return fmt.Errorf("plugin %s: starting %s: %w", name, path, err)
}

// callContext bounds one call by CallTimeout, or by ctx's deadline when
// that is sooner: a hung plugin costs one call timeout, even in a cleanup
// whose context allows minutes.
func (c *Client) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.cfg.CallTimeout)
}

// current returns the live instance, restarting a crashed plugin once.
func (c *Client) current(ctx context.Context) (*instance, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, fmt.Errorf("plugin %s: client closed", c.cfg.Name)
	}
	if c.inst != nil {
		return c.inst, nil
	}
	if c.restarts >= max(c.cfg.Restarts, 1) {
		return nil, fmt.Errorf("plugin %s: %w again after %d restarts; not restarting it again", c.cfg.Name, ErrCrashed, c.restarts)
	}
	c.restarts++
	c.started++
	c.log.LogAttrs(ctx, slog.LevelWarn, "restarting crashed plugin")
	inst, meta, err := c.launch(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("restarting crashed plugin: %w", err)
	}
	c.inst, c.meta = inst, meta
	return inst, nil
}

// call runs fn against the live process with the per-call timeout and turns
// a lost process into a named ErrCrashed.
func (c *Client) call(ctx context.Context, op string, fn func(context.Context, *wire.Client) error) error {
	inst, err := c.current(ctx)
	if err != nil {
		return err
	}
	cctx, cancel := c.callContext(ctx)
	defer cancel()
	err = fn(cctx, inst.rpc)
	if err == nil {
		if c.cfg.Restarts > 0 {
			c.mu.Lock()
			c.restarts = 0
			c.mu.Unlock()
		}
		return nil
	}
	if status.Code(err) == codes.Unavailable || inst.gp.Exited() {
		c.dropInstance(inst)
		return fmt.Errorf("plugin %s: %s: %w: %w", c.cfg.Name, op, ErrCrashed,
			&plugin.Error{Code: plugin.CodeOther, Retryable: true, Message: err.Error()})
	}
	return fmt.Errorf("plugin %s: %s: %w", c.cfg.Name, op, err)
}

// dropInstance forgets a dead instance (unless a concurrent call already
// replaced it) so the next call restarts the plugin.
func (c *Client) dropInstance(inst *instance) {
	c.mu.Lock()
	if c.inst == inst {
		c.inst = nil
	}
	c.mu.Unlock()
	inst.gp.Kill()
}

// EnvNames lists the environment variables the plugin process got beyond
// the base ones (its settings' and the allowed pass_env), sorted: what a
// later run of the same plugin needs set again.
func (c *Client) EnvNames() []string {
	base := baseEnv()
	var out []string
	for _, kv := range c.env {
		n, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(base, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// Restarted is how many times the plugin was restarted after a crash.
func (c *Client) Restarted() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.started
}

// Metadata returns what the plugin reported after Configure.
func (c *Client) Metadata() plugin.Metadata {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.meta
}

// Capabilities implements plugin.CapabilityReporter: what the plugin
// declared after Configure. Client has WaitForSync and ListZones whatever
// the plugin supports, so callers must ask this rather than assert types.
func (c *Client) Capabilities() plugin.Capabilities { return c.Metadata().Capabilities }

// Present implements plugin.Provider. Batches larger than the plugin's
// MaxBatch are split. Results come back in the order of recs, one per
// record; a record the plugin did not answer for gets an error result.
func (c *Client) Present(ctx context.Context, recs []plugin.Record) ([]plugin.Result, error) {
	return c.batched(ctx, "present", recs, (*wire.Client).Present)
}

// CleanUp implements plugin.Provider, with Present's batching and ordering.
func (c *Client) CleanUp(ctx context.Context, recs []plugin.Record) ([]plugin.Result, error) {
	return c.batched(ctx, "clean up", recs, (*wire.Client).CleanUp)
}

func (c *Client) batched(ctx context.Context, op string, recs []plugin.Record,
	fn func(*wire.Client, context.Context, []plugin.Record) ([]plugin.Result, error)) ([]plugin.Result, error) {
	caps := c.Metadata().Capabilities
	recs = forPlugin(caps, recs)
	size := caps.MaxBatch
	if size <= 0 {
		size = len(recs)
	}
	out := make([]plugin.Result, 0, len(recs))
	for start := 0; start < len(recs); start += size {
		chunk := recs[start:min(start+size, len(recs))]
		var res []plugin.Result
		err := c.call(ctx, op, func(ctx context.Context, w *wire.Client) error {
			var err error
			res, err = fn(w, ctx, chunk)
			return err
		})
		if err != nil {
			return nil, err
		}
		out = append(out, c.boundState(matchResults(chunk, res))...)
	}
	return out, nil
}

// boundState turns a result whose cleanup state exceeds wire.MaxStateSize
// into an error result: the host journals that state, and a plugin must
// not make the journal grow without end.
func (c *Client) boundState(res []plugin.Result) []plugin.Result {
	for i, r := range res {
		if len(r.State) > wire.MaxStateSize {
			res[i] = plugin.Result{ID: r.ID, Err: plugin.Errorf(plugin.CodeOther, false,
				"plugin %s returned %d bytes of cleanup state for record %q; at most %d are kept",
				c.cfg.Name, len(r.State), r.ID, wire.MaxStateSize)}
		}
	}
	return res
}

// matchResults orders results like recs and fills in any the plugin left
// out, so callers can index results by record.
func matchResults(recs []plugin.Record, res []plugin.Result) []plugin.Result {
	byID := make(map[string]plugin.Result, len(res))
	for _, r := range res {
		if _, dup := byID[r.ID]; !dup {
			byID[r.ID] = r
		}
	}
	out := make([]plugin.Result, len(recs))
	for i, rec := range recs {
		r, ok := byID[rec.ID]
		if !ok {
			r = plugin.Result{ID: rec.ID, Err: plugin.Errorf(plugin.CodeOther, true, "plugin returned no result for record %q", rec.ID)}
		}
		out[i] = r
	}
	return out
}

// WaitForSync implements plugin.Syncer; it returns nil at once when the
// plugin lacks the capability.
func (c *Client) WaitForSync(ctx context.Context, recs []plugin.Record) error {
	if !c.Metadata().Capabilities.Sync {
		return nil
	}
	err := c.call(ctx, "wait for sync", func(ctx context.Context, w *wire.Client) error {
		return w.WaitForSync(ctx, forPlugin(c.Metadata().Capabilities, recs))
	})
	if errors.Is(err, wire.ErrUnimplemented) {
		return nil
	}
	return err
}

// ListZones implements plugin.ZoneLister. Without the capability it returns
// an error wrapping ErrUnsupported.
func (c *Client) ListZones(ctx context.Context) ([]string, error) {
	if !c.Metadata().Capabilities.ListZones {
		return nil, fmt.Errorf("plugin %s: list zones: %w", c.cfg.Name, ErrUnsupported)
	}
	var zones []string
	err := c.call(ctx, "list zones", func(ctx context.Context, w *wire.Client) error {
		var err error
		zones, err = w.ListZones(ctx)
		return err
	})
	if errors.Is(err, wire.ErrUnimplemented) {
		return nil, fmt.Errorf("plugin %s: list zones: %w", c.cfg.Name, ErrUnsupported)
	}
	return zones, err
}

// Close stops the plugin process: a graceful shutdown, then a kill after
// go-plugin's grace period.
func (c *Client) Close() error {
	c.mu.Lock()
	inst := c.inst
	c.inst, c.closed = nil, true
	c.mu.Unlock()
	if inst != nil {
		inst.gp.Kill()
	}
	return nil
}

// pid is the live process id, or 0 (tests).
func (c *Client) pid() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inst == nil {
		return 0
	}
	if rc := c.inst.gp.ReattachConfig(); rc != nil {
		return rc.Pid
	}
	return 0
}
