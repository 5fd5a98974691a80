package core

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// KeyType is the type of a certificate's private key.
type KeyType string

// Supported key types.
const (
	KeyEC256   KeyType = "ec256"
	KeyEC384   KeyType = "ec384"
	KeyRSA2048 KeyType = "rsa2048"
	KeyRSA3072 KeyType = "rsa3072"
	KeyRSA4096 KeyType = "rsa4096"
)

// KeyTypes lists the supported key types, the default first.
func KeyTypes() []KeyType {
	return []KeyType{KeyEC256, KeyEC384, KeyRSA2048, KeyRSA3072, KeyRSA4096}
}

// ParseKeyType validates a key type name.
func ParseKeyType(s string) (KeyType, error) {
	for _, k := range KeyTypes() {
		if KeyType(strings.ToLower(s)) == k {
			return k, nil
		}
	}
	return "", fmt.Errorf("unknown key type %q (want one of ec256, ec384, rsa2048, rsa3072, rsa4096)", s)
}

// WaitKind says how the engine decides the challenge records are visible.
type WaitKind string

// Wait kinds.
const (
	// WaitAuthoritative polls every authoritative nameserver address until
	// all serve every value (the default).
	WaitAuthoritative WaitKind = "authoritative"
	// WaitFixed waits a fixed duration after publishing.
	WaitFixed WaitKind = "fixed"
	// WaitNone asks the CA to validate at once.
	WaitNone WaitKind = "none"
)

// Wait is the propagation strategy.
type Wait struct {
	Kind  WaitKind
	Fixed time.Duration // for WaitFixed
}

// ParseWait parses "authoritative", "none" or "fixed:DURATION".
func ParseWait(s string) (Wait, error) {
	switch kind, arg, _ := strings.Cut(s, ":"); WaitKind(kind) {
	case WaitAuthoritative, WaitNone:
		if arg != "" {
			break
		}
		return Wait{Kind: WaitKind(kind)}, nil
	case WaitFixed:
		d, err := time.ParseDuration(arg)
		if err != nil || d <= 0 {
			return Wait{}, fmt.Errorf("bad wait %q: fixed needs a positive duration, e.g. fixed:30s", s)
		}
		return Wait{Kind: WaitFixed, Fixed: d}, nil
	}
	return Wait{}, fmt.Errorf("bad wait %q (want authoritative, none or fixed:DURATION)", s)
}

// EAB is an External Account Binding (RFC 8555 §7.3.4): the key identifier
// and MAC key the CA issued out of band.
type EAB struct {
	KID  string
	HMAC []byte // decoded from base64url
}

// Request is one certificate order.
type Request struct {
	// Domains are DNS names as the user gave them; Obtain normalizes and
	// validates them (see [NormalizeDomains]). Wildcards are allowed as the
	// leftmost label only.
	Domains []string
	// CertName names the certificate on disk; default [DefaultCertName].
	CertName string
	// DirectoryURL is the ACME server's directory.
	DirectoryURL   string
	Email          string
	AgreeTOS       bool
	EAB            *EAB
	KeyType        KeyType // default KeyEC256
	Profile        string  // draft-ietf-acme-profiles; empty = CA default
	PreferredChain string  // issuer common name of the preferred chain

	// Challenge is the validation method: ChallengeAuto (the default,
	// also for ""), or acme.ChallengeDNS01, acme.ChallengeDNSAccount01 or
	// acme.ChallengeDNSPersist01. Result.Challenge says which was used.
	Challenge string

	// DNS-01 settings.
	Resolvers          []string      // recursive resolvers, host:port
	NameserverPort     int           // port for authoritative queries; 0 = 53 (tests redirect it)
	PropagationTimeout time.Duration // 0 = 2 minutes
	Wait               Wait
	// ChallengeAliases maps a domain to the name its challenge record is
	// published at instead of following a CNAME at _acme-challenge.<domain>.
	ChallengeAliases map[string]string
	// Zones maps a domain (or challenge name) to its zone, skipping the SOA walk.
	Zones map[string]string
}

// Result describes an issued, stored certificate.
type Result struct {
	CertName  string    `json:"cert_name"`
	Domains   []string  `json:"domains"`
	Files     Files     `json:"files"`
	Serial    string    `json:"serial"`
	Issuer    string    `json:"issuer"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	KeyType   KeyType   `json:"key_type"`
	Account   string    `json:"account"`
	Order     string    `json:"order"`
	// Challenge is the validation method used (a renewal plan records it).
	Challenge string   `json:"challenge"`
	Elapsed   Duration `json:"elapsed"`
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

// DefaultCertName is the certificate name for a domain list: the first
// domain, with a wildcard's '*' written as '_'.
func DefaultCertName(domains []string) string {
	if len(domains) == 0 {
		return ""
	}
	return strings.ReplaceAll(domains[0], "*", "_")
}
