package core

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// HookKind is when a hook runs, certbot's names.
type HookKind string

// Hook kinds.
const (
	HookPre    HookKind = "pre"    // once per renew run, before the first renewal
	HookDeploy HookKind = "deploy" // after each stored certificate
	HookPost   HookKind = "post"   // once per renew run, after the last renewal
)

// DefaultHookTimeout bounds one hook that has no timeout of its own.
const DefaultHookTimeout = 5 * time.Minute

// ErrHook marks a hook that failed; the certificate it was run for stays.
var ErrHook = errors.New("hook failed")

// Hooks runs user commands around renewals with certbot's conventions:
// a command given as a flag (run by /bin/sh -c, like certbot's), and every
// executable in <Dir>/{pre,deploy,post}/ in lexical order, directory hooks
// first. Deploy hooks get RENEWED_LINEAGE (the live/<name> directory) and
// RENEWED_DOMAINS (space-separated).
//
// Hooks see Env and those variables only: never zonecert's own
// environment, which holds the provider's secrets.
type Hooks struct {
	// Dir is <path>/renewal-hooks; empty means no directory hooks.
	Dir string
	// Pre and Post are the --pre-hook and --post-hook commands.
	Pre, Post string
	// Timeout bounds each hook; 0 means DefaultHookTimeout.
	Timeout time.Duration
	// Env is the hooks' whole base environment (NAME=VALUE); PATH in it is
	// where commands are looked up.
	Env []string
	// Logger receives the hooks' output line by line; nil discards it.
	Logger *slog.Logger
}

// Commands lists what runs for kind, in order: the executables of
// <Dir>/<kind>/, then cmd. It fails, naming the culprit, when cmd's
// program cannot be found or a file in the directory is not executable,
// so a broken hook is caught before any certificate is ordered.
func (h *Hooks) Commands(kind HookKind, cmd string) ([]string, error) {
	var out []string
	if h.Dir != "" {
		dir := filepath.Join(h.Dir, string(kind))
		ents, err := os.ReadDir(dir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("reading %s hooks: %w", kind, err)
		}
		for _, e := range ents { // ReadDir sorts by name
			if strings.HasPrefix(e.Name(), ".") || e.IsDir() {
				continue
			}
			p := filepath.Join(dir, e.Name())
			if err := executable(p); err != nil {
				// As certbot does: a file in the directory that is not
				// executable (a README, a disabled hook) is skipped.
				if h.Logger != nil {
					h.Logger.Warn("skipping hook that is not executable (chmod +x it to run it)", "hook", string(kind), "path", p)
				}
				continue
			}
			out = append(out, p)
		}
	}
	if cmd = strings.TrimSpace(cmd); cmd != "" {
		if err := h.findProgram(cmd); err != nil {
			return nil, fmt.Errorf("%s hook %q: %w", kind, cmd, err)
		}
		out = append(out, cmd)
	}
	return out, nil
}

// findProgram checks that the first word of a shell command is an
// executable file or a program on the hooks' PATH (certbot checks the
// same). Shell syntax beyond that is left to the shell.
func (h *Hooks) findProgram(cmd string) error {
	words := strings.Fields(cmd)
	for len(words) > 1 && strings.Contains(words[0], "=") {
		words = words[1:] // VAR=value cmd
	}
	prog := words[0]
	if strings.ContainsAny(prog, pathSeparators) {
		return executable(prog)
	}
	for _, dir := range filepath.SplitList(h.path()) {
		for _, name := range programNames(prog) {
			if dir != "" && executable(filepath.Join(dir, name)) == nil {
				return nil
			}
		}
	}
	if isShellBuiltin(prog) {
		return nil
	}
	return fmt.Errorf("%s not found in PATH %s", prog, h.path())
}

func isShellBuiltin(s string) bool {
	switch s {
	case "true", "false", "exit", "echo", "printf", "test", "[", "cd", "set", "export", ":", ".", "exec", "if", "for", "case":
		return true
	}
	return false
}

func (h *Hooks) path() string {
	for _, kv := range h.Env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			return v
		}
	}
	return ""
}

// Run runs the hooks of kind (see Commands) one after the other. Every one
// runs even if an earlier one failed; the error, wrapping ErrHook, names
// each failure. extraEnv adds to the base environment.
func (h *Hooks) Run(ctx context.Context, kind HookKind, cmd string, extraEnv ...string) error {
	cmds, err := h.Commands(kind, cmd)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrHook, err)
	}
	var errs []error
	for _, c := range cmds {
		if err := h.runOne(ctx, kind, c, extraEnv); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrHook, errors.Join(errs...))
	}
	return nil
}

// Deploy runs the deploy hooks for one stored certificate.
func (h *Hooks) Deploy(ctx context.Context, cmd, lineageDir string, domains []string) error {
	return h.Run(ctx, HookDeploy, cmd, "RENEWED_LINEAGE="+lineageDir, "RENEWED_DOMAINS="+strings.Join(domains, " "))
}

func (h *Hooks) runOne(ctx context.Context, kind HookKind, command string, extraEnv []string) error {
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = DefaultHookTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// A directory hook (an executable file) runs directly, a command
	// through the shell; a timeout stops what the hook started too.
	c := hookCommand(ctx, command, executable(command) == nil)
	c.Env = append(append([]string{}, h.Env...), extraEnv...)
	c.Dir = "/"
	c.WaitDelay = 5 * time.Second
	log := h.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	out := &lineLogger{ctx: ctx, log: log, attrs: []slog.Attr{slog.String("hook", string(kind)), slog.String("command", command)}}
	c.Stdout, c.Stderr = out, out
	start := time.Now()
	err := c.Run()
	out.flush()
	switch {
	case ctx.Err() == context.DeadlineExceeded:
		err = fmt.Errorf("%s hook %q: timed out after %s", kind, command, timeout)
	case err != nil:
		err = fmt.Errorf("%s hook %q: %w", kind, command, err)
	}
	attrs := append(out.attrs, slog.Duration("elapsed", time.Since(start)))
	level := slog.LevelInfo
	if err != nil {
		level = slog.LevelError
		attrs = append(attrs, errAttr(err))
	}
	log.LogAttrs(ctx, level, "hook finished", attrs...)
	return err
}

// lineLogger logs what a hook writes, one record per line.
type lineLogger struct {
	ctx   context.Context
	log   *slog.Logger
	attrs []slog.Attr

	mu  sync.Mutex
	buf []byte
}

func (l *lineLogger) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, b...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.emit(string(l.buf[:i]))
		l.buf = l.buf[i+1:]
	}
	if len(l.buf) > 64<<10 { // a hook that never ends a line
		l.emit(string(l.buf))
		l.buf = nil
	}
	return len(b), nil
}

func (l *lineLogger) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.emit(string(l.buf))
		l.buf = nil
	}
}

func (l *lineLogger) emit(line string) {
	l.log.LogAttrs(l.ctx, slog.LevelInfo, "hook output", append(l.attrs, slog.String("line", strings.TrimRight(line, "\r")))...)
}
