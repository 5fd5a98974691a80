//go:build unix

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zonecert/zonecert/plugin/sdk"
)

// writeScript writes an executable shell script into dir.
func writeScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o700); err != nil {
		t.Fatal(err)
	}
	return path
}

// syncBuffer is a log sink safe for the handler's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func mustProvider(t *testing.T, s Settings, environ []string) (*provider, *syncBuffer) {
	t.Helper()
	if s.Timeout == 0 {
		s.Timeout = 10 * time.Second
	}
	logs := &syncBuffer{}
	p, err := newProvider(s, append([]string{"PATH=/usr/bin:/bin"}, environ...),
		slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatalf("newProvider: %v", err)
	}
	return p, logs
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A value full of shell metacharacters reaches the program as one argument,
// byte for byte: no shell ever parses it.
const hostile = `a b "c" 'd' $(touch pwned) ;|&> \e`

func TestLegoConvention(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := filepath.Join(dir, "calls")
	prog := writeScript(t, dir, "hook.sh", `printf '[%s]' "$#" "$@" >> "$OUT"; printf '\n' >> "$OUT"`)
	p, _ := mustProvider(t, Settings{Path: prog, Env: sdk.Secret("OUT=" + out)}, nil)
	if p.mode != modeLego {
		t.Fatalf("mode %q inferred, want lego", p.mode)
	}
	recs := []sdk.Record{
		{ID: "1", FQDN: "_acme-challenge.example.com.", Zone: "example.com.", Value: hostile},
		{ID: "2", FQDN: "_acme-challenge.www.example.com.", Zone: "example.com.", Value: "v2"},
	}
	for _, call := range []func() ([]sdk.Result, error){
		func() ([]sdk.Result, error) { return p.Present(t.Context(), recs) },
		func() ([]sdk.Result, error) { return p.CleanUp(t.Context(), recs[:1]) },
	} {
		res, err := call()
		if err != nil || res[0].Err != nil {
			t.Fatalf("call: %v %+v", err, res)
		}
	}
	want := "[3][present][_acme-challenge.example.com.][" + hostile + "]\n" +
		"[3][present][_acme-challenge.www.example.com.][v2]\n" +
		"[3][cleanup][_acme-challenge.example.com.][" + hostile + "]\n"
	if got := readFile(t, out); got != want {
		t.Fatalf("program saw:\n%s\nwant:\n%s", got, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "pwned")); err == nil {
		t.Fatal("a value was run by a shell")
	}
}

func TestCertbotConvention(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := filepath.Join(dir, "env")
	dump := `printf '%s|%s|%s|%s|%s|%s\n' "$1" "$CERTBOT_DOMAIN" "$CERTBOT_VALIDATION" "$CERTBOT_REMAINING_CHALLENGES" "$CERTBOT_ALL_DOMAINS" "$CERTBOT_AUTH_OUTPUT" >> "$OUT"`
	auth := writeScript(t, dir, "auth.sh", dump+"\nprintf 'auth-for-%s\\n' \"$CERTBOT_VALIDATION\"\n")
	clean := writeScript(t, dir, "cleanup.sh", dump+"\n")
	p, _ := mustProvider(t, Settings{AuthHook: auth, CleanupHook: clean, Env: sdk.Secret("OUT=" + out)},
		[]string{"EXEC_ENV=OUT=" + out, "CERTBOT_DOMAIN=stale"})
	recs := []sdk.Record{
		{ID: "1", FQDN: "_acme-challenge.example.com.", Zone: "example.com.", Value: hostile},
		{ID: "2", FQDN: "_acme-challenge.example.com.", Zone: "example.com.", Value: "v2"},
		{ID: "3", FQDN: "_acme-challenge.www.example.com.", Zone: "example.com.", Value: "v3"},
	}
	res, err := p.Present(t.Context(), recs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("present %s: %v", r.ID, r.Err)
		}
		var st state
		if err := json.Unmarshal(r.State, &st); err != nil || st.AuthOutput != "auth-for-"+recs[i].Value {
			t.Fatalf("state %q, want the auth hook's output", r.State)
		}
		recs[i].State = r.State
	}
	if res, err := p.CleanUp(t.Context(), recs[2:]); err != nil || res[0].Err != nil {
		t.Fatalf("cleanup: %v %+v", err, res)
	}
	all := "example.com,www.example.com"
	want := "|example.com|" + hostile + "|2|" + all + "|\n" +
		"|example.com|v2|1|" + all + "|\n" +
		"|www.example.com|v3|0|" + all + "|\n" +
		"|www.example.com|v3|0|www.example.com|auth-for-v3\n"
	if got := readFile(t, out); got != want {
		t.Fatalf("hooks saw:\n%s\nwant:\n%s", got, want)
	}
}

// The program's environment is the plugin's, minus the settings' own
// variables, plus EXEC_ENV's pairs.
func TestEnvironment(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	prog := writeScript(t, dir, "env.sh", `env > "$OUT"`)
	out := filepath.Join(dir, "env")
	p, logs := mustProvider(t, Settings{Path: prog, Env: sdk.Secret("OUT=" + out + "\nKEY_FILE=/secret/key\n")},
		[]string{"EXEC_ENV=OUT=x", "EXEC_PATH=" + prog, "LANG=C.UTF-8"})
	res, _ := p.Present(t.Context(), []sdk.Record{{ID: "1", FQDN: "a.example.com.", Zone: "example.com.", Value: "v"}})
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	env := readFile(t, out)
	for _, want := range []string{"KEY_FILE=/secret/key\n", "LANG=C.UTF-8\n", "PATH=/usr/bin:/bin\n"} {
		if !strings.Contains(env, want) {
			t.Errorf("program environment lacks %q:\n%s", want, env)
		}
	}
	if strings.Contains(env, "EXEC_") {
		t.Errorf("program environment holds settings variables:\n%s", env)
	}
	if strings.Contains(logs.String(), "/secret/key") {
		t.Errorf("EXEC_ENV value in the log:\n%s", logs)
	}
}

func TestFailureReportsStderr(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	prog := writeScript(t, dir, "fail.sh", "echo 'first line' >&2\necho \"zone $2 refused\" >&2\nexit 3\n")
	p, logs := mustProvider(t, Settings{Path: prog}, nil)
	res, err := p.Present(t.Context(), []sdk.Record{
		{ID: "1", FQDN: "a.example.com.", Zone: "example.com.", Value: "v"},
		{ID: "2", FQDN: "b.example.com.", Zone: "example.com.", Value: "v"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err == nil || r.Err.Retryable || !strings.Contains(r.Err.Message, "exit status 3") ||
			!strings.Contains(r.Err.Message, "zone "+map[string]string{"1": "a", "2": "b"}[r.ID]+".example.com. refused") {
			t.Fatalf("record %s: error %+v, want exit status 3 and the stderr tail", r.ID, r.Err)
		}
	}
	if l := logs.String(); !strings.Contains(l, "first line") || !strings.Contains(l, "stream=stderr") {
		t.Fatalf("stderr not logged:\n%s", l)
	}
}

// On timeout the whole process group dies, background children included.
func TestTimeoutKillsProcessGroup(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	prog := writeScript(t, dir, "hang.sh", "sleep 300 &\necho $! > \"$PIDFILE\"\necho waiting >&2\nwait\n")
	p, _ := mustProvider(t, Settings{Path: prog, Timeout: 500 * time.Millisecond, Env: sdk.Secret("PIDFILE=" + pidFile)}, nil)
	res, err := p.Present(t.Context(), []sdk.Record{{ID: "1", FQDN: "a.example.com.", Zone: "example.com.", Value: "v"}})
	if err != nil {
		t.Fatal(err)
	}
	if e := res[0].Err; e == nil || !e.Retryable || !strings.Contains(e.Message, "timed out") || !strings.Contains(e.Message, "waiting") {
		t.Fatalf("error %+v, want a retryable timeout quoting stderr", e)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(readFile(t, pidFile)))
	if err != nil {
		t.Fatal(err)
	}
	// The orphaned sleep is gone or a zombie awaiting its reaper.
	deadline := time.Now().Add(5 * time.Second)
	for {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil || strings.Contains(string(stat), ") Z ") {
			break
		}
		if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("background child %d still running after the timeout: %s", pid, stat)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ran := filepath.Join(dir, "ran")
	prog := writeScript(t, dir, "hook.sh", `touch "$RAN"`)
	lego, _ := mustProvider(t, Settings{Path: prog, Zones: "example.com, example.net.", Env: sdk.Secret("RAN=" + ran)}, nil)
	certbot, _ := mustProvider(t, Settings{AuthHook: prog, Env: sdk.Secret("RAN=" + ran)}, nil)
	tests := []struct {
		name string
		p    *provider
		r    sdk.Record
		code sdk.Code
	}{
		{"zone not in EXEC_ZONES", lego, sdk.Record{ID: "1", FQDN: "a.example.org.", Zone: "example.org.", Value: "v"}, sdk.CodeZoneNotFound},
		{"name outside zone", lego, sdk.Record{ID: "1", FQDN: "a.example.org.", Zone: "example.com.", Value: "v"}, sdk.CodeZoneNotFound},
		{"certbot without _acme-challenge", certbot, sdk.Record{ID: "1", FQDN: "_x._acme-challenge.example.com.", Zone: "example.com.", Value: "v"}, sdk.CodeOther},
	}
	for _, tt := range tests {
		res, _ := tt.p.Present(t.Context(), []sdk.Record{tt.r})
		if res[0].Err == nil || res[0].Err.Code != tt.code {
			t.Errorf("%s: error %+v, want code %v", tt.name, res[0].Err, tt.code)
		}
	}
	if _, err := os.Stat(ran); err == nil {
		t.Fatal("the program ran for a refused record")
	}
	// A configured zone is accepted (case and trailing dot do not matter).
	res, _ := lego.Present(t.Context(), []sdk.Record{{ID: "1", FQDN: "a.EXAMPLE.net.", Zone: "Example.NET.", Value: "v"}})
	if res[0].Err != nil {
		t.Fatalf("configured zone refused: %v", res[0].Err)
	}
}

func TestSettingsValidation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	prog := writeScript(t, dir, "hook.sh", "true\n")
	noexec := filepath.Join(dir, "noexec")
	_ = os.WriteFile(noexec, []byte("x"), 0o600)
	for _, tc := range []struct {
		s       Settings
		setting string
	}{
		{Settings{Timeout: time.Second}, "path"},
		{Settings{Path: prog, AuthHook: prog, Timeout: time.Second}, "mode"},
		{Settings{Mode: "raw", Path: prog, Timeout: time.Second}, "mode"},
		{Settings{Path: noexec, Timeout: time.Second}, "path"},
		{Settings{Path: filepath.Join(dir, "missing"), Timeout: time.Second}, "path"},
		{Settings{Mode: "certbot", Path: prog, Timeout: time.Second}, "auth_hook"},
		{Settings{AuthHook: prog, CleanupHook: noexec, Timeout: time.Second}, "cleanup_hook"},
		{Settings{Path: prog}, "timeout"},
		{Settings{Path: prog, Timeout: time.Second, Env: "not a pair"}, "env"},
	} {
		_, err := newProvider(tc.s, nil, nil)
		var se *sdk.SettingsError
		if !errors.As(err, &se) || se.Diagnostics[0].Setting != tc.setting {
			t.Errorf("newProvider(%+v) = %v, want a diagnostic on %s", tc.s, err, tc.setting)
		}
	}
}
