package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/zonecert/zonecert/plugin"
)

type testSettings struct {
	Server  string        `setting:"server,required" env:"T_SERVER,T_SERVER_ALIAS" doc:"API base URL"`
	Token   Secret        `setting:"token,required" env:"T_TOKEN" doc:"API token"`
	TTL     int           `setting:"ttl" env:"T_TTL" default:"120" doc:"TTL"`
	Debug   bool          `setting:"debug" env:"T_DEBUG" doc:"debug"`
	Wait    time.Duration `setting:"wait" default:"2s" doc:"wait"`
	ignored string
}

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestParseSchema(t *testing.T) {
	fields, err := parseSchema(reflect.TypeFor[testSettings]())
	if err != nil {
		t.Fatal(err)
	}
	if len(fields) != 5 {
		t.Fatalf("%d fields, want 5", len(fields))
	}
	tok := fields[1].spec
	if tok.Name != "token" || !tok.Secret || !tok.Required || tok.Type != plugin.TypeString {
		t.Errorf("token spec = %+v (a Secret field is secret without saying so)", tok)
	}
	if s := fields[0].spec; len(s.Env) != 2 || s.Env[1] != "T_SERVER_ALIAS" || s.Doc != "API base URL" {
		t.Errorf("server spec = %+v", s)
	}
	if s := fields[4].spec; s.Type != plugin.TypeDuration || s.Default != "2s" {
		t.Errorf("wait spec = %+v", s)
	}

	bad := map[string]any{
		"unsupported type": struct {
			F float64 `setting:"f"`
		}{},
		"duplicate": struct {
			A string `setting:"a"`
			B string `setting:"a"`
		}{},
		"unknown option": struct {
			A string `setting:"a,optional"`
		}{},
		"bad default": struct {
			A int `setting:"a" default:"ten"`
		}{},
		"empty name": struct {
			A string `setting:",required"`
		}{},
		"not a struct": 3,
	}
	for name, v := range bad {
		if _, err := parseSchema(reflect.TypeOf(v)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestDecodePrecedence(t *testing.T) {
	fields, err := parseSchema(reflect.TypeFor[testSettings]())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		given  map[string]string
		env    map[string]string
		want   testSettings
		diags  []string
		hidden string // must not appear in any diagnostic
	}{
		{
			name:  "configure wins over env, env over default",
			given: map[string]string{"server": "https://given", "token": "t1"},
			env:   map[string]string{"T_SERVER": "https://env", "T_TTL": "30", "T_DEBUG": "true"},
			want:  testSettings{Server: "https://given", Token: "t1", TTL: 30, Debug: true, Wait: 2 * time.Second},
		},
		{
			name: "alias env and defaults",
			env:  map[string]string{"T_SERVER_ALIAS": "https://alias", "T_TOKEN": "t2"},
			want: testSettings{Server: "https://alias", Token: "t2", TTL: 120, Wait: 2 * time.Second},
		},
		{
			name:  "empty configure value falls back to env",
			given: map[string]string{"server": "", "token": "t"},
			env:   map[string]string{"T_SERVER": "https://env"},
			want:  testSettings{Server: "https://env", Token: "t", TTL: 120, Wait: 2 * time.Second},
		},
		{
			name:  "missing, invalid and unknown",
			given: map[string]string{"ttl": "ten", "wait": "soon", "colour": "red"},
			env:   map[string]string{"T_DEBUG": "maybe"},
			diags: []string{
				"server: required but not set (set it in the configuration or $T_SERVER)",
				"token: required but not set (set it in the configuration or $T_TOKEN)",
				`ttl: invalid int from configuration: "ten"`,
				`debug: invalid bool from $T_DEBUG: "maybe"`,
				`wait: invalid duration from configuration: "soon"`,
				"colour: unknown setting",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got testSettings
			diags := decodeSettings(&got, fields, tt.given, envOf(tt.env))
			var ds []string
			for _, d := range diags {
				ds = append(ds, d.Setting+": "+d.Message)
			}
			if strings.Join(ds, "\n") != strings.Join(tt.diags, "\n") {
				t.Fatalf("diagnostics:\n%s\nwant:\n%s", strings.Join(ds, "\n"), strings.Join(tt.diags, "\n"))
			}
			if tt.diags == nil && got != tt.want {
				t.Fatalf("decoded %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestSecretRedacts(t *testing.T) {
	s := Secret("hunter2")
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "token", s)
	if out := fmt.Sprintf("%v %s", s, s) + buf.String(); strings.Contains(out, "hunter2") {
		t.Fatalf("secret leaked: %s", out)
	}
	if s.Reveal() != "hunter2" {
		t.Fatal("Reveal lost the value")
	}
}

type basicProv struct{}

func (basicProv) Present(context.Context, []Record) ([]Result, error) { return nil, nil }
func (basicProv) CleanUp(context.Context, []Record) ([]Result, error) { return nil, nil }

type syncProv struct{ basicProv }

func (syncProv) WaitForSync(context.Context, []Record) error { return nil }

func TestBackendConfigure(t *testing.T) {
	var log bytes.Buffer
	p := Plugin[testSettings]{
		Name: "t", Version: "1", MaxBatch: 50, PassEnv: []string{"AWS_PROFILE"},
		New: func(ctx context.Context, s testSettings, l *slog.Logger) (Provider, error) {
			l.Warn("configured", "server", s.Server, "token", s.Token)
			if s.Server == "https://reject" {
				return nil, InvalidSetting("server", "unreachable")
			}
			if s.Server == "https://boom" {
				return nil, errors.New("boom")
			}
			return syncProv{}, nil
		},
	}
	b, err := newBackend(p, &log, envOf(map[string]string{"T_TOKEN": "tok"}))
	if err != nil {
		t.Fatal(err)
	}
	if m := b.Metadata(); m.Capabilities.Sync || m.Capabilities.MaxBatch != 50 || m.ProtocolVersion != plugin.ProtocolVersion || m.PassEnv[0] != "AWS_PROFILE" {
		t.Fatalf("metadata before Configure = %+v", m)
	}
	diags, err := b.Configure(t.Context(), map[string]string{"server": "https://reject"})
	if err != nil || len(diags) != 1 || diags[0].Setting != "server" {
		t.Fatalf("SettingsError from New: %v, %v", diags, err)
	}
	if _, err := b.Configure(t.Context(), map[string]string{"server": "https://boom"}); err == nil || b.Provider() != nil {
		t.Fatalf("error from New: %v", err)
	}
	if diags, err := b.Configure(t.Context(), map[string]string{"server": "https://ok"}); err != nil || diags != nil {
		t.Fatalf("Configure: %v, %v", diags, err)
	}
	if m := b.Metadata(); !m.Capabilities.Sync || m.Capabilities.ListZones {
		t.Fatalf("capabilities after Configure = %+v", m.Capabilities)
	}
	// The logger writes hclog-shaped JSON lines that go-plugin's host parses.
	line, _, _ := strings.Cut(log.String(), "\n")
	var rec map[string]any
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		t.Fatalf("log line %q: %v", line, err)
	}
	if rec["@level"] != "warn" || rec["@message"] != "configured" || rec["token"] != "[redacted]" {
		t.Fatalf("log record = %v", rec)
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000000Z07:00", rec["@timestamp"].(string)); err != nil {
		t.Fatalf("timestamp: %v", err)
	}
}

func TestRunDescribe(t *testing.T) {
	p := Plugin[testSettings]{Name: "t", Version: "1.2.3", Description: "d",
		New: func(context.Context, testSettings, *slog.Logger) (Provider, error) { return basicProv{}, nil }}
	var out, errOut bytes.Buffer
	if code := run(p, []string{"describe"}, &out, &errOut, envOf(nil)); code != 0 {
		t.Fatalf("describe exit %d: %s", code, errOut.String())
	}
	var m plugin.Metadata
	if err := json.Unmarshal(out.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if m.Name != "t" || m.Version != "1.2.3" || len(m.Settings) != 5 || m.Settings[1].Name != "token" || !m.Settings[1].Secret {
		t.Fatalf("describe = %+v", m)
	}
	if code := run(p, []string{"bogus"}, &out, &errOut, envOf(nil)); code != 2 {
		t.Fatalf("unknown argument: exit %d", code)
	}
	for _, arg := range []string{"--help", "-h", "help"} {
		out.Reset()
		if code := run(p, []string{arg}, &out, &errOut, envOf(nil)); code != 0 ||
			!strings.Contains(out.String(), "zonecert-dns-t 1.2.3") || !strings.Contains(out.String(), "token") {
			t.Fatalf("%s: exit %d\n%s", arg, code, out.String())
		}
	}
	bad := Plugin[struct {
		F float32 `setting:"f"`
	}]{Name: "t", New: func(context.Context, struct {
		F float32 `setting:"f"`
	}, *slog.Logger) (Provider, error) {
		return basicProv{}, nil
	}}
	errOut.Reset()
	if code := run(bad, []string{"describe"}, &out, &errOut, envOf(nil)); code != 2 || !strings.Contains(errOut.String(), "unsupported type") {
		t.Fatalf("bad schema: exit %d, %q", code, errOut.String())
	}
}

// FuzzDecodeSettings: any input yields settings or diagnostics, never a
// panic, and a secret value never shows in a diagnostic.
func FuzzDecodeSettings(f *testing.F) {
	fields, err := parseSchema(reflect.TypeFor[testSettings]())
	if err != nil {
		f.Fatal(err)
	}
	f.Add("https://x", "tok", "30", "true", "1m", "")
	f.Add("", "", "-9999999999999999999999", "yes", "1y", "T_TOKEN")
	f.Add("\x00", "secret-\xff", "0x10", "1", "-5s", "colour")
	f.Fuzz(func(t *testing.T, server, token, ttl, debug, wait, extra string) {
		given := map[string]string{"server": server, "token": token, "ttl": ttl, "debug": debug, "wait": wait}
		if extra != "" {
			given[extra] = "v"
		}
		var s testSettings
		for _, d := range decodeSettings(&s, fields, given, envOf(nil)) {
			if d.Setting == "token" && len(token) > 3 && strings.Contains(d.Message, token) {
				t.Fatalf("secret in diagnostic %q", d.Message)
			}
		}
	})
}

// closingProv counts its Close calls, like a provider holding sockets.
type closingProv struct {
	basicProv
	closed *int
}

func (c closingProv) Close() error { *c.closed++; return nil }

func TestReconfigureClosesPrevious(t *testing.T) {
	var closed, made int
	p := Plugin[testSettings]{
		Name: "t", Version: "1",
		New: func(context.Context, testSettings, *slog.Logger) (Provider, error) {
			made++
			return closingProv{closed: &closed}, nil
		},
	}
	b, err := newBackend(p, io.Discard, envOf(map[string]string{"T_TOKEN": "tok"}))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if diags, err := b.Configure(t.Context(), map[string]string{"server": "https://ok"}); err != nil || diags != nil {
			t.Fatalf("Configure: %v, %v", diags, err)
		}
	}
	if made != 2 || closed != 1 {
		t.Fatalf("after two Configure calls: %d made, %d closed; want 2 and 1", made, closed)
	}
}
