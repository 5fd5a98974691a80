// Command zonecert-dns-lego is a zonecert DNS provider plugin hosting
// lego's DNS providers (github.com/go-acme/lego/v5): LEGO_PROVIDER (or the
// setting provider) chooses one, which reads its own environment variables
// under lego's names. zonecert keeps the DNS knowledge: before each call
// the bridge checks that lego would write the record zonecert asked for
// (name and value), and refuses the record otherwise.
//
// The provider list and every provider's settings are generated from
// lego's metadata (go generate writes zz_providers.go).
package main

//go:generate go run ./internal/gen
//go:generate go mod tidy

import (
	"github.com/go-acme/lego/v5/challenge"

	"github.com/zonecert/zonecert/plugin/sdk"
)

// version is set by the build (-X main.version).
var version = "dev"

// envDoc is one environment variable lego reads, with lego's description.
type envDoc struct{ env, doc string }

// legoProvider is one lego DNS provider, as generated.
type legoProvider struct {
	code, name  string
	aliases     []string
	new         func() (challenge.Provider, error)
	credentials []envDoc
	additional  []envDoc
}

func main() { sdk.ServeBridge(newBridge()) }
