package main

import (
	"maps"
	"strings"
	"testing"
)

// FuzzParseSettings: a settings file either fails with an error naming the
// file, or yields names that are valid environment or setting names and
// values on one line; writing those back as NAME="VALUE" lines reads back
// the same. Seeds are in testdata/fuzz/FuzzParseSettings.
func FuzzParseSettings(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		settings, env, err := parseSettings("f.conf", b)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.conf:") && !strings.Contains(err.Error(), "too long") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		var again strings.Builder
		for k, v := range env {
			if !envName.MatchString(k) || strings.ContainsAny(v, "\n") {
				t.Fatalf("env %q=%q", k, v)
			}
			again.WriteString(k + `="` + v + "\"\n")
		}
		for k, v := range settings {
			if !settingName.MatchString(k) || strings.ContainsAny(v, "\n") {
				t.Fatalf("setting %q=%q", k, v)
			}
			again.WriteString(k + `="` + v + "\"\n")
		}
		s2, e2, err := parseSettings("again", []byte(again.String()))
		if err != nil || !maps.Equal(s2, settings) || !maps.Equal(e2, env) {
			t.Fatalf("read back %v %v (%v), want %v %v\nfrom:\n%s", s2, e2, err, settings, env, again.String())
		}
	})
}
