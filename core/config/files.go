package config

import (
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
)

// PrivateFile returns an error when group or others may read the file at
// path: a file that holds a secret must be 0600 or stricter, as the config
// file itself must when it holds a literal secret. The CLI applies it to
// --dns-config files too.
func PrivateFile(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if m := fi.Mode().Perm(); m&0o077 != 0 {
		return fmt.Errorf("%s holds a secret and group or others can read it (mode %04o): chmod 600 %s", path, m, path)
	}
	return nil
}

// caBundle checks acme.ca_bundle as the daemon will use it: an absolute
// path to a readable file of PEM certificates.
func (v *validator) caBundle(p string) {
	if p == "" {
		return
	}
	ln := v.lines.at("acme", "ca_bundle")
	if !filepath.IsAbs(p) {
		v.errorf(ln, "acme.ca_bundle: %q is not an absolute path", p)
		return
	}
	b, err := v.opts.ReadFile(p)
	if err != nil {
		v.errorf(ln, "acme.ca_bundle: %v", err)
		return
	}
	if !x509.NewCertPool().AppendCertsFromPEM(b) {
		v.errorf(ln, "acme.ca_bundle: %s holds no PEM certificate", p)
	}
}
