package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// This file holds the platform-neutral part of `zonecert run` as a Windows
// service (service_windows.go): the state machine between the service
// control manager's requests and the daemon's context, and how a log line
// maps to an event log level. It is tested on every platform.

// serviceName is the name `zonecert service install` registers, under which
// svc.Run runs and the event log source is kept.
const serviceName = "zonecert"

// svcState is the service state the handler reports.
type svcState int

const (
	svcStartPending svcState = iota
	svcRunning
	svcStopPending
)

// svcCmd is what the handler makes of a control request.
type svcCmd int

const (
	svcIgnore      svcCmd = iota // a request the service does not accept
	svcInterrogate               // report the current status again
	svcStop                      // Stop or Shutdown: cancel the daemon's context
)

// svcStatus is one status report. CheckPoint grows while a pending state
// lasts, so the manager sees progress and does not declare the service hung.
type svcStatus struct {
	State      svcState
	CheckPoint uint32
}

// serveService runs the daemon (run) and reports its states: StartPending at
// once, Running when run calls ready, StopPending when a stop request
// cancels run's context. It returns run's error once run returns; the caller
// then reports Stopped. Requests are read until then, since the manager
// blocks until each is taken. tick re-reports a pending state with the next
// check point.
func serveService[R any](reqs <-chan R, kind func(R) svcCmd, report func(svcStatus), tick <-chan time.Time,
	run func(ctx context.Context, ready func()) error) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := svcStatus{State: svcStartPending}
	report(st)
	readyCh := make(chan struct{})
	ready := sync.OnceFunc(func() { close(readyCh) })
	done := make(chan error, 1)
	go func() { done <- run(ctx, ready) }()
	for {
		select {
		case err := <-done:
			return err
		case <-readyCh:
			readyCh = nil
			if st.State == svcStartPending {
				st = svcStatus{State: svcRunning}
				report(st)
			}
		case r := <-reqs:
			switch kind(r) {
			case svcInterrogate:
				report(st)
			case svcStop:
				if st.State != svcStopPending {
					cancel()
					st = svcStatus{State: svcStopPending, CheckPoint: 1}
					report(st)
				}
			}
		case <-tick:
			if st.State != svcRunning {
				st.CheckPoint++
				report(st)
			}
		}
	}
}

// serviceDaemon runs zonecert with args (`run --config FILE`) as the
// service does: output to w, ready once the daemon sends READY=1.
func serviceDaemon(args []string, w io.Writer) func(ctx context.Context, ready func()) error {
	return func(ctx context.Context, ready func()) error {
		return run(ctx, args, env{
			stdin: strings.NewReader(""), stdout: w, stderr: w,
			lookupEnv: os.LookupEnv, getuid: os.Getuid,
			notified: func(state string) {
				if strings.HasPrefix(state, "READY=1") {
					ready()
				}
			},
		})
	}
}

// eventLogLevel is the event log level of one log line written by the text or
// JSON slog handler: 2 error, 1 warning, 0 information. The first level key
// is the handler's own (it follows only the time); a message quoting one
// comes later, and JSON escapes its quotes.
func eventLogLevel(line []byte) int {
	key := []byte("level=")
	if bytes.HasPrefix(line, []byte("{")) {
		key = []byte(`"level":"`)
	}
	var lv []byte
	if i := bytes.Index(line, key); i >= 0 {
		lv = line[i+len(key):]
	}
	switch {
	case bytes.HasPrefix(lv, []byte("ERROR")):
		return 2
	case bytes.HasPrefix(lv, []byte("WARN")):
		return 1
	}
	return 0
}

// serviceRunArgs are the arguments the installed service starts zonecert
// with: `run --config FILE` and whatever the operator added after `--`.
func serviceRunArgs(cfgAbs string, extra []string) []string {
	return append([]string{"run", "--config", cfgAbs}, extra...)
}
