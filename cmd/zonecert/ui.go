package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/zonecert/zonecert/core"
)

// ui reports progress: on a terminal, a live block with one line per
// identifier redrawn in place on stderr (log lines print above it);
// otherwise every event becomes a slog line on stderr.
type ui struct {
	logger *slog.Logger

	mu      sync.Mutex
	out     io.Writer
	live    bool
	start   time.Time
	order   []string
	lines   map[string]string // identifier -> status line
	header  string
	drawn   int // lines of the block currently on screen
	closed  bool
	verbose bool
}

var _ core.Observer = (*ui)(nil)

func newUI(e env, verbose, jsonOut bool) *ui {
	u := &ui{out: e.stderr, lines: map[string]string{}, start: time.Now(), verbose: verbose}
	if f, ok := e.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) && e.getenv("TERM") != "dumb" {
		u.live = true
	}
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	if u.live && !verbose {
		level = slog.LevelWarn // the display shows progress; logs only for trouble
	}
	logs := e.logs
	if logs == nil {
		logs = &logFlags{format: "text"}
	}
	u.logger = slog.New(logs.handler(writerFunc(u.writeLog), level))
	return u
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// writeLog prints a log line above the live block.
func (u *ui) writeLog(b []byte) (int, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.erase()
	n, err := u.out.Write(b)
	u.draw()
	return n, err
}

// Observe implements core.Observer.
func (u *ui) Observe(ev core.Event) {
	if !u.live {
		attrs := []slog.Attr{slog.String("stage", string(ev.Stage))}
		if ev.Identifier != "" {
			attrs = append(attrs, slog.String("identifier", ev.Identifier))
		}
		if ev.Detail != "" {
			attrs = append(attrs, slog.String("detail", ev.Detail))
		}
		level := slog.LevelInfo
		if ev.Err != nil {
			attrs = append(attrs, slog.String("error", ev.Err.Error()))
			level = slog.LevelWarn
		}
		u.logger.LogAttrs(context.Background(), level, "progress", attrs...)
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return
	}
	text := string(ev.Stage)
	if ev.Detail != "" {
		text += ": " + ev.Detail
	}
	if ev.Err != nil {
		text += ": " + ev.Err.Error()
	}
	switch {
	case ev.Identifier == "":
		u.header = text
	case ev.Stage == core.StageCleanup:
		// Keep the outcome (valid, invalid) in view; note the cleanup.
		base, _, _ := strings.Cut(u.lines[ev.Identifier], " · ")
		u.lines[ev.Identifier] = base + " · " + orDefault(ev.Detail, "cleanup")
	default:
		if _, ok := u.lines[ev.Identifier]; !ok {
			u.order = append(u.order, ev.Identifier)
		}
		u.lines[ev.Identifier] = text
	}
	u.erase()
	u.draw()
}

// erase moves the cursor to the block's first line and clears to the end.
func (u *ui) erase() {
	if !u.live || u.drawn == 0 || u.closed {
		return
	}
	fmt.Fprintf(u.out, "\x1b[%dA\r\x1b[J", u.drawn)
	u.drawn = 0
}

func (u *ui) draw() {
	if !u.live || u.closed {
		return
	}
	width := 0
	for _, id := range u.order {
		width = max(width, len(id))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "[%5.1fs] %s\n", time.Since(u.start).Seconds(), orDefault(u.header, "starting"))
	for _, id := range slices.Clone(u.order) {
		fmt.Fprintf(&b, "  %-*s  %s\n", width, id, u.lines[id])
	}
	io.WriteString(u.out, b.String())
	u.drawn = 1 + len(u.order)
}

// close leaves the final block on screen and stops redrawing.
func (u *ui) close() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.closed = true
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
