package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/zonecert/zonecert/core"
	"github.com/zonecert/zonecert/core/acme"
	"github.com/zonecert/zonecert/plugin"
	"github.com/zonecert/zonecert/plugin/host"
)

// persistFlags are the flags of the persist commands: obtain's account,
// CA, DNS and plugin flags plus the record's own.
type persistFlags struct {
	obtainFlags
	wildcard   bool
	until      string
	issuer     string
	accountURI string
}

func newPersistCmd(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "persist",
		Short: "Manage standing dns-persist-01 records (set up once, renew with no DNS credentials)",
		Long: `dns-persist-01 (draft-ietf-acme-dns-persist) validates against a TXT record at
_validation-persist.<name> that names the CA and the ACME account:

  _validation-persist.example.com. TXT "<issuer>; accounturi=<account URL>; policy=wildcard; persistUntil=<unix time>"

It stays in place. Set it up once, from a machine that holds DNS credentials;
from then on "zonecert obtain --challenge dns-persist-01" (or auto) renews with
no --dns and no DNS change at all, which suits hosts behind firewalls.

The record names an account, so the account must exist first: it is the stored
account for --server and --email, or --account-uri names one kept elsewhere
(say, on the host that will renew).`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(
		newPersistSubCmd(e, "setup", "Publish the records through a provider and wait for every authoritative nameserver",
			`Without --dns, print the exact records for a human to enter instead.`),
		newPersistSubCmd(e, "show", "Show, for each name, the record it needs and what each authoritative nameserver serves", ""),
		newPersistSubCmd(e, "remove", "Remove this account's records through a provider", ""),
	)
	return cmd
}

func newPersistSubCmd(e env, name, short, long string) *cobra.Command {
	f := &persistFlags{}
	cmd := &cobra.Command{
		Use:   name + " -d NAME [-d NAME...] [--wildcard] [--until DATE] [--dns PROVIDER] [flags]",
		Short: short,
		Long:  strings.TrimSpace(short + ".\n\n" + long),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPersist(cmd.Context(), e, name, f)
		},
	}
	bindPersistFlags(cmd.Flags(), name, f)
	if name == "setup" {
		// With no account yet, setup registers it (as account register).
		fl := cmd.Flags()
		fl.BoolVar(&f.agreeTOS, "agree-tos", false, "register the account if none is stored, agreeing to the CA's terms of service")
		fl.StringVar(&f.eabKID, "eab-kid", "", "External Account Binding key identifier, to register")
		fl.StringVar(&f.eabHMAC, "eab-hmac", "", "External Account Binding MAC key, base64url (prefer env ZONECERT_EAB_HMAC)")
	}
	return cmd
}

func bindPersistFlags(fl *pflag.FlagSet, verb string, f *persistFlags) {
	var all pflag.FlagSet
	bindObtainFlags(&all, &f.obtainFlags)
	names := []string{"domain", "server", "ca-bundle", "email", "dns-resolver", "path", "json", "zone", "nameserver-port", "verbose"}
	if verb != "show" { // show only reads DNS: no provider
		names = append(names, "dns", "dns-config", "propagation-timeout", "plugin-dir", "plugin-path", "plugin-sha256")
	}
	for _, n := range names {
		fl.AddFlag(all.Lookup(n))
	}
	f.challenge = acme.ChallengeDNSPersist01 // no --dns needed to read or print
	fl.BoolVar(&f.wildcard, "wildcard", false, "add policy=wildcard: the record also authorizes *.NAME (implied by -d '*.NAME')")
	if verb != "remove" { // remove takes this account's records, whatever their expiry
		fl.StringVar(&f.until, "until", "", "persistUntil: the record stops authorizing after DATE (YYYY-MM-DD or RFC 3339); default never")
	}
	fl.StringVar(&f.issuer, "issuer", "", "the CA's issuer domain name (default: the first CAA identity in its directory)")
	fl.StringVar(&f.accountURI, "account-uri", "", "authorize this account URL instead of the stored account")
}

// parseUntil reads --until: a date (midnight UTC) or an RFC 3339 time.
func parseUntil(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad --until %q: want YYYY-MM-DD or an RFC 3339 time", s)
	}
	return t, nil
}

func runPersist(ctx context.Context, e env, verb string, f *persistFlags) error {
	plan, err := planObtain(e, &f.obtainFlags)
	if err != nil {
		return usageError{err}
	}
	if err := checkStateDir(plan.path); err != nil {
		return err
	}
	req := core.PersistRequest{Request: plan.req, Wildcard: f.wildcard, Issuer: f.issuer, AccountURI: f.accountURI}
	if req.Until, err = parseUntil(f.until); err != nil {
		return usageError{err}
	}
	if verb == "remove" && f.dns == "" {
		return usageError{errors.New("persist remove needs a DNS provider: pass --dns NAME")}
	}
	ui := newUI(e, f.verbose, true) // no live display: the output is the table
	defer ui.close()
	mgr := host.NewManager(ui.logger)
	defer mgr.Close()
	var provider plugin.Provider
	if f.dns != "" && verb != "show" {
		plan.pluginCfg.Logger = ui.logger
		if plan.pluginCfg, err = withLock(ctx, plan.path, plan.pluginCfg); err != nil {
			return err
		}
		if provider, err = mgr.Get(ctx, plan.pluginCfg); err != nil {
			return providerError(f.dns, err)
		}
	}
	store, closeStore, err := openChecked(ctx, e, plan.path)
	if err != nil {
		return usageError{err}
	}
	defer closeStore()
	eng, err := core.New(core.Config{Storage: store, Provider: provider, HTTPClient: plan.http, Logger: ui.logger})
	if err != nil {
		return err
	}
	var entries []core.PersistEntry
	switch {
	case verb == "show":
		entries, err = eng.PersistShow(ctx, req)
	case verb == "remove":
		entries, err = eng.PersistRemove(ctx, req)
	case provider == nil:
		entries, err = eng.PersistRecords(ctx, req)
	default:
		entries, err = eng.PersistSetup(ctx, req)
	}
	ui.close()
	if err != nil {
		return err
	}
	if f.json {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(entries)
	}
	for _, en := range entries {
		switch {
		case verb == "setup" && provider == nil:
			fmt.Fprintf(e.stdout, "%s 300 IN TXT %q\n", en.Name, en.Record)
		case verb == "remove":
			fmt.Fprintf(e.stdout, "%s: removed this account's records\n", en.Domain)
		default:
			state := "OK: every authoritative nameserver serves it"
			if !en.OK {
				state = "NOT READY"
			}
			fmt.Fprintf(e.stdout, "%s\n  needs: %s TXT %q\n  %s\n", en.Domain, en.Name, en.Record, state)
			for _, s := range en.Servers {
				has := "nothing"
				if len(s.Values) > 0 {
					has = fmt.Sprintf("%q", s.Values)
				}
				fmt.Fprintf(e.stdout, "  %s (%s) has %s", s.Nameserver, s.Addr, has)
				if s.Err != nil {
					fmt.Fprintf(e.stdout, ": %v", s.Err)
				}
				fmt.Fprintln(e.stdout)
			}
		}
	}
	if verb == "setup" && provider == nil {
		fmt.Fprintln(e.stderr, "Enter these records at your DNS host, then check with: zonecert persist show (same -d flags)")
	}
	return nil
}
