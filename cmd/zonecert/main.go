// Command zonecert obtains TLS certificates from an ACME CA (Let's Encrypt by
// default) with the DNS-01 challenge, through out-of-process DNS provider
// plugins. Run `zonecert --help`.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if err := harden(); err != nil {
		fmt.Fprintln(os.Stderr, "zonecert: warning: cannot protect the process's memory from other processes:", err)
	}
	if code, ok := runAsService(os.Args[1:]); ok { // started by Windows' service control manager
		os.Exit(code)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	endProfile := startProfile(os.LookupEnv)
	err := run(ctx, os.Args[1:], env{
		stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr,
		lookupEnv: os.LookupEnv, getuid: os.Getuid,
	})
	stop()
	endProfile()
	if err != nil {
		fmt.Fprintln(os.Stderr, "zonecert:", err)
	}
	os.Exit(exitCode(err))
}
