package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/zonecert/zonecert/core/config"
	"github.com/zonecert/zonecert/core/daemon"
	"github.com/zonecert/zonecert/plugin/host"
)

func newRunCmd(e env) *cobra.Command {
	var (
		cfgPath string
		listen  string
		dirs    []string
	)
	cmd := &cobra.Command{
		Use:   "run --config FILE",
		Short: "Run as a daemon: obtain and renew every certificate of a config file",
		Long: `Run as a long-lived daemon that keeps every certificate of a TOML
configuration file obtained and renewed (see README, "Running as a daemon").

Certificates missing at start are obtained at once; orders for different
certificates run concurrently (daemon.max_concurrent), and newOrder requests
go to the CA one at a time (daemon.new_order_concurrency). Renewals follow
the certificate's lifetime; failures back off exponentially, and the CA's
rate limits and Retry-After are honoured for the account.

Signals: SIGHUP reloads the file (a file with errors is refused and the
running configuration stays); SIGTERM and SIGINT start no new order, give
running ones daemon.stop_timeout to finish, remove their records and exit 0.
Under systemd (Type=notify) READY=1, RELOADING=1 and STOPPING=1 are sent.

--metrics-listen serves Prometheus metrics on /metrics and the scheduler's
health on /healthz.`,
		Example: `  zonecert config check /etc/zonecert/zonecert.toml
  zonecert run --config /etc/zonecert/zonecert.toml --metrics-listen 127.0.0.1:9117 --log-format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfgPath == "" {
				return usageError{errors.New("no configuration: pass --config FILE")}
			}
			return runDaemon(cmd.Context(), e, cfgPath, listen, dirs)
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "TOML configuration file")
	cmd.Flags().StringVar(&listen, "metrics-listen", "", "serve /metrics and /healthz on ADDR (host:port; port 0 picks one, logged)")
	cmd.Flags().StringArrayVar(&dirs, "plugin-dir", nil, "directory searched first for zonecert-dns-<name> (repeatable)")
	return cmd
}

func runDaemon(ctx context.Context, e env, cfgPath, listen string, dirs []string) error {
	start := time.Now()
	log := slog.New(e.logs.handler(e.stderr, slog.LevelInfo))
	cfg, err := loadConfig(ctx, e, cfgPath, dirs)
	if err != nil {
		return err
	}
	store, closeStore, err := daemonStorage(e, cfg)
	if err != nil {
		return usageError{err}
	}
	defer closeStore()
	d, err := daemon.New(cfg, daemon.Options{
		Logger: log, LookupEnv: e.lookupEnv,
		HTTPClient: httpClient, Launch: launchPlugin(cfg.State, cfgPath),
		Hooks: newHooks(e, cfg.State, 0, log), Storage: store,
	})
	if err != nil {
		return usageError{err}
	}
	if listen != "" {
		ln, err := net.Listen("tcp", listen)
		if err != nil {
			return usageError{fmt.Errorf("--metrics-listen: %w", err)}
		}
		srv := &http.Server{Handler: d.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
		log.LogAttrs(ctx, slog.LevelInfo, "metrics listening", slog.String("addr", ln.Addr().String()))
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reloadDone := make(chan struct{})
	go func() {
		defer close(reloadDone)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				reload(ctx, e, log, d, cfgPath, dirs)
			}
		}
	}()

	ready := func() {
		log.LogAttrs(ctx, slog.LevelInfo, "zonecert running", slog.String("config", cfgPath),
			slog.Int("certificates", len(cfg.Certificates)), slog.Int("provider_instances", len(cfg.Providers)),
			slog.Duration("startup", time.Since(start)))
		notify(ctx, e, log, "READY=1\nSTATUS=running")
	}
	err = d.Run(ctx, ready)
	<-reloadDone
	notify(ctx, e, log, "STOPPING=1")
	log.LogAttrs(context.WithoutCancel(ctx), slog.LevelInfo, "zonecert stopped")
	return err
}

// reload reads the file again and swaps it in; a file with errors is
// refused and the running configuration stays.
func reload(ctx context.Context, e env, log *slog.Logger, d *daemon.Daemon, cfgPath string, dirs []string) {
	notify(ctx, e, log, "RELOADING=1\nMONOTONIC_USEC="+strconv.FormatInt(monotonicUsec(), 10))
	defer notify(ctx, e, log, "READY=1")
	log.LogAttrs(ctx, slog.LevelInfo, "SIGHUP: reloading configuration", slog.String("config", cfgPath))
	cfg, err := loadConfig(ctx, e, cfgPath, dirs)
	if err == nil {
		err = d.Reload(cfg)
	} else {
		d.RefusedReload()
	}
	if err != nil {
		log.LogAttrs(ctx, slog.LevelError, "configuration refused; the running one stays", slog.String("error", err.Error()))
	}
}

func notify(ctx context.Context, e env, log *slog.Logger, state string) {
	if e.notified != nil {
		e.notified(state)
	}
	if err := sdNotify(e, state); err != nil {
		log.LogAttrs(ctx, slog.LevelWarn, "notifying systemd", slog.String("error", err.Error()))
	}
}

// pluginRestarts is how often in a row the daemon restarts a crashed
// plugin; calls are retried across a restart (dns01.Coalescer).
const pluginRestarts = 5

// launchPlugin starts a provider instance's plugin process, pinned by the
// instance's sha256 or else by the state directory's plugins lock (read
// again at every start, so `plugins lock` needs no reload).
func launchPlugin(state, cfgPath string) daemon.Launch {
	return func(ctx context.Context, def config.Provider, dirs, resolvers []string, lookupEnv func(string) (string, bool), log *slog.Logger) (daemon.Plugin, error) {
		hc, err := withLock(ctx, state, host.Config{
			Name: def.Plugin, Instance: def.Name, Path: def.Path,
			SHA256: def.SHA256, PinSource: fmt.Sprintf("providers.%s.sha256 in %s", def.Name, cfgPath),
			Dirs: dirs, Settings: def.Settings, Resolvers: resolvers, LookupEnv: lookupEnv, PassEnv: def.PassEnv, Logger: log,
			Restarts: pluginRestarts,
		})
		if err != nil {
			return nil, err
		}
		c, err := host.Start(ctx, hc)
		if err != nil {
			return nil, err // not a typed nil in the interface
		}
		return c, nil
	}
}
