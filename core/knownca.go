package core

import "strings"

// KnownCA is a well-known ACME CA that --server and [acme] server accept
// by short name.
type KnownCA struct {
	Name         string
	DirectoryURL string
	// EAB says the CA registers accounts only with External Account
	// Binding (a key ID and MAC key from the CA's own web account).
	EAB bool
}

// knownCAs is the one list of well-known CAs; the short names are the ones
// users of acme.sh and lego know.
var knownCAs = []KnownCA{
	{"letsencrypt", "https://acme-v02.api.letsencrypt.org/directory", false},
	{"letsencrypt-staging", "https://acme-staging-v02.api.letsencrypt.org/directory", false},
	{"zerossl", "https://acme.zerossl.com/v2/DV90", true},
	{"google", "https://dv.acme-v02.api.pki.goog/directory", true},
	{"google-staging", "https://dv.acme-v02.test-api.pki.goog/directory", true},
	{"buypass", "https://api.buypass.com/acme/directory", false},
	{"sslcom", "https://acme.ssl.com/sslcom-dv-ecc", true},
}

// KnownCAs lists the well-known CAs.
func KnownCAs() []KnownCA { return append([]KnownCA(nil), knownCAs...) }

// KnownCAByName finds a well-known CA by short name, case-insensitively.
func KnownCAByName(name string) (KnownCA, bool) {
	for _, c := range knownCAs {
		if strings.EqualFold(c.Name, name) {
			return c, true
		}
	}
	return KnownCA{}, false
}

// knownCAByURL finds a well-known CA by directory URL.
func knownCAByURL(u string) (KnownCA, bool) {
	for _, c := range knownCAs {
		if c.DirectoryURL == u {
			return c, true
		}
	}
	return KnownCA{}, false
}

// KnownCANames is the short names, for help texts: "letsencrypt,
// letsencrypt-staging, ...".
func KnownCANames() string {
	names := make([]string, len(knownCAs))
	for i, c := range knownCAs {
		names[i] = c.Name
	}
	return strings.Join(names, ", ")
}
