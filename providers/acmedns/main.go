// Command zonecert-dns-acmedns is a zonecert DNS provider plugin for
// joohoi/acme-dns: each domain's _acme-challenge is a CNAME into the
// acme-dns zone, and the plugin updates the account that owns the target.
// `zonecert-dns-acmedns register -d DOMAIN` sets one up. See README.md.
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"

	"github.com/zonecert/zonecert/plugin/sdk"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "register" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		code := register(ctx, os.Args[2:], os.LookupEnv, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	sdk.Serve(sdk.Plugin[Settings]{
		Name:        "acmedns",
		Version:     version,
		Description: "joohoi/acme-dns (one account per domain; lego's settings and accounts file)",
		// acme-dns has no delete, keeps the two newest values per name,
		// and writes only names registered in advance.
		NoDelete:         true,
		MaxValuesPerName: 2,
		ProvisionedNames: true,
		New: func(ctx context.Context, s Settings, log *slog.Logger) (sdk.Provider, error) {
			return newProvider(ctx, s, log)
		},
	})
}
