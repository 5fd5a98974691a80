package host

import (
	"encoding/json"
	"fmt"
	"time"
)

// LockVersion is the format version of the plugin lock file.
const LockVersion = 1

// Lock is the plugin lock file, after Terraform's dependency lock: one
// SHA-256 pin per plugin name. `zonecert plugins lock` writes it into the
// state directory and every command that starts a plugin enforces it, so a
// binary that changed is refused until it is locked again.
type Lock struct {
	Version int                  `json:"version"`
	Plugins map[string]LockEntry `json:"plugins"`
}

// LockEntry pins one plugin. Path and Version record what was locked, for
// people; only SHA256 is enforced, wherever the binary is found.
type LockEntry struct {
	SHA256  string    `json:"sha256"`
	Path    string    `json:"path,omitempty"`
	Version string    `json:"version,omitempty"`
	Locked  time.Time `json:"locked"`
}

// ParseLock decodes and checks a lock file.
func ParseLock(b []byte) (*Lock, error) {
	var l Lock
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("plugin lock file: %w", err)
	}
	if l.Version != LockVersion {
		return nil, fmt.Errorf("plugin lock file: version %d; this zonecert reads version %d", l.Version, LockVersion)
	}
	for name, e := range l.Plugins {
		if err := validName(name); err != nil {
			return nil, fmt.Errorf("plugin lock file: %w", err)
		}
		if _, err := parsePin(e.SHA256); err != nil {
			return nil, fmt.Errorf("plugin lock file: %s: %w", name, err)
		}
	}
	if l.Plugins == nil {
		l.Plugins = map[string]LockEntry{}
	}
	return &l, nil
}

// Marshal encodes the lock file, indented for people and diffs.
func (l *Lock) Marshal() ([]byte, error) {
	l.Version = LockVersion
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
