// Command zonecert-dns-filedns is the libdns adapter's example: any
// github.com/libdns provider becomes a zonecert plugin with this main.
package main

import (
	"context"

	"example.com/zonecert-dns-filedns/filedns"
	"github.com/zonecert/zonecert/plugin/sdk"
	"github.com/zonecert/zonecert/plugin/sdk/libdnsadapter"
)

// Settings of the plugin; a real one holds the provider's credentials.
type Settings struct {
	Dir string `setting:"dir,required" env:"FILEDNS_DIR" doc:"directory holding one folder of records per zone"`
}

func main() {
	sdk.Serve(sdk.Plugin[Settings]{
		Name: "filedns", Version: "0.1.0", Description: "zones kept as files, through libdns",
		New: libdnsadapter.New(func(_ context.Context, s Settings) (libdnsadapter.Provider, error) {
			return &filedns.Provider{Dir: s.Dir}, nil
		}),
	})
}
