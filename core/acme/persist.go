package acme

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The dns-persist-01 record (draft-ietf-acme-dns-persist §3) is a TXT
// record at "_validation-persist.<domain>" whose value is an RFC 8659
// issue-value: the CA's issuer domain name, then parameters.
//
//	authority.example; accounturi=https://ca.example/acct/123; policy=wildcard; persistUntil=1767225600
//
//   - accounturi (required) is the URI of the ACME account allowed to
//     validate with this record;
//   - policy=wildcard (optional) extends the record to wildcard names and
//     subdomains; any other policy value counts as absent;
//   - persistUntil (optional) is a UNIX time in seconds after which the
//     record no longer authorizes.
//
// Tags are case-insensitive and may not repeat; unknown tags are ignored.
// The record stays in place: it is set up once and then authorizes every
// later validation, so a host renews with no DNS credentials at all.

// Parameter tags of a dns-persist-01 record, as written.
const (
	persistTagAccountURI   = "accounturi"
	persistTagPolicy       = "policy"
	persistTagPersistUntil = "persistUntil"
	persistPolicyWildcard  = "wildcard"
)

// ErrPersistSyntax is wrapped by every [ParsePersistRecord] rejection.
var ErrPersistSyntax = errors.New("malformed dns-persist-01 record")

// PersistRecord is the value of a dns-persist-01 TXT record.
type PersistRecord struct {
	// Issuer is the issuer-domain-name: one of the challenge's
	// IssuerDomainNames (RFC 8659 §4.2).
	Issuer string
	// AccountURI is the account allowed to validate (accounturi).
	AccountURI string
	// Wildcard is policy=wildcard: the record also authorizes wildcard
	// names.
	Wildcard bool
	// Until is persistUntil; the zero time means no expiry.
	Until time.Time
}

// String returns the record in the draft's syntax: the issuer, then
// accounturi, policy and persistUntil, separated by "; ".
func (r PersistRecord) String() string {
	var sb strings.Builder
	sb.WriteString(r.Issuer)
	sb.WriteString("; " + persistTagAccountURI + "=" + r.AccountURI)
	if r.Wildcard {
		sb.WriteString("; " + persistTagPolicy + "=" + persistPolicyWildcard)
	}
	if !r.Until.IsZero() {
		sb.WriteString("; " + persistTagPersistUntil + "=" + strconv.FormatInt(r.Until.Unix(), 10))
	}
	return sb.String()
}

// Validate reports whether r can be written as a record that
// [ParsePersistRecord] reads back unchanged.
func (r PersistRecord) Validate() error {
	if err := checkIssuerDomainName(r.Issuer); err != nil {
		return err
	}
	if r.AccountURI == "" {
		return fmt.Errorf("%w: no account URI", ErrPersistSyntax)
	}
	if err := checkPersistValue(r.AccountURI); err != nil {
		return fmt.Errorf("account URI: %w", err)
	}
	return nil
}

// ParsePersistRecord parses a dns-persist-01 TXT value. Like a CA, it
// rejects an empty parameter (a trailing ";"), a parameter without "=", a
// repeated tag, a value with spaces, controls or ";" (RFC 8659 §4.2), a
// missing or empty accounturi and a persistUntil that is no integer.
func ParsePersistRecord(s string) (PersistRecord, error) {
	bad := func(format string, args ...any) (PersistRecord, error) {
		return PersistRecord{}, fmt.Errorf("%w: %s", ErrPersistSyntax, fmt.Sprintf(format, args...))
	}
	parts := strings.Split(s, ";")
	r := PersistRecord{Issuer: trimWSP(parts[0])}
	if err := checkIssuerDomainName(r.Issuer); err != nil {
		return PersistRecord{}, err
	}
	var seen []string
	for _, p := range parts[1:] {
		p = trimWSP(p)
		if p == "" {
			return bad("an empty parameter or a trailing ';'")
		}
		tag, value, ok := strings.Cut(p, "=")
		tag, value = trimWSP(tag), trimWSP(value)
		if !ok || tag == "" {
			return bad("parameter %q is not tag=value", p)
		}
		lower := strings.ToLower(tag)
		if slices.Contains(seen, lower) {
			return bad("the tag %q appears twice", tag)
		}
		seen = append(seen, lower)
		if err := checkPersistValue(value); err != nil {
			return bad("tag %q: %v", tag, err)
		}
		switch lower {
		case persistTagAccountURI:
			r.AccountURI = value
		case persistTagPolicy:
			r.Wildcard = strings.EqualFold(value, persistPolicyWildcard)
		case strings.ToLower(persistTagPersistUntil):
			n, err := strconv.ParseInt(value, 10, 64)
			if err != nil {
				return bad("persistUntil %q is not a UNIX time in seconds", value)
			}
			r.Until = time.Unix(n, 0).UTC()
		}
	}
	if r.AccountURI == "" {
		return bad("no accounturi")
	}
	return r, nil
}

// Authorizes says why r does not let the account accountURI validate a
// name (a wildcard one when wildcard) at the time at, for a CA whose
// issuer domain names are issuers; nil means it does. An empty issuers
// accepts any issuer. Every reason found is reported, joined.
func (r PersistRecord) Authorizes(issuers []string, accountURI string, wildcard bool, at time.Time) error {
	var why []string
	if len(issuers) > 0 && !slices.Contains(issuers, r.Issuer) {
		why = append(why, fmt.Sprintf("issuer %q is not one of the CA's (%s)", r.Issuer, strings.Join(issuers, ", ")))
	}
	if r.AccountURI != accountURI {
		why = append(why, fmt.Sprintf("account URI is %s, want %s", r.AccountURI, accountURI))
	}
	if wildcard && !r.Wildcard {
		why = append(why, "no policy=wildcard, which a wildcard name needs")
	}
	if !r.Until.IsZero() && at.After(r.Until) {
		why = append(why, fmt.Sprintf("persistUntil %s has passed", r.Until.UTC().Format(time.RFC3339)))
	}
	if len(why) == 0 {
		return nil
	}
	return errors.New(strings.Join(why, "; "))
}

// trimWSP trims RFC 8659 whitespace (space and tab).
func trimWSP(s string) string {
	return strings.Trim(s, " \t")
}

// checkIssuerDomainName checks RFC 8659 §4.2's issuer-domain-name:
// labels of letters and digits with inner hyphens, separated by dots.
func checkIssuerDomainName(s string) error {
	if s == "" {
		return fmt.Errorf("%w: no issuer domain name", ErrPersistSyntax)
	}
	for _, l := range strings.Split(s, ".") {
		if l == "" || l[0] == '-' || l[len(l)-1] == '-' || !isLDH(l) {
			return fmt.Errorf("%w: issuer domain name %q is not a domain name", ErrPersistSyntax, s)
		}
	}
	return nil
}

// isLDH: letters, digits and hyphens only (RFC 8659 §4.2 label).
func isLDH(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return s != ""
}

// checkPersistValue allows RFC 8659 §4.2's value characters: visible
// ASCII except ";".
func checkPersistValue(v string) error {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x21 || c > 0x7e || c == ';' {
			return fmt.Errorf("value %q has the character %q", v, c)
		}
	}
	return nil
}
