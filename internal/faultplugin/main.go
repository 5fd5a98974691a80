// Command faultplugin is a provider plugin for the fault suite
// (cmd/zonecert faults_test.go). It publishes real TXT records with RFC 2136
// updates to a test BIND primary, like the rfc2136 provider, and misbehaves
// on command (FAULTDNS_MODE):
//
//	die-in-present   SIGKILLs itself after the update, before answering
//	die-in-cleanup   SIGKILLs itself in CleanUp, before removing anything
//	hang-present     blocks in Present after the update, ignoring the deadline
//	hang-cleanup     blocks in CleanUp, ignoring the deadline
//
// With FAULTDNS_ONCE=<file> a fault fires only while that file does not
// exist (the plugin creates it), so the next run behaves.
package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecert/zonecert/plugin/sdk"
)

// Settings of the fault plugin.
type Settings struct {
	Nameserver string     `setting:"nameserver,required" env:"FAULTDNS_NAMESERVER" doc:"primary taking updates, host:port"`
	TSIGKey    string     `setting:"tsig_key" env:"FAULTDNS_TSIG_KEY" doc:"TSIG key name"`
	TSIGSecret sdk.Secret `setting:"tsig_secret,secret" env:"FAULTDNS_TSIG_SECRET" doc:"TSIG secret, base64"`
	TSIGAlg    string     `setting:"tsig_algorithm" env:"FAULTDNS_TSIG_ALGORITHM" default:"hmac-sha256." doc:"TSIG algorithm"`
	Mode       string     `setting:"mode" env:"FAULTDNS_MODE" doc:"the fault to inject (see the package doc)"`
	Once       string     `setting:"once" env:"FAULTDNS_ONCE" doc:"file marking a fault as fired"`
}

type provider struct {
	s   Settings
	log *slog.Logger
}

// fault reports whether mode is the configured fault and may fire now.
func (p *provider) fault(mode string) bool {
	if p.s.Mode != mode {
		return false
	}
	if p.s.Once == "" {
		return true
	}
	f, err := os.OpenFile(p.s.Once, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return false // fired before
	}
	_ = f.Close()
	return true
}

func (p *provider) misbehave(mode string) {
	if !p.fault(mode) {
		return
	}
	p.log.Warn("injecting fault", "mode", mode)
	if strings.HasPrefix(mode, "die-") {
		if self, err := os.FindProcess(os.Getpid()); err == nil {
			_ = self.Kill() // SIGKILL on Unix, TerminateProcess on Windows
		}
	}
	select {} // hang, ignoring every deadline
}

func (p *provider) update(ctx context.Context, recs []sdk.Record, remove bool) ([]sdk.Result, error) {
	byZone := map[string][]dns.RR{}
	for _, r := range recs {
		ttl := r.TTL
		if ttl == 0 {
			ttl = 60
		}
		byZone[r.Zone] = append(byZone[r.Zone], &dns.TXT{
			Hdr: dns.RR_Header{Name: r.FQDN, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: ttl},
			Txt: []string{r.Value},
		})
	}
	for zone, rrs := range byZone {
		m := new(dns.Msg)
		m.SetUpdate(zone)
		if remove {
			m.Remove(rrs)
		} else {
			m.Insert(rrs)
		}
		c := &dns.Client{Net: "tcp", Timeout: 5 * time.Second}
		if p.s.TSIGKey != "" {
			c.TsigSecret = map[string]string{p.s.TSIGKey: p.s.TSIGSecret.Reveal()}
			m.SetTsig(p.s.TSIGKey, p.s.TSIGAlg, 300, time.Now().Unix())
		}
		r, _, err := c.ExchangeContext(ctx, m, p.s.Nameserver)
		if err != nil {
			return nil, &sdk.Error{Code: sdk.CodeOther, Retryable: true, Message: "update: " + err.Error()}
		}
		if r.Rcode != dns.RcodeSuccess {
			return nil, &sdk.Error{Code: sdk.CodeOther, Message: "update refused: " + dns.RcodeToString[r.Rcode]}
		}
	}
	out := make([]sdk.Result, 0, len(recs))
	for _, r := range recs {
		out = append(out, sdk.Result{ID: r.ID})
	}
	return out, nil
}

func (p *provider) Present(ctx context.Context, recs []sdk.Record) ([]sdk.Result, error) {
	res, err := p.update(ctx, recs, false)
	if err == nil {
		p.misbehave("die-in-present")
		p.misbehave("hang-present")
	}
	return res, err
}

func (p *provider) CleanUp(ctx context.Context, recs []sdk.Record) ([]sdk.Result, error) {
	p.misbehave("die-in-cleanup")
	p.misbehave("hang-cleanup")
	return p.update(ctx, recs, true)
}

func main() {
	sdk.Serve(sdk.Plugin[Settings]{
		Name:        "faultdns",
		Version:     "0.0.1",
		Description: "RFC 2136 provider that misbehaves on command (fault suite)",
		New: func(ctx context.Context, s Settings, log *slog.Logger) (sdk.Provider, error) {
			if s.Nameserver == "" {
				return nil, errors.New("nameserver required")
			}
			return &provider{s: s, log: log}, nil
		},
	})
}
