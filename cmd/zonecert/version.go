package main

import (
	"encoding/json"
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/zonecert/zonecert/core"
	"github.com/zonecert/zonecert/plugin"
)

// versionInfo is what `zonecert version` prints: enough for a bug report
// and to tell whether a plugin speaks this zonecert's protocol.
type versionInfo struct {
	Version        string `json:"version"`
	Go             string `json:"go"`
	Platform       string `json:"platform"`
	PluginProtocol int    `json:"plugin_protocol"`
}

func currentVersion() versionInfo {
	return versionInfo{Version: core.Version, Go: runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH, PluginProtocol: plugin.ProtocolVersion}
}

func (v versionInfo) String() string {
	return fmt.Sprintf("zonecert %s\n  go:              %s (%s)\n  plugin protocol: v%d\n", v.Version, v.Go, v.Platform, v.PluginProtocol)
}

func newVersionCmd(e env) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print zonecert's version, its Go version and the plugin protocol version",
		Long: `Print zonecert's version, the Go version it was built with and the plugin
protocol version it speaks (a plugin must speak the same; zonecert-dns-<name>
describe shows the plugin's). zonecert --version prints the same.

` + exitCodesHelp,
		Example: `  zonecert version
  zonecert version --json`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if jsonOut {
				return json.NewEncoder(e.stdout).Encode(currentVersion())
			}
			_, err := fmt.Fprint(e.stdout, currentVersion())
			return err
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return cmd
}
