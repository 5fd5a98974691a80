package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecert/zonecert/plugin"
)

// tsigFudge is the permitted clock skew in seconds (RFC 8945 §10 recommends 300).
const tsigFudge = 300

// send makes one UPDATE for zone over TCP (RFC 2136 §2: the zone section
// names the zone; the update section holds the RRs) and classifies the
// outcome. remove turns each RR into "delete this RR from its RRset"
// (class NONE, TTL 0, RFC 2136 §2.5.4); otherwise they are added (§2.5.1).
func (p *provider) send(ctx context.Context, zone string, rrs []dns.RR, remove bool) *plugin.Error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.timeout)
	defer cancel()

	c := &dns.Client{Net: "tcp", Timeout: p.cfg.timeout}
	if p.cfg.key != "" {
		c.TsigSecret = map[string]string{p.cfg.key: p.cfg.secret}
	}
	if !remove {
		p.keepSetTTLs(ctx, c, rrs)
	}
	m := new(dns.Msg)
	m.SetUpdate(zone)
	if remove {
		m.Remove(rrs)
	} else {
		m.Insert(rrs)
	}
	if p.cfg.key != "" {
		// The TSIG RR must come last, after every other change (RFC 8945 §5.1).
		m.SetTsig(p.cfg.key, p.cfg.alg, tsigFudge, time.Now().Unix())
	}

	start := time.Now()
	r, err := p.exchange(ctx, c, m)
	perr := classify(zone, p.cfg, r, err)
	attrs := []slog.Attr{
		slog.String("zone", zone), slog.Bool("delete", remove), slog.Int("records", len(rrs)),
		slog.String("server", p.cfg.server), slog.Duration("took", time.Since(start)),
	}
	if perr != nil {
		attrs = append(attrs, slog.String("error", perr.Error()))
	}
	p.log.LogAttrs(ctx, slog.LevelDebug, "dynamic update", attrs...)
	return perr
}

// keepSetTTLs gives each RR the TTL of the TXT RRset already at its name.
// An RRset has one TTL (RFC 2181 §5.2), and servers such as BIND give the
// whole set the TTL of an added RR, so adding ours with another TTL would
// change another party's records, and deleting ours later could not restore
// it. It asks the server the update goes to, over one TCP connection,
// signed like the update. When it cannot read the sets, the RRs keep our
// TTL, and the UPDATE that follows reports what is wrong with the server.
func (p *provider) keepSetTTLs(ctx context.Context, c *dns.Client, rrs []dns.RR) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.timeout)
	defer cancel()
	ttls, err := p.readSetTTLs(ctx, c, rrs)
	if err != nil {
		p.log.LogAttrs(ctx, slog.LevelWarn, "cannot read the TXT records at the challenge names; a set already there may get our TTL",
			slog.String("server", p.cfg.server), slog.String("error", err.Error()))
	}
	for _, rr := range rrs {
		if ttl, ok := ttls[rr.Header().Name]; ok && ttl >= 0 {
			rr.Header().Ttl = uint32(ttl)
		}
	}
}

// readSetTTLs returns the TTL of the TXT RRset at each RR's name, -1 where
// there is none. On error it returns what it read so far.
func (p *provider) readSetTTLs(ctx context.Context, c *dns.Client, rrs []dns.RR) (map[string]int64, error) {
	ttls := map[string]int64{}
	conn, err := c.DialContext(ctx, p.cfg.server)
	if err != nil {
		return ttls, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	for _, rr := range rrs {
		name := rr.Header().Name
		if _, asked := ttls[name]; asked {
			continue
		}
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeTXT)
		m.RecursionDesired = false
		if p.cfg.key != "" {
			m.SetTsig(p.cfg.key, p.cfg.alg, tsigFudge, time.Now().Unix())
		}
		// A fresh dns.Conn per query: one carries the previous MAC into the
		// next signature, as for a zone transfer's message stream.
		qc := &dns.Conn{Conn: conn.Conn, TsigSecret: conn.TsigSecret}
		r, _, err := c.ExchangeWithConnContext(ctx, m, qc)
		switch {
		case err != nil:
			return ttls, fmt.Errorf("TXT %s: %w", name, err)
		case r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError:
			return ttls, fmt.Errorf("TXT %s: %s", name, rcodeName(r.Rcode))
		}
		ttls[name] = -1
		for _, a := range r.Answer {
			if a.Header().Rrtype == dns.TypeTXT && dns.CanonicalName(a.Header().Name) == name {
				ttls[name] = int64(a.Header().Ttl)
			}
		}
	}
	return ttls, nil
}

// exchange sends m and reads the reply. The connection is closed when ctx
// ends, so a cancelled call returns at once rather than at its deadline.
func (p *provider) exchange(ctx context.Context, c *dns.Client, m *dns.Msg) (*dns.Msg, error) {
	conn, err := c.DialContext(ctx, p.cfg.server)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	r, _, err := c.ExchangeWithConnContext(ctx, m, conn)
	if err != nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	return r, err
}

// classify maps the server's answer to a plugin error, nil for success.
// With TSIG, a server that rejects the signature answers NOTAUTH and puts
// the reason (BADSIG, BADKEY, BADTIME) in the TSIG RR's error field
// (RFC 8945 §5.2); without it NOTAUTH means the server is not authoritative
// for the zone (RFC 2136 §3.1.1).
func classify(zone string, cfg config, r *dns.Msg, err error) *plugin.Error {
	if r != nil {
		if t := r.IsTsig(); t != nil && t.Error != dns.RcodeSuccess {
			switch int(t.Error) {
			case dns.RcodeBadKey:
				return plugin.Errorf(plugin.CodeAuth, false,
					"%s rejected the update for %s: BADKEY, it does not know TSIG key %q with algorithm %s (check RFC2136_TSIG_KEY and RFC2136_TSIG_ALGORITHM)",
					cfg.server, zone, cfg.key, cfg.alg)
			case dns.RcodeBadSig:
				return plugin.Errorf(plugin.CodeAuth, false,
					"%s rejected the update for %s: BADSIG, the signature of key %q does not verify (check RFC2136_TSIG_SECRET)",
					cfg.server, zone, cfg.key)
			case dns.RcodeBadTime:
				return plugin.Errorf(plugin.CodeAuth, true,
					"%s rejected the update for %s: BADTIME, the clocks differ by more than %d s (check NTP)",
					cfg.server, zone, tsigFudge)
			default:
				return plugin.Errorf(plugin.CodeAuth, false, "%s rejected the update's TSIG for %s: %s",
					cfg.server, zone, rcodeName(int(t.Error)))
			}
		}
	}
	if err != nil {
		switch {
		case r != nil && isTSIGError(err) && r.Rcode != dns.RcodeSuccess:
			// miekg/dns does not verify a NOTAUTH answer at all, and an
			// unverified failure is still a failure: classify by RCODE.
		case r != nil && isTSIGError(err):
			return plugin.Errorf(plugin.CodeAuth, false,
				"%s answered the update for %s with a TSIG that does not verify: %v", cfg.server, zone, err)
		case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
			// The client's own I/O deadline equals ctx's, so either may fire first.
			return plugin.Errorf(plugin.CodeOther, true, "update for %s: no answer from %s within %s (RFC2136_DNS_TIMEOUT)",
				zone, cfg.server, cfg.timeout)
		case errors.Is(err, context.Canceled):
			return plugin.Errorf(plugin.CodeOther, true, "update for %s: cancelled", zone)
		default:
			hint := ""
			if op, ok := errors.AsType[*net.OpError](err); ok && op.Op == "dial" {
				hint = " (check RFC2136_NAMESERVER: updates go over TCP to that address and port)"
			}
			return plugin.Errorf(plugin.CodeOther, true, "sending update for %s to %s: %v%s", zone, cfg.server, err, hint)
		}
	} else if cfg.key != "" && r.Rcode == dns.RcodeSuccess && r.IsTsig() == nil {
		// RFC 8945 §5.3: the answer to a signed request must be signed.
		return plugin.Errorf(plugin.CodeAuth, false,
			"%s answered the signed update for %s without a TSIG; refusing to trust it", cfg.server, zone)
	}
	switch r.Rcode {
	case dns.RcodeSuccess:
		return nil
	case dns.RcodeNotAuth:
		if cfg.key != "" && r.IsTsig() == nil {
			// A compliant server reports a TSIG failure in the TSIG error
			// (handled above) and signs a plain NOTAUTH; an unsigned NOTAUTH
			// to a signed update is most likely a key it does not accept.
			return plugin.Errorf(plugin.CodeAuth, false,
				"%s rejected the update for %s with an unsigned NOTAUTH: it does not accept TSIG key %q, or does not serve the zone (check RFC2136_TSIG_KEY, RFC2136_TSIG_SECRET and RFC2136_TSIG_ALGORITHM)",
				cfg.server, zone, cfg.key)
		}
		return plugin.Errorf(plugin.CodeZoneNotFound, false,
			"%s is not authoritative for zone %s (NOTAUTH)", cfg.server, zone)
	case dns.RcodeRefused:
		who := "unsigned updates"
		if cfg.key != "" {
			who = "TSIG key " + cfg.key
		}
		return plugin.Errorf(plugin.CodeAuth, false,
			"%s refused the update for %s: its policy does not let %s change the zone, or it does not serve it (REFUSED)",
			cfg.server, zone, who)
	case dns.RcodeNotZone:
		return plugin.Errorf(plugin.CodeZoneNotFound, false,
			"%s: a name in the update is outside zone %s (NOTZONE)", cfg.server, zone)
	case dns.RcodeServerFailure:
		return plugin.Errorf(plugin.CodeOther, true, "%s failed to apply the update for %s (SERVFAIL)", cfg.server, zone)
	case dns.RcodeNotImplemented:
		return plugin.Errorf(plugin.CodeOther, false, "%s does not implement dynamic updates (NOTIMP)", cfg.server)
	default:
		return plugin.Errorf(plugin.CodeOther, false, "%s rejected the update for %s: %s", cfg.server, zone, rcodeName(r.Rcode))
	}
}

func isTSIGError(err error) bool {
	return errors.Is(err, dns.ErrAuth) || errors.Is(err, dns.ErrSig) || errors.Is(err, dns.ErrTime) ||
		errors.Is(err, dns.ErrSecret) || errors.Is(err, dns.ErrKeyAlg)
}

func rcodeName(rc int) string {
	if s, ok := dns.RcodeToString[rc]; ok {
		return s
	}
	return "RCODE " + strconv.Itoa(rc)
}
