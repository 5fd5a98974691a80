// Command zonecert-dns-cloudflare is the zonecert DNS provider plugin for
// Cloudflare DNS. It is started by zonecert, not by hand; run it with the
// argument "describe" to print its settings.
package main

import (
	"context"
	"log/slog"

	"github.com/zonecert/zonecert/plugin/sdk"
)

// version is set at build time (-ldflags "-X main.version=..."). It is not
// taken from package core, which would link the whole ACME engine.
var version = "dev"

func main() {
	sdk.Serve(sdk.Plugin[Settings]{
		Name:        "cloudflare",
		Version:     version,
		Description: "Cloudflare DNS, through the v4 API with an API token",
		New: func(ctx context.Context, s Settings, log *slog.Logger) (sdk.Provider, error) {
			return newProvider(s, nil, log)
		},
	})
}
