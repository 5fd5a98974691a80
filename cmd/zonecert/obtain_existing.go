package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/zonecert/zonecert/core"
	"github.com/zonecert/zonecert/core/storage"
)

// notDue is an existing lineage that obtain leaves alone: same CA, same
// names, and not due for renewal.
type notDue struct {
	CertName string    `json:"cert_name"`
	Domains  []string  `json:"domains"`
	NotDue   bool      `json:"not_due"`
	RenewAt  time.Time `json:"renew_at"`
}

// checkExisting is what obtain does first about a lineage that already
// exists, as certbot does: the same names and not due yet orders nothing
// (notDue is set); other names need --expand (a superset) or --force. It
// reads only the state directory and, for the renewal window, the CA's
// renewal information; nothing is written, no plugin started.
func checkExisting(ctx context.Context, f *obtainFlags, plan *obtainPlan) (*notDue, error) {
	if f.force || f.dryRun {
		return nil, nil
	}
	if _, err := os.Stat(filepath.Join(plan.path, "renewal")); err != nil {
		return nil, nil // no state yet (and none created here)
	}
	store, err := storage.NewFS(plan.path)
	if err != nil {
		return nil, nil // the order reports it
	}
	if left, err := store.List(ctx, storage.JournalDir); err == nil && len(left) > 0 {
		// Records an earlier run could not remove: an order removes them
		// first (the journal's recovery), so order rather than leave them.
		return nil, nil
	}
	name := plan.req.CertName
	p, err := core.LoadPlan(ctx, store, name)
	if err != nil || p.Directory != plan.req.DirectoryURL {
		// No lineage, or one of another CA: the order itself refuses that.
		return nil, nil
	}
	have, want := nameSet(p.Domains), nameSet(plan.req.Domains)
	if !slices.Equal(have, want) {
		if f.expand && superset(want, have) {
			return nil, nil
		}
		hint := "pass --force to replace them, or choose another --cert-name"
		if superset(want, have) {
			hint = "pass --expand to add the new names (or --force)"
		}
		return nil, usageError{fmt.Errorf("certificate %s holds %s, not %s: %s",
			name, strings.Join(have, ", "), strings.Join(want, ", "), hint)}
	}
	chk, err := core.NewChecker(core.Config{Storage: store, HTTPClient: plan.http}, false)
	if err != nil {
		return nil, err
	}
	d, err := chk.Check(ctx, p, false)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return nil, err
		}
		return nil, nil // an unreadable certificate: ordering repairs it
	}
	if d.Due {
		return nil, nil
	}
	return &notDue{CertName: name, Domains: have, NotDue: true, RenewAt: d.RenewAt}, nil
}

func nameSet(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		out = append(out, strings.ToLower(strings.TrimSuffix(n, ".")))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// superset reports whether every name of sub is in set (both sorted).
func superset(set, sub []string) bool {
	for _, n := range sub {
		if _, ok := slices.BinarySearch(set, n); !ok {
			return false
		}
	}
	return true
}

func printNotDue(e env, asJSON bool, nd *notDue) {
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(nd)
		return
	}
	fmt.Fprintf(e.stdout, "Certificate %s (%s) is not due for renewal until %s; nothing ordered.\n"+
		"Pass --force to order a new one anyway.\n", nd.CertName, strings.Join(nd.Domains, ", "), nd.RenewAt.Local().Format(time.DateTime))
}

// checkRegistration refuses, before anything is written, an obtain that
// would have to register an account it cannot (no --agree-tos, or no EAB
// where the CA needs it).
func checkRegistration(ctx context.Context, plan *obtainPlan) error {
	store, err := storage.NewFS(plan.path)
	if err != nil {
		return usageError{err}
	}
	eng, err := core.New(core.Config{Storage: store, HTTPClient: plan.http})
	if err != nil {
		return err
	}
	r := plan.req
	return eng.CheckRegistration(ctx, core.AccountRequest{DirectoryURL: r.DirectoryURL, Email: r.Email, AgreeTOS: r.AgreeTOS, EAB: r.EAB})
}
