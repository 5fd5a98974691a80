// Command zonecert-dns-webhook publishes challenge records through any
// server speaking ExternalDNS's webhook provider protocol (media type
// application/external.dns.webhook+json;version=1). It is started by
// zonecert; run it with "describe" to print its settings.
package main

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/zonecert/zonecert/plugin/sdk"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

// Settings of the plugin.
type Settings struct {
	URL string `setting:"url,required" env:"WEBHOOK_URL" doc:"base URL of the ExternalDNS webhook server, e.g. http://localhost:8888"`
	TTL int    `setting:"ttl" env:"WEBHOOK_TTL" default:"0" doc:"TTL of a new TXT record set; 0 uses the record's TTL"`
}

func main() {
	sdk.Serve(sdk.Plugin[Settings]{
		Name:        "webhook",
		Version:     version,
		Description: "any ExternalDNS webhook provider server (protocol version 1)",
		New: func(ctx context.Context, s Settings, log *slog.Logger) (sdk.Provider, error) {
			return newProvider(ctx, s, &http.Client{Timeout: 30 * time.Second})
		},
	})
}
