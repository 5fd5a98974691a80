package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/zonecert/zonecert/plugin/sdk"
)

const (
	// waitDelay bounds how long a finished or killed program's leftover
	// children may hold its output pipes open.
	waitDelay = 5 * time.Second
	// maxStdout caps the stdout kept from one run.
	maxStdout = 64 << 10
	// tailLines is how many stderr lines an error message quotes.
	tailLines = 5
)

// run executes prog once with its own time limit, in its own process group
// so that a timeout kills everything it started. Its stderr goes to the
// log line by line; its stdout is returned.
func (p *provider) run(ctx context.Context, prog string, args, env []string, r sdk.Record, action string) ([]byte, *sdk.Error) {
	what := fmt.Sprintf("%s %s %s", filepath.Base(prog), action, r.FQDN)
	// One run at a time, but a caller's deadline still applies while waiting.
	select {
	case p.turn <- struct{}{}:
		defer func() { <-p.turn }()
	case <-ctx.Done():
		return nil, errorf(sdk.CodeOther, "%s: not started: %v", what, ctx.Err())
	}
	if err := ctx.Err(); err != nil {
		return nil, errorf(sdk.CodeOther, "%s: not started: %v", what, err)
	}

	runCtx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	stdout := &limitedBuffer{max: maxStdout}
	stderr := &lineLogger{ctx: ctx, log: p.log, attrs: []slog.Attr{
		slog.String("program", filepath.Base(prog)), slog.String("action", action), slog.String("fqdn", r.FQDN),
	}}
	start := time.Now()
	var cmd *exec.Cmd
	var err error
	for attempt := 0; ; attempt++ {
		cmd = exec.CommandContext(runCtx, prog, args...)
		cmd.Env = env
		if cmd.Env == nil {
			cmd.Env = []string{} // nil would inherit the plugin's environment
		}
		cmd.WaitDelay = waitDelay
		killGroup(cmd)
		cmd.Stdout, cmd.Stderr = stdout, stderr
		err = cmd.Run()
		if !textBusy(err) || attempt == 3 {
			break
		}
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-runCtx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	stderr.flush()
	p.log.LogAttrs(ctx, slog.LevelDebug, "program finished", slog.String("run", what),
		slog.Duration("took", time.Since(start)), slog.Any("err", err))

	switch {
	case err == nil, errors.Is(err, exec.ErrWaitDelay) && cmd.ProcessState != nil && cmd.ProcessState.Success():
		// A background child kept the pipes open after a clean exit: the
		// program itself succeeded.
		return stdout.Bytes(), nil
	case ctx.Err() != nil:
		return nil, errorf(sdk.CodeOther, "%s: stopped, %v%s", what, ctx.Err(), stderr.tail())
	case runCtx.Err() != nil:
		return nil, &sdk.Error{Code: sdk.CodeOther, Retryable: true,
			Message: fmt.Sprintf("%s: timed out after %s, process group killed%s", what, p.timeout, stderr.tail())}
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return nil, errorf(sdk.CodeOther, "%s: %v%s", what, exit, stderr.tail())
	}
	return nil, errorf(sdk.CodeOther, "%s: %v", what, err)
}

// lineLogger logs each line written to it and keeps the last few for
// error messages. os/exec writes to it from one goroutine.
type lineLogger struct {
	ctx     context.Context
	log     *slog.Logger
	attrs   []slog.Attr
	partial []byte
	last    []string
}

func (l *lineLogger) Write(b []byte) (int, error) {
	l.partial = append(l.partial, b...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.line(string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
	if len(l.partial) > 4096 { // a runaway line without newline
		l.line(string(l.partial))
		l.partial = nil
	}
	return len(b), nil
}

func (l *lineLogger) line(s string) {
	s = strings.TrimRight(s, "\r")
	if s == "" {
		return
	}
	l.log.LogAttrs(l.ctx, slog.LevelInfo, s, append([]slog.Attr{slog.String("stream", "stderr")}, l.attrs...)...)
	l.last = append(l.last, s)
	if len(l.last) > tailLines {
		l.last = l.last[1:]
	}
}

func (l *lineLogger) flush() {
	if len(l.partial) > 0 {
		l.line(string(l.partial))
		l.partial = nil
	}
}

// tail renders the last stderr lines for an error message.
func (l *lineLogger) tail() string {
	if len(l.last) == 0 {
		return ""
	}
	return "; stderr: " + strings.Join(l.last, " | ")
}

// limitedBuffer keeps the first max bytes written and drops the rest.
type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
