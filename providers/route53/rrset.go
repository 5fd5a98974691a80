package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"

	"github.com/zonecert/zonecert/plugin"
)

// hostedZone is a Route 53 hosted zone as this provider needs it.
type hostedZone struct {
	id    string // without the /hostedzone/ prefix
	name  string // absolute, lower case; "" when not yet known
	count int64  // record sets in the zone; -1 when not yet known
}

// txtSet is the TXT record set at one name, with its values exactly as
// Route 53 returned them (quoted), since a DELETE must repeat them.
type txtSet struct {
	ttl    int64
	values []string
}

// listPageSize is the most record sets ListResourceRecordSets returns.
const listPageSize = 300

// findZone resolves the hosted zone for a zone apex: the configured
// AWS_HOSTED_ZONE_ID, or the one public (or private) hosted zone with
// exactly that name.
func (p *provider) findZone(ctx context.Context, zoneName string) (hostedZone, error) {
	zoneName = strings.ToLower(zoneName)
	if p.settings.HostedZoneID != "" {
		return p.getZone(ctx, p.settings.HostedZoneID)
	}
	kind := "public"
	if p.settings.PrivateZone {
		kind = "private"
	}
	var found []hostedZone
	otherKind := 0
	in := &route53.ListHostedZonesByNameInput{DNSName: aws.String(zoneName), MaxItems: aws.Int32(100)}
	for {
		out, err := p.client.ListHostedZonesByName(ctx, in)
		if err != nil {
			return hostedZone{}, fmt.Errorf("listing hosted zones named %s: %w", zoneName, err)
		}
		for _, z := range out.HostedZones {
			if decodeName(aws.ToString(z.Name)) != zoneName {
				continue
			}
			private := z.Config != nil && z.Config.PrivateZone
			if private != p.settings.PrivateZone {
				otherKind++
				continue
			}
			found = append(found, hostedZone{id: strings.TrimPrefix(aws.ToString(z.Id), "/hostedzone/"),
				name: zoneName, count: aws.ToInt64(z.ResourceRecordSetCount)})
		}
		// Zones are sorted by name, so the next page holds more zones of
		// this name only if it starts with this name.
		if !out.IsTruncated || decodeName(aws.ToString(out.NextDNSName)) != zoneName {
			break
		}
		in.DNSName, in.HostedZoneId = out.NextDNSName, out.NextHostedZoneId
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(found) > 1:
		ids := make([]string, len(found))
		for i, z := range found {
			ids[i] = z.id
		}
		return hostedZone{}, plugin.Errorf(plugin.CodeConflict, false,
			"%d %s hosted zones are named %s (%s): set AWS_HOSTED_ZONE_ID", len(found), kind, zoneName, strings.Join(ids, ", "))
	case otherKind > 0:
		hint := "set AWS_PRIVATE_ZONE=true to use the private one"
		if p.settings.PrivateZone {
			hint = "unset AWS_PRIVATE_ZONE to use the public one"
		}
		return hostedZone{}, plugin.Errorf(plugin.CodeZoneNotFound, false, "no %s hosted zone named %s (%s)", kind, zoneName, hint)
	default:
		return hostedZone{}, plugin.Errorf(plugin.CodeZoneNotFound, false, "no %s hosted zone named %s in this account", kind, zoneName)
	}
}

func (p *provider) getZone(ctx context.Context, id string) (hostedZone, error) {
	out, err := p.client.GetHostedZone(ctx, &route53.GetHostedZoneInput{Id: aws.String(id)})
	if err != nil {
		return hostedZone{}, fmt.Errorf("getting hosted zone %s: %w", id, err)
	}
	if out.HostedZone == nil {
		return hostedZone{}, fmt.Errorf("getting hosted zone %s: empty answer", id)
	}
	return hostedZone{id: id, name: decodeName(aws.ToString(out.HostedZone.Name)),
		count: aws.ToInt64(out.HostedZone.ResourceRecordSetCount)}, nil
}

// readTXT returns the TXT sets at the given names. It reads each name with
// one ListResourceRecordSets call, or pages through the whole zone when
// that takes fewer calls (300 sets a page).
func (p *provider) readTXT(ctx context.Context, hz hostedZone, names map[string]bool) (map[string]*txtSet, error) {
	if hz.count < 0 && len(names) > 2 {
		full, err := p.getZone(ctx, hz.id)
		if err != nil {
			return nil, err
		}
		hz.count = full.count
	}
	sets := map[string]*txtSet{}
	pages := max(1, (hz.count+listPageSize-1)/listPageSize)
	if hz.count >= 0 && pages < int64(len(names)) {
		in := &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(hz.id), MaxItems: aws.Int32(listPageSize)}
		for {
			out, err := p.client.ListResourceRecordSets(ctx, in)
			if err != nil {
				return nil, fmt.Errorf("listing record sets in %s: %w", hz.id, err)
			}
			for _, rs := range out.ResourceRecordSets {
				if err := addTXT(sets, rs, names); err != nil {
					return nil, err
				}
			}
			if !out.IsTruncated {
				return sets, nil
			}
			in.StartRecordName, in.StartRecordType, in.StartRecordIdentifier = out.NextRecordName, out.NextRecordType, out.NextRecordIdentifier
		}
	}
	for _, name := range sortedKeys(names) {
		out, err := p.client.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{
			HostedZoneId:    aws.String(hz.id),
			StartRecordName: aws.String(name),
			StartRecordType: types.RRTypeTxt,
			MaxItems:        aws.Int32(1),
		})
		if err != nil {
			return nil, fmt.Errorf("reading TXT at %s: %w", name, err)
		}
		for _, rs := range out.ResourceRecordSets {
			if err := addTXT(sets, rs, names); err != nil {
				return nil, err
			}
		}
	}
	return sets, nil
}

func addTXT(sets map[string]*txtSet, rs types.ResourceRecordSet, names map[string]bool) error {
	name := decodeName(aws.ToString(rs.Name))
	if rs.Type != types.RRTypeTxt || !names[name] {
		return nil
	}
	if rs.SetIdentifier != nil || rs.AliasTarget != nil {
		return plugin.Errorf(plugin.CodeConflict, false,
			"the TXT record set at %s uses a routing policy or alias; zonecert writes simple record sets only", name)
	}
	set := &txtSet{ttl: aws.ToInt64(rs.TTL)}
	for _, rr := range rs.ResourceRecords {
		set.values = append(set.values, aws.ToString(rr.Value))
	}
	sets[name] = set
	return nil
}

// plan computes the changes for one hosted zone, at most one per name.
func (p *provider) plan(current map[string]*txtSet, batch []plugin.Record, remove bool) []types.Change {
	byName := map[string][]plugin.Record{}
	for _, r := range batch {
		name := strings.ToLower(r.FQDN)
		byName[name] = append(byName[name], r)
	}
	var changes []types.Change
	for _, name := range sortedKeys(byName) {
		cur := current[name]
		if cur == nil {
			cur = &txtSet{}
		}
		has := func(value string) bool {
			return slices.ContainsFunc(cur.values, func(raw string) bool { return unquoteTXT(raw) == value })
		}
		if !remove {
			values := slices.Clone(cur.values)
			// A set has one TTL. One that exists keeps it: its other
			// values may be another party's, and CleanUp must leave them
			// exactly as found, which no later call could know to restore.
			ttl := cur.ttl
			if len(cur.values) == 0 {
				ttl = -1
				for _, r := range byName[name] {
					if ttl < 0 || p.recordTTL(r) < ttl {
						ttl = p.recordTTL(r)
					}
				}
			}
			for _, r := range byName[name] {
				q := quoteTXT(r.Value)
				if !has(r.Value) && !slices.Contains(values, q) {
					values = append(values, q)
				}
			}
			if len(values) > len(cur.values) {
				changes = append(changes, txtChange(types.ChangeActionUpsert, name, ttl, values))
			}
			continue
		}
		gone := map[string]bool{}
		for _, r := range byName[name] {
			gone[r.Value] = true
		}
		rest := slices.DeleteFunc(slices.Clone(cur.values), func(raw string) bool { return gone[unquoteTXT(raw)] })
		switch {
		case len(rest) == len(cur.values):
			// Nothing of ours is there: cleaning up is idempotent.
		case len(rest) == 0:
			changes = append(changes, txtChange(types.ChangeActionDelete, name, cur.ttl, cur.values))
		default:
			changes = append(changes, txtChange(types.ChangeActionUpsert, name, cur.ttl, rest))
		}
	}
	return changes
}

func txtChange(action types.ChangeAction, name string, ttl int64, values []string) types.Change {
	rrs := make([]types.ResourceRecord, len(values))
	for i, v := range values {
		rrs[i] = types.ResourceRecord{Value: aws.String(v)}
	}
	return types.Change{Action: action, ResourceRecordSet: &types.ResourceRecordSet{
		Name: aws.String(name), Type: types.RRTypeTxt, TTL: aws.Int64(ttl), ResourceRecords: rrs,
	}}
}

// Route 53's limits per ChangeResourceRecordSets request (Route 53
// Developer Guide, "Quotas"): at most 1,000 ResourceRecord elements and
// 32,000 characters in all Value elements, where "each ResourceRecord element
// [and each character] is counted twice" for an UPSERT.
const (
	maxRequestRecords = 1000
	maxRequestChars   = 32000
)

// splitChanges cuts changes into as few requests as the limits allow; one
// request, and so one atomic change, unless hundreds of values are involved.
// A single change over the limits goes alone, for Route 53 to refuse.
func splitChanges(changes []types.Change) [][]types.Change {
	var parts [][]types.Change
	var cur []types.Change
	records, chars := 0, 0
	for _, c := range changes {
		r, n := changeCost(c)
		if len(cur) > 0 && (records+r > maxRequestRecords || chars+n > maxRequestChars) {
			parts = append(parts, cur)
			cur, records, chars = nil, 0, 0
		}
		cur = append(cur, c)
		records, chars = records+r, chars+n
	}
	if len(cur) > 0 {
		parts = append(parts, cur)
	}
	return parts
}

// changeCost is a change's weight against the request limits.
func changeCost(c types.Change) (records, chars int) {
	for _, rr := range c.ResourceRecordSet.ResourceRecords {
		records++
		chars += len(aws.ToString(rr.Value))
	}
	if c.Action == types.ChangeActionUpsert {
		records, chars = 2*records, 2*chars
	}
	return records, chars
}

func changeBatch(comment string, changes []types.Change) *types.ChangeBatch {
	return &types.ChangeBatch{Comment: aws.String(comment), Changes: changes}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// decodeName lower-cases a name as Route 53 returns it and undoes its \DDD
// octal escapes (it writes "*" as \052).
func decodeName(name string) string {
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		if name[i] == '\\' && i+3 < len(name) {
			if n, err := strconv.ParseUint(name[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(name[i])
	}
	return strings.ToLower(b.String())
}

// quoteTXT renders a value as Route 53 TXT record data: quoted character
// strings of at most 255 bytes (RFC 1035 section 3.3.14), with quotes and
// backslashes escaped.
func quoteTXT(v string) string {
	var parts []string
	for len(v) > 0 {
		n := min(len(v), 255)
		chunk := strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v[:n])
		parts = append(parts, `"`+chunk+`"`)
		v = v[n:]
	}
	return strings.Join(parts, " ")
}

// unquoteTXT joins the character strings of a Route 53 TXT value, the
// inverse of quoteTXT, undoing \" \\ and octal \DDD escapes. An unquoted
// value is one string.
func unquoteTXT(raw string) string {
	if !strings.HasPrefix(raw, `"`) {
		return raw
	}
	var b strings.Builder
	inQuotes := false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '"':
			inQuotes = !inQuotes
		case !inQuotes:
			// space between strings
		case c == '\\' && i+3 < len(raw) && isOctal(raw[i+1:i+4]):
			n, _ := strconv.ParseUint(raw[i+1:i+4], 8, 8)
			b.WriteByte(byte(n))
			i += 3
		case c == '\\' && i+1 < len(raw):
			b.WriteByte(raw[i+1])
			i++
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// isOctal reports whether s is a \DDD escape's digits. Route 53 writes
// bytes outside printable ASCII in TXT data as three-digit octal codes
// (Developer Guide, "TXT record type"), not RFC 1035's decimal.
func isOctal(s string) bool {
	_, err := strconv.ParseUint(s, 8, 8)
	return err == nil
}
