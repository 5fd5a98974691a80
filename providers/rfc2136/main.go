// Command zonecert-dns-rfc2136 is a zonecert DNS provider plugin that
// publishes TXT records with RFC 2136 dynamic updates, signed with TSIG
// (RFC 8945), to a primary name server such as BIND, Knot or PowerDNS.
// See README.md.
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
		Name:        "rfc2136",
		Version:     version,
		Description: "RFC 2136 dynamic DNS updates with TSIG (BIND, Knot, PowerDNS, ...)",
		New: func(_ context.Context, s Settings, log *slog.Logger) (sdk.Provider, error) {
			return newProvider(s, log)
		},
	})
}
