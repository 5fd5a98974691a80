// Package core is zonecert's order engine and certificate lifecycle: it
// joins the ACME protocol layer (core/acme), the DNS-01 engine (core/dns01)
// and the provider plugins behind small interfaces defined here.
package core

// Version is the zonecert version, set at build time with -ldflags.
var Version = "dev"
