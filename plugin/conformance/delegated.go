package conformance

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// maxCNAMEs bounds a delegation chain, as zonecert bounds it.
const maxCNAMEs = 8

// follow resolves a challenge name of a Delegated run as zonecert does
// before publishing: it asks every nameserver of the user's zone for a
// CNAME at each name in turn, directly and non-recursively, until the
// chain reaches a name within Config.Zone. The servers must agree (a
// secondary still lagging behind Provision's change is waited for, until
// ctx ends).
func (h *harness) follow(ctx context.Context, name string) (string, error) {
	tick := time.NewTicker(h.cfg.PollInterval)
	defer tick.Stop()
	var last error
	for {
		target, err := h.followOnce(ctx, name)
		if err == nil {
			return target, nil
		}
		if last == nil || !pastDeadline(ctx) {
			// A query cut short by the deadline says less than the
			// previous answer.
			last = err
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("not settled within %s: %w", h.cfg.Timeout, last)
		case <-tick.C:
		}
	}
}

func (h *harness) followOnce(ctx context.Context, name string) (string, error) {
	d := h.cfg.Delegated
	cur := dns.CanonicalName(name)
	chain := []string{cur}
	for len(chain) <= maxCNAMEs+1 {
		if len(chain) > 1 && dns.IsSubDomain(h.cfg.Zone, cur) {
			return cur, nil
		}
		if !dns.IsSubDomain(d.Zone, cur) {
			return "", fmt.Errorf("the chain %s leaves %s without reaching %s", strings.Join(chain, " → "), d.Zone, h.cfg.Zone)
		}
		next := ""
		for _, ns := range d.Nameservers {
			got, err := queryCNAME(ctx, ns, cur)
			switch {
			case err != nil:
				return "", fmt.Errorf("asking %s for the CNAME at %s: %w", ns, cur, err)
			case got == "":
				return "", fmt.Errorf("%s serves no CNAME at %s (the chain so far: %s)", ns, cur, strings.Join(chain, " → "))
			case next != "" && got != next:
				return "", fmt.Errorf("the nameservers disagree on the CNAME at %s: %s and %s", cur, next, got)
			}
			next = got
		}
		cur = next
		chain = append(chain, cur)
	}
	return "", errors.New("more than 8 CNAMEs: " + strings.Join(chain, " → "))
}

// queryCNAME asks server directly and non-recursively for the CNAME at
// name, as zonecert asks a zone's nameservers; "" means none.
func queryCNAME(ctx context.Context, server, name string) (string, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeCNAME)
	m.RecursionDesired = false
	c := &dns.Client{Net: "udp", Timeout: queryTimeout}
	r, _, err := c.ExchangeContext(ctx, m, server)
	if err == nil && r.Truncated {
		c.Net = "tcp"
		r, _, err = c.ExchangeContext(ctx, m, server)
	}
	if err != nil {
		return "", err
	}
	if r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
		return "", fmt.Errorf("rcode %s", dns.RcodeToString[r.Rcode])
	}
	if !r.Authoritative {
		return "", errors.New("answer is not authoritative (is it a nameserver of the delegating zone?)")
	}
	for _, rr := range r.Answer {
		if cn, ok := rr.(*dns.CNAME); ok && strings.EqualFold(cn.Hdr.Name, name) {
			return dns.CanonicalName(cn.Target), nil
		}
	}
	return "", nil
}

// pastDeadline reports whether ctx is done or its deadline has passed (a
// socket timed out at the deadline may return before ctx notices).
func pastDeadline(ctx context.Context) bool {
	d, ok := ctx.Deadline()
	return ctx.Err() != nil || ok && !time.Now().Before(d)
}
