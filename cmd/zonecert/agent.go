package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/zonecert/zonecert/core"
	"github.com/zonecert/zonecert/core/storage"
	"github.com/zonecert/zonecert/core/storage/etcdstore"
)

// agentRetry bounds the wait between attempts while etcd is unreachable.
const (
	agentRetryMin = 500 * time.Millisecond
	agentRetryMax = 30 * time.Second
)

type agentFlags struct {
	names       []string
	path        string
	deployHook  string
	hookTimeout time.Duration
}

func newAgentCmd(e env) *cobra.Command {
	f := &agentFlags{}
	cmd := &cobra.Command{
		Use:   "agent --storage etcd://... --cert-name NAME... --path DIR [--deploy-hook CMD]",
		Short: "Keep local copies of certificates from a fleet's etcd (no DNS or CA access)",
		Long: `Watch certificates in etcd and keep DIR/live/<name>/ current in certbot's layout
(archive/<name>/<N>/ behind a symlink that is swapped atomically), with the
private key decrypted locally (ZONECERT_STORAGE_KEY_FILE). After each change
the deploy hook runs with RENEWED_LINEAGE and RENEWED_DOMAINS. While etcd is
unreachable the last good files stay; on start and reconnect the agent reads
every certificate again, so it catches up on what it missed. It needs only
read access to the prefix (README, "Running a fleet").`,
		Example: `  ZONECERT_STORAGE_KEY_FILE=/etc/zonecert/storage.key ZONECERT_ETCD_USERNAME=agent-web ZONECERT_ETCD_PASSWORD_FILE=/etc/zonecert/etcd.pw \
    zonecert agent --storage etcd://etcd1:2379/zonecert --cert-name web --path /etc/letsencrypt --deploy-hook "systemctl reload nginx"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAgent(cmd.Context(), e, f)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&f.names, "cert-name", nil, "certificate to keep (repeatable; required)")
	fl.StringVar(&f.path, "path", "", "local directory for live/ and archive/ (required)")
	fl.StringVar(&f.deployHook, "deploy-hook", "", "command to run after a certificate changed")
	fl.DurationVar(&f.hookTimeout, "hook-timeout", 5*time.Minute, "how long a hook may run")
	return cmd
}

type agent struct {
	src   *etcdstore.Store
	dst   *storage.FS
	hooks *core.Hooks
	hook  string
	names []string
	log   *slog.Logger
}

func runAgent(ctx context.Context, e env, f *agentFlags) error {
	if len(f.names) == 0 {
		return usageError{errors.New("no certificate: pass --cert-name NAME (repeatable)")}
	}
	for _, n := range f.names {
		if err := core.ValidateCertName(n); err != nil {
			return usageError{fmt.Errorf("--cert-name: %w", err)}
		}
	}
	if f.path == "" {
		return usageError{errors.New("no local directory: pass --path DIR")}
	}
	if e.store == nil || !strings.HasPrefix(e.store.spec, "etcd://") {
		if e.getenv("ZONECERT_STORAGE") == "" {
			return usageError{errors.New("the agent reads etcd: pass --storage etcd://HOST:2379/PREFIX")}
		}
	}
	st, closeStore, err := openStorage(e, "")
	if err != nil {
		return usageError{err}
	}
	defer closeStore()
	src, ok := st.(*etcdstore.Store)
	if !ok {
		return usageError{errors.New("the agent reads etcd: --storage must be etcd://")}
	}
	dst, err := storage.NewFS(f.path)
	if err != nil {
		return usageError{err}
	}
	log := cliLogger(e, false)
	a := &agent{src: src, dst: dst, hooks: newHooks(e, f.path, f.hookTimeout, log), hook: f.deployHook,
		names: slices.Compact(slices.Sorted(slices.Values(f.names))), log: log}
	return a.run(ctx)
}

// run syncs every certificate, then applies what a watch reports, from
// the revision the sync read. A failed sync or a broken watch starts
// over after a backoff: the files on disk stay as they are meanwhile.
func (a *agent) run(ctx context.Context) error {
	delay := agentRetryMin
	for {
		rev, err := a.syncAll(ctx)
		if err == nil {
			delay = agentRetryMin
			err = a.watch(ctx, rev+1)
		}
		if ctx.Err() != nil {
			return nil
		}
		a.log.LogAttrs(ctx, slog.LevelWarn, "etcd unavailable: keeping the last good files", slog.String("store", a.src.String()),
			slog.Duration("retry_in", delay), agentErrAttr(err))
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		delay = min(2*delay, agentRetryMax)
	}
}

// syncAll syncs every name and returns the lowest revision read, so the
// watch that follows misses no change.
func (a *agent) syncAll(ctx context.Context) (int64, error) {
	var low int64
	for _, n := range a.names {
		rev, err := a.sync(ctx, n)
		if err != nil {
			return 0, err
		}
		if low == 0 || rev < low {
			low = rev
		}
	}
	return low, nil
}

func (a *agent) watch(ctx context.Context, rev int64) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for resp := range a.src.Watch(wctx, storage.LiveDir, rev) {
		if err := resp.Err(); err != nil {
			return err
		}
		changed := map[string]bool{}
		for _, ev := range resp.Events {
			k, _ := a.src.StorageKey(string(ev.Kv.Key))
			parts := strings.Split(k, "/") // live/<name>/<file>
			if len(parts) == 3 && slices.Contains(a.names, parts[1]) {
				changed[parts[1]] = true
			}
		}
		for _, n := range slices.Sorted(maps.Keys(changed)) {
			if _, err := a.sync(ctx, n); err != nil {
				return err
			}
		}
	}
	return fmt.Errorf("watch ended: %w", context.Cause(wctx))
}

// sync makes the local live/<name> the set etcd holds, and runs the deploy
// hook when it changed. A set etcd does not have (yet) leaves the local
// files alone.
func (a *agent) sync(ctx context.Context, name string) (int64, error) {
	set, rev, err := a.src.ReadSet(ctx, storage.LiveKey(name))
	if err != nil {
		return 0, err
	}
	if len(set) == 0 || set[storage.CertFile] == nil || set[storage.PrivKeyFile] == nil {
		a.log.LogAttrs(ctx, slog.LevelInfo, "no certificate in etcd yet", slog.String("cert", name))
		return rev, nil
	}
	if a.same(ctx, name, set) {
		return rev, nil
	}
	files := map[string]storage.File{}
	for f, b := range set {
		files[f] = storage.File{Data: b, Private: storage.Private(storage.LiveFileKey(name, f))}
	}
	if err := a.dst.PutSet(ctx, storage.LiveKey(name), files); err != nil {
		// A local write failure is not etcd's: report it and keep going.
		a.log.LogAttrs(ctx, slog.LevelError, "writing certificate", slog.String("cert", name), agentErrAttr(err))
		return rev, nil
	}
	dir, _ := a.dst.LocalPath(storage.LiveKey(name))
	domains := certDomains(set[storage.CertFile])
	a.log.LogAttrs(ctx, slog.LevelInfo, "certificate updated", slog.String("cert", name), slog.String("path", dir),
		slog.String("domains", strings.Join(domains, " ")))
	if a.hook != "" {
		if err := a.hooks.Deploy(ctx, a.hook, dir, domains); err != nil {
			a.log.LogAttrs(ctx, slog.LevelError, "deploy hook failed", slog.String("cert", name), agentErrAttr(err))
		}
	}
	return rev, nil
}

// same reports whether the local set equals set, member for member.
func (a *agent) same(ctx context.Context, name string, set map[string][]byte) bool {
	have, err := a.dst.List(ctx, storage.LiveKey(name))
	if err != nil || !slices.Equal(have, slices.Sorted(maps.Keys(set))) {
		return false
	}
	for f, b := range set {
		cur, err := a.dst.Get(ctx, storage.LiveFileKey(name, f))
		if err != nil || !bytes.Equal(cur, b) {
			return false
		}
	}
	return true
}

// certDomains are the DNS names of the first certificate in pemData.
func certDomains(pemData []byte) []string {
	blk, _ := pem.Decode(pemData)
	if blk == nil {
		return nil
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil
	}
	return c.DNSNames
}

func agentErrAttr(err error) slog.Attr {
	if err == nil {
		return slog.Attr{}
	}
	return slog.String("error", err.Error())
}
