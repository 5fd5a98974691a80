package conformance

import (
	"context"
	"io"

	"github.com/zonecert/zonecert/plugin"
	"github.com/zonecert/zonecert/plugin/host"
)

// Binary is a Target that runs a built plugin binary exactly as zonecert
// does: each Open is a [host.Start] with cfg, so a new, separately
// configured process behind go-plugin's gRPC, with the host's environment
// isolation and, if cfg.SHA256 is set, its pin checked. A non-empty path
// overrides cfg.Path; with neither, host.Start discovers the binary by
// cfg.Name. Settings and secrets go in cfg.Settings or through
// cfg.LookupEnv (nil gives the plugin an empty environment).
func Binary(path string, cfg host.Config) Target {
	if path != "" {
		cfg.Path = path
	}
	return Target{Name: cfg.Name, Open: func(ctx context.Context) (plugin.Provider, io.Closer, error) {
		c, err := host.Start(ctx, cfg)
		if err != nil {
			return nil, nil, err
		}
		return c, c, nil
	}}
}
