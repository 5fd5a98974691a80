package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/zonecert/zonecert/plugin"
	"github.com/zonecert/zonecert/plugin/internal/wire"
)

// Serve runs the plugin: with the argument "describe" it prints the metadata
// as JSON and exits; otherwise it speaks the go-plugin handshake on stdio and
// serves until the host goes away. It never returns.
//
// Capabilities (WaitForSync, ListZones) are found by type assertion on the
// Provider that New returns, so they are known only after the host's
// Configure: `describe` reports them as false, and GetMetadata after
// Configure reports the truth. A call to a missing capability answers
// "unimplemented", which the host treats as "not supported".
func Serve[S any](p Plugin[S]) {
	os.Exit(run(p, os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv))
}

func run[S any](p Plugin[S], args []string, stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) int {
	b, err := newBackend(p, stderr, lookupEnv)
	if err != nil {
		fmt.Fprintf(stderr, "zonecert plugin %s: %v\n", p.Name, err)
		return 2
	}
	return serveBackend(p.Name, b, args, stdout, stderr)
}

// serveBackend answers describe or serves b over go-plugin.
func serveBackend(name string, b wire.Backend, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "describe" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(b.Metadata()); err != nil {
			fmt.Fprintf(stderr, "zonecert plugin %s: describe: %v\n", name, err)
			return 1
		}
		return 0
	}
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		printHelp(stdout, b.Metadata())
		return 0
	}
	if len(args) > 0 {
		fmt.Fprintf(stderr, "usage: %s [describe | --help]\nThis is a zonecert DNS provider plugin; zonecert starts it itself.\n", os.Args[0])
		return 2
	}
	stopWatchdog := watchParent(stderr)
	defer stopWatchdog()
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig:  wire.Handshake(),
		VersionedPlugins: wire.ServePlugins(b),
		GRPCServer:       goplugin.DefaultGRPCServer,
		Logger: hclog.New(&hclog.LoggerOptions{
			Name: name, Output: stderr, JSONFormat: true, Level: hclog.Info,
		}),
	})
	return 0
}

// watchParent exits the process when its parent goes away, so a host
// killed with SIGKILL leaves no plugin behind even where the kernel's
// parent-death signal is unavailable. A re-parented process sees a new
// parent pid.
func watchParent(stderr io.Writer) (stop func()) {
	parent := os.Getppid()
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if os.Getppid() != parent {
					fmt.Fprintln(stderr, "zonecert plugin: host process went away; exiting")
					os.Exit(3)
				}
			}
		}
	}()
	return func() { close(done) }
}

// newLogger returns the logger handed to New: JSON lines on the plugin's
// original stderr in the shape go-plugin's host parses (hclog's @level,
// @message, @timestamp), so each line becomes a record in the host's slog
// logger.
func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				return slog.String("@timestamp", a.Value.Time().Format("2006-01-02T15:04:05.000000Z07:00"))
			case slog.LevelKey:
				return slog.String("@level", hclogLevel(a.Value.Any().(slog.Level)))
			case slog.MessageKey:
				return slog.String("@message", a.Value.String())
			}
			return a
		},
	}))
}

func hclogLevel(l slog.Level) string {
	switch {
	case l < slog.LevelDebug:
		return "trace"
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warn"
	default:
		return "error"
	}
}

// backend implements wire.Backend for one settings type.
type backend[S any] struct {
	p         Plugin[S]
	fields    []field
	log       *slog.Logger
	lookupEnv func(string) (string, bool)

	mu   sync.RWMutex
	meta plugin.Metadata
	prov plugin.Provider
}

func newBackend[S any](p Plugin[S], stderr io.Writer, lookupEnv func(string) (string, bool)) (*backend[S], error) {
	if p.Name == "" {
		return nil, errors.New("Plugin.Name is empty")
	}
	if p.New == nil {
		return nil, errors.New("Plugin.New is nil")
	}
	if p.MaxBatch < 0 || p.MaxValuesPerName < 0 {
		return nil, errors.New("Plugin.MaxBatch and Plugin.MaxValuesPerName must not be negative")
	}
	fields, err := parseSchema(reflect.TypeFor[S]())
	if err != nil {
		return nil, err
	}
	meta := plugin.Metadata{
		Name:            p.Name,
		Version:         p.Version,
		ProtocolVersion: plugin.ProtocolVersion,
		Description:     p.Description,
		Settings:        make([]plugin.SettingSpec, 0, len(fields)),
		Capabilities: plugin.Capabilities{
			MaxBatch: p.MaxBatch, NoDelete: p.NoDelete,
			MaxValuesPerName: p.MaxValuesPerName, ProvisionedNames: p.ProvisionedNames,
		},
		PassEnv: p.PassEnv,
	}
	for _, f := range fields {
		meta.Settings = append(meta.Settings, f.spec)
	}
	return &backend[S]{p: p, fields: fields, log: newLogger(stderr), lookupEnv: lookupEnv, meta: meta}, nil
}

func (b *backend[S]) Metadata() plugin.Metadata {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.meta
}

func (b *backend[S]) Provider() plugin.Provider {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.prov
}

func (b *backend[S]) Configure(ctx context.Context, given map[string]string) ([]plugin.Diagnostic, error) {
	var s S
	if diags := decodeSettings(&s, b.fields, given, b.lookupEnv); len(diags) > 0 {
		return diags, nil
	}
	// A provider holding resources (standalone's listening sockets) must
	// release them before its replacement starts.
	b.mu.Lock()
	previous := b.prov
	b.prov = nil
	b.mu.Unlock()
	if c, ok := previous.(io.Closer); ok {
		if err := c.Close(); err != nil {
			return nil, fmt.Errorf("closing the previous configuration: %w", err)
		}
	}
	prov, err := b.p.New(ctx, s, b.log)
	var se *SettingsError
	switch {
	case errors.As(err, &se):
		return se.Diagnostics, nil
	case err != nil:
		return nil, err
	case prov == nil:
		return nil, errors.New("New returned a nil Provider")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.prov = prov
	_, b.meta.Capabilities.Sync = prov.(plugin.Syncer)
	_, b.meta.Capabilities.ListZones = prov.(plugin.ZoneLister)
	return nil, nil
}

// printHelp is --help: what the plugin is and the settings it takes, so a
// user who runs it by hand learns how to use it with zonecert.
func printHelp(w io.Writer, m plugin.Metadata) {
	fmt.Fprintf(w, "zonecert-dns-%s %s: %s\n\nA zonecert DNS provider plugin; zonecert starts it itself:\n"+
		"  zonecert obtain --dns %s -d example.com ...\n\nSettings (environment variables, or --dns-config NAME=VALUE lines):\n",
		m.Name, m.Version, m.Description, m.Name)
	for _, s := range m.Settings {
		var tags []string
		if s.Required {
			tags = append(tags, "required")
		}
		if s.Secret {
			tags = append(tags, "secret")
		}
		if s.Default != "" {
			tags = append(tags, "default "+s.Default)
		}
		env := strings.Join(s.Env, ", ")
		if env == "" {
			env = "-"
		}
		fmt.Fprintf(w, "  %-20s %s", s.Name, env)
		if len(tags) > 0 {
			fmt.Fprintf(w, " (%s)", strings.Join(tags, ", "))
		}
		fmt.Fprintf(w, "\n      %s\n", s.Doc)
	}
	fmt.Fprintf(w, "\nUsage: zonecert-dns-%s [describe | --help]\n  describe  print this description as JSON\n", m.Name)
}
