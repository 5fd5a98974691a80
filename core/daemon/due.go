package daemon

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/zonecert/zonecert/core/daemon/config"
	"github.com/zonecert/zonecert/core/storage"
)

// Due says whether and when a certificate needs an order.
type Due struct {
	// At is when to order; at or before now means now.
	At time.Time
	// Reason is why: missing, changed or renewal.
	Reason string
	// NotAfter is the stored certificate's expiry (zero when missing).
	NotAfter time.Time
}

// DueChecker decides when each certificate is due. The lifecycle's renewal
// logic (ARI window, then a random time in it) plugs in here.
type DueChecker interface {
	Due(ctx context.Context, cert config.Certificate) (Due, error)
}

// Reasons for an order.
const (
	reasonMissing = "missing"
	reasonChanged = "changed"
	reasonRenewal = "renewal"
)

// lifetimeDue is the fallback rule without ARI: a certificate is due when
// less than a third of its lifetime is left, at once when it is missing or
// its names differ from the configured ones.
type lifetimeDue struct {
	store storage.Storage
}

func (d lifetimeDue) Due(ctx context.Context, cert config.Certificate) (Due, error) {
	b, err := d.store.Get(ctx, storage.LiveFileKey(cert.Name, storage.CertFile))
	if errors.Is(err, storage.ErrNotFound) {
		return Due{Reason: reasonMissing}, nil
	}
	if err != nil {
		return Due{}, fmt.Errorf("reading %s: %w", cert.Name, err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return Due{Reason: reasonMissing}, nil
	}
	leaf, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return Due{Reason: reasonMissing}, nil
	}
	due := Due{NotAfter: leaf.NotAfter, Reason: reasonRenewal}
	if !sameNames(leaf.DNSNames, cert.Domains) {
		due.Reason = reasonChanged
		return due, nil
	}
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	due.At = leaf.NotAfter.Add(-life / 3)
	return due, nil
}

func sameNames(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
