// Package sdk is everything a DNS provider plugin author needs: implement
// [Provider] (two methods), describe the settings in a struct, and call
// [Serve] from main. go-plugin, gRPC and the handshake stay hidden.
//
//	type Settings struct {
//		Server string     `setting:"server,required" env:"MYDNS_SERVER" doc:"API base URL"`
//		Token  sdk.Secret `setting:"token,required,secret" env:"MYDNS_TOKEN" doc:"API token"`
//		TTL    int        `setting:"ttl" env:"MYDNS_TTL" default:"120" doc:"TXT record TTL"`
//	}
//
//	func main() {
//		sdk.Serve(sdk.Plugin[Settings]{
//			Name: "mydns", Version: "0.1.0", Description: "MyDNS API",
//			New: func(ctx context.Context, s Settings, log *slog.Logger) (sdk.Provider, error) {
//				return &provider{settings: s}, nil
//			},
//		})
//	}
package sdk

import (
	"context"
	"log/slog"

	"github.com/zonecert/zonecert/plugin"
)

// Aliases so a plugin author imports only this package.
type (
	Provider     = plugin.Provider
	Syncer       = plugin.Syncer
	ZoneLister   = plugin.ZoneLister
	Record       = plugin.Record
	Result       = plugin.Result
	Error        = plugin.Error
	Code         = plugin.Code
	Capabilities = plugin.Capabilities
)

// Error codes (see [plugin.Code]).
const (
	CodeOther        = plugin.CodeOther
	CodeAuth         = plugin.CodeAuth
	CodeZoneNotFound = plugin.CodeZoneNotFound
	CodeRateLimited  = plugin.CodeRateLimited
	CodeConflict     = plugin.CodeConflict
)

// Secret is a setting value that must never be printed: it redacts itself
// in fmt and slog output. Use Reveal to read it.
type Secret string

// Reveal returns the secret value.
func (s Secret) Reveal() string { return string(s) }

func (s Secret) String() string { return redacted(s) }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted(s)) }

func redacted(s Secret) string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// Plugin describes a provider plugin to [Serve]. S is the settings struct;
// its fields are declared with struct tags:
//
//	setting:"name[,required][,secret]"  the setting's name (config files, diagnostics)
//	env:"VAR[,ALIAS...]"                environment variables read, first is canonical
//	default:"value"                     the value when nothing is set
//	doc:"text"                          one line for metadata and --help
//
// Supported field types: string, Secret, int, bool, time.Duration.
type Plugin[S any] struct {
	Name        string
	Version     string
	Description string
	// PassEnv lists extra environment variables a vendor SDK reads itself.
	PassEnv []string
	// MaxBatch is the most records per call; 0 means unlimited.
	MaxBatch int
	// NoDelete, MaxValuesPerName and ProvisionedNames declare what the API
	// cannot do (see [plugin.Capabilities]); `describe` prints them, the
	// host schedules around them and the conformance kit holds the plugin
	// to them. Declare only what is true: the kit fails a plugin that
	// deletes while declaring NoDelete, or keeps fewer values than
	// MaxValuesPerName.
	NoDelete         bool
	MaxValuesPerName int
	ProvisionedNames bool
	// New builds the provider from decoded, validated settings. It may
	// return field-level problems as a *SettingsError.
	New func(ctx context.Context, settings S, log *slog.Logger) (Provider, error)
}
