// Package preflight finds why a DNS-01 order would fail before the CA is
// asked, and says how to fix it: delegation, the challenge name's CNAME
// chain, CAA (RFC 8659, RFC 8657), the DNSSEC chain, negative caching,
// split horizon, the CA's directory and the provider's propagation.
//
// It asks DNS as the engine does (github.com/miekg/dns, never the Go
// resolver): the configured resolvers for zones and addresses, then the
// authoritative servers directly. `zonecert doctor` runs every check; the
// engine runs the cheap ones before each newOrder (Checker.Preflight) and
// stops an order that would surely fail.
package preflight

import (
	"fmt"
	"strings"
	"time"
)

// Severity grades a finding.
type Severity int

// Severities, in increasing order.
const (
	OK      Severity = iota
	Warning          // the order may be slow or fragile, but can succeed
	Error            // the order would fail
)

func (s Severity) String() string {
	switch s {
	case OK:
		return "ok"
	case Warning:
		return "warning"
	case Error:
		return "error"
	}
	return fmt.Sprintf("severity(%d)", int(s))
}

// MarshalText implements encoding.TextMarshaler (for --json).
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Check names, one per kind of problem.
const (
	CheckDelegation    = "delegation"
	CheckChallenge     = "challenge-path"
	CheckCAA           = "caa"
	CheckDNSSEC        = "dnssec"
	CheckNegativeCache = "negative-cache"
	CheckSplitHorizon  = "split-horizon"
	CheckCA            = "ca"
	CheckProvider      = "provider"
)

// Finding is one check's verdict on one name or zone.
type Finding struct {
	Check    string   `json:"check"`
	Name     string   `json:"name"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
	// Fix is a one-line remedy; empty when Severity is OK.
	Fix string `json:"fix,omitempty"`
	// Zone is the zone the challenge record would be written to
	// (challenge-path findings that pass).
	Zone string `json:"zone,omitempty"`
	// Elapsed is what a timed check measured (the write test).
	Elapsed time.Duration `json:"elapsed_ns,omitempty"`
}

func (f Finding) String() string {
	s := fmt.Sprintf("%-7s %-14s %s: %s", f.Severity, f.Check, f.Name, f.Message)
	if f.Fix != "" {
		s += " (fix: " + f.Fix + ")"
	}
	return s
}

// Worst returns the highest severity among fs (OK for none).
func Worst(fs []Finding) Severity {
	w := OK
	for _, f := range fs {
		w = max(w, f.Severity)
	}
	return w
}

// Problems is the error Preflight returns: the findings that stop the order.
type Problems []Finding

func (p Problems) Error() string {
	var lines []string
	for _, f := range p {
		l := fmt.Sprintf("preflight %s %s: %s", f.Check, f.Name, f.Message)
		if f.Fix != "" {
			l += " (fix: " + f.Fix + ")"
		}
		lines = append(lines, l)
	}
	return strings.Join(lines, "; ")
}
