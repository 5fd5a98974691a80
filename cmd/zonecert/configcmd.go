package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/zonecert/zonecert/core/config"
	"github.com/zonecert/zonecert/core/dns01"
	"github.com/zonecert/zonecert/plugin"
	"github.com/zonecert/zonecert/plugin/host"
)

func newConfigCmd(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Work with the daemon's configuration file",
	}
	var dirs []string
	check := &cobra.Command{
		Use:   "check FILE",
		Short: "Validate a configuration file; each error names its line",
		Long: `Validate a configuration file for zonecert run without starting anything but
each plugin's describe: unknown keys, unknown or missing provider settings,
certificates whose domains no provider covers, duplicate names, unset ${ENV}
and unreadable file: references. A file holding a literal secret is refused
when group or others can read it.`,
		Example: `  zonecert config check /etc/zonecert/zonecert.toml`,
		Args: func(_ *cobra.Command, args []string) error {
			switch {
			case len(args) == 0:
				return usageError{errors.New("config check: which file? Pass the file that `zonecert run --config FILE` reads, e.g. zonecert config check /etc/zonecert/zonecert.toml")}
			case len(args) > 1:
				return usageError{fmt.Errorf("config check: one file at a time (got %d)", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(cmd.Context(), e, args[0], dirs)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s: OK (%d certificates, %d provider instances)\n", args[0], len(cfg.Certificates), len(cfg.Providers))
			return nil
		},
	}
	check.Flags().StringArrayVar(&dirs, "plugin-dir", nil, "directory searched first for zonecert-dns-<name> (repeatable)")
	cmd.AddCommand(check)
	return cmd
}

// loadConfig reads and validates a configuration file; a file with errors
// is a usage error listing each with its line.
func loadConfig(ctx context.Context, e env, path string, dirs []string) (*config.Config, error) {
	resolvers, _ := dns01.SystemResolvers("/etc/resolv.conf")
	cfg, err := config.Load(ctx, path, config.Options{
		LookupEnv:        e.lookupEnv,
		PluginDirs:       dirs,
		DefaultResolvers: resolvers,
		Describe: func(ctx context.Context, name, plugPath, sha256 string, dirs []string, state string) (plugin.Metadata, error) {
			hc := host.Config{Name: name, Path: plugPath, Dirs: dirs, LookupEnv: e.lookupEnv,
				SHA256: sha256, PinSource: "a sha256 key in " + path}
			if filepath.IsAbs(state) { // else the state error is reported
				var err error
				if hc, err = withLock(ctx, state, hc); err != nil {
					return plugin.Metadata{}, err
				}
			}
			return host.Inspect(ctx, hc)
		},
	})
	if errs, ok := errors.AsType[config.Errors](err); ok {
		return nil, usageError{fmt.Errorf("%d error(s) in the configuration:\n%w", len(errs), errs)}
	}
	if err != nil {
		return nil, usageError{err}
	}
	return cfg, nil
}
