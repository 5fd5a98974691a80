//go:build windows

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/eventlog"
	"golang.org/x/sys/windows/svc/mgr"
)

const (
	// serviceTick re-reports a pending state with the next check point;
	// serviceWaitHint is how long the manager waits for one.
	serviceTick     = 5 * time.Second
	serviceWaitHint = 20 * time.Second
)

// runAsService runs zonecert (normally `run --config FILE`) under the
// service control manager when the manager started this process; ok is
// false when it did not. Output goes to the Application event log.
func runAsService(args []string) (code int, ok bool) {
	is, err := svc.IsWindowsService()
	if err != nil || !is {
		return 0, false
	}
	w := &eventWriter{}
	if el, err := eventlog.Open(serviceName); err == nil {
		defer el.Close()
		w.log = el
	}
	h := &serviceHandler{args: args, w: w}
	if err := svc.Run(serviceName, h); err != nil {
		w.report(2, "zonecert: running as a service: "+err.Error())
		return exitInternal, true
	}
	return h.code, true
}

// eventWriter writes each log line (slog writes one per call) as one event,
// at the line's level. Without an event log it drops them: a service has no
// console.
type eventWriter struct{ log *eventlog.Log }

func (w *eventWriter) Write(p []byte) (int, error) {
	return len(p), w.report(eventLogLevel(p), strings.TrimRight(string(p), "\r\n"))
}

func (w *eventWriter) report(level int, msg string) error {
	switch {
	case w.log == nil:
		return nil
	case level == 2:
		return w.log.Error(1, msg)
	case level == 1:
		return w.log.Warning(1, msg)
	}
	return w.log.Info(1, msg)
}

type serviceHandler struct {
	args []string
	w    *eventWriter
	code int
}

// Execute implements svc.Handler: serveService's states become svc.Status;
// Stop and Shutdown cancel the daemon's context, the path Ctrl-C takes.
func (h *serviceHandler) Execute(_ []string, r <-chan svc.ChangeRequest, s chan<- svc.Status) (bool, uint32) {
	report := func(st svcStatus) {
		out := svc.Status{CheckPoint: st.CheckPoint, WaitHint: uint32(serviceWaitHint / time.Millisecond)}
		switch st.State {
		case svcStartPending:
			out.State = svc.StartPending
		case svcRunning:
			out = svc.Status{State: svc.Running, Accepts: svc.AcceptStop | svc.AcceptShutdown}
		case svcStopPending:
			out.State = svc.StopPending
		}
		s <- out
	}
	tick := time.NewTicker(serviceTick)
	defer tick.Stop()
	err := serveService(r, serviceCmd, report, tick.C, serviceDaemon(h.args, h.w))
	h.code = exitCode(err)
	if err != nil {
		h.w.report(2, "zonecert: "+err.Error())
		return true, uint32(h.code)
	}
	return false, 0
}

func serviceCmd(r svc.ChangeRequest) svcCmd {
	switch r.Cmd {
	case svc.Interrogate:
		return svcInterrogate
	case svc.Stop, svc.Shutdown:
		return svcStop
	}
	return svcIgnore
}

func newServiceCmd(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "service",
		Short: "Install or remove `zonecert run` as a Windows service",
		Long: `Install or remove the Windows service "zonecert", which runs
` + "`zonecert run --config FILE`" + ` as LocalSystem, started automatically at boot and
restarted 30s after a failure. Stop and Shutdown stop it as Ctrl-C does.
Its log goes to the Application event log, source "zonecert". Run as
Administrator.`,
		Example: `  zonecert service install --config C:\ProgramData\zonecert\zonecert.toml
  zonecert service uninstall`,
	}
	var cfgPath string
	install := &cobra.Command{
		Use:   "install --config FILE [-- RUN-FLAGS...]",
		Short: "Create the service zonecert running `zonecert run --config FILE`",
		Example: `  zonecert service install --config C:\ProgramData\zonecert\zonecert.toml
  zonecert service install --config C:\ProgramData\zonecert\zonecert.toml -- --metrics-listen 127.0.0.1:9117
  sc.exe start zonecert`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cfgPath == "" {
				return usageError{errors.New("no configuration: pass --config FILE")}
			}
			if len(args) > 0 && cmd.ArgsLenAtDash() != 0 {
				return usageError{errors.New("flags for `zonecert run` go after --")}
			}
			abs, err := filepath.Abs(cfgPath)
			if err != nil {
				return usageError{err}
			}
			if _, err := os.Stat(abs); err != nil {
				return usageError{fmt.Errorf("--config: %w", err)}
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			return installService(e, exe, serviceRunArgs(abs, args))
		},
	}
	install.Flags().StringVarP(&cfgPath, "config", "c", "", "TOML configuration file (stored as an absolute path)")
	uninstall := &cobra.Command{
		Use:     "uninstall",
		Short:   "Stop and remove the service zonecert",
		Example: `  zonecert service uninstall`,
		Args:    cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return uninstallService(e)
		},
	}
	cmd.AddCommand(install, uninstall)
	return cmd
}

func installService(e env, exe string, args []string) error {
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("connecting to the service control manager (run as Administrator): %w", err)
	}
	defer m.Disconnect()
	if s, err := m.OpenService(serviceName); err == nil {
		s.Close()
		return usageError{fmt.Errorf("service %s already exists: run `zonecert service uninstall` first", serviceName)}
	}
	s, err := m.CreateService(serviceName, exe, mgr.Config{
		StartType: mgr.StartAutomatic, DisplayName: "zonecert",
		Description: "Obtains and renews TLS certificates with ACME DNS-01 (zonecert run).",
	}, args...)
	if err != nil {
		return fmt.Errorf("creating service %s: %w", serviceName, err)
	}
	defer s.Close()
	// Restart after a failure, as the systemd unit's Restart=on-failure; an
	// exit with an error counts too, not only a crash.
	if err := s.SetRecoveryActions([]mgr.RecoveryAction{{Type: mgr.ServiceRestart, Delay: 30 * time.Second}}, 24*60*60); err != nil {
		fmt.Fprintln(e.stderr, "zonecert: warning: setting the restart on failure:", err)
	} else if err := s.SetRecoveryActionsOnNonCrashFailures(true); err != nil {
		fmt.Fprintln(e.stderr, "zonecert: warning: setting the restart on failure:", err)
	}
	err = eventlog.InstallAsEventCreate(serviceName, eventlog.Error|eventlog.Warning|eventlog.Info)
	if err != nil && !strings.Contains(err.Error(), "already exists") {
		_ = s.Delete()
		return fmt.Errorf("registering the event log source %s: %w", serviceName, err)
	}
	fmt.Fprintf(e.stdout, "installed service %s: %s %s\nstart it with `sc.exe start %s` or `Start-Service %s`; it logs to the Application event log\n",
		serviceName, exe, strings.Join(args, " "), serviceName, serviceName)
	return nil
}

func uninstallService(e env) error {
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("connecting to the service control manager (run as Administrator): %w", err)
	}
	defer m.Disconnect()
	s, err := m.OpenService(serviceName)
	if err != nil {
		return usageError{fmt.Errorf("service %s: %w", serviceName, err)}
	}
	defer s.Close()
	// Windows removes a service marked for deletion once it has stopped.
	if _, err := s.Control(svc.Stop); err != nil && !errors.Is(err, windows.ERROR_SERVICE_NOT_ACTIVE) {
		fmt.Fprintln(e.stderr, "zonecert: warning: stopping the service:", err)
	}
	if err := s.Delete(); err != nil {
		return fmt.Errorf("removing service %s: %w", serviceName, err)
	}
	if err := eventlog.Remove(serviceName); err != nil {
		fmt.Fprintln(e.stderr, "zonecert: warning: removing the event log source:", err)
	}
	fmt.Fprintf(e.stdout, "removed service %s\n", serviceName)
	return nil
}
