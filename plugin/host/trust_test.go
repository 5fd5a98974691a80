package host

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zonecert/zonecert/plugin"
	"github.com/zonecert/zonecert/plugin/internal/wire"
)

// A plugin asks (pass_env) for secrets that are not its settings and for
// zonecert's own variable: it gets none of them unless the user allows
// them, and never ZONECERT_*, even when allowed.
func TestPassEnvIsTheUsersAllowList(t *testing.T) {
	t.Parallel()
	host := testEnv("RFC2136_TSIG_SECRET", "tsig", "AWS_SECRET_ACCESS_KEY", "aws",
		"ZONECERT_EAB_HMAC", "eab", "TESTPLUGIN_PASSED", "passed")
	vars := []string{"RFC2136_TSIG_SECRET", "AWS_SECRET_ACCESS_KEY", "ZONECERT_EAB_HMAC", "TESTPLUGIN_PASSED"}
	for _, tc := range []struct {
		allow []string
		want  []string
	}{
		{nil, []string{"<unset>", "<unset>", "<unset>", "<unset>"}},
		{[]string{"TESTPLUGIN_PASSED", "ZONECERT_*", "ZONECERT_EAB_HMAC"}, []string{"<unset>", "<unset>", "<unset>", "passed"}},
		{[]string{"AWS_*"}, []string{"<unset>", "aws", "<unset>", "<unset>"}},
	} {
		c := startTest(t, Config{LookupEnv: host, PassEnv: tc.allow})
		var recs []plugin.Record
		for i, v := range vars {
			recs = append(recs, rec(string(rune('1'+i)), "a.example.test.", "env:"+v))
		}
		res, err := c.Present(t.Context(), recs)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if string(r.State) != tc.want[i] {
				t.Errorf("allow %v: plugin sees %s = %q, want %q", tc.allow, vars[i], r.State, tc.want[i])
			}
		}
	}
}

// pinnedCopy writes a copy of the test plugin and returns its path and pin.
func pinnedCopy(t *testing.T) (path, pin string) {
	t.Helper()
	b, err := os.ReadFile(testBin)
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(t.TempDir(), BinaryPrefix+testName)
	if err := os.WriteFile(path, b, 0o700); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return path, hex.EncodeToString(sum[:])
}

// markerScript is a plugin binary that leaves a marker file when anything
// executes it, then runs the real plugin.
func markerScript(t *testing.T, path, marker string) {
	t.Helper()
	script := "#!/bin/sh\ntouch '" + marker + "'\nexec '" + testBin + "' \"$@\"\n"
	tmp := path + ".swap"
	if err := os.WriteFile(tmp, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// A pinned binary replaced by another is never executed, by Start, Inspect
// or Examine, and the error names the plugin, both digests and the pin's
// source.
func TestPinnedBinaryNeverRunsWhenChanged(t *testing.T) {
	t.Parallel()
	path, pin := pinnedCopy(t)
	marker := filepath.Join(t.TempDir(), "ran")
	markerScript(t, path, marker)
	cfg := Config{Name: testName, Path: path, LookupEnv: testEnv(), SHA256: pin, PinSource: "lock file /state/plugins.lock.json"}
	_, err := Start(t.Context(), cfg)
	checkMismatch(t, "Start", err, pin)
	_, err = Inspect(t.Context(), cfg)
	checkMismatch(t, "Inspect", err, pin)
	sum, _, err := Examine(t.Context(), testName, path, cfg.pin(), testEnv())
	checkMismatch(t, "Examine", err, pin)
	if sum == "" || sum == pin {
		t.Errorf("Examine digest = %q", sum)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the changed binary was executed")
	}
}

func checkMismatch(t *testing.T, op string, err error, pin string) {
	t.Helper()
	if !errors.Is(err, ErrPinMismatch) {
		t.Fatalf("%s: err = %v, want ErrPinMismatch", op, err)
	}
	for _, want := range []string{"plugin " + testName, "expected " + pin, "has SHA-256 ", "lock file /state/plugins.lock.json"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %q lacks %q", op, err, want)
		}
	}
}

// The file hashed is the file executed: once verified, renaming another
// binary over the path runs nothing unverified. The verified binary's own
// describe still answers.
func TestRenameAfterVerifyRunsTheVerifiedFile(t *testing.T) {
	t.Parallel()
	path, pin := pinnedCopy(t)
	bin, err := verifyBinary(testName, path, Pin{SHA256: pin})
	if err != nil {
		t.Fatal(err)
	}
	defer bin.Close()
	marker := filepath.Join(t.TempDir(), "ran")
	markerScript(t, path, marker) // the window between check and exec
	meta, err := describe(t.Context(), bin, pluginEnv(nil, testEnv(), nil))
	if err != nil {
		t.Fatal(err)
	}
	if meta.Name != testName {
		t.Fatalf("describe ran something else: %+v", meta)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the binary renamed in after the check was executed")
	}
	// And a full launch from the verified file.
	c := &Client{cfg: Config{Name: testName, CallTimeout: DefaultCallTimeout}, path: path, log: slog.New(slog.DiscardHandler)}
	c.env = pluginEnv(&meta, testEnv(), nil)
	inst, _, err := c.launch(t.Context(), bin)
	if err != nil {
		t.Fatal(err)
	}
	inst.gp.Kill()
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("launch executed the binary renamed in after the check")
	}
}

// A plugin's cleanup state is bounded; a larger one is an error result
// naming the plugin.
func TestStateIsBounded(t *testing.T) {
	t.Parallel()
	c := startTest(t, Config{})
	res, err := c.Present(t.Context(), []plugin.Record{
		rec("1", "a.example.test.", "bigstate:4096"),
		rec("2", "a.example.test.", "bigstate:4097"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil || len(res[0].State) != 4096 {
		t.Errorf("4096 bytes: %v, %d", res[0].Err, len(res[0].State))
	}
	if res[1].Err == nil || !strings.Contains(res[1].Err.Error(), "plugin testplug") || res[1].State != nil {
		t.Errorf("4097 bytes: err = %v, state %d bytes", res[1].Err, len(res[1].State))
	}
}

// A reply larger than wire.MaxMessageSize is refused (go-plugin's own
// limit is 2 GiB), with an error naming the plugin.
func TestReplySizeIsBounded(t *testing.T) {
	t.Parallel()
	c := startTest(t, Config{})
	var recs []plugin.Record
	for i := range wire.MaxMessageSize/wire.MaxStateSize + 100 {
		recs = append(recs, rec(fmt.Sprint(i), "a.example.test.", fmt.Sprintf("bigstate:%d", wire.MaxStateSize)))
	}
	_, err := c.Present(t.Context(), recs)
	if err == nil || !strings.Contains(err.Error(), "plugin testplug") || !strings.Contains(err.Error(), "ResourceExhausted") {
		t.Fatalf("err = %v, want the reply refused", err)
	}
}
