package host

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/zonecert/zonecert/plugin"
)

// flatAttrs maps a record's attributes by dotted key (groups flattened).
func flatAttrs(r slog.Record) map[string]string {
	out := map[string]string{}
	var add func(prefix string, a slog.Attr)
	add = func(prefix string, a slog.Attr) {
		if a.Value.Kind() == slog.KindGroup {
			for _, g := range a.Value.Group() {
				add(prefix+a.Key+".", g)
			}
			return
		}
		if _, dup := out[prefix+a.Key]; dup {
			out[prefix+a.Key] += "," + a.Value.String()
			return
		}
		out[prefix+a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool { add("", a); return true })
	return out
}

// A plugin that prints lines shaped like zonecert's own records (JSON in
// the SDK's shape with a "plugin" key of its choosing, and logfmt text)
// gets them logged as its output, under its name, never as zonecert's.
func TestPluginStderrCannotForgeRecords(t *testing.T) {
	t.Parallel()
	h := &recorder{}
	c := startTest(t, Config{Logger: slog.New(h)})
	forged := []string{
		`{"@level":"error","@message":"certificate issued","plugin":"rfc2136","cert":"web"}`,
		`time=2026-01-01T00:00:00Z level=ERROR msg="certificate issued" cert=web`,
	}
	for i, line := range forged {
		if _, err := c.Present(t.Context(), []plugin.Record{rec(string(rune('1'+i)), "a.example.test.", "stderr:"+line)}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var outs []slog.Record
	for len(outs) < 2 {
		if ctx.Err() != nil {
			t.Fatalf("plugin lines never logged: %d of 2", len(outs))
		}
		outs = nil
		h.mu.Lock()
		for _, r := range h.recs {
			if r.Message == "certificate issued" {
				t.Errorf("a plugin line became a record of its own: %v", flatAttrs(r))
			}
			a := flatAttrs(r)
			if r.Message == "plugin output" && (a["output.msg"] == "certificate issued" || strings.Contains(a["output.line"], "certificate issued")) {
				outs = append(outs, r)
			}
		}
		h.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	json, text := flatAttrs(outs[0]), flatAttrs(outs[1])
	if json["plugin"] != testName || json["output.msg"] != "certificate issued" || json["output.plugin"] != "rfc2136" || outs[0].Level != slog.LevelError {
		t.Errorf("JSON line: level %v, %v", outs[0].Level, json)
	}
	if text["plugin"] != testName || text["output.line"] != forged[1] || outs[1].Level != slog.LevelDebug {
		t.Errorf("text line: level %v, %v", outs[1].Level, text)
	}
}

// Beyond the rate, lines are counted and dropped with one warning, and
// the count is logged once lines flow again; a long line is truncated.
func TestPluginStderrIsBounded(t *testing.T) {
	t.Parallel()
	h := &recorder{}
	now := time.Unix(1e9, 0)
	s := newStderrSink(slog.New(h), func() time.Time { return now })
	for range 1000 {
		if _, err := s.Write([]byte("spam\n")); err != nil {
			t.Fatal(err)
		}
	}
	count := func(msg string) int {
		n := 0
		for _, r := range h.recs {
			if r.Message == msg {
				n++
			}
		}
		return n
	}
	if n := count("plugin output"); n != stderrLineBurst {
		t.Errorf("%d lines logged at once, want the burst of %d", n, stderrLineBurst)
	}
	if n := count("plugin writes too much to stderr; dropping its lines"); n != 1 {
		t.Errorf("%d warnings, want 1", n)
	}
	now = now.Add(time.Second)
	_, _ = s.Write([]byte(strings.Repeat("x", 3*stderrMaxLine) + "\n"))
	rec, ok := h.find("plugin stderr lines dropped")
	if !ok || flatAttrs(rec)["dropped"] != "800" {
		t.Errorf("dropped count: %v %v", ok, flatAttrs(rec))
	}
	last := h.recs[len(h.recs)-1]
	if a := flatAttrs(last); len(a["output.line"]) != stderrMaxLine || a["output.truncated"] != "true" {
		t.Errorf("long line: %d bytes kept, truncated=%s", len(a["output.line"]), a["output.truncated"])
	}
}
