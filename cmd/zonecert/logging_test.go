package main

import (
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestLogFlags: --log-format and --log-level are root flags every command
// takes; bad values are usage errors before anything runs.
func TestLogFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--log-format", "yaml", "certificates"}, exitUsage, "--log-format"},
		{[]string{"certificates", "--log-level", "loud"}, exitUsage, "--log-level"},
		{[]string{"--log-format", "json", "--log-level", "debug", "certificates", "--path", "STATE"}, exitOK, "no certificates"},
	} {
		e, out, _ := testEnv(nil)
		args := tc.args
		for i, a := range args {
			if a == "STATE" {
				args[i] = t.TempDir()
			}
		}
		err := run(t.Context(), args, e)
		if code := exitCode(err); code != tc.code {
			t.Errorf("%v: exit %d (%v), want %d", tc.args, code, err, tc.code)
			continue
		}
		msg := out.String()
		if err != nil {
			msg = err.Error()
		}
		if !strings.Contains(msg, tc.want) {
			t.Errorf("%v: %q lacks %q", tc.args, msg, tc.want)
		}
	}
}

// TestJSONLogDurations: JSON logs write durations as strings ("1m0s"), not
// nanoseconds.
func TestJSONLogDurations(t *testing.T) {
	var buf strings.Builder
	l := &logFlags{format: "json"}
	slog.New(l.handler(&buf, slog.LevelInfo)).Info("waiting", "wait", time.Minute, slog.Group("g", "d", 1500*time.Millisecond))
	if out := buf.String(); !strings.Contains(out, `"wait":"1m0s"`) || !strings.Contains(out, `"d":"1.5s"`) {
		t.Errorf("durations in JSON: %s", out)
	}
}
