package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/zonecert/zonecert/core"
)

// env is everything the process gives the CLI, injected so tests can run
// commands in-process without touching the real environment.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	lookupEnv      func(string) (string, bool)
	getuid         func() int
	// logs holds the persistent logging flags; newRoot sets it.
	logs *logFlags
	// store holds the persistent --storage flag (storage.go); newRoot sets it.
	store *storeFlags
	// notified, if set, sees each systemd notification state (the Windows
	// service reports Running on READY=1).
	notified func(state string)
}

func (e env) getenv(k string) string {
	v, _ := e.lookupEnv(k)
	return v
}

func run(ctx context.Context, args []string, e env) error {
	e.logs = &logFlags{}
	e.store = &storeFlags{}
	root := newRoot(e)
	root.SetArgs(args)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	// Errors raised before a command runs (unknown command or flag, wrong
	// arguments) are usage errors.
	started := false
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if err := e.logs.check(); err != nil {
			return usageError{err}
		}
		if err := absPathFlags(cmd); err != nil {
			return usageError{err}
		}
		started = true
		return nil
	}
	err := root.ExecuteContext(ctx)
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return fmt.Errorf("%w: %w", errInterrupted, err)
	case !started:
		return usageError{err}
	}
	return err
}

func newRoot(e env) *cobra.Command {
	root := &cobra.Command{
		Use:   "zonecert",
		Short: "Obtain TLS certificates with ACME DNS-01 through DNS provider plugins",
		Long: `zonecert obtains TLS certificates from an ACME CA (Let's Encrypt by default)
by proving control of DNS names with the DNS-01 challenge. It suits wildcard
certificates and hosts behind firewalls: nothing needs to reach the host.
DNS providers run as separate plugin processes (zonecert-dns-<name>).

` + exitCodesHelp,
		Version:       core.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w (see %s --help)", err, c.CommandPath())}
	})
	if e.logs == nil {
		e.logs = &logFlags{}
	}
	e.logs.bind(root.PersistentFlags())
	if e.store == nil {
		e.store = &storeFlags{}
	}
	e.store.bind(root.PersistentFlags())
	root.AddCommand(newObtainCmd(e), newCertificatesCmd(e), newRenewCmd(e), newRevokeCmd(e), newDeleteCmd(e), newPersistCmd(e), newPluginsCmd(e),
		newRunCmd(e), newConfigCmd(e), newAccountCmd(e), newVersionCmd(e), newStorageCmd(e), newAgentCmd(e))
	root.AddCommand(newDoctorCmd(e))
	root.AddCommand(newGendocsCmd()) // hidden: make dist
	root.AddCommand(newServiceCmd(e))
	root.SetVersionTemplate(currentVersion().String())
	finishHelp(root)
	return root
}

// defaultStatePath is the state root: /var/lib/zonecert for root, else
// $XDG_DATA_HOME/zonecert (~/.local/share/zonecert); on Windows
// %ProgramData%\zonecert (see systemStatePath).
func defaultStatePath(e env) (string, error) {
	if p := e.getenv("ZONECERT_PATH"); p != "" {
		return filepath.Abs(p) // as the --path flag is (pathflags.go)
	}
	if p, ok := systemStatePath(e); ok {
		return p, nil
	}
	if e.getuid() == 0 {
		return "/var/lib/zonecert", nil
	}
	if d := e.getenv("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "zonecert"), nil
	}
	home := e.getenv("HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", errors.New("cannot find a state directory: set --path or HOME")
		}
		home = h
	}
	return filepath.Join(home, ".local", "share", "zonecert"), nil
}
