// Command zonecert-dns-standalone is a zonecert DNS provider plugin that is
// itself the authoritative DNS server for one zone. Users CNAME
// _acme-challenge.<host> to a name in that zone (the acme-dns pattern), so
// no DNS API credentials are needed anywhere. See README.md.
package main

import (
	"context"
	"log/slog"

	"github.com/zonecert/zonecert/plugin/sdk"
)

// version is set at build time with -ldflags "-X main.version=...". The
// plugin does not import core for it: that would link the whole engine in.
var version = "dev"

func main() {
	sdk.Serve(sdk.Plugin[Settings]{
		Name:        "standalone",
		Version:     version,
		Description: "built-in authoritative DNS server for one zone (acme-dns pattern, no DNS API credentials)",
		New: func(ctx context.Context, s Settings, log *slog.Logger) (sdk.Provider, error) {
			return newProvider(ctx, s, log)
		},
	})
}
