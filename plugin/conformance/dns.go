package conformance

import (
	"context"
	"errors"
	"fmt"

	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// queryTimeout bounds one DNS exchange; the overall wait is Config.Timeout.
const queryTimeout = 2 * time.Second

// queryTXT asks server directly and non-recursively for the TXT values at
// name, as a CA's validation does, retrying over TCP when the UDP answer is
// truncated (RFC 7766 §5). Each TXT RR's character-strings are joined
// (RFC 8555 §8.4 values never exceed one string, but providers may split).
// NXDOMAIN and an empty answer both mean no values.
func queryTXT(ctx context.Context, server, name string) ([]string, error) {
	rrs, err := queryTXTRRs(ctx, server, name)
	values := make([]string, len(rrs))
	for i, rr := range rrs {
		values[i] = rr.value
	}
	return values, err
}

// txtRR is one TXT value as served, with its TTL.
type txtRR struct {
	value string
	ttl   uint32
}

// queryTXTRRs is queryTXT keeping each value's TTL.
func queryTXTRRs(ctx context.Context, server, name string) ([]txtRR, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeTXT)
	m.RecursionDesired = false
	m.SetEdns0(1232, false)
	c := &dns.Client{Net: "udp", Timeout: queryTimeout}
	r, _, err := c.ExchangeContext(ctx, m, server)
	if err == nil && r.Truncated {
		c.Net = "tcp"
		r, _, err = c.ExchangeContext(ctx, m, server)
	}
	if err != nil {
		return nil, err
	}
	if r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
		return nil, fmt.Errorf("rcode %s", dns.RcodeToString[r.Rcode])
	}
	if !r.Authoritative {
		return nil, errors.New("answer is not authoritative (is it a nameserver of the zone?)")
	}
	var values []txtRR
	for _, rr := range r.Answer {
		if txt, ok := rr.(*dns.TXT); ok && strings.EqualFold(txt.Hdr.Name, name) {
			values = append(values, txtRR{value: strings.Join(txt.Txt, ""), ttl: txt.Hdr.Ttl})
		}
	}
	return values, nil
}

// expect is what one name must look like at every nameserver.
type expect struct {
	fqdn    string
	present []string // served…
	once    bool     // …exactly once each
	absent  []string // not served
	// leftInPlace: present holds values cleaned up by a provider that
	// declares it cannot delete.
	leftInPlace bool
}

// judge returns what is wrong with values for e, or "" when e holds.
func (e expect) judge(values []string) string {
	count := make(map[string]int, len(values))
	for _, v := range values {
		count[v]++
	}
	var issues []string
	for _, v := range e.present {
		switch n := count[v]; {
		case n == 0 && e.leftInPlace:
			issues = append(issues, fmt.Sprintf("missing %q, though the provider declares it cannot delete", v))
		case n == 0:
			issues = append(issues, fmt.Sprintf("missing %q", v))
		case e.once && n > 1:
			issues = append(issues, fmt.Sprintf("%d copies of %q", n, v))
		}
	}
	for _, v := range e.absent {
		if count[v] > 0 {
			issues = append(issues, fmt.Sprintf("still serving %q", v))
		}
	}
	return strings.Join(issues, ", ")
}

// await polls every nameserver until each satisfies every expectation, or
// the timeout passes. A nameserver that has satisfied one expectation is not
// asked about it again. The error names what each lagging server lacks.
func (h *harness) await(ctx context.Context, exps ...expect) error {
	type probe struct {
		ns    string
		exp   expect
		issue string // what the last answer lacked
		qerr  error  // the last query's failure, if it failed
	}
	var pending []*probe
	for _, ns := range h.cfg.Nameservers {
		for _, e := range exps {
			pending = append(pending, &probe{ns: ns, exp: e})
		}
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	tick := time.NewTicker(h.cfg.PollInterval)
	defer tick.Stop()
	for {
		var wg sync.WaitGroup
		for _, p := range pending {
			wg.Go(func() {
				values, err := queryTXT(ctx, p.ns, p.exp.fqdn)
				if err != nil {
					// Keep the last answer's verdict: a query cut short by
					// the timeout says less than what the server last served.
					p.qerr = err
					return
				}
				p.qerr = nil
				p.issue = p.exp.judge(values)
			})
		}
		wg.Wait()
		left := pending[:0]
		for _, p := range pending {
			if p.issue != "" || p.qerr != nil {
				left = append(left, p)
			}
		}
		pending = left
		if len(pending) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			lines := make([]string, len(pending))
			for i, p := range pending {
				issue := p.issue
				if issue == "" {
					issue = "query failed: " + p.qerr.Error()
				}
				lines[i] = fmt.Sprintf("%s at %s: %s", p.exp.fqdn, p.ns, issue)
			}
			sort.Strings(lines)
			return fmt.Errorf("not settled within %s:\n\t%s", h.cfg.Timeout, strings.Join(lines, "\n\t"))
		case <-tick.C:
		}
	}
}

// mustAwait reports a failed await on t, labelled with the step it followed.
func (h *harness) mustAwait(t *testing.T, step string, exps ...expect) bool {
	t.Helper()
	if err := h.await(t.Context(), exps...); err != nil {
		t.Errorf("%s: %v", step, err)
		return false
	}
	return true
}
