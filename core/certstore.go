package core

import (
	"bytes"
	"context"
	"crypto"
	"encoding/pem"
	"errors"
	"fmt"

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
		storage.CertFile:      {Data: leaf.Bytes()},
		storage.ChainFile:     {Data: issuers.Bytes()},
		storage.FullChainFile: {Data: full},
		storage.PrivKeyFile:   {Data: keyPEM, Private: true},
	}
	if err := e.store.PutSet(ctx, storage.LiveKey(name), set); err != nil {
		if errors.Is(err, storage.ErrFenced) {
			// This run paused past its lease: another may have ordered
			// the lineage since, and its result must not be overwritten.
			err = fmt.Errorf("lost the lock on %s while the order ran (paused past its lease?), so another run may hold a newer certificate; this one is not stored: %w", name, err)
		}
		return Files{}, &Error{Kind: KindStorage, Err: fmt.Errorf("storing certificate: %w", err)}
	}
	return e.files(name), nil
}

// files names the live files: local paths where the store keeps files,
// else storage keys.
func (e *Engine) files(name string) Files {
	loc := func(file string) string {
		key := storage.LiveFileKey(name, file)
		if p, ok := e.store.LocalPath(key); ok {
			return p
		}
		return key
	}
	return Files{
		Cert:      loc(storage.CertFile),
		Chain:     loc(storage.ChainFile),
		FullChain: loc(storage.FullChainFile),
		PrivKey:   loc(storage.PrivKeyFile),
	}
}
