package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecert/zonecert/plugin"
	"github.com/zonecert/zonecert/plugin/sdk"
)

// Settings configure the built-in authoritative server. They come from the
// STANDALONE_* environment variables or, by either name, from zonecert's
// --dns-config file.
type Settings struct {
	Listen    string `setting:"listen,required" env:"STANDALONE_LISTEN" doc:"address the DNS server listens on, UDP and TCP (host:port, e.g. 0.0.0.0:53)"`
	Zone      string `setting:"zone,required" env:"STANDALONE_ZONE" doc:"the zone this server is authoritative for (e.g. acme.example.com)"`
	NS        string `setting:"ns" env:"STANDALONE_NS" doc:"host name of this server in the zone's NS and SOA records (default ns.<zone>)"`
	NSAddress string `setting:"ns_address" env:"STANDALONE_NS_ADDRESS" doc:"IPv4 or IPv6 address served for the NS name (default the listen IP)"`
	TTL       int    `setting:"ttl" env:"STANDALONE_TTL" default:"60" doc:"TTL of served TXT records when the host does not ask for one"`
}

// config is Settings validated and normalised.
type config struct {
	listen string
	zone   string     // canonical, absolute
	ns     string     // canonical, absolute
	nsAddr netip.Addr // zero: no address record for ns
	ttl    uint32
}

// validate returns field-level problems as an *sdk.SettingsError, so the
// host shows each against its setting.
func (s Settings) validate() (config, error) {
	var c config
	var diags []plugin.Diagnostic
	bad := func(setting, format string, args ...any) {
		diags = append(diags, plugin.Diagnostic{Setting: setting, Message: fmt.Sprintf(format, args...)})
	}
	if s.Listen == "" {
		bad("listen", "STANDALONE_LISTEN is required (host:port to serve DNS on)")
	} else if host, _, err := net.SplitHostPort(s.Listen); err != nil {
		bad("listen", "STANDALONE_LISTEN %q: want host:port: %v", s.Listen, err)
	} else {
		c.listen = s.Listen
		if ip, err := netip.ParseAddr(host); err == nil && !ip.IsUnspecified() {
			c.nsAddr = ip.Unmap()
		}
	}
	if s.Zone == "" {
		bad("zone", "STANDALONE_ZONE is required (the zone to serve)")
	} else if z, ok := canonicalName(s.Zone); !ok || z == "." {
		bad("zone", "STANDALONE_ZONE %q is not a valid zone name", s.Zone)
	} else {
		c.zone = z
	}
	switch {
	case s.NS != "":
		n, ok := canonicalName(s.NS)
		if !ok || n == "." {
			bad("ns", "STANDALONE_NS %q is not a valid host name", s.NS)
		}
		c.ns = n
	case c.zone != "":
		c.ns = "ns." + c.zone
	}
	if s.NSAddress != "" {
		ip, err := netip.ParseAddr(s.NSAddress)
		if err != nil || ip.IsUnspecified() || ip.Zone() != "" {
			bad("ns_address", "STANDALONE_NS_ADDRESS %q is not a usable IP address", s.NSAddress)
		}
		c.nsAddr = ip.Unmap()
	}
	if s.TTL < 0 || int64(s.TTL) > 1<<31-1 {
		bad("ttl", "STANDALONE_TTL %d is out of range (0 to 2147483647 seconds)", s.TTL)
	} else {
		c.ttl = uint32(s.TTL)
	}
	if len(diags) > 0 {
		return c, &sdk.SettingsError{Diagnostics: diags}
	}
	return c, nil
}

// canonicalName returns name lower case and absolute, and whether it is a
// syntactically valid domain name.
func canonicalName(name string) (string, bool) {
	n := dns.CanonicalName(strings.TrimSpace(name))
	_, ok := dns.IsDomainName(n)
	return n, ok
}

// provider serves one zone from memory. Records live only as long as the
// plugin process; the host keeps one process per run, which spans Present,
// the CA's validation and CleanUp.
type provider struct {
	cfg    config
	store  *store
	server *server
}

var (
	_ sdk.Provider               = (*provider)(nil)
	_ interface{ Close() error } = (*provider)(nil)
)

// newProvider validates s and starts the DNS server; listen errors are
// returned here so the host reports them at configuration time. The server
// runs until Close or the end of the process; ctx bounds only the start-up.
func newProvider(ctx context.Context, s Settings, log *slog.Logger) (*provider, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg, err := s.validate()
	if err != nil {
		return nil, err
	}
	st := newStore(cfg, time.Now())
	srv, err := startServer(ctx, cfg.listen, &handler{store: st, log: log})
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		return nil, sdk.InvalidSetting("listen", "%v", err)
	}
	log.LogAttrs(ctx, slog.LevelInfo, "serving zone", slog.String("zone", cfg.zone),
		slog.String("udp", srv.udpAddr().String()), slog.String("tcp", srv.tcpAddr().String()))
	return &provider{cfg: cfg, store: st, server: srv}, nil
}

// Close stops the DNS server.
func (p *provider) Close() error { return p.server.close() }

// recordState is the cleanup state handed back to the host: the owner name
// and value, so CleanUp can remove exactly what Present added even when the
// host's record fields were rebuilt.
type recordState struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Present adds each record's TXT value to the served zone. Values already
// present are left alone, so presenting twice keeps one copy.
func (p *provider) Present(ctx context.Context, records []sdk.Record) ([]sdk.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	results := make([]sdk.Result, len(records))
	for i, r := range records {
		results[i].ID = r.ID
		name, perr := p.check(r)
		if perr != nil {
			results[i].Err = perr
			continue
		}
		ttl := r.TTL
		if ttl == 0 {
			ttl = p.cfg.ttl
		}
		p.store.add(name, r.Value, ttl)
		state, err := json.Marshal(recordState{Name: name, Value: r.Value})
		if err != nil {
			return nil, fmt.Errorf("encoding state: %w", err)
		}
		results[i].State = state
	}
	return results, nil
}

// CleanUp removes exactly the given values. The name and value come from the
// record's State when it has one, else from the record itself. Removing a
// value that is not served (already cleaned, or lost with an earlier
// process) succeeds.
func (p *provider) CleanUp(ctx context.Context, records []sdk.Record) ([]sdk.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	results := make([]sdk.Result, len(records))
	for i, r := range records {
		results[i].ID = r.ID
		if len(r.State) > 0 {
			var st recordState
			if err := json.Unmarshal(r.State, &st); err != nil || st.Name == "" {
				results[i].Err = plugin.Errorf(sdk.CodeOther, false, "record %s: unreadable cleanup state", r.FQDN)
				continue
			}
			r.FQDN, r.Value = st.Name, st.Value
			r.Zone = p.cfg.zone
		}
		name, perr := p.check(r)
		if perr != nil {
			results[i].Err = perr
			continue
		}
		p.store.remove(name, r.Value)
	}
	return results, nil
}

// check validates a record against the served zone and returns its
// canonical owner name.
func (p *provider) check(r sdk.Record) (string, *sdk.Error) {
	name, ok := canonicalName(r.FQDN)
	if !ok || r.FQDN == "" {
		return "", plugin.Errorf(sdk.CodeOther, false, "record %q: invalid owner name", r.FQDN)
	}
	zone, _ := canonicalName(r.Zone)
	if zone != p.cfg.zone || !dns.IsSubDomain(p.cfg.zone, name) {
		return "", plugin.Errorf(sdk.CodeZoneNotFound, false,
			"record %s in zone %s: this server is authoritative for %s only (CNAME the challenge name into it, or delegate it here)",
			name, r.Zone, p.cfg.zone)
	}
	if r.Value == "" {
		return "", plugin.Errorf(sdk.CodeOther, false, "record %s: empty TXT value", name)
	}
	return name, nil
}

// store holds the served TXT records and the SOA serial. It is safe for
// concurrent use by the DNS handler and Present/CleanUp.
type store struct {
	cfg config

	mu     sync.RWMutex
	serial uint32
	txt    map[string][]txtValue // owner name → values in insertion order
}

type txtValue struct {
	value string
	ttl   uint32
}

// newStore starts the serial at the clock's Unix time, the usual
// convention, so a restarted plugin does not go backwards (RFC 1982).
func newStore(cfg config, now time.Time) *store {
	return &store{cfg: cfg, serial: uint32(now.Unix()), txt: make(map[string][]txtValue)}
}

// add appends value at name unless it is already there; a change bumps the
// SOA serial so pollers can use it as a change signal.
func (s *store) add(name, value string, ttl uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.txt[name] {
		if v.value == value {
			return
		}
	}
	s.txt[name] = append(s.txt[name], txtValue{value: value, ttl: ttl})
	s.serial++ // RFC 1982 serial arithmetic: wrapping is fine
}

// remove deletes value at name if present.
func (s *store) remove(name, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	vals := s.txt[name]
	for i, v := range vals {
		if v.value != value {
			continue
		}
		vals = append(vals[:i:i], vals[i+1:]...)
		if len(vals) == 0 {
			delete(s.txt, name)
		} else {
			s.txt[name] = vals
		}
		s.serial++
		return
	}
}
