package acme

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// Directory is the CA's directory object (RFC 8555 §7.1.1): the URLs of its
// resources and its metadata.
type Directory struct {
	// NewNonce hands out fresh nonces to HEAD requests (§7.2).
	NewNonce string `json:"newNonce"`
	// NewAccount creates or finds accounts (§7.3).
	NewAccount string `json:"newAccount"`
	// NewOrder creates orders (§7.4).
	NewOrder string `json:"newOrder"`
	// NewAuthz is optional: pre-authorization (§7.4.1) is rarely offered.
	NewAuthz string `json:"newAuthz,omitempty"`
	// RevokeCert revokes certificates (§7.6).
	RevokeCert string `json:"revokeCert"`
	// KeyChange rolls over account keys (§7.3.5).
	KeyChange string `json:"keyChange"`
	// RenewalInfo is the ARI base URL (RFC 9773 §4), empty when the CA
	// does not offer renewal information.
	RenewalInfo string `json:"renewalInfo,omitempty"`
	// Meta is the optional "meta" object.
	Meta DirectoryMeta `json:"meta"`
}

// DirectoryMeta is the directory's "meta" object (§7.1.1 and
// draft-ietf-acme-profiles).
type DirectoryMeta struct {
	// TermsOfService is the URL of the current terms; agreeing is the
	// TermsOfServiceAgreed field of a new account.
	TermsOfService string `json:"termsOfService,omitempty"`
	// Website is the CA's home page.
	Website string `json:"website,omitempty"`
	// CAAIdentities are the domain names the CA recognises in CAA records
	// (RFC 8659).
	CAAIdentities []string `json:"caaIdentities,omitempty"`
	// ExternalAccountRequired means newAccount needs an
	// externalAccountBinding (§7.3.4).
	ExternalAccountRequired bool `json:"externalAccountRequired,omitempty"`
	// Profiles maps profile names to human descriptions
	// (draft-ietf-acme-profiles §3); an order picks one with
	// OrderRequest.Profile.
	Profiles map[string]string `json:"profiles,omitempty"`
}

// decodeDirectory parses a directory and checks that the resources every
// flow needs are absolute http(s) URLs.
func decodeDirectory(b []byte) (Directory, error) {
	var d Directory
	if err := json.Unmarshal(b, &d); err != nil {
		return Directory{}, fmt.Errorf("decoding directory: %w", err)
	}
	for _, f := range []struct{ name, v string }{
		{"newNonce", d.NewNonce}, {"newAccount", d.NewAccount}, {"newOrder", d.NewOrder},
		{"revokeCert", d.RevokeCert}, {"keyChange", d.KeyChange},
	} {
		if err := checkURL(f.v); err != nil {
			return Directory{}, fmt.Errorf("decoding directory: %s: %w", f.name, err)
		}
	}
	for _, f := range []struct{ name, v string }{{"newAuthz", d.NewAuthz}, {"renewalInfo", d.RenewalInfo}} {
		if f.v != "" {
			if err := checkURL(f.v); err != nil {
				return Directory{}, fmt.Errorf("decoding directory: %s: %w", f.name, err)
			}
		}
	}
	return d, nil
}

// checkURL accepts absolute http and https URLs.
func checkURL(s string) error {
	if s == "" {
		return errors.New("missing URL")
	}
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", s)
	}
	return nil
}

// Directory returns the CA's directory (§7.1.1), fetched on first use and
// kept for the life of the client. A failed fetch is not cached.
func (c *Client) Directory(ctx context.Context) (Directory, error) {
	c.mu.Lock()
	d := c.dir
	c.mu.Unlock()
	if d != nil {
		return *d, nil
	}
	resp, err := c.get(ctx, http.MethodGet, c.dirURL, contentTypeJSON)
	if err != nil {
		return Directory{}, fmt.Errorf("fetching directory: %w", err)
	}
	if mt := resp.mediaType(); mt != contentTypeJSON {
		return Directory{}, fmt.Errorf("fetching directory: content type %q, want %s", resp.header.Get("Content-Type"), contentTypeJSON)
	}
	dir, err := decodeDirectory(resp.body)
	if err != nil {
		return Directory{}, err
	}
	c.mu.Lock()
	c.dir = &dir
	c.mu.Unlock()
	return dir, nil
}
