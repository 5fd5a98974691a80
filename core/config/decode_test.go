package config

import (
	"errors"
	"strings"
	"testing"
)

// TestDecodeEveryErrorAtOnce: one file with an unknown key, values of the
// wrong type and a semantic error reports all of them, each at its line,
// in the file's terms and with no Go type or struct name.
func TestDecodeEveryErrorAtOnce(t *testing.T) {
	doc := strings.NewReplacer(
		"agree_tos = true", `agree_tos = "yes"`,
		"max_concurrent = 3", "max_concurrent = \"many\"\nfrobnicate = 1",
		`"2s"`, `"2 seconds"`,
		`domains = ["*.example.com", "Example.com"]`, `domains = "example.com"`,
	).Replace(goodDoc)
	_, err := parse(t, doc, 0o600, map[string]string{"RFC2136_TSIG_SECRET": "ZnJvbSBlbnY="})
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("err = %v, want config.Errors", err)
	}
	want := map[int]string{
		5:  `acme.agree_tos: want true or false, got "yes"`,
		9:  `bad duration "2 seconds"`,
		10: `daemon.max_concurrent: want a whole number, got "many"`,
		11: `unknown key "daemon.frobnicate"`,
		20: `certificate[0].domains: want a list, got "example.com"`,
	}
	for line, msg := range want {
		found := false
		for _, e := range errs {
			found = found || (e.Line == line && strings.Contains(e.Msg, msg))
		}
		if !found {
			t.Errorf("no error at line %d containing %q", line, msg)
		}
	}
	for _, e := range errs {
		// A key of the wrong type is reported once, not also as missing.
		if strings.Contains(e.Msg, "domains is required") {
			t.Errorf("a reported key called missing too: %q", e.Msg)
		}
		if strings.Contains(e.Msg, "config.") || strings.Contains(e.Msg, "struct") || strings.Contains(e.Msg, "Doc") {
			t.Errorf("Go internals in %q", e.Msg)
		}
	}
	if t.Failed() {
		t.Logf("got:\n%v", err)
	}
}
