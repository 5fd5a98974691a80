package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strings"
)

var (
	envName     = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)
	settingName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
)

// readSettingsFile reads provider settings: NAME=VALUE lines, '#' comments,
// optional matching quotes around VALUE. Upper-case names are environment
// variables (the names a plugin declares, e.g. RFC2136_TSIG_SECRET);
// lower-case names are setting names. The file may hold secrets, so a
// group- or world-readable file is refused.
func readSettingsFile(path string) (settings, env map[string]string, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, fmt.Errorf("reading --dns-config: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, nil, fmt.Errorf("--dns-config %s is readable by others (mode %v): chmod 600 it", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("reading --dns-config: %w", err)
	}
	return parseSettings(path, b)
}

func parseSettings(path string, b []byte) (settings, env map[string]string, err error) {
	settings, env = map[string]string{}, map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k, v = strings.TrimSpace(strings.TrimPrefix(k, "export ")), strings.TrimSpace(v)
		if !ok {
			return nil, nil, fmt.Errorf("%s:%d: want NAME=VALUE", path, n)
		}
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		switch {
		case envName.MatchString(k):
			env[k] = v
		case settingName.MatchString(k):
			settings[k] = v
		default:
			return nil, nil, fmt.Errorf("%s:%d: bad name %q", path, n, k)
		}
	}
	return settings, env, sc.Err()
}
