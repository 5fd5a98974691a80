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
	bin, meta, err := locate(ctx, cfg)
	if err != nil {
		return meta, err
	}
	bin.Close()
	return meta, nil
}

// Examine hashes the plugin binary at path and, unless pin refuses it,
// runs its describe from the same open file: the digest returned is the
// digest of the binary that described itself. On a pin mismatch the digest
// is returned with the error, and nothing was executed.
func Examine(ctx context.Context, name, path string, pin Pin, lookupEnv func(string) (string, bool)) (string, plugin.Metadata, error) {
	if lookupEnv == nil {
		lookupEnv = noEnv
	}
	bin, err := openBinary(name, path, true)
	if err != nil {
		return "", plugin.Metadata{}, err
	}
	defer bin.Close()
	if err := bin.check(pin); err != nil {
		return bin.SHA256(), plugin.Metadata{}, err
	}
	meta, err := describe(ctx, bin, pluginEnv(nil, lookupEnv, nil))
	return bin.SHA256(), meta, err
}

// pin is cfg's pin, if any.
func (cfg *Config) pin() Pin {
	return Pin{SHA256: cfg.SHA256, Source: cfg.PinSource, Hint: cfg.PinHint}
}

// locate finds the binary (unless cfg.Path is set), opens and verifies it
// against the pin, and runs describe from that open file with the base
// environment only. The caller closes the binary.
func locate(ctx context.Context, cfg Config) (*binary, plugin.Metadata, error) {
	var meta plugin.Metadata
	path := cfg.Path
	if path == "" {
		var err error
		if path, err = Find(cfg.Name, cfg.Dirs, cfg.LookupEnv); err != nil {
			return nil, meta, fmt.Errorf("plugin %s: %w", cfg.Name, err)
		}
	}
	bin, err := verifyBinary(cfg.Name, path, cfg.pin())
	if err != nil {
		return nil, meta, err
	}
	if meta, err = describe(ctx, bin, pluginEnv(nil, cfg.LookupEnv, nil)); err != nil {
		bin.Close()
		return nil, meta, fmt.Errorf("plugin %s: %w", cfg.Name, err)
	}
	if meta.Name != cfg.Name {
		bin.Close()
		return nil, meta, fmt.Errorf("plugin %s: %s describes itself as %q", cfg.Name, path, meta.Name)
	}
	return bin, meta, nil
}
