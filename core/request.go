package core

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/zonecert/zonecert/core/acme"
	"github.com/zonecert/zonecert/core/dns01"
	"github.com/zonecert/zonecert/core/storage"
)

// EAB is an External Account Binding (RFC 8555 §7.3.4): the key identifier
// and MAC key the CA issued out of band.
type EAB struct {
	KID  string
	HMAC []byte // decoded from base64url
}

// Request is one certificate order.
type Request struct {
	// Domains are DNS names as the user gave them; [NormalizeRequest]
	// normalizes and validates them (see [NormalizeDomains]). Wildcards
	// are allowed as the leftmost label only.
	Domains []string
	// CertName names the certificate on disk; default [DefaultCertName].
	CertName string
	// DirectoryURL is the ACME server's directory.
	DirectoryURL   string
	Email          string
	AgreeTOS       bool
	EAB            *EAB
	KeyType        acme.KeyType // default acme.KeyECDSAP256
	Profile        string       // draft-ietf-acme-profiles; empty = CA default
	PreferredChain string       // issuer common name of the preferred chain

	// Challenge is the validation method: ChallengeAuto (the default,
	// also for ""), or acme.ChallengeDNS01, acme.ChallengeDNSAccount01 or
	// acme.ChallengeDNSPersist01. Result.Challenge says which was used.
	Challenge string

	// DNS-01 settings.
	Resolvers          []string      // recursive resolvers, host:port
	NameserverPort     int           // port for authoritative queries; 0 = 53 (tests redirect it)
	PropagationTimeout time.Duration // 0 = 2 minutes
	Wait               dns01.Wait
	// ChallengeAliases maps a domain to the name its challenge record is
	// published at instead of following a CNAME at _acme-challenge.<domain>.
	// NormalizeRequest keys it by domain without "*." and makes the names
	// FQDNs (dns01.Config.Aliases).
	ChallengeAliases map[string]string
	// Zones maps a domain (or challenge name) to its zone, skipping the SOA
	// walk; NormalizeRequest makes both FQDNs (dns01.Config.ZoneOverrides).
	Zones map[string]string

	Lifecycle // renewal, plan and dry-run settings (plan.go)
}

// Result describes an issued, stored certificate.
type Result struct {
	CertName  string       `json:"cert_name"`
	Domains   []string     `json:"domains"`
	Files     Files        `json:"files"`
	Serial    string       `json:"serial"`
	Issuer    string       `json:"issuer"`
	NotBefore time.Time    `json:"not_before"`
	NotAfter  time.Time    `json:"not_after"`
	KeyType   acme.KeyType `json:"key_type"`
	Account   string       `json:"account"`
	Order     string       `json:"order"`
	Elapsed   Duration     `json:"elapsed"`
	DryRun    bool         `json:"dry_run,omitempty"`
	Replaces  string       `json:"replaces,omitempty"`
	// Challenge is the validation method used (a renewal plan records it).
	Challenge string `json:"challenge"`
	// CleanupErrors are best-effort steps that failed without failing the
	// order: challenge records not removed (they stay journaled, and the
	// next run removes them) or an earlier run's records still left.
	CleanupErrors ErrorList `json:"cleanup_errors,omitempty"`
}

// ErrorList is a list of errors that marshals as their messages.
type ErrorList []error

// MarshalJSON implements json.Marshaler.
func (l ErrorList) MarshalJSON() ([]byte, error) {
	msgs := make([]string, len(l))
	for i, err := range l {
		msgs[i] = err.Error()
	}
	return json.Marshal(msgs)
}

// Files are the paths of a stored certificate (certbot's live/ layout).
type Files struct {
	Cert      string `json:"cert"`
	Chain     string `json:"chain"`
	FullChain string `json:"fullchain"`
	PrivKey   string `json:"privkey"`
}

// Duration marshals as a Go duration string.
type Duration time.Duration

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// ErrorKind classifies a failure so callers (the CLI's exit code) can tell
// bad input from the CA refusing from DNS trouble.
type ErrorKind int

// Error kinds.
const (
	KindInternal ErrorKind = iota // anything else: bugs, local I/O
	KindInput                     // bad request: names, flags, settings
	KindCA                        // the CA refused or could not be reached
	KindDNS                       // DNS or the provider plugin failed
	KindStorage                   // reading or writing state failed
)

func (k ErrorKind) String() string {
	switch k {
	case KindInternal:
		return "internal"
	case KindInput:
		return "input"
	case KindCA:
		return "ca"
	case KindDNS:
		return "dns"
	case KindStorage:
		return "storage"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Error is an engine failure with its kind; match it with errors.As.
type Error struct {
	Kind ErrorKind
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

func kindErr(k ErrorKind, format string, args ...any) error {
	return &Error{Kind: k, Err: fmt.Errorf(format, args...)}
}

// KindOf returns the kind of err, KindInternal when it carries none.
func KindOf(err error) ErrorKind {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Kind
	}
	return KindInternal
}

// NormalizeRequest validates req and returns it normalized with defaults
// filled in. It is the one place for the rules of a request: the CLI calls
// it to report bad input before anything runs, Obtain calls it again (it
// is idempotent) so library callers get the same rules, and the layers
// below (dns01) take its output as it is. It touches nothing. Errors are
// KindInput.
func NormalizeRequest(req Request) (Request, error) {
	bad := func(format string, args ...any) (Request, error) {
		return req, kindErr(KindInput, format, args...)
	}
	var err error
	if req.Domains, err = NormalizeDomains(req.Domains); err != nil {
		return req, err
	}
	if req.CertName == "" {
		req.CertName = DefaultCertName(req.Domains)
	}
	if err := ValidateCertName(req.CertName); err != nil {
		return req, &Error{Kind: KindInput, Err: err}
	}
	if req.KeyType == "" {
		req.KeyType = acme.KeyECDSAP256
	}
	if req.KeyType, err = acme.ParseKeyType(string(req.KeyType)); err != nil {
		return req, &Error{Kind: KindInput, Err: err}
	}
	if req.DirectoryURL == "" {
		return bad("no ACME directory URL")
	}
	if u, err := url.Parse(req.DirectoryURL); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return bad("bad ACME directory URL %q: want https://host/path", req.DirectoryURL)
	}
	if req.Email != "" && !strings.Contains(req.Email, "@") {
		return bad("bad email address %q", req.Email)
	}
	if req.EAB != nil && (req.EAB.KID == "" || len(req.EAB.HMAC) == 0) {
		return bad("External Account Binding needs both a key identifier and a MAC key")
	}
	if len(req.Resolvers) == 0 {
		return bad("no DNS resolvers configured")
	}
	resolvers := make([]string, len(req.Resolvers))
	for i, r := range req.Resolvers {
		if resolvers[i], err = dns01.ParseResolver(r); err != nil {
			return req, &Error{Kind: KindInput, Err: err}
		}
	}
	req.Resolvers = resolvers
	if req.NameserverPort < 0 || req.NameserverPort > 65535 {
		return bad("name server port %d out of range", req.NameserverPort)
	}
	if req.NameserverPort == 0 {
		req.NameserverPort = 53
	}
	if req.PropagationTimeout < 0 {
		return bad("negative propagation timeout %s", req.PropagationTimeout)
	}
	if req.PropagationTimeout == 0 {
		req.PropagationTimeout = dns01.DefaultPropagationTimeout
	}
	if req.ChallengeAliases, err = normalizeAliases(req.ChallengeAliases); err != nil {
		return req, err
	}
	if req.Zones, err = normalizeZones(req.Zones); err != nil {
		return req, err
	}
	if req.Challenge, err = ParseChallenge(req.Challenge); err != nil {
		return req, &Error{Kind: KindInput, Err: err}
	}
	return req, nil
}

// normalizeAliases keys the aliases by domain without "*." (a wildcard and
// its apex share the challenge name) and makes the targets FQDNs.
func normalizeAliases(in map[string]string) (map[string]string, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(in))
	for d, a := range in {
		nd, err := dns01.NormalizeDomain(d)
		if err != nil {
			return nil, &Error{Kind: KindInput, Err: fmt.Errorf("challenge alias: %w", err)}
		}
		nd = strings.TrimPrefix(nd, "*.")
		name, err := dns01.NormalizeName(a)
		if err != nil || strings.Count(name, ".") < 2 {
			return nil, kindErr(KindInput, "challenge alias for %s: %q is not a domain name", d, a)
		}
		if prev, ok := out[nd]; ok && prev != name {
			return nil, kindErr(KindInput, "challenge alias for %s: both %s and %s given", nd, prev, name)
		}
		out[nd] = name
	}
	return out, nil
}

// normalizeZones makes zone override names and zones FQDNs.
func normalizeZones(in map[string]string) (map[string]string, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(in))
	for n, z := range in {
		name, err1 := dns01.NormalizeName(n)
		zone, err2 := dns01.NormalizeName(z)
		if err1 != nil || err2 != nil || name == "." || zone == "." {
			return nil, kindErr(KindInput, "zone override %q → %q: not domain names", n, z)
		}
		out[name] = zone
	}
	return out, nil
}

// DefaultCertName is the certificate name for a domain list: the first
// domain, with a wildcard's '*' written as '_'.
func DefaultCertName(domains []string) string {
	if len(domains) == 0 {
		return ""
	}
	return strings.ReplaceAll(domains[0], "*", "_")
}

// ValidateCertName is the rule for certificate names: one storage key
// segment, so live/<name> and archive/<name> stay inside their directories.
func ValidateCertName(name string) error {
	if storage.SafeSegment(name) != name || storage.ValidateKey(storage.LiveKey(name)) != nil {
		return fmt.Errorf("bad certificate name %q: use letters, digits and . _ - only", name)
	}
	return nil
}
