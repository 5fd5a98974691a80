package preflight

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/miekg/dns"

	"github.com/zonecert/zonecert/core/dnsq"
)

// caaProperty is one issue or issuewild value (RFC 8659 §4.2): an issuer
// domain name and parameters (RFC 8657 accounturi, validationmethods).
type caaProperty struct {
	issuer string
	params map[string]string
}

func parseIssueValue(v string) caaProperty {
	issuer, rest, _ := strings.Cut(v, ";")
	p := caaProperty{issuer: strings.ToLower(strings.TrimSuffix(strings.TrimSpace(issuer), ".")), params: map[string]string{}}
	for _, kv := range strings.Split(rest, ";") {
		k, val, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if ok {
			p.params[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(val)
		}
	}
	return p
}

// knownCAATags are the property tags a CA understands; an unknown tag
// with the critical flag forbids issuance (RFC 8659 §4.1).
var knownCAATags = []string{"issue", "issuewild", "iodef", "contactemail", "contactphone", "issuemail", "issuevmc"}

// relevantCAA climbs from domain towards the root and returns the first
// non-empty CAA set (RFC 8659 §3), with the name it was found at.
func (c *Checker) relevantCAA(ctx context.Context, domain string) ([]*dns.CAA, string, error) {
	for cur := domain; cur != "."; cur = dnsq.ParentName(cur) {
		r, err := c.q.recursive(ctx, c.q.resolvers, cur, dns.TypeCAA)
		if err != nil {
			return nil, cur, err
		}
		var set []*dns.CAA
		for _, rr := range r.Answer {
			if caa, ok := rr.(*dns.CAA); ok {
				set = append(set, caa)
			}
		}
		if len(set) > 0 {
			return set, cur, nil
		}
	}
	return nil, "", nil
}

// checkCAA says whether the CAA records relevant to domain let this CA
// issue for this account with this method.
func (c *Checker) checkCAA(ctx context.Context, t Target, domain string) []Finding {
	f := func(sev Severity, msg, fix string) []Finding {
		return []Finding{{Check: CheckCAA, Name: domain, Severity: sev, Message: msg, Fix: fix}}
	}
	wildcard := strings.HasPrefix(domain, "*.")
	set, at, err := c.relevantCAA(ctx, bareDomain(domain))
	if err != nil {
		// A CA may refuse when its lookup fails (RFC 8659 §3), but a
		// failure through these resolvers is no proof the CA's fails.
		return f(Warning, fmt.Sprintf("CAA lookup at %s failed: %v", at, err), "make the zone's servers answer CAA queries (NOERROR, even when empty)")
	}
	if len(set) == 0 {
		return f(OK, "no CAA records: every CA may issue", "")
	}
	for _, rr := range set {
		if rr.Flag&128 != 0 && !slices.Contains(knownCAATags, strings.ToLower(rr.Tag)) {
			return f(Error, fmt.Sprintf("critical CAA property %q at %s is unknown to CAs", rr.Tag, at),
				"remove the critical flag (128) or the property")
		}
	}
	tag := "issue"
	if wildcard && slices.ContainsFunc(set, func(rr *dns.CAA) bool { return strings.EqualFold(rr.Tag, "issuewild") }) {
		tag = "issuewild"
	}
	var props []caaProperty
	for _, rr := range set {
		if strings.EqualFold(rr.Tag, tag) {
			props = append(props, parseIssueValue(rr.Value))
		}
	}
	if len(props) == 0 {
		return f(OK, fmt.Sprintf("CAA at %s has no %s property: every CA may issue", at, tag), "")
	}
	if !slices.ContainsFunc(props, func(p caaProperty) bool { return p.issuer != "" }) {
		return f(Error, fmt.Sprintf("CAA %s at %s forbids every CA (\";\")", tag, at),
			fmt.Sprintf(`add the record %s CAA 0 %s "<the CA's issuer domain>"`, at, tag))
	}
	if len(t.CAAIdentities) == 0 {
		return f(Warning, fmt.Sprintf("CAA at %s restricts issuers, and the CA names no caaIdentities in its directory", at),
			"check that the CA's issuer domain name is in the "+tag+" records")
	}
	method := t.method()
	var reasons []string
	for _, p := range props {
		if !slices.ContainsFunc(t.CAAIdentities, func(id string) bool { return strings.EqualFold(strings.TrimSuffix(id, "."), p.issuer) }) {
			continue
		}
		if u, ok := p.params["accounturi"]; ok {
			if t.AccountURI == "" {
				return f(Warning, fmt.Sprintf("CAA %s at %s allows %s only for account %s; the account is not known here", tag, at, p.issuer, u),
					"run with the account that CAA names")
			}
			if u != t.AccountURI {
				reasons = append(reasons, fmt.Sprintf("accounturi %s is not this account (%s)", u, t.AccountURI))
				continue
			}
		}
		if vm, ok := p.params["validationmethods"]; ok {
			ms := strings.Split(strings.ToLower(vm), ",")
			for i := range ms {
				ms[i] = strings.TrimSpace(ms[i])
			}
			if !slices.Contains(ms, method) {
				reasons = append(reasons, fmt.Sprintf("validationmethods=%s excludes %s", vm, method))
				continue
			}
		}
		return f(OK, fmt.Sprintf("CAA %s at %s allows %s", tag, at, p.issuer), "")
	}
	msg := fmt.Sprintf("CAA %s at %s forbids this CA (%s)", tag, at, strings.Join(t.CAAIdentities, ", "))
	if len(reasons) > 0 {
		msg = fmt.Sprintf("CAA %s at %s forbids this order: %s", tag, at, strings.Join(reasons, "; "))
	}
	return f(Error, msg, fmt.Sprintf(`add the record %s CAA 0 %s "%s; validationmethods=%s"`, at, tag, t.CAAIdentities[0], method))
}
