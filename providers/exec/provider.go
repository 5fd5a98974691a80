package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zonecert/zonecert/plugin/sdk"
)

// Settings are the exec provider's settings.
type Settings struct {
	Mode        string        `setting:"mode" env:"EXEC_MODE" doc:"lego or certbot; empty infers it from which programs are set"`
	Path        string        `setting:"path" env:"EXEC_PATH" doc:"lego-style program, run as: PROGRAM present|cleanup FQDN VALUE"`
	AuthHook    string        `setting:"auth_hook" env:"EXEC_AUTH_HOOK" doc:"certbot-style --manual-auth-hook program (CERTBOT_* in its environment)"`
	CleanupHook string        `setting:"cleanup_hook" env:"EXEC_CLEANUP_HOOK" doc:"certbot-style --manual-cleanup-hook program"`
	Timeout     time.Duration `setting:"timeout" env:"EXEC_TIMEOUT" default:"2m" doc:"time limit of one program run; its process group is killed after it"`
	Zones       string        `setting:"zones" env:"EXEC_ZONES" doc:"comma-separated zones the program serves; others are refused (empty: any)"`
	Env         sdk.Secret    `setting:"env,secret" env:"EXEC_ENV" doc:"extra environment for the program, one NAME=VALUE per line (e.g. a key file path)"`
}

// settingsEnv are the variables the settings are read from; they are not
// handed on to the program (EXEC_ENV may hold secrets, and its pairs are
// passed decoded).
func settingsEnv() []string {
	return []string{"EXEC_MODE", "EXEC_PATH", "EXEC_AUTH_HOOK", "EXEC_CLEANUP_HOOK", "EXEC_TIMEOUT", "EXEC_ZONES", "EXEC_ENV"}
}

// passEnv are extra variables hook scripts commonly need, besides the
// host's base set (PATH, HOME, TMPDIR and the proxy variables).
func passEnv() []string { return []string{"LANG", "LC_ALL", "TZ"} }

const (
	modeLego    = "lego"
	modeCertbot = "certbot"
)

// challengeLabel is the label certbot's hooks put in front of
// CERTBOT_DOMAIN themselves.
const challengeLabel = "_acme-challenge."

// maxAuthOutput caps the auth hook's stdout kept in the cleanup state for
// CERTBOT_AUTH_OUTPUT.
const maxAuthOutput = 4096

// provider runs the user's program once per record, one run at a time.
type provider struct {
	mode             string
	present, cleanup string // programs; cleanup may be empty (certbot)
	timeout          time.Duration
	zones            map[string]bool // nil: any zone
	env              []string        // base environment of every run
	log              *slog.Logger
	turn             chan struct{} // one run at a time: hook scripts are rarely safe in parallel
}

var _ sdk.Provider = (*provider)(nil)

// state is the cleanup state: certbot passes the auth hook's output to the
// cleanup hook.
type state struct {
	AuthOutput string `json:"auth_output,omitempty"`
}

// newProvider validates the settings. environ is the plugin's environment
// (read in main), handed to programs minus the settings' own variables.
func newProvider(s Settings, environ []string, log *slog.Logger) (*provider, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mode := strings.ToLower(strings.TrimSpace(s.Mode))
	if mode == "" {
		switch {
		case s.Path != "" && s.AuthHook != "":
			return nil, sdk.InvalidSetting("mode", "both path (lego) and auth_hook (certbot) are set; set mode to choose")
		case s.Path != "":
			mode = modeLego
		case s.AuthHook != "":
			mode = modeCertbot
		default:
			return nil, sdk.InvalidSetting("path", "set path (EXEC_PATH, lego style) or auth_hook (EXEC_AUTH_HOOK, certbot style)")
		}
	}
	p := &provider{mode: mode, timeout: s.Timeout, log: log, turn: make(chan struct{}, 1)}
	var err error
	switch mode {
	case modeLego:
		if p.present, err = program("path", s.Path); err != nil {
			return nil, err
		}
		p.cleanup = p.present
	case modeCertbot:
		if p.present, err = program("auth_hook", s.AuthHook); err != nil {
			return nil, err
		}
		if s.CleanupHook != "" {
			if p.cleanup, err = program("cleanup_hook", s.CleanupHook); err != nil {
				return nil, err
			}
		}
	default:
		return nil, sdk.InvalidSetting("mode", "%q is neither lego nor certbot", s.Mode)
	}
	if p.timeout <= 0 {
		return nil, sdk.InvalidSetting("timeout", "%s is not positive", s.Timeout)
	}
	for _, z := range strings.Split(s.Zones, ",") {
		if z = strings.TrimSpace(z); z != "" {
			if p.zones == nil {
				p.zones = map[string]bool{}
			}
			p.zones[canonical(z)] = true
		}
	}
	extra, err := parseEnv(s.Env.Reveal())
	if err != nil {
		return nil, err
	}
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(settingsEnv(), name) && !strings.HasPrefix(name, "CERTBOT_") {
			p.env = append(p.env, kv)
		}
	}
	p.env = append(p.env, extra...)
	return p, nil
}

// program resolves a program setting to an executable path. Programs are
// run directly, never through a shell, so values cannot inject commands.
func program(setting, path string) (string, error) {
	if path == "" {
		return "", sdk.InvalidSetting(setting, "required")
	}
	resolved, err := exec.LookPath(path)
	if err != nil {
		return "", sdk.InvalidSetting(setting, "%s is not an executable program: %v", path, err)
	}
	return resolved, nil
}

// parseEnv reads NAME=VALUE lines; blank lines are skipped.
func parseEnv(s string) ([]string, error) {
	var out []string
	for i, line := range strings.Split(s, "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		name, _, ok := strings.Cut(line, "=")
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			// The line may hold a secret: name its number, not its text.
			return nil, sdk.InvalidSetting("env", "line %d is not NAME=VALUE", i+1)
		}
		out = append(out, line)
	}
	return out, nil
}

// Present runs the present program (lego) or auth hook (certbot) once per
// record, in order.
func (p *provider) Present(ctx context.Context, recs []sdk.Record) ([]sdk.Result, error) {
	return p.each(ctx, recs, "present", p.present), nil
}

// CleanUp runs the cleanup program or hook once per record. Without a
// certbot cleanup hook there is nothing to run, as with certbot.
func (p *provider) CleanUp(ctx context.Context, recs []sdk.Record) ([]sdk.Result, error) {
	if p.cleanup == "" {
		p.log.LogAttrs(ctx, slog.LevelWarn, "no cleanup hook set; challenge records are left in place",
			slog.Int("records", len(recs)))
	}
	return p.each(ctx, recs, "cleanup", p.cleanup), nil
}

// each runs prog for every record and collects the results.
func (p *provider) each(ctx context.Context, recs []sdk.Record, action, prog string) []sdk.Result {
	out := make([]sdk.Result, len(recs))
	domains := allDomains(recs)
	for i, r := range recs {
		out[i].ID = r.ID
		if err := p.check(r); err != nil {
			out[i].Err = err
			continue
		}
		if prog == "" {
			continue
		}
		var args, env []string
		switch p.mode {
		case modeLego:
			args = []string{action, r.FQDN, r.Value}
			env = p.env
		case modeCertbot:
			env = append(append([]string(nil), p.env...),
				"CERTBOT_DOMAIN="+certbotDomain(r.FQDN),
				"CERTBOT_VALIDATION="+r.Value,
				"CERTBOT_REMAINING_CHALLENGES="+strconv.Itoa(len(recs)-1-i),
				"CERTBOT_ALL_DOMAINS="+domains)
			if action == "cleanup" {
				var st state
				_ = json.Unmarshal(r.State, &st) // an empty or foreign state is no output
				env = append(env, "CERTBOT_AUTH_OUTPUT="+st.AuthOutput)
			}
		}
		stdout, err := p.run(ctx, prog, args, env, r, action)
		if err != nil {
			out[i].Err = err
			continue
		}
		if p.mode == modeCertbot && action == "present" {
			if o := strings.TrimRight(string(stdout), "\n"); o != "" {
				out[i].State, _ = json.Marshal(state{AuthOutput: o[:min(len(o), maxAuthOutput)]})
			}
		}
	}
	return out
}

// check refuses records outside their zone, zones not configured, and (for
// certbot hooks, which build the name themselves) names that are not
// _acme-challenge names.
func (p *provider) check(r sdk.Record) *sdk.Error {
	fqdn, zone := canonical(r.FQDN), canonical(r.Zone)
	if zone == "." || (fqdn != zone && !strings.HasSuffix(fqdn, "."+zone)) {
		return errorf(sdk.CodeZoneNotFound, "%s is not within zone %q", r.FQDN, r.Zone)
	}
	if p.zones != nil && !p.zones[zone] {
		return errorf(sdk.CodeZoneNotFound, "zone %s is not in EXEC_ZONES", zone)
	}
	if p.mode == modeCertbot && !strings.HasPrefix(fqdn, challengeLabel) {
		return errorf(sdk.CodeOther, "certbot-style hooks can only publish %s names, not %s; use EXEC_PATH (lego style)",
			strings.TrimSuffix(challengeLabel, "."), r.FQDN)
	}
	if r.Value == "" {
		return errorf(sdk.CodeOther, "empty TXT value for %s", r.FQDN)
	}
	return nil
}

// certbotDomain is the domain certbot would name: the challenge name
// without its label and trailing dot.
func certbotDomain(fqdn string) string {
	return strings.TrimSuffix(strings.TrimPrefix(canonical(fqdn), challengeLabel), ".")
}

// allDomains lists the batch's domains once each, comma-separated, for
// CERTBOT_ALL_DOMAINS.
func allDomains(recs []sdk.Record) string {
	var out []string
	for _, r := range recs {
		if d := certbotDomain(r.FQDN); !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return strings.Join(out, ",")
}

func canonical(name string) string {
	name = strings.ToLower(strings.TrimSpace(name))
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	return name
}

func errorf(code sdk.Code, format string, args ...any) *sdk.Error {
	return &sdk.Error{Code: code, Message: fmt.Sprintf(format, args...)}
}
