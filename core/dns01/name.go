package dns01

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"

	"github.com/miekg/dns"
	"golang.org/x/net/idna"
)

// ChallengeLabel is the label RFC 8555 §8.4 puts in front of the domain:
// "The client constructs the validation domain name by prepending the label
// '_acme-challenge' to the domain name being validated".
const ChallengeLabel = "_acme-challenge"

// ErrInvalidName is wrapped by every NormalizeDomain rejection.
var ErrInvalidName = errors.New("invalid domain name")

// idnaProfile converts to A-labels for registration (IDNA2008 with the
// UTS #46 mapping: case folding, full-width dots), and checks hyphens and
// bidi rules, as CAs do.
var idnaProfile = idna.New(
	idna.MapForLookup(),
	idna.BidiRule(),
	idna.ValidateLabels(true),
	idna.StrictDomainName(false), // underscores are checked below, with a clearer message
	idna.Transitional(false),
)

// NormalizeDomain validates an identifier the user asked a certificate for
// and returns it in the form the CA is sent: lower case A-labels, no
// trailing dot, "*." kept in front of a wildcard. Call it before any order
// is placed. Rejected: IP addresses (DNS-01 cannot validate them, RFC 8738
// §7), a wildcard that is not the whole leftmost label or appears twice,
// labels over 63 octets or names over 253 (RFC 1035 §2.3.4), empty labels,
// and characters outside letters, digits and hyphen (RFC 1123 §2.1).
func NormalizeDomain(name string) (string, error) {
	orig := name
	bad := func(format string, args ...any) (string, error) {
		return "", fmt.Errorf("%w %q: %s", ErrInvalidName, orig, fmt.Sprintf(format, args...))
	}
	name = strings.TrimSpace(name)
	name = strings.TrimSuffix(name, ".")
	if name == "" {
		return bad("empty")
	}
	if !utf8.ValidString(name) {
		// The IDNA mapping would turn the bad bytes into U+FFFD.
		return bad("not valid UTF-8")
	}
	if _, err := netip.ParseAddr(strings.Trim(name, "[]")); err == nil {
		return bad("IP addresses cannot be validated by DNS-01")
	}
	wildcard := false
	if strings.HasPrefix(name, "*.") {
		wildcard = true
		name = name[2:]
	}
	if strings.Contains(name, "*") {
		return bad("a wildcard must be the whole leftmost label, and only one")
	}
	for _, l := range strings.Split(name, ".") {
		if strings.HasPrefix(l, "-") || strings.HasSuffix(l, "-") {
			return bad("label %q starts or ends with a hyphen", l)
		}
	}
	ascii, err := idnaProfile.ToASCII(name)
	if err != nil {
		return bad("%v", err)
	}
	ascii = strings.ToLower(ascii)
	labels := strings.Split(ascii, ".")
	if len(labels) < 2 {
		return bad("a certificate name needs at least two labels")
	}
	for _, l := range labels {
		switch {
		case l == "":
			return bad("empty label")
		case len(l) > 63:
			return bad("label %q is %d octets, over 63", l, len(l))
		case l[0] == '-' || l[len(l)-1] == '-':
			return bad("label %q starts or ends with a hyphen", l)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return bad("label %q has the character %q", l, c)
			}
		}
	}
	if last := labels[len(labels)-1]; last[0] >= '0' && last[0] <= '9' {
		return bad("the top-level label %q is numeric", last)
	}
	out := ascii
	if wildcard {
		out = "*." + ascii
	}
	// 253 octets of text is 255 on the wire (RFC 1035 §2.3.4); the
	// challenge name is longer still and is checked by ChallengeName.
	if len(out) > 253 {
		return bad("%d octets, over 253", len(out))
	}
	return out, nil
}

// ChallengeName returns the absolute validation domain name for a
// normalized identifier: "_acme-challenge." + the domain with any "*."
// removed (RFC 8555 §8.4: "wildcard domain names ... the '*.' prefix is
// removed before the '_acme-challenge' label is prepended").
func ChallengeName(domain string) (string, error) {
	return labelledName(ChallengeLabel, domain)
}

// labelledName is label + "." + domain without "*." (the validation
// method chooses the label; empty means ChallengeLabel).
func labelledName(label, domain string) (string, error) {
	if label == "" {
		label = ChallengeLabel
	}
	d := strings.TrimPrefix(strings.TrimSuffix(domain, "."), "*.")
	name := dns.Fqdn(strings.ToLower(label) + "." + strings.ToLower(d))
	if _, ok := dns.IsDomainName(name); !ok || len(name) > 254 {
		return "", fmt.Errorf("%w %q: the challenge name %s is too long or malformed", ErrInvalidName, domain, name)
	}
	return name, nil
}

// NormalizeName returns a user-given name that is not a certificate
// identifier (an alias target, a zone) as a lower-case FQDN of A-labels,
// so that names typed in Unicode match the identifiers NormalizeDomain
// produced. Underscore labels stay allowed here; "" and "." give ".".
func NormalizeName(name string) (string, error) {
	trimmed := strings.TrimSuffix(strings.TrimSpace(name), ".")
	if trimmed == "" {
		return ".", nil
	}
	ascii, err := idnaProfile.ToASCII(trimmed)
	if err != nil {
		return "", fmt.Errorf("%w %q: %v", ErrInvalidName, name, err)
	}
	fqdn := strings.ToLower(dns.Fqdn(ascii))
	if _, ok := dns.IsDomainName(fqdn); !ok || strings.ContainsAny(fqdn, " \t*") {
		return "", fmt.Errorf("%w %q", ErrInvalidName, name)
	}
	return fqdn, nil
}
