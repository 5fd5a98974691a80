package host

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zonecert/zonecert/plugin"
)

func rec(id, fqdn, value string) plugin.Record {
	return plugin.Record{ID: id, FQDN: fqdn, Zone: "example.test.", Value: value, TTL: 60}
}

func TestDescribe(t *testing.T) {
	t.Parallel()
	out, err := exec.Command(testBin, "describe").Output()
	if err != nil {
		t.Fatalf("describe: %v", err)
	}
	if !bytes.Contains(out, []byte(`"name": "testplug"`)) {
		t.Fatalf("describe output lacks the name: %s", out)
	}
	m, err := Describe(t.Context(), testBin, testEnv())
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != testName || m.ProtocolVersion != plugin.ProtocolVersion || m.Version != "0.0.1" {
		t.Fatalf("metadata = %+v", m)
	}
	specs := map[string]plugin.SettingSpec{}
	for _, s := range m.Settings {
		specs[s.Name] = s
	}
	if s := specs["token"]; !s.Secret || s.Type != plugin.TypeString || len(s.Env) != 1 || s.Env[0] != "TESTPLUGIN_TOKEN" {
		t.Errorf("token spec = %+v", s)
	}
	if s := specs["count"]; s.Type != plugin.TypeInt || s.Default != "1" {
		t.Errorf("count spec = %+v", s)
	}
	if len(m.PassEnv) != 4 || m.PassEnv[0] != "TESTPLUGIN_PASSED" {
		t.Errorf("pass_env = %v", m.PassEnv)
	}
}

func TestRoundTripWithState(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := startTest(t, Config{Settings: map[string]string{"dir": dir}})
	ctx := t.Context()
	name := "_acme-challenge.example.test."
	// Wildcard plus apex: two values at one name must coexist.
	res, err := c.Present(ctx, []plugin.Record{rec("a", name, "value-one"), rec("b", name, "value-two")})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].ID != "a" || res[1].ID != "b" || res[0].Err != nil || res[1].Err != nil {
		t.Fatalf("results = %+v", res)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "_acme-challenge.example.test", "*"))
	if len(files) != 2 {
		t.Fatalf("after Present: %d record files, want 2", len(files))
	}
	// Clean up from a fresh process with the persisted state.
	c.Close()
	c2 := startTest(t, Config{Settings: map[string]string{"dir": dir}})
	one := rec("a", name, "value-one")
	one.State = res[0].State
	for range 2 { // idempotent
		cr, err := c2.CleanUp(ctx, []plugin.Record{one})
		if err != nil || len(cr) != 1 || cr[0].Err != nil {
			t.Fatalf("CleanUp = %+v, %v", cr, err)
		}
	}
	files, _ = filepath.Glob(filepath.Join(dir, "_acme-challenge.example.test", "*"))
	if len(files) != 1 {
		t.Fatalf("after CleanUp: %d record files, want exactly the other value", len(files))
	}
	if b, _ := os.ReadFile(files[0]); string(b) != "value-two" {
		t.Fatalf("remaining value = %q, want value-two", b)
	}
	// A wrong state is reported per record with its code intact.
	bad := rec("x", name, "value-two")
	bad.State = []byte("bogus")
	cr, err := c2.CleanUp(ctx, []plugin.Record{bad})
	if err != nil || cr[0].Err == nil || cr[0].Err.Code != plugin.CodeConflict {
		t.Fatalf("CleanUp with bad state = %+v, %v", cr, err)
	}
}

func TestErrorsKeepCodes(t *testing.T) {
	t.Parallel()
	c := startTest(t, Config{})
	ctx := t.Context()
	res, err := c.Present(ctx, []plugin.Record{rec("1", "a.example.test.", "ok"), rec("2", "b.example.test.", "fail")})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil || res[1].Err == nil || res[1].Err.Code != plugin.CodeRateLimited || !res[1].Err.Retryable {
		t.Fatalf("results = %+v", res)
	}
	_, err = c.Present(ctx, []plugin.Record{rec("1", "a.example.test.", "callfail")})
	var pe *plugin.Error
	if !errors.As(err, &pe) || pe.Code != plugin.CodeAuth || pe.Retryable || pe.Message != "token rejected" {
		t.Fatalf("whole-call error = %v (%#v)", err, pe)
	}
	if !strings.Contains(err.Error(), "plugin testplug") {
		t.Errorf("error %q does not name the plugin", err)
	}
}

func TestCapabilities(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	t.Run("full", func(t *testing.T) {
		t.Parallel()
		c := startTest(t, Config{Settings: map[string]string{"zones": "a.test.,b.test."}})
		if caps := plugin.CapabilitiesOf(c); !caps.Sync || !caps.ListZones {
			t.Fatalf("capabilities = %+v", caps)
		}
		zones, err := c.ListZones(ctx)
		if err != nil || strings.Join(zones, " ") != "a.test. b.test." {
			t.Fatalf("ListZones = %v, %v", zones, err)
		}
		if err := c.WaitForSync(ctx, []plugin.Record{rec("1", "a.a.test.", "v")}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("basic", func(t *testing.T) {
		t.Parallel()
		c := startTest(t, Config{Settings: map[string]string{"basic": "true"}})
		if caps := c.Metadata().Capabilities; caps.Sync || caps.ListZones {
			t.Fatalf("capabilities = %+v", caps)
		}
		// The Client has every method; only its declared capabilities say
		// what the plugin does.
		if caps := plugin.CapabilitiesOf(c); caps.Sync || caps.ListZones {
			t.Fatalf("CapabilitiesOf = %+v; want the plugin's declaration", caps)
		}
		if _, err := c.ListZones(ctx); !errors.Is(err, ErrUnsupported) {
			t.Fatalf("ListZones err = %v, want ErrUnsupported", err)
		}
		if err := c.WaitForSync(ctx, nil); err != nil {
			t.Fatalf("WaitForSync without capability = %v, want nil", err)
		}
	})
}

func TestConfigDiagnostics(t *testing.T) {
	t.Parallel()
	_, err := Start(t.Context(), Config{
		Name: testName, Path: testBin, LookupEnv: testEnv(),
		Settings: map[string]string{"token": "bad"},
	})
	var ce *ConfigError
	if !errors.As(err, &ce) || len(ce.Diagnostics) != 1 || ce.Diagnostics[0].Setting != "token" {
		t.Fatalf("err = %v, want a ConfigError about token", err)
	}
	_, err = Start(t.Context(), Config{
		Name: testName, Path: testBin, LookupEnv: testEnv(),
		Settings: map[string]string{"count": "many", "colour": "blue"},
	})
	if !errors.As(err, &ce) || len(ce.Diagnostics) != 2 {
		t.Fatalf("err = %v, want two diagnostics", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, `count: invalid int from configuration: "many"`) || !strings.Contains(msg, "colour: unknown setting") {
		t.Fatalf("diagnostics = %q", msg)
	}
}

func TestEnvironmentIsolation(t *testing.T) {
	t.Parallel()
	const secret = "s3cret-token-value"
	c := startTest(t, Config{
		LookupEnv: testEnv("ZONECERT_HOST_ONLY", "leak", "TESTPLUGIN_PASSED", "passed", "TESTPLUGIN_DIR", ""),
		Settings:  map[string]string{"token": secret},
		PassEnv:   []string{"TESTPLUGIN_PASSED"},
	})
	res, err := c.Present(t.Context(), []plugin.Record{
		rec("1", "a.example.test.", "env:ZONECERT_HOST_ONLY"),
		rec("2", "a.example.test.", "env:TESTPLUGIN_PASSED"),
		rec("3", "a.example.test.", "env:TESTPLUGIN_DIR"),
		rec("4", "a.example.test.", "env:PATH"),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"<unset>", "passed", "", os.Getenv("PATH")}
	for i, r := range res {
		if string(r.State) != want[i] {
			t.Errorf("plugin sees %s = %q, want %q", strings.TrimPrefix(fmt.Sprint(i), ""), r.State, want[i])
		}
	}
	pid := c.pid()
	for _, f := range []string{"cmdline", "environ"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, f))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("secret visible in /proc/%d/%s", pid, f)
		}
		if f == "environ" && bytes.Contains(b, []byte("ZONECERT_HOST_ONLY")) {
			t.Errorf("undeclared host variable in the plugin's environment")
		}
	}
}

func TestCrashRestartsOnce(t *testing.T) {
	t.Parallel()
	c := startTest(t, Config{})
	ctx := t.Context()
	ok := []plugin.Record{rec("1", "a.example.test.", "fine")}
	crash := []plugin.Record{rec("1", "a.example.test.", "crash")}
	pid1 := c.pid()
	_, err := c.Present(ctx, crash)
	if !errors.Is(err, ErrCrashed) || !strings.Contains(err.Error(), "plugin testplug") {
		t.Fatalf("err = %v, want ErrCrashed naming the plugin", err)
	}
	if _, err := c.Present(ctx, ok); err != nil {
		t.Fatalf("after one crash the plugin should be restarted: %v", err)
	}
	if pid2 := c.pid(); pid2 == pid1 || pid2 == 0 {
		t.Fatalf("pid after restart = %d, before = %d", pid2, pid1)
	}
	waitGone(t, pid1, 5*time.Second)
	if _, err := c.Present(ctx, crash); !errors.Is(err, ErrCrashed) {
		t.Fatalf("second crash err = %v", err)
	}
	_, err = c.Present(ctx, ok)
	if !errors.Is(err, ErrCrashed) || !strings.Contains(err.Error(), "not restarting") {
		t.Fatalf("after a second crash err = %v, want no second restart", err)
	}
}

func TestHangTimesOut(t *testing.T) {
	t.Parallel()
	c := startTest(t, Config{CallTimeout: 300 * time.Millisecond})
	_, err := c.Present(t.Context(), []plugin.Record{rec("1", "a.example.test.", "hang")})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "plugin testplug") {
		t.Fatalf("err = %v, want a deadline error naming the plugin", err)
	}
	// The caller's own deadline wins over CallTimeout.
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if _, err := c.Present(ctx, []plugin.Record{rec("1", "a.example.test.", "hang")}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	// A hung handler does not poison the process for other calls.
	if _, err := c.Present(t.Context(), []plugin.Record{rec("1", "a.example.test.", "fine")}); err != nil {
		t.Fatal(err)
	}
}

func TestSHA256Pin(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(testBin)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	startTest(t, Config{SHA256: hex.EncodeToString(sum[:])})

	sum[0] ^= 0xff
	_, err = Start(t.Context(), Config{Name: testName, Path: testBin, LookupEnv: testEnv(), SHA256: hex.EncodeToString(sum[:])})
	if !errors.Is(err, ErrPinMismatch) || !strings.Contains(err.Error(), "refusing to run it") {
		t.Fatalf("err = %v, want ErrPinMismatch", err)
	}
	if _, err := Start(t.Context(), Config{Name: testName, Path: testBin, LookupEnv: testEnv(), SHA256: "abc"}); err == nil {
		t.Fatal("a malformed pin was accepted")
	}
}

func TestStdoutNoise(t *testing.T) {
	t.Parallel()
	_, err := Start(t.Context(), Config{Name: testName, Path: testBin, LookupEnv: testEnv("TESTPLUGIN_NOISE", "1")})
	if !errors.Is(err, ErrStdoutNoise) || !strings.Contains(err.Error(), `"hello from a chatty plugin"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestFind(t *testing.T) {
	t.Parallel()
	mk := func(dir string) string {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, BinaryPrefix+"findme")
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o700); err != nil {
			t.Fatal(err)
		}
		return p
	}
	root := t.TempDir()
	conf, xdg, home, path := filepath.Join(root, "conf"), filepath.Join(root, "xdg"), filepath.Join(root, "home"), filepath.Join(root, "bin")
	inPath := mk(path)
	env := map[string]string{"PATH": "relative:" + path, "HOME": home}
	look := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	if got, err := Find("findme", nil, look); err != nil || got != inPath {
		t.Fatalf("PATH: got %q, %v", got, err)
	}
	inHome := mk(filepath.Join(home, ".local", "share", "zonecert", "plugins"))
	if got, _ := Find("findme", nil, look); got != inHome {
		t.Fatalf("HOME data dir: got %q", got)
	}
	env["XDG_DATA_HOME"] = xdg
	inXDG := mk(filepath.Join(xdg, "zonecert", "plugins"))
	if got, _ := Find("findme", nil, look); got != inXDG {
		t.Fatalf("XDG: got %q", got)
	}
	inConf := mk(conf)
	if got, _ := Find("findme", []string{conf}, look); got != inConf {
		t.Fatalf("configured dir: got %q", got)
	}
	// The error names zonecert's directories and $PATH, not every entry
	// of $PATH.
	if _, err := Find("absent", []string{conf}, look); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), conf+" (--plugin-dir)") ||
		!strings.HasSuffix(err.Error(), ", $PATH") || strings.Contains(err.Error(), path) {
		t.Fatalf("missing: %v", err)
	}
	if _, err := Find("../evil", nil, look); err == nil {
		t.Fatal("a name with a path separator was accepted")
	}
}

// recorder is a slog.Handler that keeps records.
type recorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec.Clone())
	return nil
}
func (r *recorder) WithAttrs(as []slog.Attr) slog.Handler { return &withAttrs{r, as} }
func (r *recorder) WithGroup(string) slog.Handler         { return r }

type withAttrs struct {
	*recorder
	as []slog.Attr
}

func (w *withAttrs) Handle(ctx context.Context, rec slog.Record) error {
	rec = rec.Clone()
	rec.AddAttrs(w.as...)
	return w.recorder.Handle(ctx, rec)
}

func (r *recorder) find(msg string) (slog.Record, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range r.recs {
		if rec.Message == msg {
			return rec, true
		}
	}
	return slog.Record{}, false
}

// findOutput finds the plugin's line whose message is msg.
func (r *recorder) findOutput(msg string) (slog.Record, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range r.recs {
		if rec.Message == "plugin output" && flatAttrs(rec)["output.msg"] == msg {
			return rec, true
		}
	}
	return slog.Record{}, false
}

func TestPluginLogsBecomeSlogRecords(t *testing.T) {
	t.Parallel()
	h := &recorder{}
	c := startTest(t, Config{Logger: slog.New(h)})
	if _, err := c.Present(t.Context(), []plugin.Record{rec("1", "log.example.test.", "log")}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	var got slog.Record
	for {
		var ok bool
		if got, ok = h.findOutput("presenting"); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("plugin log line never reached the host logger")
		}
		time.Sleep(10 * time.Millisecond)
	}
	attrs := flatAttrs(got)
	if got.Level != slog.LevelInfo || attrs["plugin"] != testName || attrs["output.msg"] != "presenting" ||
		attrs["output.fqdn"] != "log.example.test." {
		t.Fatalf("record level=%v attrs=%v", got.Level, attrs)
	}
}

func TestManagerOneProcessPerProvider(t *testing.T) {
	t.Parallel()
	m := NewManager(nil)
	cfg := Config{Name: testName, Path: testBin, LookupEnv: testEnv()}
	var wg sync.WaitGroup
	clients := make([]*Client, 4)
	for i := range clients {
		wg.Go(func() {
			c, err := m.Get(t.Context(), cfg)
			if err != nil {
				t.Error(err)
			}
			clients[i] = c
		})
	}
	wg.Wait()
	for _, c := range clients[1:] {
		if c != clients[0] {
			t.Fatal("Manager started more than one process for one provider")
		}
	}
	pid := clients[0].pid()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	waitGone(t, pid, 5*time.Second)
	if _, err := m.Get(t.Context(), cfg); err == nil {
		t.Fatal("Get after Close succeeded")
	}
}

func TestMaxBatchSplitsAndOrders(t *testing.T) {
	t.Parallel()
	recs := []plugin.Record{rec("a", "x.", "1"), rec("b", "x.", "2"), rec("c", "x.", "3")}
	got := matchResults(recs, []plugin.Result{{ID: "c"}, {ID: "a"}, {ID: "zz"}})
	if len(got) != 3 || got[0].ID != "a" || got[0].Err != nil || got[1].ID != "b" || got[1].Err == nil || got[2].ID != "c" {
		t.Fatalf("matchResults = %+v", got)
	}
}

func TestConcurrentCalls(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := startTest(t, Config{Settings: map[string]string{"dir": dir}})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			recs := make([]plugin.Record, 20)
			for i := range recs {
				recs[i] = rec(fmt.Sprint(i), fmt.Sprintf("n%d.example.test.", i), fmt.Sprintf("g%d", g))
			}
			res, err := c.Present(t.Context(), recs)
			if err != nil {
				t.Error(err)
				return
			}
			for i := range recs {
				if res[i].Err != nil {
					t.Error(res[i].Err)
				}
				recs[i].State = res[i].State
			}
			if _, err := c.CleanUp(t.Context(), recs); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*"))
	if len(files) != 0 {
		t.Fatalf("%d records left after concurrent present/clean-up", len(files))
	}
}

// TestPinCheckedOnRestart replaces the binary behind a running plugin: the
// restart after a crash must refuse the changed file.
func TestPinCheckedOnRestart(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(testBin)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), BinaryPrefix+testName)
	if err := os.WriteFile(path, b, 0o700); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	c := startTest(t, Config{Path: path, SHA256: hex.EncodeToString(sum[:])})
	// Swap in a different file (rename keeps the running inode intact).
	changed := path + ".new"
	if err := os.WriteFile(changed, append(b, 0), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(changed, path); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Present(t.Context(), []plugin.Record{rec("1", "a.example.test.", "crash")}); !errors.Is(err, ErrCrashed) {
		t.Fatalf("crash: %v", err)
	}
	_, err = c.Present(t.Context(), []plugin.Record{rec("1", "a.example.test.", "fine")})
	if !errors.Is(err, ErrPinMismatch) {
		t.Fatalf("restart with a changed binary: err = %v, want ErrPinMismatch", err)
	}
}

// With Restarts set, a plugin that crashes is restarted again and again as
// long as calls succeed between the crashes, and a crash is retryable.
func TestCrashRestartsInARow(t *testing.T) {
	t.Parallel()
	c := startTest(t, Config{Restarts: 2})
	ctx := t.Context()
	ok := []plugin.Record{rec("1", "a.example.test.", "fine")}
	crash := []plugin.Record{rec("1", "a.example.test.", "crash")}
	for i := range 3 {
		_, err := c.Present(ctx, crash)
		var pe *plugin.Error
		if !errors.Is(err, ErrCrashed) || !errors.As(err, &pe) || !pe.Retryable {
			t.Fatalf("crash %d: err = %v, want ErrCrashed and a retryable *plugin.Error", i, err)
		}
		if _, err := c.Present(ctx, ok); err != nil {
			t.Fatalf("after crash %d: %v", i, err)
		}
	}
	if n := c.Restarted(); n != 3 {
		t.Fatalf("Restarted() = %d, want 3", n)
	}
	// One crash, then two restarts that crash again: the third restart in
	// a row is refused.
	for range 3 {
		if _, err := c.Present(ctx, crash); !errors.Is(err, ErrCrashed) {
			t.Fatalf("err = %v", err)
		}
	}
	if _, err := c.Present(ctx, ok); !errors.Is(err, ErrCrashed) || !strings.Contains(err.Error(), "not restarting") {
		t.Fatalf("after two restarts in a row: err = %v, want no further restart", err)
	}
}
