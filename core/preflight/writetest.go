package preflight

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecert/zonecert/plugin"
)

// writePoll is the write test's poll period.
const writePoll = 100 * time.Millisecond

// WriteTest publishes a TXT record at a random label of zone through p,
// times how long until every authoritative address serves it, and removes
// it. The time is compared with timeout (the propagation timeout).
func (c *Checker) WriteTest(ctx context.Context, p plugin.Provider, zoneName string, timeout time.Duration) Finding {
	zoneName = strings.ToLower(dns.Fqdn(zoneName))
	f := func(sev Severity, msg, fix string) Finding {
		return Finding{Check: CheckProvider, Name: zoneName, Severity: sev, Message: msg, Fix: fix}
	}
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	z, err := c.q.zoneServers(ctx, zoneName)
	if err != nil {
		return f(Error, err.Error(), "fix the zone's delegation first")
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	rec := plugin.Record{ID: "doctor-" + hex.EncodeToString(b[:4]), FQDN: "_zonecert-doctor-" + hex.EncodeToString(b) + "." + zoneName,
		Zone: zoneName, Value: "zonecert doctor write test " + hex.EncodeToString(b), TTL: 1}
	start := c.now()
	res, err := p.Present(ctx, []plugin.Record{rec})
	if err == nil && len(res) == 1 && res[0].Err != nil {
		err = res[0].Err
	}
	if err != nil {
		return f(Error, "the provider refused the test record: "+err.Error(), "check the provider's credentials and that they may write "+zoneName)
	}
	if len(res) == 1 {
		rec.State = res[0].State
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		_, _ = p.CleanUp(cctx, []plugin.Record{rec})
	}()
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	pending := z.addrs()
	ticker := time.NewTicker(writePoll)
	defer ticker.Stop()
	for len(pending) > 0 {
		var mu sync.Mutex
		var served []netip.Addr
		var wg sync.WaitGroup
		for _, a := range pending {
			wg.Go(func() {
				r, err := c.q.authoritative(wctx, a, rec.FQDN, dns.TypeTXT, "udp", false)
				if err != nil || !r.Authoritative {
					return
				}
				for _, rr := range r.Answer {
					if t, ok := rr.(*dns.TXT); ok && strings.Join(t.Txt, "") == rec.Value {
						mu.Lock()
						served = append(served, a)
						mu.Unlock()
					}
				}
			})
		}
		wg.Wait()
		pending = slices.DeleteFunc(pending, func(a netip.Addr) bool { return slices.Contains(served, a) })
		if len(pending) == 0 {
			break
		}
		select {
		case <-wctx.Done():
			var left []string
			for _, a := range pending {
				left = append(left, c.q.addrPort(a))
			}
			return f(Warning, fmt.Sprintf("the test record was not served by %s within the propagation timeout %s", strings.Join(left, ", "), timeout),
				"raise --propagation-timeout, or check the lagging servers' zone transfers")
		case <-ticker.C:
		}
	}
	took := c.now().Sub(start)
	return Finding{Check: CheckProvider, Name: zoneName, Severity: OK, Elapsed: took,
		Message: fmt.Sprintf("test record served by all %d addresses after %s (propagation timeout %s)", len(z.addrs()), took.Round(10*time.Millisecond), timeout)}
}
