package main

import (
	"errors"

	"github.com/zonecert/zonecert/core"
)

// Exit codes, documented in the root command's help and the README.
const (
	exitOK       = 0
	exitInternal = 1 // anything else: local I/O, storage, bugs
	exitUsage    = 2 // bad flags, names, settings (missing ones too), unknown provider
	exitCA       = 3 // the CA refused (problem document) or could not be reached
	exitDNS      = 4 // DNS or the provider plugin failed (credentials, propagation)
	exitHook     = 5 // a hook failed; the certificate it ran for is in place
	exitCanceled = 130
)

const exitCodesHelp = `Exit codes:
  0    certificate obtained (or command succeeded)
  1    internal or storage failure
  2    usage error: bad flag, domain name, missing or invalid setting, unknown provider
  3    the CA refused the request or could not be reached
  4    DNS or provider failure: credentials refused, zone, propagation timeout
  5    a hook failed (the new certificate is in place)
  130  interrupted`

// usageError marks errors found while reading flags and input.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	if errors.Is(err, errInterrupted) {
		return exitCanceled
	}
	if c, ok := errors.AsType[exitCoder](err); ok {
		return c.ExitCode() // a renew run: its lineages' failures decided
	}
	if errors.Is(err, core.ErrHook) {
		return exitHook
	}
	if _, ok := errors.AsType[usageError](err); ok {
		return exitUsage
	}
	switch core.KindOf(err) {
	case core.KindInput:
		return exitUsage
	case core.KindCA:
		return exitCA
	case core.KindDNS:
		return exitDNS
	}
	return exitInternal
}

// exitCoder is an error that knows its exit code (a renew run's summary).
type exitCoder interface {
	error
	ExitCode() int
}

var errInterrupted = errors.New("interrupted")
