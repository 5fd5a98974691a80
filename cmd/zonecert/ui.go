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

	"github.com/zonecert/zonecert/core/progress"
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

var _ progress.Observer = (*ui)(nil)

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

// Observe implements progress.Observer.
func (u *ui) Observe(ctx context.Context, ev progress.Event) {
	if !u.live {
		u.logger.LogAttrs(ctx, eventLevel(ev), "progress", eventAttrs(ev)...)
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return
	}
	text := string(ev.Stage)
	if d := eventText(ev); d != "" {
		text += ": " + d
	}
	if ev.Err != nil {
		text += ": " + ev.Err.Error()
	}
	switch {
	case ev.Identifier == "":
		u.header = text
	case ev.Stage == progress.CleaningUp || ev.Stage == progress.CleanedUp || ev.Stage == progress.LeftInPlace:
		// Keep the outcome (valid, invalid) in view; note the cleanup.
		base, _, _ := strings.Cut(u.lines[ev.Identifier], " · ")
		u.lines[ev.Identifier] = base + " · " + eventText(ev)
	default:
		if _, ok := u.lines[ev.Identifier]; !ok {
			u.order = append(u.order, ev.Identifier)
		}
		u.lines[ev.Identifier] = text
	}
	u.erase()
	u.draw()
}

// eventText is the human part of ev, from its structured fields.
func eventText(ev progress.Event) string {
	switch ev.Stage {
	case progress.Publishing:
		s := ev.FQDN + " in zone " + ev.Zone
		if ev.Provider != "" {
			s += " via " + ev.Provider
		}
		return s
	case progress.Syncing:
		return "provider syncing"
	case progress.Propagating:
		return fmt.Sprintf("%d/%d nameserver addresses", ev.Ready, ev.Total)
	case progress.Propagated:
		return "visible everywhere"
	case progress.CleaningUp:
		if ev.Identifier != "" {
			return "removing record"
		}
	case progress.CleanedUp:
		return "record removed"
	case progress.LeftInPlace:
		return "left in place (the provider cannot delete)"
	}
	return ev.Detail
}

func eventLevel(ev progress.Event) slog.Level {
	if ev.Err != nil {
		return slog.LevelWarn
	}
	return slog.LevelInfo
}

// eventAttrs are ev's fields as log attributes, the empty ones left out.
func eventAttrs(ev progress.Event) []slog.Attr {
	attrs := []slog.Attr{slog.String("stage", string(ev.Stage))}
	str := func(k, v string) {
		if v != "" {
			attrs = append(attrs, slog.String(k, v))
		}
	}
	str("identifier", ev.Identifier)
	str("fqdn", ev.FQDN)
	str("zone", ev.Zone)
	if ev.Stage == progress.Publishing {
		str("provider", ev.Provider)
	}
	if ev.Total > 0 {
		attrs = append(attrs, slog.Int("ready", ev.Ready), slog.Int("total", ev.Total))
	}
	str("detail", ev.Detail)
	if ev.Err != nil {
		attrs = append(attrs, slog.String("error", ev.Err.Error()))
	}
	return attrs
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
