package main

import (
	"os"
	"strings"
	"testing"
)

// TestGuideShowsThisProvider: the REST example in the plugin guide is this
// provider.go, word for word, and stays within the 70 lines of code the
// guide promises (blank and comment lines not counted).
func TestGuideShowsThisProvider(t *testing.T) {
	guide, err := os.ReadFile("../../plugin/WRITING_PLUGINS.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("provider.go")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(guide), "This is all of\nExampleDNS's provider code")
	if !ok {
		t.Fatal("the guide no longer introduces the example's provider code")
	}
	_, block, _ := strings.Cut(after, "```go\n")
	block, _, _ = strings.Cut(block, "```\n")
	if len(block) < 500 || !strings.Contains(string(src), block) {
		t.Errorf("the guide's REST example is not a part of provider.go; update one or the other:\n%s", block)
	}
	code := 0
	for line := range strings.Lines(string(src)) {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "//") {
			code++
		}
	}
	if code > 70 {
		t.Errorf("provider.go has %d lines of code; the guide promises at most 70", code)
	}
}
