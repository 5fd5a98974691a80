// Package testenv starts the real components zonecert's tests run against:
// BIND9 name servers on private loopback addresses (a primary that accepts
// TSIG-signed RFC 2136 updates and an optional secondary that lags it by a
// known interval) and, in pebble.go, the Pebble test CA.
//
// Everything is owned by one test: configuration lives in t.TempDir(),
// processes and loopback addresses are removed in t.Cleanup, and nothing is
// shared between tests or test processes, so tests may run in parallel.
// BIND needs root (it listens on port 53 of an address added to lo) and the
// Debian package bind9, which `make test` installs.
package testenv
