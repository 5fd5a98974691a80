package acme

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// Certificate is one issued chain (RFC 8555 §7.4.2).
type Certificate struct {
	// URL is where this chain was downloaded.
	URL string
	// ChainPEM is the answer as sent: the end-entity certificate first, then
	// the issuers, as PEM.
	ChainPEM []byte
	// Chain holds the parsed certificates in the same order.
	Chain []*x509.Certificate
	// Alternates are the URLs of other chains for the same end-entity
	// certificate, from Link rel="alternate" (§7.4.2).
	Alternates []string
}

// Leaf returns the end-entity certificate.
func (c Certificate) Leaf() *x509.Certificate {
	if len(c.Chain) == 0 {
		return nil
	}
	return c.Chain[0]
}

// IssuerCN returns the issuer common name of the topmost certificate of the
// chain, the name a preferred-chain setting matches.
func (c Certificate) IssuerCN() string {
	if len(c.Chain) == 0 {
		return ""
	}
	return c.Chain[len(c.Chain)-1].Issuer.CommonName
}

// GetCertificate downloads a chain with POST-as-GET, asking for
// application/pem-certificate-chain (§7.4.2, §9.1).
func (c *Client) GetCertificate(ctx context.Context, acct Account, certURL string) (Certificate, error) {
	k, err := acct.signingKey()
	if err != nil {
		return Certificate{}, fmt.Errorf("downloading certificate: %w", err)
	}
	resp, err := c.post(ctx, k, certURL, nil, true, contentTypePEM)
	if err != nil {
		return Certificate{}, fmt.Errorf("downloading certificate: %w", err)
	}
	if mt := resp.mediaType(); mt != contentTypePEM {
		return Certificate{}, fmt.Errorf("downloading certificate %s: content type %q, want %s", certURL, resp.header.Get("Content-Type"), contentTypePEM)
	}
	chain, err := decodeChain(resp.body)
	if err != nil {
		return Certificate{}, fmt.Errorf("downloading certificate %s: %w", certURL, err)
	}
	return Certificate{URL: certURL, ChainPEM: resp.body, Chain: chain, Alternates: resp.links("alternate")}, nil
}

// GetCertificateChains downloads the default chain and every alternate
// chain it links to (§7.4.2). The default chain comes first.
func (c *Client) GetCertificateChains(ctx context.Context, acct Account, certURL string) ([]Certificate, error) {
	def, err := c.GetCertificate(ctx, acct, certURL)
	if err != nil {
		return nil, err
	}
	chains := []Certificate{def}
	seen := map[string]bool{certURL: true}
	for _, u := range def.Alternates {
		if seen[u] || len(seen) > 16 {
			continue
		}
		seen[u] = true
		alt, err := c.GetCertificate(ctx, acct, u)
		if err != nil {
			return nil, err
		}
		if !alt.Leaf().Equal(def.Leaf()) {
			return nil, fmt.Errorf("downloading certificate: alternate %s has a different end-entity certificate", u)
		}
		chains = append(chains, alt)
	}
	return chains, nil
}

// PreferredChain returns the first chain whose topmost certificate was
// issued by issuerCN (matching certbot's and lego's --preferred-chain), and
// whether one matched. Without a match it returns the first (default) chain.
// An empty issuerCN selects the default.
func PreferredChain(chains []Certificate, issuerCN string) (Certificate, bool) {
	if len(chains) == 0 {
		return Certificate{}, false
	}
	if issuerCN != "" {
		for _, ch := range chains {
			if ch.IssuerCN() == issuerCN {
				return ch, true
			}
		}
		// A chain that contains a certificate of that subject also
		// satisfies the preference (the root's CN is named, say).
		for _, ch := range chains {
			for _, cert := range ch.Chain {
				if cert.Subject.CommonName == issuerCN {
					return ch, true
				}
			}
		}
	}
	return chains[0], false
}

// decodeChain parses a PEM certificate chain (§9.1): one or more
// CERTIFICATE blocks and nothing else but whitespace.
func decodeChain(b []byte) ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	rest := b
	for {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("decoding chain: unexpected PEM block %q", blk.Type)
		}
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("decoding chain: %w", err)
		}
		chain = append(chain, cert)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("decoding chain: trailing data after the last certificate")
	}
	if len(chain) == 0 {
		return nil, errors.New("decoding chain: no certificate")
	}
	return chain, nil
}
