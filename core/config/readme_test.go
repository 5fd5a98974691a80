package config

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEExampleDecodes: the README's configuration reference decodes
// with no unknown key or wrong type, also with its commented-out settings
// (the EAB lines, the [daemon] defaults) uncommented.
func TestREADMEExampleDecodes(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "```toml\nstate =")
	if !ok {
		t.Fatal("README has no configuration reference (```toml block starting with state =)")
	}
	block, _, _ := strings.Cut(rest, "```")
	block = "state =" + block
	var lines []string
	for _, l := range strings.Split(block, "\n") {
		// "# key = value   # comment" becomes "key = value   # comment".
		if k, ok := strings.CutPrefix(l, "# "); ok && strings.Contains(k, " = ") && !strings.HasPrefix(k, "rate_limit") {
			l = k
		}
		lines = append(lines, l)
	}
	doc := strings.Join(lines, "\n")
	if _, errs := decode("README.md", []byte(doc)); len(errs) > 0 {
		t.Fatalf("README example: %v\n%s", errs, doc)
	}
	for _, key := range []string{"eab_kid = ", "eab_hmac = ", "max_concurrent = "} {
		if !strings.Contains(doc, "\n"+key) {
			t.Errorf("the example has no %q line", key)
		}
	}
}
