package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecert/zonecert/plugin"
	"github.com/zonecert/zonecert/plugin/sdk"
	"github.com/zonecert/zonecert/providers/internal/txtrr"
)

// Settings use the environment names lego's rfc2136 provider reads, so an
// existing lego set-up carries over.
type Settings struct {
	Nameserver    string        `setting:"nameserver,required" env:"RFC2136_NAMESERVER" doc:"primary name server that accepts dynamic updates (host[:port], port 53 by default)"`
	TSIGKey       string        `setting:"tsig_key" env:"RFC2136_TSIG_KEY" doc:"TSIG key name (empty: unsigned updates)"`
	TSIGSecret    sdk.Secret    `setting:"tsig_secret,secret" env:"RFC2136_TSIG_SECRET" doc:"TSIG secret, base64"`
	TSIGAlgorithm string        `setting:"tsig_algorithm" env:"RFC2136_TSIG_ALGORITHM" default:"hmac-sha256." doc:"TSIG algorithm: hmac-sha256., hmac-sha512., hmac-sha1. (also hmac-sha224., hmac-sha384.)"`
	TTL           int           `setting:"ttl" env:"RFC2136_TTL" default:"120" doc:"TTL of a new TXT set when the host does not ask for one; an existing set keeps its own"`
	Timeout       time.Duration `setting:"timeout" env:"RFC2136_DNS_TIMEOUT" default:"10s" doc:"time limit for one UPDATE exchange"`
}

// tsigAlgorithm returns miekg/dns's name for one of the HMAC algorithms of
// RFC 8945 §6 it implements, or "". hmac-md5 is left out on purpose
// (RFC 8945 §6: MUST NOT use).
func tsigAlgorithm(name string) string {
	switch name {
	case "hmac-sha1.":
		return dns.HmacSHA1
	case "hmac-sha224.":
		return dns.HmacSHA224
	case "hmac-sha256.":
		return dns.HmacSHA256
	case "hmac-sha384.":
		return dns.HmacSHA384
	case "hmac-sha512.":
		return dns.HmacSHA512
	}
	return ""
}

// config is Settings validated and normalised.
type config struct {
	server  string // host:port
	key     string // canonical key name; empty means no TSIG
	secret  string // base64
	alg     string // canonical algorithm name
	ttl     uint32
	timeout time.Duration
}

// validate returns field-level problems as an *sdk.SettingsError, so the
// host shows each against its setting.
func (s Settings) validate() (config, error) {
	var c config
	var diags []plugin.Diagnostic
	bad := func(setting, format string, args ...any) {
		diags = append(diags, plugin.Diagnostic{Setting: setting, Message: fmt.Sprintf(format, args...)})
	}
	server, err := parseNameserver(s.Nameserver)
	if err != nil {
		bad("nameserver", "RFC2136_NAMESERVER: %v", err)
	}
	c.server = server

	key, secret := strings.TrimSpace(s.TSIGKey), strings.TrimSpace(s.TSIGSecret.Reveal())
	switch {
	case key == "" && secret == "":
	case key == "":
		bad("tsig_key", "RFC2136_TSIG_KEY is required with RFC2136_TSIG_SECRET (or leave both empty for unsigned updates)")
	case secret == "":
		bad("tsig_secret", "RFC2136_TSIG_SECRET is required with RFC2136_TSIG_KEY (or leave both empty for unsigned updates)")
	default:
		if _, ok := dns.IsDomainName(key); !ok {
			bad("tsig_key", "RFC2136_TSIG_KEY %q is not a valid key name", key)
		}
		if _, err := base64.StdEncoding.DecodeString(secret); err != nil {
			// The decoder's error would echo part of the secret; say only what is wrong.
			bad("tsig_secret", "RFC2136_TSIG_SECRET is not valid base64")
		}
		c.key, c.secret = dns.CanonicalName(key), secret
	}
	alg := strings.ToLower(strings.TrimSpace(s.TSIGAlgorithm))
	if alg == "" {
		alg = dns.HmacSHA256
	}
	if !strings.HasSuffix(alg, ".") {
		alg += "."
	}
	if c.alg = tsigAlgorithm(alg); c.alg == "" {
		bad("tsig_algorithm", "RFC2136_TSIG_ALGORITHM %q is not supported (use hmac-sha256., hmac-sha512. or hmac-sha1.)", s.TSIGAlgorithm)
	}
	if s.TTL < 0 || int64(s.TTL) > 1<<31-1 {
		bad("ttl", "RFC2136_TTL %d is out of range (0 to 2147483647 seconds)", s.TTL)
	} else {
		c.ttl = uint32(s.TTL)
	}
	if s.Timeout <= 0 {
		bad("timeout", "RFC2136_DNS_TIMEOUT %s must be positive", s.Timeout)
	}
	c.timeout = s.Timeout
	if len(diags) > 0 {
		return c, &sdk.SettingsError{Diagnostics: diags}
	}
	return c, nil
}

// parseNameserver accepts host, host:port, an IP address, or [v6]:port and
// returns host:port with port 53 by default.
func parseNameserver(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("required: the name server to send updates to (host[:port])")
	}
	if ip, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")); err == nil {
		return net.JoinHostPort(ip.String(), "53"), nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		if strings.Contains(s, ":") {
			return "", fmt.Errorf("%q: want host[:port]", s)
		}
		host, port = s, "53"
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return "", fmt.Errorf("%q: port %q is not a number from 1 to 65535", s, port)
	}
	if host == "" {
		return "", fmt.Errorf("%q: host is empty", s)
	}
	return net.JoinHostPort(host, port), nil
}

// provider sends RFC 2136 dynamic updates to one primary name server. It
// holds only its configuration, so concurrent calls are safe.
type provider struct {
	cfg config
	log *slog.Logger
}

var _ sdk.Provider = (*provider)(nil)

func newProvider(s Settings, log *slog.Logger) (*provider, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg, err := s.validate()
	if err != nil {
		return nil, err
	}
	return &provider{cfg: cfg, log: log}, nil
}

// Present adds the records, one UPDATE message per zone. Adding an RR that
// already exists is a no-op (RFC 2136 §3.4.2.2), so other values at the
// same name stay and presenting twice keeps one copy.
func (p *provider) Present(ctx context.Context, records []sdk.Record) ([]sdk.Result, error) {
	return p.apply(ctx, records, false)
}

// CleanUp deletes exactly the given TXT values ("delete an RR from an
// RRset", RFC 2136 §2.5.4), one UPDATE per zone. Deleting an absent RR is
// silently ignored by the server (RFC 2136 §3.4.2.4), so CleanUp is
// idempotent.
func (p *provider) CleanUp(ctx context.Context, records []sdk.Record) ([]sdk.Result, error) {
	return p.apply(ctx, records, true)
}

// apply groups records by zone and sends one UPDATE per zone, the zones
// concurrently. Every record of a zone shares that zone's outcome.
func (p *provider) apply(ctx context.Context, records []sdk.Record, remove bool) ([]sdk.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	type batch struct {
		idx []int
		rrs []dns.RR
	}
	results := make([]sdk.Result, len(records))
	batches := make(map[string]*batch)
	for i, r := range records {
		results[i].ID = r.ID
		zone, rr, perr := p.rr(r)
		if perr != nil {
			results[i].Err = perr
			continue
		}
		b := batches[zone]
		if b == nil {
			b = new(batch)
			batches[zone] = b
		}
		b.idx = append(b.idx, i)
		b.rrs = append(b.rrs, rr)
	}
	var wg sync.WaitGroup
	for zone, b := range batches {
		wg.Go(func() {
			perr := p.send(ctx, zone, b.rrs, remove)
			for _, i := range b.idx {
				results[i].Err = perr
			}
		})
	}
	wg.Wait()
	return results, nil
}

// rr validates r and builds its TXT RR.
func (p *provider) rr(r sdk.Record) (string, *dns.TXT, *sdk.Error) {
	name, zone := dns.CanonicalName(r.FQDN), dns.CanonicalName(r.Zone)
	if _, ok := dns.IsDomainName(name); !ok || r.FQDN == "" {
		return "", nil, plugin.Errorf(plugin.CodeOther, false, "record %q: invalid owner name", r.FQDN)
	}
	if _, ok := dns.IsDomainName(zone); !ok || r.Zone == "" {
		return "", nil, plugin.Errorf(plugin.CodeOther, false, "record %s: invalid zone %q", name, r.Zone)
	}
	if !dns.IsSubDomain(zone, name) {
		return "", nil, plugin.Errorf(plugin.CodeZoneNotFound, false, "record %s is not within zone %s", name, zone)
	}
	if r.Value == "" {
		return "", nil, plugin.Errorf(plugin.CodeOther, false, "record %s: empty TXT value", name)
	}
	ttl := r.TTL
	if ttl == 0 {
		ttl = p.cfg.ttl
	}
	return zone, &dns.TXT{
		Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: ttl},
		Txt: txtrr.Strings(r.Value),
	}, nil
}
