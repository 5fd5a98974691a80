package preflight

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecert/zonecert/core/dnsq"
)

// supportedAlgorithms are the DNSSEC algorithms validators must or
// commonly support (RFC 8624 §3.1); others make a zone insecure at best.
var supportedAlgorithms = []uint8{dns.RSASHA256, dns.RSASHA512, dns.ECDSAP256SHA256, dns.ECDSAP384SHA384, dns.ED25519}

// checkDNSSEC validates the link from zone's parent to zone when the
// parent holds a DS: a DS matching a DNSKEY, the DNSKEY set signed by it,
// and the SOA signed by the zone's keys, every signature within its
// validity period. A broken link is an error: a validating CA refuses.
//
// It also returns the parent zone when the chain goes on above it below a
// top-level domain (the caller checks that link too); TLDs and the root
// are the registries' business.
func (c *Checker) checkDNSSEC(ctx context.Context, zoneName string) ([]Finding, []string) {
	pname, err := c.parentZone(ctx, zoneName)
	if err != nil {
		return []Finding{{Check: CheckDNSSEC, Name: zoneName, Severity: OK, Message: "no parent zone found: the DNSSEC chain is not checked"}}, nil
	}
	var up []string
	if dnsq.ParentName(pname) != "." {
		up = []string{pname}
	}
	return c.checkDNSSECLink(ctx, zoneName, pname), up
}

// checkDNSSECLink checks the link from pname down to zoneName.
func (c *Checker) checkDNSSECLink(ctx context.Context, zoneName, pname string) []Finding {
	f := func(sev Severity, msg, fix string) []Finding {
		return []Finding{{Check: CheckDNSSEC, Name: zoneName, Severity: sev, Message: msg, Fix: fix}}
	}
	pz, err := c.q.zoneServers(ctx, pname)
	if err != nil {
		return f(OK, "parent "+pname+" unreachable: the DNSSEC chain is not checked", "")
	}
	r, err := c.q.askZone(ctx, pz, zoneName, dns.TypeDS, true)
	if err != nil {
		return f(Warning, "asking the parent for DS: "+err.Error(), "make the parent's servers answer DS queries")
	}
	var dss []*dns.DS
	for _, rr := range r.Answer {
		if ds, ok := rr.(*dns.DS); ok && strings.EqualFold(ds.Hdr.Name, zoneName) {
			dss = append(dss, ds)
		}
	}
	if len(dss) == 0 {
		return f(OK, "unsigned (no DS at "+pname+")", "")
	}
	z, err := c.q.zoneServers(ctx, zoneName)
	if err != nil {
		return f(Error, "signed, but its servers are unknown: "+err.Error(), "fix the delegation")
	}
	keysMsg, err := c.q.askZone(ctx, z, zoneName, dns.TypeDNSKEY, true)
	if err != nil {
		return f(Error, "signed (DS at "+pname+"), but DNSKEY unanswered: "+err.Error(), "make the zone's servers serve its DNSKEY set")
	}
	keys, keySigs := rrsetWithSigs[*dns.DNSKEY](keysMsg, zoneName, dns.TypeDNSKEY)
	supported := slices.ContainsFunc(dss, func(ds *dns.DS) bool { return slices.Contains(supportedAlgorithms, ds.Algorithm) })
	if !supported {
		return f(Warning, fmt.Sprintf("DS algorithm %s is not one CAs are sure to support", dns.AlgorithmToString[dss[0].Algorithm]),
			"re-sign with ECDSAP256SHA256 (13) and publish its DS")
	}
	var ksks []*dns.DNSKEY
	for _, ds := range dss {
		for _, k := range keys {
			if k.KeyTag() != ds.KeyTag || k.Algorithm != ds.Algorithm {
				continue
			}
			if d := k.ToDS(ds.DigestType); d != nil && strings.EqualFold(d.Digest, ds.Digest) {
				ksks = append(ksks, k)
			}
		}
	}
	if len(ksks) == 0 {
		var tags []string
		for _, ds := range dss {
			tags = append(tags, fmt.Sprintf("%d/%s", ds.KeyTag, dns.AlgorithmToString[ds.Algorithm]))
		}
		return f(Error, fmt.Sprintf("the DS at %s (key tag %s) matches no DNSKEY of the zone: the chain is broken", pname, strings.Join(tags, ", ")),
			"publish the DS of the zone's current KSK at the registrar, or put the old key back")
	}
	now := c.now()
	var out []Finding
	if msg, sev, exp := verifySet(keys, keySigs, ksks, now); sev != OK {
		return f(sev, "DNSKEY set: "+msg, resignFix)
	} else if exp.Sub(now) < expiringSoon {
		out = append(out, f(Warning, fmt.Sprintf("the DNSKEY signature expires at %s", exp.UTC().Format(time.RFC3339)), resignFix)...)
	}
	soaMsg, err := c.q.askZone(ctx, z, zoneName, dns.TypeSOA, true)
	if err != nil {
		return f(Error, "SOA unanswered: "+err.Error(), "make the zone's servers answer")
	}
	soas, soaSigs := rrsetWithSigs[*dns.SOA](soaMsg, zoneName, dns.TypeSOA)
	if msg, sev, exp := verifySet(soas, soaSigs, keys, now); sev != OK {
		return f(sev, "SOA: "+msg, resignFix)
	} else if exp.Sub(now) < expiringSoon {
		out = append(out, f(Warning, fmt.Sprintf("the SOA signature expires at %s", exp.UTC().Format(time.RFC3339)), resignFix)...)
	}
	if len(out) == 0 {
		out = f(OK, fmt.Sprintf("signed: DS at %s matches key %d, signatures valid", pname, ksks[0].KeyTag()), "")
	}
	return out
}

const resignFix = "re-sign the zone (or fix the signer's schedule) so every RRSIG is within its validity period"

// rrsetWithSigs returns the records of type qtype at name in r's answer
// and the RRSIGs covering them.
func rrsetWithSigs[T dns.RR](r *dns.Msg, name string, qtype uint16) ([]T, []*dns.RRSIG) {
	var set []T
	var sigs []*dns.RRSIG
	for _, rr := range r.Answer {
		if !strings.EqualFold(rr.Header().Name, name) {
			continue
		}
		if v, ok := rr.(T); ok && rr.Header().Rrtype == qtype {
			set = append(set, v)
		}
		if s, ok := rr.(*dns.RRSIG); ok && s.TypeCovered == qtype {
			sigs = append(sigs, s)
		}
	}
	return set, sigs
}

// verifySet checks that one of sigs, made by one of keys, verifies set and
// is valid now; it returns the latest expiry of the valid signatures.
func verifySet[T dns.RR](set []T, sigs []*dns.RRSIG, keys []*dns.DNSKEY, now time.Time) (string, Severity, time.Time) {
	if len(set) == 0 {
		return "no records", Error, time.Time{}
	}
	if len(sigs) == 0 {
		return "no RRSIG: the zone is not signed though its parent has a DS", Error, time.Time{}
	}
	rrs := make([]dns.RR, len(set))
	for i, v := range set {
		rrs[i] = v
	}
	var best time.Time
	var problems []string
	for _, s := range sigs {
		for _, k := range keys {
			if k.KeyTag() != s.KeyTag || k.Algorithm != s.Algorithm {
				continue
			}
			if err := s.Verify(k, rrs); err != nil {
				problems = append(problems, fmt.Sprintf("RRSIG by key %d does not verify: %v", s.KeyTag, err))
				continue
			}
			exp := time.Unix(int64(s.Expiration), 0)
			if !s.ValidityPeriod(now) {
				problems = append(problems, fmt.Sprintf("RRSIG by key %d is outside its validity period (%s to %s)",
					s.KeyTag, time.Unix(int64(s.Inception), 0).UTC().Format(time.RFC3339), exp.UTC().Format(time.RFC3339)))
				continue
			}
			if exp.After(best) {
				best = exp
			}
		}
	}
	if best.IsZero() {
		if len(problems) == 0 {
			problems = append(problems, "no RRSIG made by a key of the zone")
		}
		return strings.Join(problems, "; "), Error, best
	}
	return "", OK, best
}
