// Command testplugin is a provider plugin for the host's tests. It stores
// records as files under the "dir" setting (or nowhere when unset, to
// measure the boundary alone) and misbehaves on request: a record value of
// "crash" exits the process mid-call, "hang" blocks ignoring the deadline,
// "fail" yields a per-record rate-limit error, "callfail" fails the whole
// call with an auth error, "env:NAME" returns $NAME (or "<unset>") as state,
// "log" writes a log line, "throttle" is refused as rate-limited (retryable,
// with the time left as RetryAfter) when another "throttle" call was
// accepted less than a second before, and
// "crashonce" exits mid-call the first time (a marker in "dir" remembers),
// "parentenv" tries to read its parent's /proc/<ppid>/environ and returns
// "read" or the error as state, "bigstate:N" returns N bytes of state, and
// "stderr:TEXT" writes TEXT as a raw line to stderr. It asks for secrets in
// pass_env that are not its own, which the host must not hand it.
// Every Present call is logged with its number of records. With the
// nameserver setting it writes records by RFC 2136 UPDATE instead, and the
// throttle setting makes it refuse calls that come too fast.
// $TESTPLUGIN_NOISE=1 prints to stdout before the handshake.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecert/zonecert/plugin/sdk"
)

// Settings of the test plugin.
type Settings struct {
	Dir   string     `setting:"dir" env:"TESTPLUGIN_DIR" doc:"directory to keep records in; empty keeps none"`
	Token sdk.Secret `setting:"token,secret" env:"TESTPLUGIN_TOKEN" doc:"credential; \"bad\" is rejected"`
	Noise bool       `setting:"noise" env:"TESTPLUGIN_NOISE" doc:"print to stdout before the handshake"`
	Basic bool       `setting:"basic" env:"TESTPLUGIN_BASIC" doc:"offer no optional capabilities"`
	Zones string     `setting:"zones" default:"example.test." doc:"comma-separated zones to list"`
	Count int        `setting:"count" default:"1" doc:"an int setting"`
	// A DNS server to write the records to by RFC 2136 UPDATE (TSIG
	// hmac-sha256) instead of files, for orders against a real CA.
	Nameserver string     `setting:"nameserver" doc:"host:port taking RFC 2136 updates; empty keeps records in dir"`
	TSIGKey    string     `setting:"tsig_key" doc:"TSIG key name for updates"`
	TSIGSecret sdk.Secret `setting:"tsig_secret,secret" doc:"TSIG secret (base64)"`
	Throttle   string     `setting:"throttle" doc:"a duration: a call within it of the last one accepted is refused as rate-limited"`
}

type provider struct {
	s   Settings
	log *slog.Logger

	mu        sync.Mutex
	throttled time.Time // last accepted "throttle" call
}

// throttle admits one call per interval, like an API's rate limit, and
// says when the next one will be admitted.
func (p *provider) throttle(interval time.Duration) *sdk.Error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if left := interval - time.Since(p.throttled); left > 0 {
		return &sdk.Error{Code: sdk.CodeRateLimited, Retryable: true, RetryAfter: left,
			Message: fmt.Sprintf("rate limited, retry after %s", left.Round(time.Millisecond))}
	}
	p.throttled = time.Now()
	return nil
}

// update adds (or removes) every record in one RFC 2136 UPDATE per zone,
// after the throttle setting admits the call.
func (p *provider) update(ctx context.Context, recs []sdk.Record, remove bool) ([]sdk.Result, error) {
	if p.s.Throttle != "" {
		d, err := time.ParseDuration(p.s.Throttle)
		if err != nil {
			return nil, &sdk.Error{Code: sdk.CodeOther, Message: "bad throttle: " + err.Error()}
		}
		if e := p.throttle(d); e != nil {
			p.log.Info("throttled", "records", len(recs))
			out := make([]sdk.Result, len(recs))
			for i, r := range recs {
				out[i] = sdk.Result{ID: r.ID, Err: e}
			}
			return out, nil
		}
	}
	byZone := map[string][]dns.RR{}
	for _, r := range recs {
		byZone[r.Zone] = append(byZone[r.Zone], &dns.TXT{
			Hdr: dns.RR_Header{Name: r.FQDN, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: max(r.TTL, 1)},
			Txt: []string{r.Value}})
	}
	for zone, rrs := range byZone {
		m := new(dns.Msg)
		m.SetUpdate(zone)
		if remove {
			m.Remove(rrs)
		} else {
			m.Insert(rrs)
		}
		c := &dns.Client{Net: "tcp", Timeout: 10 * time.Second}
		if p.s.TSIGKey != "" {
			c.TsigSecret = map[string]string{p.s.TSIGKey: p.s.TSIGSecret.Reveal()}
			m.SetTsig(p.s.TSIGKey, dns.HmacSHA256, 300, time.Now().Unix())
		}
		r, _, err := c.ExchangeContext(ctx, m, p.s.Nameserver)
		if err != nil {
			return nil, &sdk.Error{Code: sdk.CodeOther, Retryable: true, Message: err.Error()}
		}
		if r.Rcode != dns.RcodeSuccess {
			return nil, &sdk.Error{Code: sdk.CodeOther, Message: "update refused: " + dns.RcodeToString[r.Rcode]}
		}
	}
	out := make([]sdk.Result, len(recs))
	for i, r := range recs {
		out[i] = sdk.Result{ID: r.ID}
	}
	return out, nil
}

type full struct{ *provider }

func (f full) WaitForSync(ctx context.Context, recs []sdk.Record) error { return ctx.Err() }

func (f full) ListZones(ctx context.Context) ([]string, error) {
	return strings.Split(f.s.Zones, ","), nil
}

func (p *provider) path(r sdk.Record) string {
	sum := sha256.Sum256([]byte(r.Value))
	return filepath.Join(p.s.Dir, strings.TrimSuffix(r.FQDN, "."), hex.EncodeToString(sum[:8]))
}

func (p *provider) Present(ctx context.Context, recs []sdk.Record) ([]sdk.Result, error) {
	p.log.Info("present", "records", len(recs))
	if p.s.Nameserver != "" {
		return p.update(ctx, recs, false)
	}
	var limited *sdk.Error
	if slices.ContainsFunc(recs, func(r sdk.Record) bool { return r.Value == "throttle" }) {
		limited = p.throttle(time.Second)
	}
	out := make([]sdk.Result, 0, len(recs))
	for _, r := range recs {
		res := sdk.Result{ID: r.ID, State: []byte("s-" + r.ID)}
		switch {
		case r.Value == "throttle" && limited != nil:
			res.Err = limited
		case r.Value == "crashonce" && p.s.Dir != "":
			marker := filepath.Join(p.s.Dir, "crashed-once")
			if _, err := os.Stat(marker); err != nil {
				_ = os.WriteFile(marker, nil, 0o600)
				os.Exit(7)
			}
		case r.Value == "crash":
			os.Exit(7)
		case r.Value == "hang":
			select {} // ignores the deadline on purpose
		case r.Value == "callfail":
			return nil, &sdk.Error{Code: sdk.CodeAuth, Retryable: false, Message: "token rejected"}
		case r.Value == "fail":
			res.Err = &sdk.Error{Code: sdk.CodeRateLimited, Retryable: true, Message: "slow down"}
		case r.Value == "log":
			p.log.Info("presenting", "fqdn", r.FQDN)
		case r.Value == "parentenv":
			if _, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", os.Getppid())); err != nil {
				res.State = []byte("error: " + err.Error())
			} else {
				res.State = []byte("read")
			}
		case strings.HasPrefix(r.Value, "bigstate:"):
			var n int
			fmt.Sscan(strings.TrimPrefix(r.Value, "bigstate:"), &n)
			res.State = make([]byte, n)
		case strings.HasPrefix(r.Value, "stderr:"):
			fmt.Fprintln(rawStderr, strings.TrimPrefix(r.Value, "stderr:"))
		case strings.HasPrefix(r.Value, "env:"):
			v, ok := os.LookupEnv(strings.TrimPrefix(r.Value, "env:"))
			if !ok {
				v = "<unset>"
			}
			res.State = []byte(v)
		}
		if p.s.Dir != "" && res.Err == nil {
			path := p.path(r)
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				return nil, err
			}
			if err := os.WriteFile(path, []byte(r.Value), 0o600); err != nil {
				return nil, err
			}
			res.State = []byte(path)
		}
		out = append(out, res)
	}
	return out, ctx.Err()
}

func (p *provider) CleanUp(ctx context.Context, recs []sdk.Record) ([]sdk.Result, error) {
	if p.s.Nameserver != "" {
		return p.update(ctx, recs, true)
	}
	out := make([]sdk.Result, 0, len(recs))
	for _, r := range recs {
		res := sdk.Result{ID: r.ID}
		if p.s.Dir != "" {
			path := p.path(r)
			if len(r.State) > 0 && string(r.State) != path {
				res.Err = &sdk.Error{Code: sdk.CodeConflict, Message: "state does not match record"}
			} else if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
		}
		out = append(out, res)
	}
	return out, ctx.Err()
}

// rawStderr is the process's stderr, which the host reads line by line
// (go-plugin's Serve swaps os.Stderr for a pipe of its own).
var rawStderr = os.Stderr

func main() {
	if os.Getenv("TESTPLUGIN_NOISE") == "1" && len(os.Args) == 1 {
		fmt.Println("hello from a chatty plugin")
	}
	sdk.Serve(sdk.Plugin[Settings]{
		Name:        "testplug",
		Version:     "0.0.1",
		Description: "host test plugin",
		PassEnv:     []string{"TESTPLUGIN_PASSED", "RFC2136_TSIG_SECRET", "AWS_SECRET_ACCESS_KEY", "ZONECERT_EAB_HMAC"},
		New: func(ctx context.Context, s Settings, log *slog.Logger) (sdk.Provider, error) {
			if s.Token.Reveal() == "bad" {
				return nil, sdk.InvalidSetting("token", "rejected by the API")
			}
			p := &provider{s: s, log: log}
			if s.Basic {
				return p, nil
			}
			return full{p}, nil
		},
	})
}
