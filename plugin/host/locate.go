package host

import (
	"context"
	"fmt"

	"github.com/zonecert/zonecert/plugin"
)

// Inspect finds and verifies the plugin of cfg as Start does (discovery or
// Path, the SHA-256 pin) and returns what its describe prints, without
// starting it: a config checker learns the settings, and which are secret.
func Inspect(ctx context.Context, cfg Config) (plugin.Metadata, error) {
	if err := validName(cfg.Name); err != nil {
		return plugin.Metadata{}, err
	}
	if cfg.LookupEnv == nil {
		cfg.LookupEnv = noEnv
	}
	_, _, meta, err := locate(ctx, cfg)
	return meta, err
}

// locate finds the binary (unless cfg.Path is set), checks its pin and runs
// describe with the base environment only.
func locate(ctx context.Context, cfg Config) (path string, pin []byte, meta plugin.Metadata, err error) {
	path = cfg.Path
	if path != "" {
		if !isExecutable(path) {
			return "", nil, meta, fmt.Errorf("plugin %s: %w: %s is not an executable file", cfg.Name, ErrNotFound, path)
		}
	} else if path, err = Find(cfg.Name, cfg.Dirs, cfg.LookupEnv); err != nil {
		return "", nil, meta, fmt.Errorf("plugin %s: %w", cfg.Name, err)
	}
	if cfg.SHA256 != "" {
		if pin, err = parsePin(cfg.SHA256); err != nil {
			return "", nil, meta, fmt.Errorf("plugin %s: %w", cfg.Name, err)
		}
		if err := checkPin(path, pin, cfg.PinHint); err != nil {
			return "", nil, meta, fmt.Errorf("plugin %s: %w", cfg.Name, err)
		}
	}
	if meta, err = describe(ctx, path, pluginEnv(nil, cfg.LookupEnv)); err != nil {
		return "", nil, meta, fmt.Errorf("plugin %s: %w", cfg.Name, err)
	}
	if meta.Name != cfg.Name {
		return "", nil, meta, fmt.Errorf("plugin %s: %s describes itself as %q", cfg.Name, path, meta.Name)
	}
	return path, pin, meta, nil
}
