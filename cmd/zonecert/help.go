package main

import (
	"strings"

	"github.com/spf13/cobra"
)

// defaultExamples are the examples of commands whose own definition has
// none, by command path; finishHelp adds them.
var defaultExamples = map[string]string{
	"zonecert": `  zonecert obtain --email ops@example.com --agree-tos --dns rfc2136 -d '*.example.com' -d example.com
  zonecert certificates
  zonecert renew                      # from cron or a systemd timer
  zonecert run --config /etc/zonecert/zonecert.toml`,
	"zonecert config": `  zonecert config check /etc/zonecert/zonecert.toml`,
	"zonecert delete": `  zonecert delete --cert-name www.example.com          # asks on a terminal
  zonecert delete --cert-name www.example.com --yes    # in scripts`,
	"zonecert persist": `  zonecert persist setup --dns rfc2136 -d example.com --wildcard --agree-tos --email ops@example.com
  zonecert persist show -d example.com --email ops@example.com`,
	"zonecert persist setup": `  # Publish through a provider, for the stored account (registered with --agree-tos if none):
  zonecert persist setup --dns rfc2136 -d example.com --wildcard --agree-tos --email ops@example.com
  # For an account kept on another host (its URI from zonecert account show there):
  zonecert persist setup --dns rfc2136 -d example.com --account-uri https://acme-v02.api.letsencrypt.org/acme/acct/123
  # No provider: print the records to enter by hand
  zonecert persist setup -d example.com --email ops@example.com`,
	"zonecert persist show":   `  zonecert persist show -d example.com -d '*.example.com' --email ops@example.com`,
	"zonecert persist remove": `  zonecert persist remove --dns rfc2136 -d example.com --email ops@example.com`,
	"zonecert plugins": `  zonecert plugins                    # the plugins found, their versions and hashes
  zonecert plugins lock rfc2136       # pin the binary's hash`,
	"zonecert storage": `  zonecert storage copy --from /var/lib/zonecert --to etcd://etcd1:2379/zonecert`,
	"zonecert plugins lock": `  zonecert plugins lock               # every plugin found
  zonecert plugins lock rfc2136 cloudflare`,
}

// finishHelp gives every command of root the exit codes in its help and
// an example where its definition has none, so no command's --help lacks
// either (TestEveryHelpHasExamplesAndExitCodes).
func finishHelp(root *cobra.Command) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Example == "" {
			c.Example = defaultExamples[c.CommandPath()]
		}
		if !strings.Contains(c.Long, "Exit codes:") {
			long := c.Long
			if long == "" {
				long = c.Short + "."
			}
			c.Long = strings.TrimSpace(long) + "\n\n" + exitCodesHelp
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
}
