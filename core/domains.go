package core

import (
	"slices"

	"github.com/zonecert/zonecert/core/dns01"
)

// NormalizeDomains validates and normalizes the names of one certificate
// with dns01.NormalizeDomain (lower-case A-labels, no trailing dot, a
// wildcard only as the whole leftmost label, no IP addresses) and drops
// duplicates, keeping the first occurrence's position. It touches nothing:
// callers run it before the CA or the disk is involved. Errors are KindInput.
func NormalizeDomains(names []string) ([]string, error) {
	if len(names) == 0 {
		return nil, kindErr(KindInput, "no domain names")
	}
	out := make([]string, 0, len(names))
	for _, n := range names {
		d, err := dns01.NormalizeDomain(n)
		if err != nil {
			return nil, &Error{Kind: KindInput, Err: err} // the error names the domain
		}
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out, nil
}
