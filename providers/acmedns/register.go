package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/zonecert/zonecert/plugin/sdk"
)

// register is `zonecert-dns-acmedns register -d DOMAIN`: it registers an
// acme-dns account for DOMAIN, saves it in the storage file under DOMAIN
// (lego's key) and prints the CNAME the user creates once. The API base
// and storage path come from flags or the plugin's own variables.
func register(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("register", flag.ContinueOnError)
	fl.SetOutput(stderr)
	env := func(k string) string { v, _ := lookupEnv(k); return v }
	domain := fl.String("d", "", "domain the account is for (\"*.\" is dropped: a wildcard shares its domain's account)")
	base := fl.String("api-base", env("ACME_DNS_API_BASE"), "acme-dns server URL (default $ACME_DNS_API_BASE)")
	path := fl.String("storage-path", env("ACME_DNS_STORAGE_PATH"), "accounts file (default $ACME_DNS_STORAGE_PATH)")
	var allow []string
	fl.Func("allow-from", "CIDR allowed to update the account (repeatable; default any)", func(s string) error {
		allow = append(allow, s)
		return nil
	})
	force := fl.Bool("force", false, "register a new account even if DOMAIN has one")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "zonecert-dns-acmedns register: %v\n", err)
		return 1
	}
	key := storageKey(*domain)
	switch {
	case key == "" || strings.ContainsAny(key, " /*"):
		fmt.Fprintln(stderr, "zonecert-dns-acmedns register: pass the domain with -d, e.g. -d example.com")
		return 2
	case *path == "":
		fmt.Fprintln(stderr, "zonecert-dns-acmedns register: no accounts file: set ACME_DNS_STORAGE_PATH or --storage-path")
		return 2
	}
	if err := checkBase(*base); err != nil {
		fmt.Fprintf(stderr, "zonecert-dns-acmedns register: ACME_DNS_API_BASE or --api-base: %v\n", err)
		return 2
	}
	accounts, err := loadAccounts(*path)
	if err != nil {
		return fail(err)
	}
	if a, ok := accounts[key]; ok && !*force {
		fmt.Fprintf(stdout, "%s already has an acme-dns account (--force registers a new one).\n", key)
		printCNAME(stdout, key, a)
		return 0
	}
	a, err := registerAccount(ctx, sdk.JSONAPI{Base: *base}, allow)
	if err != nil {
		return fail(err)
	}
	if err := saveAccount(*path, key, a); err != nil {
		return fail(err)
	}
	fmt.Fprintf(stdout, "Registered an acme-dns account for %s and saved it to %s.\n", key, *path)
	printCNAME(stdout, key, a)
	return 0
}

func printCNAME(w io.Writer, domain string, a account) {
	fmt.Fprintf(w, "Create this DNS record once (it serves %s and *.%s):\n\n    _acme-challenge.%s. CNAME %s\n",
		domain, domain, domain, canonical(a.FullDomain))
}

// registerAccount calls POST /register (acme-dns: 201 with the new
// account; allowfrom limits the addresses that may update it).
func registerAccount(ctx context.Context, api sdk.JSONAPI, allow []string) (account, error) {
	var in any
	if len(allow) > 0 {
		in = map[string][]string{"allowfrom": allow}
	}
	var a account
	if err := api.Do(ctx, http.MethodPost, "/register", in, &a); err != nil {
		return account{}, fmt.Errorf("registering: %w", err)
	}
	if a.FullDomain == "" || a.SubDomain == "" || a.Username == "" || a.Password == "" {
		return account{}, errors.New("registering: acme-dns answered without fulldomain, subdomain, username or password")
	}
	a.ServerURL = api.Base
	return a, nil
}
