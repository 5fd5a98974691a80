// Command demonet helps `make demo` use only servers it started itself:
//
//	demonet ports N           prints N ports free for TCP and UDP on 127.0.0.1
//	demonet free PORT...      fails, naming the port, unless each is free
//	demonet probe URL CAFILE  fails unless URL answers over TLS with a
//	                          certificate that CAFILE (the demo's own) verifies
//
// The demo's TLS certificate is made fresh for each run, so a server that
// passes the probe holds its key: it is the demo's Pebble, not whatever else
// listens on the port.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: demonet ports N | free PORT... | probe URL CAFILE")
	}
	switch args[0] {
	case "ports":
		if len(args) != 2 {
			return errors.New("usage: demonet ports N")
		}
		n, err := strconv.Atoi(args[1])
		if err != nil || n < 1 {
			return fmt.Errorf("ports: bad count %q", args[1])
		}
		ports, err := freePorts(n)
		if err != nil {
			return err
		}
		for _, p := range ports {
			fmt.Println(p)
		}
		return nil
	case "free":
		for _, a := range args[1:] {
			p, err := strconv.Atoi(a)
			if err != nil || p < 1 || p > 65535 {
				return fmt.Errorf("bad port %q", a)
			}
			if err := checkFree(p); err != nil {
				return err
			}
		}
		return nil
	case "probe":
		if len(args) != 3 {
			return errors.New("usage: demonet probe URL CAFILE")
		}
		return probe(args[1], args[2])
	}
	return fmt.Errorf("unknown command %q", args[0])
}

// freePorts holds a TCP and a UDP socket on each port until all n are
// found, so the ports are distinct and free for both at that moment.
func freePorts(n int) ([]int, error) {
	var ports []int
	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	for tries := 0; len(ports) < n; tries++ {
		if tries == 100 {
			return nil, errors.New("found no free ports on 127.0.0.1")
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		closers = append(closers, ln)
		p := ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue // UDP taken on this port: try another
		}
		closers = append(closers, pc)
		ports = append(ports, p)
	}
	return ports, nil
}

// checkFree binds the port for TCP and UDP on 127.0.0.1 and lets it go.
func checkFree(p int) error {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("port %d on 127.0.0.1 is in use (TCP): stop what listens there or choose another port: %w", p, err)
	}
	ln.Close()
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return fmt.Errorf("port %d on 127.0.0.1 is in use (UDP): stop what listens there or choose another port: %w", p, err)
	}
	pc.Close()
	return nil
}

// probe GETs url trusting only the certificates in caFile.
func probe(url, caFile string) error {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("no certificate in %s", caFile)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	res, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("%s is not the demo's Pebble: %w", url, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s, not an ACME directory", url, res.Status)
	}
	return nil
}
