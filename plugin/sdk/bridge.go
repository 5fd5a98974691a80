package sdk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/zonecert/zonecert/plugin"
)

// Bridge is a plugin whose settings are known only at run time: one binary
// hosting many providers (zonecert-dns-lego), each a [plugin.Variant] of
// Metadata chosen by the Metadata.Selector setting. Most plugins use
// [Plugin] and [Serve] instead.
type Bridge struct {
	// Metadata is what describe prints: the common settings, Selector and
	// Variants.
	Metadata plugin.Metadata
	// Configure builds the provider from the host's settings and the
	// plugin's environment. It returns the metadata after configuration
	// (the chosen variant's settings in Settings, its capabilities), or
	// field-level problems as diagnostics.
	Configure func(ctx context.Context, given map[string]string, lookupEnv func(string) (string, bool),
		log *slog.Logger) (Provider, plugin.Metadata, []plugin.Diagnostic, error)
}

// ServeBridge is [Serve] for a [Bridge]. It never returns.
func ServeBridge(b Bridge) {
	os.Exit(runBridge(b, os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv))
}

func runBridge(b Bridge, args []string, stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) int {
	if b.Metadata.Name == "" || b.Configure == nil {
		fmt.Fprintln(stderr, "zonecert plugin: Bridge needs Metadata.Name and Configure")
		return 2
	}
	b.Metadata.ProtocolVersion = plugin.ProtocolVersion
	return serveBackend(b.Metadata.Name, &bridgeBackend{b: b, log: newLogger(stderr), lookupEnv: lookupEnv, meta: b.Metadata}, args, stdout, stderr)
}

// bridgeBackend implements wire.Backend for a Bridge.
type bridgeBackend struct {
	b         Bridge
	log       *slog.Logger
	lookupEnv func(string) (string, bool)

	mu   sync.RWMutex
	meta plugin.Metadata
	prov plugin.Provider
}

func (b *bridgeBackend) Metadata() plugin.Metadata {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.meta
}

func (b *bridgeBackend) Provider() plugin.Provider {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.prov
}

func (b *bridgeBackend) Configure(ctx context.Context, given map[string]string) ([]plugin.Diagnostic, error) {
	prov, meta, diags, err := b.b.Configure(ctx, given, b.lookupEnv, b.log)
	switch {
	case err != nil:
		return nil, err
	case len(diags) > 0:
		return diags, nil
	case prov == nil:
		return nil, errors.New("Configure returned a nil Provider")
	}
	meta.Name, meta.Version, meta.ProtocolVersion = b.b.Metadata.Name, b.b.Metadata.Version, plugin.ProtocolVersion
	meta.Variants, meta.Selector = nil, ""
	b.mu.Lock()
	defer b.mu.Unlock()
	b.prov, b.meta = prov, meta
	return nil, nil
}
