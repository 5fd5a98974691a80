package host

import (
	"context"
	"io"
	"log"
	"log/slog"

	"github.com/hashicorp/go-hclog"
)

// hclogSlog adapts go-plugin's hclog.Logger to slog for go-plugin's own
// housekeeping; the logger carries plugin=<name>. The plugin's stderr does
// not come through here: the logger go-plugin names for it is off, and the
// raw lines go to a stderrSink, which bounds and attributes them.
type hclogSlog struct {
	l    *slog.Logger
	name string
	// plugin marks the logger go-plugin uses for the plugin's own stderr
	// (it asks for it with Named); the rest is go-plugin's housekeeping.
	plugin bool
}

var _ hclog.Logger = (*hclogSlog)(nil)

func toSlogLevel(l hclog.Level) slog.Level {
	switch l {
	case hclog.Trace:
		return slog.LevelDebug - 4
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

func (h *hclogSlog) Log(level hclog.Level, msg string, args ...any) {
	if h.plugin {
		return // the stderrSink logs the plugin's lines
	}
	// go-plugin reports a normal exit at Info; keep such housekeeping out
	// of an operator's log unless they asked for debug.
	if !h.plugin && level == hclog.Info {
		level = hclog.Debug
	}
	h.l.Log(context.Background(), toSlogLevel(level), msg, renamePluginKey(args)...)
}

// renamePluginKey turns go-plugin's own "plugin" attribute (the binary's
// path) into "binary", so it does not repeat our plugin=<name> key.
func renamePluginKey(args []any) []any {
	for i := 0; i+1 < len(args); i += 2 {
		if k, ok := args[i].(string); ok && k == "plugin" {
			out := append([]any(nil), args...)
			out[i] = "binary"
			return out
		}
	}
	return args
}
func (h *hclogSlog) Trace(msg string, args ...any) { h.Log(hclog.Trace, msg, args...) }
func (h *hclogSlog) Debug(msg string, args ...any) { h.Log(hclog.Debug, msg, args...) }
func (h *hclogSlog) Info(msg string, args ...any)  { h.Log(hclog.Info, msg, args...) }
func (h *hclogSlog) Warn(msg string, args ...any)  { h.Log(hclog.Warn, msg, args...) }
func (h *hclogSlog) Error(msg string, args ...any) { h.Log(hclog.Error, msg, args...) }

func (h *hclogSlog) enabled(l hclog.Level) bool {
	return h.l.Enabled(context.Background(), toSlogLevel(l))
}
func (h *hclogSlog) IsTrace() bool { return h.enabled(hclog.Trace) }
func (h *hclogSlog) IsDebug() bool { return h.enabled(hclog.Debug) }
func (h *hclogSlog) IsInfo() bool  { return h.enabled(hclog.Info) }
func (h *hclogSlog) IsWarn() bool  { return h.enabled(hclog.Warn) }
func (h *hclogSlog) IsError() bool { return h.enabled(hclog.Error) }

func (h *hclogSlog) ImpliedArgs() []any { return nil }
func (h *hclogSlog) With(args ...any) hclog.Logger {
	return &hclogSlog{l: h.l.With(renamePluginKey(args)...), name: h.name, plugin: h.plugin}
}
func (h *hclogSlog) Name() string { return h.name }

// Named keeps the plugin=<name> tag rather than go-plugin's binary name.
func (h *hclogSlog) Named(string) hclog.Logger {
	return &hclogSlog{l: h.l, name: h.name, plugin: true}
}
func (h *hclogSlog) ResetNamed(string) hclog.Logger { return h }
func (h *hclogSlog) SetLevel(hclog.Level)           {}

// GetLevel reports the most verbose level the slog handler accepts, Off if
// none (go-plugin then skips parsing plugin output).
func (h *hclogSlog) GetLevel() hclog.Level {
	if h.plugin {
		return hclog.Off
	}
	for _, l := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn, hclog.Error} {
		if h.enabled(l) {
			return l
		}
	}
	return hclog.Off
}

func (h *hclogSlog) StandardLogger(*hclog.StandardLoggerOptions) *log.Logger {
	return slog.NewLogLogger(h.l.Handler(), slog.LevelInfo)
}
func (h *hclogSlog) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return h.StandardLogger(nil).Writer()
}
