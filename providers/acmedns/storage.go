package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// account is one acme-dns registration as lego stores it (goacmedns's
// Account): the JSON field names are lego's, so its files are read as they
// are and files written here work with lego.
type account struct {
	FullDomain string   `json:"fulldomain"`
	SubDomain  string   `json:"subdomain"`
	Username   string   `json:"username"`
	Password   string   `json:"password"`
	ServerURL  string   `json:"server_url,omitempty"`
	AllowFrom  []string `json:"allowfrom,omitempty"`
}

// String keeps the password out of anything printed.
func (a account) String() string {
	return fmt.Sprintf("acme-dns account %s (%s)", a.Username, a.FullDomain)
}

// accountFile maps a domain (lego's key: the name certified, without
// "*.") to its account.
type accountFile map[string]account

// loadAccounts reads the storage file; a missing file is an empty one.
func loadAccounts(path string) (accountFile, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return accountFile{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading acme-dns accounts: %w", err)
	}
	var f accountFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("reading acme-dns accounts %s: %w", path, err)
	}
	for d, a := range f {
		if a.FullDomain == "" || a.SubDomain == "" || a.Username == "" || a.Password == "" {
			return nil, fmt.Errorf("acme-dns accounts %s: the entry for %s lacks fulldomain, subdomain, username or password", path, d)
		}
	}
	return f, nil
}

// byFullDomain finds the account whose fulldomain is fqdn: the host hands
// the plugin the CNAME target, not the domain lego keys the file by.
func (f accountFile) byFullDomain(fqdn string) (account, bool) {
	fqdn = canonical(fqdn)
	for _, a := range f {
		if canonical(a.FullDomain) == fqdn {
			return a, true
		}
	}
	return account{}, false
}

// storageKey is lego's key for a domain: lower case, no "*.", no final dot.
func storageKey(domain string) string {
	d := strings.ToLower(strings.TrimSpace(domain))
	d = strings.TrimPrefix(d, "*.")
	return strings.TrimSuffix(d, ".")
}

// saveAccount adds acct under domain and rewrites the file atomically
// (temp file, fsync, rename), 0600 in a 0700 directory when it creates
// one. Entries it does not understand are kept as they are.
func saveAccount(path, domain string, acct account) error {
	raw := map[string]json.RawMessage{}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("reading acme-dns accounts: %w", err)
	default:
		if err := json.Unmarshal(b, &raw); err != nil {
			return fmt.Errorf("reading acme-dns accounts %s: %w", path, err)
		}
	}
	entry, err := json.Marshal(acct)
	if err != nil {
		return err
	}
	raw[storageKey(domain)] = entry
	out, err := json.MarshalIndent(raw, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, ".acmedns-*.json")
	if err != nil {
		return fmt.Errorf("writing acme-dns accounts: %w", err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if err := tmp.Chmod(0o600); err != nil {
		_ = tmp.Close()
		return err
	}
	if _, err := tmp.Write(append(out, '\n')); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("writing acme-dns accounts: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("writing acme-dns accounts: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing acme-dns accounts: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing acme-dns accounts: %w", err)
	}
	return nil
}
