package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/zonecert/zonecert/core"
	"github.com/zonecert/zonecert/core/storage"
)

// certInfo is what `zonecert certificates` shows for one certificate.
type certInfo struct {
	Name      string    `json:"name"`
	Path      string    `json:"path"`
	Subject   string    `json:"subject"`
	DNSNames  []string  `json:"dns_names"`
	Issuer    string    `json:"issuer"`
	Serial    string    `json:"serial"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	ChainLen  int       `json:"chain_length"`
	Error     string    `json:"error,omitempty"`

	missing bool // no such lineage
}

func newCertificatesCmd(e env) *cobra.Command {
	var path string
	var jsonOut bool
	cmd := &cobra.Command{
		Use:     "certificates [NAME...]",
		Aliases: []string{"show"},
		Short:   "Show stored certificates: subject, names, issuer, validity",
		Example: `  zonecert certificates
  zonecert certificates _.example.com --json`,
		RunE: func(cmd *cobra.Command, names []string) error {
			if path == "" {
				p, err := defaultStatePath(e)
				if err != nil {
					return usageError{err}
				}
				path = p
			}
			if storageSpec(e) == "" {
				if err := checkStateDir(path); err != nil {
					return err
				}
			}
			store, closeStore, err := openChecked(cmd.Context(), e, path)
			if err != nil {
				return usageError{err}
			}
			defer closeStore()
			ctx := cmd.Context()
			named := len(names) > 0
			if len(names) == 0 {
				if names, err = store.List(ctx, storage.LiveDir); err != nil {
					return err
				}
			}
			var infos []certInfo
			for _, n := range names {
				if err := core.ValidateCertName(n); err != nil {
					return usageError{err}
				}
				info := inspect(ctx, store, n)
				if named && info.missing {
					// Like revoke and delete: a name that is not there is
					// the caller's mistake.
					return usageError{fmt.Errorf("no certificate named %s under %s (zonecert certificates lists them)", n, where(store, storage.LiveDir))}
				}
				infos = append(infos, info)
			}
			if jsonOut {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(infos)
			}
			if len(infos) == 0 {
				fmt.Fprintf(e.stdout, "no certificates under %s\n", where(store, storage.LiveDir))
			}
			bad := 0
			for _, c := range infos {
				if c.Error != "" {
					bad++
					fmt.Fprintf(e.stdout, "%s: %s\n", c.Name, c.Error)
					continue
				}
				if c.Subject == "" {
					c.Subject = "(empty: the names are in the SAN extension)"
				}
				fmt.Fprintf(e.stdout, "Certificate %s\n  Subject:   %s\n  Names:     %s\n  Issuer:    %s\n  Serial:    %s\n  Valid:     %s to %s (%s left)\n  Chain:     %d certificate(s)\n  Files:     %s\n",
					c.Name, c.Subject, strings.Join(c.DNSNames, ", "), c.Issuer, c.Serial,
					c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339),
					daysLeft(c.NotAfter), c.ChainLen, dirOf(c.Path))
			}
			if bad > 0 {
				return fmt.Errorf("%d certificate(s) unreadable", bad)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&path, "path", "", "state directory (default as for obtain)")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return cmd
}

// dirOf is the directory of a file where (local path or etcd:// URL).
func dirOf(p string) string {
	if strings.Contains(p, "://") { // filepath.Dir would clean the "//"
		return p[:strings.LastIndex(p, "/")]
	}
	return filepath.Dir(p)
}

// where is the local path of key, or the key where the store has none.
func where(store storage.Storage, key string) string {
	if p, ok := store.LocalPath(key); ok {
		return p
	}
	if s, ok := store.(fmt.Stringer); ok { // etcd://endpoints/prefix
		return s.String() + "/" + key
	}
	return key
}

func inspect(ctx context.Context, store storage.Storage, name string) certInfo {
	key := storage.LiveFileKey(name, storage.FullChainFile)
	path := where(store, key)
	info := certInfo{Name: name, Path: path}
	b, err := store.Get(ctx, key)
	if err != nil {
		info.Error = err.Error()
		info.missing = errors.Is(err, storage.ErrNotFound)
		return info
	}
	var certs []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			info.Error = fmt.Sprintf("parsing %s: %v", path, err)
			return info
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		info.Error = path + " holds no certificate"
		return info
	}
	leaf := certs[0]
	info.Subject = leaf.Subject.String()
	info.DNSNames = leaf.DNSNames
	info.Issuer = leaf.Issuer.String()
	info.Serial = fmt.Sprintf("%x", leaf.SerialNumber)
	info.NotBefore, info.NotAfter = leaf.NotBefore, leaf.NotAfter
	info.ChainLen = len(certs)
	return info
}

func daysLeft(t time.Time) string {
	d := time.Until(t)
	if d < 0 {
		return "expired"
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
