package fakeroute53

import (
	"encoding/xml"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// Request limits of ChangeResourceRecordSets (Route 53 Developer Guide,
// "Quotas"): ResourceRecord elements and characters in Value elements, each
// counted twice for an UPSERT. (The error texts are this fake's; Route 53
// documents only the limits.)
const (
	maxRequestRecords = 1000
	maxRequestChars   = 32000
)

// changeResourceRecordSets validates the whole batch against the current
// record sets and applies it only if every change is valid: "the request is
// processed as a transaction … if any change fails, none are made".
func (s *Server) changeResourceRecordSets(req *request) (any, *apiError) {
	id := req.r.PathValue("id")
	if s.opts.BeforeChange != nil {
		s.opts.BeforeChange(id)
	}
	var in changeResourceRecordSetsRequest
	if err := xml.Unmarshal(req.body, &in); err != nil {
		return nil, &apiError{status: http.StatusBadRequest, code: "MalformedXML", message: err.Error()}
	}
	if in.Batch == nil || len(in.Batch.Changes) == 0 {
		return nil, errInvalidInput("1 validation error detected: Value null at 'changeBatch.changes' failed to satisfy constraint: Member must not be null")
	}
	if msg := checkLimits(in.Batch.Changes); msg != "" {
		return nil, batchError([]string{msg})
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	z, ok := s.zones[id]
	if !ok {
		return nil, errNoSuchHostedZone(id)
	}
	after := map[rrKey]*rrset{} // the batch's result, on top of z.api
	current := func(k rrKey) *rrset {
		if v, touched := after[k]; touched {
			return v
		}
		return z.api[k]
	}
	var problems []string
	for i, ch := range in.Batch.Changes {
		if aerr := checkShape(i, ch.Action, ch.RRSet); aerr != nil {
			return nil, aerr
		}
		k := rrKey{canonicalName(ch.RRSet.Name), strings.ToUpper(ch.RRSet.Type)}
		desc := fmt.Sprintf("[name='%s', type='%s']", wireName(k.name), k.typ)
		if !inZone(k.name, z.name) {
			problems = append(problems, fmt.Sprintf("RRSet with DNS name %s is not permitted in zone %s", wireName(k.name), wireName(z.name)))
			continue
		}
		if _, twice := after[k]; twice {
			problems = append(problems, fmt.Sprintf("The request contains an invalid set of changes for a resource record set '%s %s'", k.typ, wireName(k.name)))
			continue
		}
		if msgs := checkValues(k.typ, ch.RRSet.values()); len(msgs) > 0 {
			problems = append(problems, msgs...)
			continue
		}
		want := &rrset{ttl: *ch.RRSet.TTL, values: ch.RRSet.values()}
		cur := current(k)
		switch ch.Action {
		case "CREATE":
			if cur != nil {
				problems = append(problems, "Tried to create resource record set "+desc+" but it already exists")
				continue
			}
		case "DELETE":
			if cur == nil {
				problems = append(problems, "Tried to delete resource record set "+desc+" but it was not found")
				continue
			}
			if !sameSet(cur, want) {
				problems = append(problems, "Tried to delete resource record set "+desc+" but the values provided do not match the current values")
				continue
			}
			if k.name == z.name && (k.typ == "SOA" || k.typ == "NS") {
				problems = append(problems, fmt.Sprintf("A HostedZone must contain at least one %s record for the zone itself.", k.typ))
				continue
			}
			want = nil
		}
		if want != nil && cnameConflict(z, after, current, k) {
			problems = append(problems, fmt.Sprintf("RRSet of type CNAME with DNS name %s is not permitted as it conflicts with other records with the same DNS name in zone %s", wireName(k.name), wireName(z.name)))
			continue
		}
		after[k] = want
	}
	if len(problems) > 0 {
		return nil, batchError(problems)
	}

	for k, v := range after {
		if v == nil {
			delete(z.api, k)
		} else {
			z.api[k] = v.clone()
		}
	}
	c := &change{id: "C" + randomID(20), comment: in.Batch.Comment, zoneID: z.id,
		submitted: s.opts.Now(), after: after}
	s.changes[c.id] = c
	s.pending = append(s.pending, c)
	return &changeResourceRecordSetsResponse{ChangeInfo: c.info()}, nil
}

// checkLimits reports a request over the size limits.
func checkLimits(changes []xmlChange) string {
	records, chars := 0, 0
	for _, ch := range changes {
		weight := 1
		if ch.Action == "UPSERT" {
			weight = 2
		}
		if ch.RRSet == nil {
			continue
		}
		for _, v := range ch.RRSet.values() {
			records += weight
			chars += weight * len(v)
		}
	}
	switch {
	case records > maxRequestRecords:
		return fmt.Sprintf("Number of records limit of %d exceeded (%d, UPSERT counting twice).", maxRequestRecords, records)
	case chars > maxRequestChars:
		return fmt.Sprintf("Number of characters limit of %d exceeded (%d, UPSERT counting twice).", maxRequestChars, chars)
	}
	return ""
}

// checkShape rejects a change the API would refuse before looking at any
// record set (the service's input validation).
func checkShape(i int, action string, set *xmlRRSet) *apiError {
	switch action {
	case "CREATE", "DELETE", "UPSERT":
	default:
		return errInvalidInput(fmt.Sprintf("1 validation error detected: Value '%s' at 'changeBatch.changes.%d.member.action' failed to satisfy constraint: Member must satisfy enum value set: [UPSERT, DELETE, CREATE]", action, i+1))
	}
	if set == nil || set.Name == "" || set.Type == "" {
		return errInvalidInput(fmt.Sprintf("1 validation error detected: Value null at 'changeBatch.changes.%d.member.resourceRecordSet' failed to satisfy constraint: Member must not be null", i+1))
	}
	if _, ok := dns.StringToType[strings.ToUpper(set.Type)]; !ok {
		return errInvalidInput(fmt.Sprintf("1 validation error detected: Value '%s' at 'changeBatch.changes.%d.member.resourceRecordSet.type' failed to satisfy constraint", set.Type, i+1))
	}
	if set.SetIdentifier != "" || set.AliasTarget != nil {
		return errInvalidInput("routing policies and alias targets are not supported by this fake")
	}
	if set.TTL == nil || len(set.Records) == 0 {
		return errInvalidInput(fmt.Sprintf("Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId], but found none in Change with [Action=%s, Name=%s, Type=%s, SetIdentifier=null]", action, set.Name, set.Type))
	}
	if *set.TTL < 0 || *set.TTL > math.MaxInt32 {
		return errInvalidInput(fmt.Sprintf("1 validation error detected: Value '%d' at 'changeBatch.changes.%d.member.resourceRecordSet.tTL' failed to satisfy constraint", *set.TTL, i+1))
	}
	return nil
}

// checkValues reports duplicate and (for TXT) malformed values.
func checkValues(typ string, values []string) []string {
	var msgs []string
	seen := map[string]bool{}
	for _, v := range values {
		if seen[v] {
			msgs = append(msgs, fmt.Sprintf("Duplicate Resource Record: '%s'", v))
		}
		seen[v] = true
		if typ == "TXT" {
			if _, err := parseTXT(v); err != nil {
				msgs = append(msgs, fmt.Sprintf("Invalid Resource Record: FATAL problem: %v encountered with '%s'", err, v))
			}
		}
	}
	return msgs
}

// sameSet: a DELETE "must match the values and TTL of the existing record
// set exactly" (order does not matter).
func sameSet(a, b *rrset) bool {
	if a.ttl != b.ttl || len(a.values) != len(b.values) {
		return false
	}
	x, y := slices.Clone(a.values), slices.Clone(b.values)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

func cnameConflict(z *zone, after map[rrKey]*rrset, current func(rrKey) *rrset, k rrKey) bool {
	types := map[string]bool{}
	for _, keys := range []map[rrKey]*rrset{z.api, after} {
		for other := range keys {
			if other.name == k.name && other.typ != k.typ && current(other) != nil {
				types[other.typ] = true
			}
		}
	}
	if k.typ == "CNAME" {
		return len(types) > 0
	}
	return types["CNAME"]
}

func batchError(problems []string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "InvalidChangeBatch",
		message: "[" + strings.Join(problems, ", ") + "]", messages: problems}
}

// parseTXT splits a Route 53 TXT value into its character strings: one or
// more quoted strings ("a" "b", with \" \\ and octal \DDD escapes), or a single
// unquoted word. Each string holds at most 255 bytes.
func parseTXT(v string) ([]string, error) {
	var out []string
	i := 0
	for i < len(v) {
		switch {
		case v[i] == ' ':
			i++
			continue
		case v[i] != '"':
			if len(out) > 0 || strings.ContainsAny(v, " \t\"") {
				return nil, fmt.Errorf("InvalidCharacterString (Value should be enclosed in quotation marks)")
			}
			if len(v) > 255 {
				return nil, fmt.Errorf("CharacterStringTooLong (Value is too long)")
			}
			return []string{v}, nil
		}
		i++ // opening quote
		var b strings.Builder
		closed := false
		for i < len(v) && !closed {
			c := v[i]
			switch {
			case c == '"':
				closed = true
				i++
			case c == '\\' && i+3 < len(v) && isOctalDigit(v[i+1]) && isOctalDigit(v[i+2]) && isOctalDigit(v[i+3]):
				// Route 53 escapes are octal (\042 is '"').
				n := int(v[i+1]-'0')*64 + int(v[i+2]-'0')*8 + int(v[i+3]-'0')
				if n > 0377 {
					return nil, fmt.Errorf("InvalidCharacterString (bad escape)")
				}
				b.WriteByte(byte(n))
				i += 4
			case c == '\\' && i+1 < len(v):
				b.WriteByte(v[i+1])
				i += 2
			default:
				b.WriteByte(c)
				i++
			}
		}
		if !closed {
			return nil, fmt.Errorf("InvalidCharacterString (Value should be enclosed in quotation marks)")
		}
		if b.Len() > 255 {
			return nil, fmt.Errorf("CharacterStringTooLong (Value is too long)")
		}
		out = append(out, b.String())
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("InvalidCharacterString (Value should be enclosed in quotation marks)")
	}
	return out, nil
}

func isOctalDigit(c byte) bool { return c >= '0' && c <= '7' }
