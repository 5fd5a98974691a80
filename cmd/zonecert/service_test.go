package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// svcHarness drives serveService as the Windows service manager would:
// requests over an unbuffered channel, status reports collected.
type svcHarness struct {
	t       *testing.T
	ctx     context.Context
	reqs    chan svcCmd
	tick    chan time.Time
	reports chan svcStatus
	done    chan error
}

func startService(t *testing.T, run func(ctx context.Context, ready func()) error) *svcHarness {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	h := &svcHarness{t: t, ctx: ctx, reqs: make(chan svcCmd), tick: make(chan time.Time),
		reports: make(chan svcStatus, 64), done: make(chan error, 1)}
	go func() {
		h.done <- serveService(h.reqs, func(c svcCmd) svcCmd { return c }, func(s svcStatus) { h.reports <- s }, h.tick, run)
	}()
	return h
}

func (h *svcHarness) send(c svcCmd) {
	h.t.Helper()
	select {
	case h.reqs <- c:
	case <-h.ctx.Done():
		h.t.Fatalf("request %d not taken", c)
	}
}

func (h *svcHarness) tock() {
	h.t.Helper()
	select {
	case h.tick <- time.Time{}:
	case <-h.ctx.Done():
		h.t.Fatal("tick not taken")
	}
}

func (h *svcHarness) expect(want svcStatus) {
	h.t.Helper()
	select {
	case got := <-h.reports:
		if got != want {
			h.t.Fatalf("reported %+v, want %+v", got, want)
		}
	case <-h.ctx.Done():
		h.t.Fatalf("no report, want %+v", want)
	}
}

// quiet checks that nothing was reported since the last expect: an
// interrogation answers with the current status, and must come next.
func (h *svcHarness) quiet(current svcStatus) {
	h.t.Helper()
	h.send(svcInterrogate)
	h.expect(current)
}

func (h *svcHarness) exit() error {
	h.t.Helper()
	select {
	case err := <-h.done:
		return err
	case <-h.ctx.Done():
		h.t.Fatal("serveService did not return")
		return nil
	}
}

var errDaemonStopped = errors.New("daemon stopped")

// TestServiceStates: StartPending, Running once the daemon is ready, a
// Stop cancels the daemon's context and reports StopPending; serveService
// returns the daemon's error (the caller reports Stopped).
func TestServiceStates(t *testing.T) {
	h := startService(t, func(ctx context.Context, ready func()) error {
		ready()
		ready() // READY=1 comes again after each reload
		<-ctx.Done()
		return errDaemonStopped
	})
	h.expect(svcStatus{State: svcStartPending})
	h.expect(svcStatus{State: svcRunning})
	h.send(svcIgnore) // pause, param change...: not accepted, no report
	h.tock()          // a running service reports no check points
	h.quiet(svcStatus{State: svcRunning})
	h.send(svcStop)
	h.expect(svcStatus{State: svcStopPending, CheckPoint: 1})
	if err := h.exit(); !errors.Is(err, errDaemonStopped) {
		t.Fatalf("serveService returned %v, want the daemon's error", err)
	}
}

// TestServiceStopPendingProgress: while the daemon drains (stop_timeout),
// each tick reports the next check point, and a Shutdown after the Stop
// does nothing more.
func TestServiceStopPendingProgress(t *testing.T) {
	release := make(chan struct{})
	canceled := make(chan struct{})
	h := startService(t, func(ctx context.Context, ready func()) error {
		ready()
		<-ctx.Done()
		close(canceled)
		<-release
		return nil
	})
	h.expect(svcStatus{State: svcStartPending})
	h.expect(svcStatus{State: svcRunning})
	h.send(svcStop)
	h.expect(svcStatus{State: svcStopPending, CheckPoint: 1})
	select {
	case <-canceled:
	case <-h.ctx.Done():
		t.Fatal("Stop did not cancel the daemon's context")
	}
	h.tock()
	h.expect(svcStatus{State: svcStopPending, CheckPoint: 2})
	h.send(svcStop) // Shutdown after Stop
	h.quiet(svcStatus{State: svcStopPending, CheckPoint: 2})
	close(release)
	if err := h.exit(); err != nil {
		t.Fatalf("serveService returned %v", err)
	}
}

// TestServiceStartFails: a daemon that fails before it is ready (a bad
// configuration) never reports Running, and its error comes back for the
// service's exit code.
func TestServiceStartFails(t *testing.T) {
	bad := usageError{errors.New("no such file")}
	gate := make(chan struct{})
	h := startService(t, func(context.Context, func()) error {
		<-gate
		return bad
	})
	h.expect(svcStatus{State: svcStartPending})
	h.tock()
	h.expect(svcStatus{State: svcStartPending, CheckPoint: 1})
	close(gate)
	err := h.exit()
	if !errors.Is(err, bad) || exitCode(err) != exitUsage {
		t.Fatalf("serveService returned %v (exit code %d)", err, exitCode(err))
	}
	select {
	case s := <-h.reports:
		t.Fatalf("reported %+v after the daemon failed", s)
	default:
	}
}

// TestServiceStopWhileStarting: a stop before the daemon is ready cancels it
// and a late ready does not report Running.
func TestServiceStopWhileStarting(t *testing.T) {
	proceed := make(chan struct{})
	h := startService(t, func(ctx context.Context, ready func()) error {
		<-ctx.Done()
		ready()
		<-proceed
		return ctx.Err()
	})
	h.expect(svcStatus{State: svcStartPending})
	h.send(svcStop)
	h.expect(svcStatus{State: svcStopPending, CheckPoint: 1})
	h.quiet(svcStatus{State: svcStopPending, CheckPoint: 1})
	close(proceed)
	if err := h.exit(); !errors.Is(err, context.Canceled) {
		t.Fatalf("serveService returned %v", err)
	}
	for len(h.reports) > 0 {
		if s := <-h.reports; s.State == svcRunning {
			t.Fatal("Running reported after a stop")
		}
	}
}

func TestEventLogLevel(t *testing.T) {
	for _, c := range []struct {
		line string
		want int
	}{
		{`time=2026-12-02T15:00:00Z level=INFO msg="zonecert running" config=C:\z.toml`, 0},
		{`time=2026-12-02T15:00:00Z level=WARN msg="renewal failed"`, 1},
		{`time=2026-12-02T15:00:00Z level=ERROR msg="configuration refused"`, 2},
		{`time=2026-12-02T15:00:00Z level=INFO msg="hook said level=ERROR"`, 0},
		{`{"time":"2026-12-02T15:00:00Z","level":"ERROR","msg":"x"}`, 2},
		{`{"time":"2026-12-02T15:00:00Z","level":"WARN","msg":"x"}`, 1},
		{`{"time":"2026-12-02T15:00:00Z","level":"INFO","msg":"x level=ERROR \"level\":\"ERROR\""}`, 0},
		{`Usage: zonecert run --config FILE`, 0},
	} {
		if got := eventLogLevel([]byte(c.line)); got != c.want {
			t.Errorf("eventLogLevel(%s) = %d, want %d", c.line, got, c.want)
		}
	}
}

func TestServiceRunArgs(t *testing.T) {
	got := serviceRunArgs(`C:\ProgramData\zonecert\zonecert.toml`, []string{"--metrics-listen", "127.0.0.1:9117"})
	want := []string{"run", "--config", `C:\ProgramData\zonecert\zonecert.toml`, "--metrics-listen", "127.0.0.1:9117"}
	if !slices.Equal(got, want) {
		t.Fatalf("serviceRunArgs = %q, want %q", got, want)
	}
	if strings.Join(serviceRunArgs("/z.toml", nil), " ") != "run --config /z.toml" {
		t.Fatal("serviceRunArgs without extras")
	}
}

// lockedBuffer collects the daemon's log lines from its goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestServiceRunsDaemon: the real `zonecert run` under serveService (as
// service_windows.go composes them) reports Running on the daemon's
// READY=1 and stops cleanly on Stop.
func TestServiceRunsDaemon(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "zonecert.toml")
	toml := fmt.Sprintf("state = %q\n[acme]\nserver = \"https://127.0.0.1:1/dir\"\nagree_tos = true\n[dns]\nresolvers = [\"127.0.0.1:1\"]\n",
		filepath.Join(dir, "state"))
	if err := os.WriteFile(cfg, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	h := startService(t, serviceDaemon(serviceRunArgs(cfg, nil), &logs))
	h.expect(svcStatus{State: svcStartPending})
	h.expect(svcStatus{State: svcRunning})
	h.send(svcStop)
	h.expect(svcStatus{State: svcStopPending, CheckPoint: 1})
	if err := h.exit(); err != nil {
		t.Fatalf("serveService returned %v\n%s", err, logs.String())
	}
	if out := logs.String(); !strings.Contains(out, `msg="zonecert running"`) || !strings.Contains(out, `msg="zonecert stopped"`) {
		t.Errorf("log:\n%s", out)
	}
}
