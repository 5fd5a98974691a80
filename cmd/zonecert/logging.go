package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/pflag"
)

// logFlags are the persistent --log-format and --log-level flags every
// command honours.
type logFlags struct {
	format string
	level  string
}

func (l *logFlags) bind(fl *pflag.FlagSet) {
	fl.StringVar(&l.format, "log-format", "text", "log record format: text or json")
	fl.StringVar(&l.level, "log-level", "", "least severe records logged: debug, info, warn, error (default info; obtain on a terminal: warn)")
}

func (l *logFlags) check() error {
	if l.format != "text" && l.format != "json" {
		return fmt.Errorf("bad --log-format %q: want text or json", l.format)
	}
	if _, _, err := l.levelOr(slog.LevelInfo); err != nil {
		return err
	}
	return nil
}

// levelOr returns --log-level, or def when the flag is unset; set reports
// whether the user chose.
func (l *logFlags) levelOr(def slog.Level) (slog.Level, bool, error) {
	if l.level == "" {
		return def, false, nil
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(strings.ToUpper(l.level))); err != nil {
		return def, false, fmt.Errorf("bad --log-level %q: want debug, info, warn or error", l.level)
	}
	return lv, true, nil
}

// handler returns the slog handler for w; def is the command's level when
// --log-level is not given.
func (l *logFlags) handler(w io.Writer, def slog.Level) slog.Handler {
	lv, _, _ := l.levelOr(def)
	opts := &slog.HandlerOptions{Level: lv}
	if l.format == "json" {
		opts.ReplaceAttr = durationString
		return slog.NewJSONHandler(w, opts)
	}
	return slog.NewTextHandler(w, opts)
}

// durationString writes durations as Go spells them ("60s", "1.5s"), as
// the text format and the configuration file do, not as nanoseconds.
func durationString(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}
