package daemon

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/zonecert/zonecert/core"
	"github.com/zonecert/zonecert/core/config"
	"github.com/zonecert/zonecert/core/storage"
)

// Due says whether and when a certificate needs an order.
type Due struct {
	// At is when to order; at or before now means now.
	At time.Time
	// Recheck, when set, is when to ask again before At (the CA's
	// Retry-After for renewal information).
	Recheck time.Time
	// Reason is why: missing, changed, or the lifecycle's ari or expiring.
	Reason string
	// NotAfter is the stored certificate's expiry (zero when missing).
	NotAfter time.Time
	// Replaces is the ARI identifier of the certificate a renewal replaces.
	Replaces string
}

// Reasons for an order besides the lifecycle's (core.Reason).
const (
	reasonMissing = "missing"
	reasonChanged = "changed"
)

// due decides when cert needs an order: at once when its certificate is
// missing or names other domains than configured; otherwise as the
// lifecycle's renewal check says (the CA's ARI window and a random time in
// it, else when a third of the lifetime is left), read from and cached in
// the lineage's renewal plan.
func (d *Daemon) due(ctx context.Context, g *generation, cert config.Certificate) (Due, error) {
	leaf, err := readLeaf(ctx, d.reads, cert.Name)
	if err != nil {
		return Due{}, err
	}
	if leaf == nil {
		return Due{Reason: reasonMissing}, nil
	}
	due := Due{NotAfter: leaf.NotAfter}
	if !sameNames(leaf.DNSNames, cert.Domains) {
		due.Reason = reasonChanged
		return due, nil
	}
	plan, err := d.loadPlan(ctx, cert.Name)
	if errors.Is(err, core.ErrNoLineage) {
		// A certificate put there by hand or an older zonecert: renew by
		// lifetime alone.
		due.Reason = string(core.ReasonExpiring)
		due.At = leaf.NotAfter.Add(-leaf.NotAfter.Sub(leaf.NotBefore) / 3)
		return due, nil
	}
	if err != nil {
		return Due{}, err
	}
	dec, err := g.checker.Check(ctx, plan, false)
	if err != nil {
		return Due{}, err
	}
	due.Reason, due.Replaces = string(dec.Reason), dec.Replaces
	if !dec.Due {
		due.At, due.Recheck = dec.RenewAt, dec.NextCheck
	}
	return due, nil
}

// readLeaf returns the stored end-entity certificate of name, nil when
// there is none (or it is unreadable: ordering again repairs it).
func readLeaf(ctx context.Context, s storage.Storage, name string) (*x509.Certificate, error) {
	b, err := s.Get(ctx, storage.LiveFileKey(name, storage.CertFile))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, nil
	}
	leaf, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, nil
	}
	return leaf, nil
}

func sameNames(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// loadPlan is core.LoadPlan through d.reads: from the snapshot in a first
// look.
func (d *Daemon) loadPlan(ctx context.Context, name string) (core.Plan, error) {
	b, err := d.reads.plan(ctx, name)
	if errors.Is(err, storage.ErrNotFound) {
		return core.Plan{}, fmt.Errorf("%w: %s has no renewal plan", core.ErrNoLineage, name)
	}
	if err != nil {
		return core.Plan{}, fmt.Errorf("reading renewal plan %s: %w", name, err)
	}
	return core.DecodePlan(name, b)
}
