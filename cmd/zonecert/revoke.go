package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/zonecert/zonecert/core"
	"github.com/zonecert/zonecert/core/acme"
	"github.com/zonecert/zonecert/core/storage"
)

type revokeFlags struct {
	certName string
	reason   string
	keyFile  string
	delete   bool
	path     string
	caBundle string
	verbose  bool
}

func newRevokeCmd(e env) *cobra.Command {
	var f revokeFlags
	cmd := &cobra.Command{
		Use:   "revoke --cert-name NAME [--reason REASON] [--key-file FILE] [--delete]",
		Short: "Revoke a lineage's certificate at its CA",
		Long: `Revoke the live certificate of a lineage at the CA that issued it, signed by
the account that ordered it, or with --key-file by the certificate's own
private key (when the account is lost). The next renew asks the CA again,
which then says "renew now", unless --delete removes the lineage too.

` + exitCodesHelp,
		Example: `  zonecert revoke --cert-name www.example.com --reason superseded
  zonecert revoke --cert-name www.example.com --reason keyCompromise \
      --key-file /var/lib/zonecert/live/www.example.com/privkey.pem --delete`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRevoke(cmd.Context(), e, &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.certName, "cert-name", "", "the lineage to revoke (required)")
	fl.StringVar(&f.reason, "reason", "unspecified", "unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation or privilegeWithdrawn")
	fl.StringVar(&f.keyFile, "key-file", "", "sign with this certificate private key (PEM) instead of the account")
	fl.BoolVar(&f.delete, "delete", false, "delete the lineage after revoking it")
	fl.StringVar(&f.path, "path", "", "state directory (default as for obtain)")
	fl.StringVar(&f.caBundle, "ca-bundle", "", "PEM file of extra roots for the ACME server's TLS (env ZONECERT_CA_BUNDLE)")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "log debug details")
	return cmd
}

func runRevoke(ctx context.Context, e env, f *revokeFlags) error {
	if f.certName == "" {
		return usageError{errors.New("no certificate: pass --cert-name NAME")}
	}
	if err := core.ValidateCertName(f.certName); err != nil {
		return usageError{fmt.Errorf("--cert-name: %w", err)}
	}
	reason, err := core.ParseRevocationReason(f.reason)
	if err != nil {
		return usageError{err}
	}
	rr := core.RevokeRequest{CertName: f.certName, Reason: reason}
	if f.keyFile != "" {
		b, err := os.ReadFile(f.keyFile)
		if err != nil {
			return usageError{fmt.Errorf("reading --key-file: %w", err)}
		}
		if rr.CertKey, err = acme.DecodePrivateKeyPEM(b); err != nil {
			return usageError{fmt.Errorf("--key-file %s: %w", f.keyFile, err)}
		}
	}
	bundle, err := caBundlePath(e, f.caBundle)
	if err != nil {
		return usageError{err}
	}
	if _, err := httpClient(bundle); err != nil {
		return usageError{err} // refused before the state is opened
	}
	store, err := openState(e, f.path)
	if err != nil {
		return usageError{err}
	}
	// Without a bundle, the CA is trusted as the lineage's plan recorded,
	// as renew does: a revoke from a script needs no flag obtain had.
	client, err := lineageHTTPClient(ctx, store, []string{f.certName}, bundle)
	if err != nil {
		return usageError{err}
	}
	cfg := core.Config{Storage: store, HTTPClient: client, Logger: cliLogger(e, f.verbose)}
	if err := core.Revoke(ctx, cfg, rr); err != nil {
		if errors.Is(err, core.ErrNoLineage) {
			return usageError{fmt.Errorf("no certificate named %q (see zonecert certificates): %w", f.certName, err)}
		}
		return err
	}
	fmt.Fprintf(e.stdout, "Certificate %s revoked (reason %s)\n", f.certName, f.reason)
	if f.delete {
		if err := core.DeleteLineage(ctx, store, f.certName); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "Certificate %s deleted\n", f.certName)
	}
	return nil
}

// openState opens the state directory at path (the platform's default
// when empty), checked as every command does (openChecked). The store
// lives as long as the command's process.
func openState(e env, path string) (storage.Storage, error) {
	if path == "" {
		p, err := defaultStatePath(e)
		if err != nil {
			return nil, err
		}
		path = p
	}
	store, _, err := openChecked(context.Background(), e, path)
	return store, err
}
