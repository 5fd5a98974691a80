package dns01

import (
	"errors"
	"strings"
	"testing"
)

// FuzzNormalizeDomain: whatever the input, NormalizeDomain either refuses
// it with ErrInvalidName or returns a name that is lower-case LDH ASCII,
// at most 253 octets in labels of 1 to 63, with at least two labels, an
// optional "*." and no trailing dot, and that normalizes to itself. Seeds
// are in testdata/fuzz/FuzzNormalizeDomain.
func FuzzNormalizeDomain(f *testing.F) {
	f.Fuzz(func(t *testing.T, in string) {
		out, err := NormalizeDomain(in)
		if err != nil {
			if !errors.Is(err, ErrInvalidName) {
				t.Fatalf("NormalizeDomain(%q) error %v does not wrap ErrInvalidName", in, err)
			}
			return
		}
		if len(out) > 253 || strings.HasSuffix(out, ".") {
			t.Fatalf("NormalizeDomain(%q) = %q: too long or absolute", in, out)
		}
		labels := strings.Split(strings.TrimPrefix(out, "*."), ".")
		if len(labels) < 2 {
			t.Fatalf("NormalizeDomain(%q) = %q: fewer than two labels", in, out)
		}
		for _, l := range labels {
			if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
				t.Fatalf("NormalizeDomain(%q) = %q: bad label %q", in, out, l)
			}
			for i := 0; i < len(l); i++ {
				if c := l[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
					t.Fatalf("NormalizeDomain(%q) = %q: byte %q in label %q", in, out, c, l)
				}
			}
		}
		again, err := NormalizeDomain(out)
		if err != nil || again != out {
			t.Fatalf("NormalizeDomain(%q) = %q, which normalizes to %q, %v", in, out, again, err)
		}
	})
}
