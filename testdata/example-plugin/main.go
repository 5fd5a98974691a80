// Command zonecert-dns-exampledns is a zonecert DNS provider plugin for
// ExampleDNS, a made-up REST DNS API. It is the worked example of
// plugin/WRITING_PLUGINS.md: the provider is provider.go, this file only
// describes the plugin and hands it to the SDK.
package main

import (
	"context"
	"log/slog"

	"github.com/zonecert/zonecert/plugin/sdk"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0"

func main() {
	sdk.Serve(sdk.Plugin[Settings]{
		Name:        "exampledns",
		Version:     version,
		Description: "ExampleDNS REST API (TXT records by token)",
		MaxBatch:    100,
		New: func(ctx context.Context, s Settings, _ *slog.Logger) (sdk.Provider, error) {
			return New(ctx, s)
		},
	})
}
