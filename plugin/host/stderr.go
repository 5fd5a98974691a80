package host

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Limits of what a plugin may write to stderr. Beyond them lines are
// counted and dropped, with one warning when dropping starts and the count
// when it ends: a plugin cannot flood the host's log or its disk.
const (
	stderrMaxLine    = 4 << 10  // bytes kept of one line
	stderrLinesPerS  = 50       // sustained lines per second
	stderrLineBurst  = 200      // lines at once
	stderrBytesPerS  = 64 << 10 // sustained bytes per second
	stderrBytesBurst = 256 << 10
)

// stderrSink receives a plugin's raw stderr (go-plugin's ClientConfig.Stderr,
// whose own parsing the host turns off) and logs each line as the plugin's:
// one record "plugin output" tagged plugin=<name>, with everything the
// plugin wrote inside the "output" group. The plugin cannot choose the
// record's message or its top-level keys, so it cannot forge a record that
// looks like zonecert's own. Lines in the SDK's JSON shape keep their level
// (at most Error); others are Debug, except a Go panic's, which are Error.
type stderrSink struct {
	log *slog.Logger
	now func() time.Time

	mu        sync.Mutex
	line      []byte
	truncated bool
	lines     float64 // tokens
	bytes     float64
	last      time.Time
	dropped   int // in the current episode
	panicking bool
}

func newStderrSink(log *slog.Logger, now func() time.Time) *stderrSink {
	return &stderrSink{log: log, now: now, lines: stderrLineBurst, bytes: stderrBytesBurst, last: now()}
}

func (s *stderrSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		if room := stderrMaxLine - len(s.line); len(chunk) > room {
			s.line = append(s.line, chunk[:max(room, 0)]...)
			s.truncated = true
		} else {
			s.line = append(s.line, chunk...)
		}
		if i < 0 {
			break
		}
		s.emit()
		p = p[i+1:]
	}
	return n, nil
}

// emit logs the buffered line, if the rate allows.
func (s *stderrSink) emit() {
	line, truncated := string(s.line), s.truncated
	s.line, s.truncated = s.line[:0], false
	now := s.now()
	el := now.Sub(s.last).Seconds()
	s.last = now
	s.lines = min(stderrLineBurst, s.lines+el*stderrLinesPerS)
	s.bytes = min(stderrBytesBurst, s.bytes+el*stderrBytesPerS)
	if s.lines < 1 || s.bytes < float64(len(line)) {
		s.dropped++
		if s.dropped == 1 {
			s.log.LogAttrs(context.Background(), slog.LevelWarn, "plugin writes too much to stderr; dropping its lines",
				slog.Int("lines_per_second", stderrLinesPerS), slog.Int("bytes_per_second", stderrBytesPerS))
		}
		return
	}
	s.lines--
	s.bytes -= float64(len(line))
	if s.dropped > 0 {
		s.log.LogAttrs(context.Background(), slog.LevelWarn, "plugin stderr lines dropped", slog.Int("dropped", s.dropped))
		s.dropped = 0
	}
	level, out := s.parse(line)
	if truncated {
		out = append(out, slog.Bool("truncated", true))
	}
	s.log.LogAttrs(context.Background(), level, "plugin output", slog.Attr{Key: "output", Value: slog.GroupValue(out...)})
}

// parse reads a line in the SDK's (hclog's) JSON shape, or takes it as text.
func (s *stderrSink) parse(line string) (slog.Level, []slog.Attr) {
	var m map[string]any
	if strings.HasPrefix(line, "{") && json.Unmarshal([]byte(line), &m) == nil {
		if msg, ok := m["@message"].(string); ok {
			lvl, _ := m["@level"].(string)
			attrs := []slog.Attr{slog.String("msg", msg)}
			for k, v := range m {
				if !strings.HasPrefix(k, "@") {
					attrs = append(attrs, slog.Any(k, v))
				}
			}
			return pluginLevel(lvl), attrs
		}
	}
	if strings.HasPrefix(line, "panic: ") || strings.HasPrefix(line, "fatal error: ") {
		s.panicking = true
	}
	if s.panicking {
		return slog.LevelError, []slog.Attr{slog.String("line", line)}
	}
	return slog.LevelDebug, []slog.Attr{slog.String("line", line)}
}

func pluginLevel(l string) slog.Level {
	switch strings.ToLower(l) {
	case "trace":
		return slog.LevelDebug - 4
	case "debug":
		return slog.LevelDebug
	case "warn", "warning":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}
