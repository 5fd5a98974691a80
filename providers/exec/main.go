// Command zonecert-dns-exec is the zonecert DNS provider plugin that runs a
// user program for each record, so hook scripts written for lego's exec
// provider or certbot's manual hooks keep working. zonecert starts it; run
// it with the argument "describe" to print its settings.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/zonecert/zonecert/plugin/sdk"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	// The host hands this process only the variables it declares, so its
	// whole environment is what the programs may see.
	environ := os.Environ()
	sdk.Serve(sdk.Plugin[Settings]{
		Name:        "exec",
		Version:     version,
		Description: "runs a program per record (lego exec or certbot manual-hook conventions)",
		PassEnv:     passEnv(),
		New: func(ctx context.Context, s Settings, log *slog.Logger) (sdk.Provider, error) {
			return newProvider(s, environ, log)
		},
	})
}
