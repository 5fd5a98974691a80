package main

import (
	"bufio"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/zonecert/zonecert/core"
)

func newDeleteCmd(e env) *cobra.Command {
	var certName, path string
	var yes bool
	cmd := &cobra.Command{
		Use:   "delete --cert-name NAME [--yes]",
		Short: "Delete a lineage: its live and archived certificates and its renewal plan",
		Long: `Delete a certificate lineage: live/<name>, archive/<name> and renewal/<name>.
The certificate is not revoked (see zonecert revoke --delete). On a terminal
zonecert asks first; --yes skips the question, and is required otherwise.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if certName == "" {
				return usageError{errors.New("no certificate: pass --cert-name NAME")}
			}
			store, err := openState(e, path)
			if err != nil {
				return usageError{err}
			}
			if _, err := core.LoadPlan(cmd.Context(), store, certName); errors.Is(err, core.ErrNoLineage) {
				infos, err := store.List(cmd.Context(), "live/"+certName)
				if err != nil {
					return fmt.Errorf("reading certificate %s: %w", certName, err)
				}
				if len(infos) == 0 {
					return usageError{fmt.Errorf("no certificate named %q (see zonecert certificates)", certName)}
				}
			}
			if !yes {
				if !isTerminal(e.stdin) {
					return usageError{errors.New("not on a terminal: pass --yes to delete without asking")}
				}
				fmt.Fprintf(e.stderr, "Delete certificate %s (live, archive and renewal plan; it is not revoked)? [y/N] ", certName)
				line, _ := bufio.NewReader(e.stdin).ReadString('\n')
				if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
					// The user's answer, not an error: exit 0.
					fmt.Fprintln(e.stdout, "Nothing deleted.")
					return nil
				}
			}
			if err := core.DeleteLineage(cmd.Context(), store, certName); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "Certificate %s deleted\n", certName)
			return nil
		},
	}
	cmd.Flags().StringVar(&certName, "cert-name", "", "the lineage to delete (required)")
	cmd.Flags().BoolVar(&yes, "yes", false, "do not ask")
	cmd.Flags().StringVar(&path, "path", "", "state directory (default as for obtain)")
	return cmd
}
