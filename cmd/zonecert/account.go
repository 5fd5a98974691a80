package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/zonecert/zonecert/core"
	"github.com/zonecert/zonecert/core/storage"
)

// accountFlags are the flags of the account commands: the account is
// named, as orders find it, by --server and --email.
type accountFlags struct {
	server, caBundle, email, path string
	agreeTOS                      bool
	eabKID, eabHMAC               string
	newEmail                      string
	newEmailSet                   bool
	json                          bool
	verbose                       bool
}

func newAccountCmd(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "account",
		Short: "Manage ACME accounts: register, show, update, deactivate, rollover, list",
		Long: `An ACME account is a key the CA knows, stored under <path>/accounts/<CA>/<id>.
Orders register one on their first run; these commands manage them by hand.
An account is named by its CA (--server) and contact email (--email), as
obtain finds it. Its URI (account show) is what dns-persist-01 records and
CAA accounturi parameters name.

` + exitCodesHelp,
		Example: `  # Register with Let's Encrypt's staging CA and print the account URI:
  zonecert account register --server letsencrypt-staging --email ops@example.com --agree-tos
  zonecert account show --server letsencrypt-staging --email ops@example.com

  # A CA that needs External Account Binding (the MAC key from the environment):
  ZONECERT_EAB_HMAC=... zonecert account register --server zerossl \
      --email ops@example.com --agree-tos --eab-kid KID

  # Every stored account, for scripts:
  zonecert account list --json`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(
		accountSubCmd(e, "register", "Register an account with the CA (or report the one already stored)",
			"  zonecert account register --server letsencrypt --email ops@example.com --agree-tos"),
		accountSubCmd(e, "show", "Show an account: URI, contact, status (asked of the CA) and key type",
			"  zonecert account show --email ops@example.com\n  zonecert account show --email ops@example.com --json | jq -r .uri"),
		accountSubCmd(e, "update", "Change the account's contact email at the CA (--new-email; empty removes it)",
			"  zonecert account update --email old@example.com --new-email new@example.com"),
		accountSubCmd(e, "deactivate", "Deactivate the account at the CA for good; orders then register a new one",
			"  zonecert account deactivate --email ops@example.com"),
		accountSubCmd(e, "rollover", "Replace the account's key with a new one (RFC 8555 key change)",
			"  zonecert account rollover --email ops@example.com"),
		accountSubCmd(e, "list", "List the stored accounts of every CA (from disk; the CA is not asked)",
			"  zonecert account list\n  zonecert account list --json"),
	)
	return cmd
}

func accountSubCmd(e env, verb, short, example string) *cobra.Command {
	f := &accountFlags{}
	cmd := &cobra.Command{
		Use:     verb + " [flags]",
		Short:   short,
		Long:    short + ".\n\n" + exitCodesHelp,
		Example: example,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f.newEmailSet = cmd.Flags().Changed("new-email")
			return runAccount(cmd.Context(), e, verb, f)
		},
	}
	bindAccountFlags(cmd.Flags(), verb, f)
	return cmd
}

func bindAccountFlags(fl *pflag.FlagSet, verb string, f *accountFlags) {
	fl.StringVar(&f.path, "path", "", "state directory (default $XDG_DATA_HOME/zonecert, /var/lib/zonecert as root; env ZONECERT_PATH)")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "log debug details")
	if verb == "list" {
		fl.BoolVar(&f.json, "json", false, "print the accounts as JSON on stdout")
		return
	}
	fl.StringVar(&f.server, "server", "letsencrypt", "ACME directory URL, or a well-known CA's short name (see obtain --help)")
	fl.StringVar(&f.caBundle, "ca-bundle", "", "PEM file of extra roots for the ACME server's TLS (env ZONECERT_CA_BUNDLE)")
	fl.StringVar(&f.email, "email", "", "the account's contact email, as orders used it")
	switch verb {
	case "register":
		fl.BoolVar(&f.agreeTOS, "agree-tos", false, "agree to the CA's terms of service (needed to register)")
		fl.StringVar(&f.eabKID, "eab-kid", "", "External Account Binding key identifier")
		fl.StringVar(&f.eabHMAC, "eab-hmac", "", "External Account Binding MAC key, base64url (prefer env ZONECERT_EAB_HMAC)")
		fl.BoolVar(&f.json, "json", false, "print the account as JSON on stdout")
	case "show":
		fl.BoolVar(&f.json, "json", false, "print the account as JSON on stdout")
	case "update":
		fl.StringVar(&f.newEmail, "new-email", "", "the new contact email (required; \"\" removes the contact)")
	}
}

func runAccount(ctx context.Context, e env, verb string, f *accountFlags) error {
	if verb == "update" && !f.newEmailSet {
		return usageError{errors.New(`account update needs --new-email ("" removes the contact)`)}
	}
	req := core.AccountRequest{DirectoryURL: serverURL(f.server), Email: f.email, AgreeTOS: f.agreeTOS}
	if verb == "register" {
		eab, err := eabFrom(e, &obtainFlags{eabKID: f.eabKID, eabHMAC: f.eabHMAC})
		if err != nil {
			return usageError{err}
		}
		req.EAB = eab
		if !f.agreeTOS {
			return usageError{errors.New("registering an account needs agreement to the CA's terms of service: pass --agree-tos")}
		}
	}
	path := f.path
	if path == "" {
		p, err := defaultStatePath(e)
		if err != nil {
			return usageError{err}
		}
		path = p
	}
	bundle := f.caBundle
	if bundle == "" {
		bundle = e.getenv("ZONECERT_CA_BUNDLE")
	}
	client, err := httpClient(bundle)
	if err != nil {
		return usageError{err}
	}
	if err := checkStateDir(path); err != nil {
		return err
	}
	ui := newUI(e, f.verbose, true)
	defer ui.close()
	store, err := storage.NewFS(path)
	if err != nil {
		return usageError{err}
	}
	eng, err := core.New(core.Config{Storage: store, HTTPClient: client, Logger: ui.logger})
	if err != nil {
		return err
	}
	var info core.AccountInfo
	note := ""
	switch verb {
	case "list":
		all, err := eng.ListAccounts(ctx)
		ui.close()
		if err != nil {
			return err
		}
		return printAccounts(e, f.json, all)
	case "register":
		var created bool
		info, created, err = eng.RegisterAccount(ctx, req)
		note = "Account registered"
		if !created {
			note = "Account already registered"
		}
	case "show":
		info, err = eng.ShowAccount(ctx, req)
	case "update":
		info, err = eng.UpdateAccountEmail(ctx, req, f.newEmail)
		note = "Account contact updated"
	case "deactivate":
		info, err = eng.DeactivateAccount(ctx, req)
		note = "Account deactivated"
	case "rollover":
		info, err = eng.RolloverAccountKey(ctx, req)
		note = "Account key replaced"
	}
	ui.close()
	if err != nil {
		return err
	}
	if f.json {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(info)
	}
	if note != "" {
		fmt.Fprintln(e.stdout, note)
	}
	printAccount(e, info)
	return nil
}

func printAccount(e env, a core.AccountInfo) {
	contact := strings.Join(a.Contact, ", ")
	if contact == "" && a.Email != "" {
		contact = "mailto:" + a.Email
	}
	if contact == "" {
		contact = "(none)"
	}
	status := a.Status
	if status == "" {
		status = "(not asked)"
	}
	fmt.Fprintf(e.stdout, "  URI:       %s\n  CA:        %s\n  Contact:   %s\n  Status:    %s\n  Key type:  %s\n  Created:   %s\n",
		a.URI, a.Directory, contact, status, a.KeyType, a.Created.Format("2006-01-02 15:04:05 MST"))
}

func printAccounts(e env, asJSON bool, all []core.AccountInfo) error {
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(all)
	}
	if len(all) == 0 {
		fmt.Fprintln(e.stdout, "No accounts stored.")
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EMAIL\tSTATUS\tKEY\tURI")
	for _, a := range all {
		email, status := a.Email, a.Status
		if email == "" {
			email = "-"
		}
		if status == "" {
			status = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", email, status, a.KeyType, a.URI)
	}
	return tw.Flush()
}
