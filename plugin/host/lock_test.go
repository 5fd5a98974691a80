package host

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseLock(t *testing.T) {
	pin := strings.Repeat("ab", 32)
	good := `{"version":1,"plugins":{"acmedns":{"sha256":"` + pin + `"}}}`
	l, err := ParseLock([]byte(good))
	if err != nil || l.Plugins["acmedns"].SHA256 != pin {
		t.Fatalf("ParseLock(good) = %+v, %v", l, err)
	}
	for name, bad := range map[string]string{
		"version":  `{"version":2,"plugins":{}}`,
		"pin":      `{"version":1,"plugins":{"acmedns":{"sha256":"abc"}}}`,
		"name":     `{"version":1,"plugins":{"../x":{"sha256":"` + pin + `"}}}`,
		"not json": `{`,
	} {
		if _, err := ParseLock([]byte(bad)); err == nil {
			t.Errorf("ParseLock accepted a bad %s", name)
		}
	}
	b, err := l.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if again, err := ParseLock(b); err != nil || again.Plugins["acmedns"].SHA256 != pin {
		t.Fatalf("round trip: %s, %v", b, err)
	}
}

// TestFindAllMarksTheWinner: FindAll lists every binary in search order
// and marks the one Find picks; non-executables and bad names are skipped.
func TestFindAllMarksTheWinner(t *testing.T) {
	d1, d2 := t.TempDir(), t.TempDir()
	write := func(dir, name string, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	write(d1, "zonecert-dns-a", 0o755)
	write(d2, "zonecert-dns-a", 0o755)
	write(d2, "zonecert-dns-b", 0o755)
	write(d2, "zonecert-dns-noexec", 0o644)
	write(d2, "zonecert-dns-Bad", 0o755)
	env := func(k string) (string, bool) {
		if k == "PATH" {
			return d2 + ":relative/dir", true
		}
		return "", false
	}
	got := FindAll([]string{d1, d1}, env)
	var lines []string
	for _, c := range got {
		lines = append(lines, c.Name+" "+c.Path+" "+c.Source+" "+map[bool]string{true: "wins", false: "shadowed"}[c.Wins])
	}
	want := []string{
		"a " + filepath.Join(d1, "zonecert-dns-a") + " --plugin-dir wins",
		"a " + filepath.Join(d2, "zonecert-dns-a") + " $PATH shadowed",
		"b " + filepath.Join(d2, "zonecert-dns-b") + " $PATH wins",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("FindAll:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if p, err := Find("a", []string{d1}, env); err != nil || p != got[0].Path {
		t.Fatalf("Find = %s, %v; want FindAll's winner", p, err)
	}
}
