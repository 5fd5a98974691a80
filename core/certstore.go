package core

import (
	"bytes"
	"context"
	"crypto"
	"encoding/pem"
	"fmt"
	"path/filepath"

	"github.com/zonecert/zonecert/core/acme"
	"github.com/zonecert/zonecert/core/storage"
)

// storeCertificate writes live/<name>/{cert,chain,fullchain,privkey}.pem as
// one atomic set (storage.Storage.PutSet), so a new certificate never
// replaces a good one until all four files are durable.
func (e *Engine) storeCertificate(ctx context.Context, name string, chain acme.Certificate, key crypto.Signer) (Files, error) {
	if len(chain.Chain) == 0 {
		return Files{}, kindErr(KindCA, "the CA sent an empty certificate chain")
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return Files{}, err
	}
	var leaf, issuers bytes.Buffer
	for i, c := range chain.Chain {
		w := &issuers
		if i == 0 {
			w = &leaf
		}
		if err := pem.Encode(w, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}); err != nil {
			return Files{}, err
		}
	}
	full := append(bytes.Clone(leaf.Bytes()), issuers.Bytes()...)
	set := map[string]storage.File{
		"cert.pem":      {Data: leaf.Bytes()},
		"chain.pem":     {Data: issuers.Bytes()},
		"fullchain.pem": {Data: full},
		"privkey.pem":   {Data: keyPEM, Private: true},
	}
	if err := e.store.PutSet(ctx, "live/"+name, set); err != nil {
		return Files{}, &Error{Kind: KindStorage, Err: fmt.Errorf("storing certificate: %w", err)}
	}
	return e.files(name), nil
}

// files names the live files when the store is a filesystem, else keys.
func (e *Engine) files(name string) Files {
	base := "live/" + name
	if fs, ok := e.store.(*storage.FS); ok {
		base = filepath.Join(fs.Root, "live", name)
	}
	return Files{
		Cert:      filepath.Join(base, "cert.pem"),
		Chain:     filepath.Join(base, "chain.pem"),
		FullChain: filepath.Join(base, "fullchain.pem"),
		PrivKey:   filepath.Join(base, "privkey.pem"),
	}
}
