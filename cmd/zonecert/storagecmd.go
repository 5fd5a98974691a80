package main

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/zonecert/zonecert/core/storage"
)

// copyLockWait bounds the wait for a lineage's lock in the destination
// (a daemon renewing it there).
const copyLockWait = time.Minute

func newStorageCmd(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "storage",
		Short: "Move zonecert state between a state directory and etcd",
	}
	var from, to string
	var force bool
	cp := &cobra.Command{
		Use:   "copy --from DIR|etcd://... --to DIR|etcd://...",
		Short: "Copy accounts, renewal plans and certificates (no new order)",
		Long: `Copy every ACME account, renewal plan and current certificate set from one
store to another: a state directory (a path) or etcd (etcd://HOST:2379/PREFIX,
with the credentials and encryption key of --storage). Nothing is ordered: the
lineages carry on in the destination. Challenge journals and locks are not
copied (stop the daemons first), nor archive/ history (etcd keeps none).
A lineage the destination already has is left alone unless --force.`,
		Example: `  ZONECERT_STORAGE_KEY_FILE=/etc/zonecert/storage.key zonecert storage copy --from /var/lib/zonecert --to etcd://etcd1:2379/zonecert
  zonecert storage copy --from etcd://etcd1:2379/zonecert --to /var/lib/zonecert`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" || to == "" {
				return usageError{errors.New("pass --from and --to")}
			}
			src, closeSrc, err := openSpec(e, from)
			if err != nil {
				return usageError{fmt.Errorf("--from: %w", err)}
			}
			defer closeSrc()
			if err := probe(cmd.Context(), src, func() {}); err != nil {
				return err
			}
			dst, closeDst, err := openSpec(e, to)
			if err != nil {
				return usageError{fmt.Errorf("--to: %w", err)}
			}
			defer closeDst()
			if err := probe(cmd.Context(), dst, func() {}); err != nil {
				return err
			}
			n, err := copyState(cmd.Context(), src, dst, force, func(msg string) { fmt.Fprintln(e.stdout, msg) })
			fmt.Fprintf(e.stdout, "%d lineage(s) copied\n", n)
			return err
		},
	}
	cp.Flags().StringVar(&from, "from", "", "source: a state directory or etcd://HOST:PORT/PREFIX")
	cp.Flags().StringVar(&to, "to", "", "destination: a state directory or etcd://HOST:PORT/PREFIX")
	cp.Flags().BoolVar(&force, "force", false, "replace lineages the destination already has")
	cmd.AddCommand(cp)
	return cmd
}

// copyState copies accounts, then each lineage (plan and live set) under
// the destination's certificate lock, fenced by it.
func copyState(ctx context.Context, src, dst storage.Storage, force bool, say func(string)) (int, error) {
	if err := copyTree(ctx, src, dst, storage.AccountsDir); err != nil {
		return 0, fmt.Errorf("copying accounts: %w", err)
	}
	plans, err := src.List(ctx, storage.RenewalDir)
	if err != nil {
		return 0, err
	}
	names, err := src.List(ctx, storage.LiveDir)
	if err != nil {
		return 0, err
	}
	for _, p := range plans {
		if n, ok := strings.CutSuffix(p, ".json"); ok && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	var errs []error
	copied := 0
	for _, name := range names {
		done, err := copyLineage(ctx, src, dst, name, force)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("lineage %s: %w", name, err))
		case done:
			copied++
			say("copied " + name)
		default:
			say("skipped " + name + ": the destination has it (--force replaces it)")
		}
	}
	return copied, errors.Join(errs...)
}

func copyLineage(ctx context.Context, src, dst storage.Storage, name string, force bool) (bool, error) {
	lctx, cancel := context.WithTimeout(ctx, copyLockWait)
	defer cancel()
	lock, err := dst.Lock(lctx, storage.CertLock(name), time.Minute)
	if err != nil {
		return false, err
	}
	defer func() { _ = lock.Release(context.WithoutCancel(ctx)) }()
	fctx := storage.WithFence(ctx, lock)
	if !force {
		if _, err := dst.Get(ctx, storage.RenewalKey(name)); err == nil {
			return false, nil
		}
		if have, _ := dst.List(ctx, storage.LiveKey(name)); len(have) > 0 {
			return false, nil
		}
	}
	members, err := src.List(ctx, storage.LiveKey(name))
	if err != nil {
		return false, err
	}
	if len(members) > 0 {
		set := map[string]storage.File{}
		for _, m := range members {
			b, err := src.Get(ctx, storage.LiveFileKey(name, m))
			if err != nil {
				return false, err
			}
			set[m] = storage.File{Data: b, Private: storage.Private(storage.LiveFileKey(name, m))}
		}
		if err := dst.PutSet(fctx, storage.LiveKey(name), set); err != nil {
			return false, err
		}
	}
	plan, err := src.Get(ctx, storage.RenewalKey(name))
	if errors.Is(err, storage.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return true, dst.Put(fctx, storage.RenewalKey(name), plan, false)
}

// copyTree copies every value under prefix. A name that lists children is
// a directory; one that lists none (or cannot be listed: an FS file) is a
// value.
func copyTree(ctx context.Context, src, dst storage.Storage, prefix string) error {
	names, err := src.List(ctx, prefix)
	if err != nil {
		return err
	}
	for _, n := range names {
		key := path.Join(prefix, n)
		if sub, err := src.List(ctx, key); err == nil && len(sub) > 0 {
			if err := copyTree(ctx, src, dst, key); err != nil {
				return err
			}
			continue
		}
		b, err := src.Get(ctx, key)
		if err != nil {
			return err
		}
		if err := dst.Put(ctx, key, b, storage.Private(key)); err != nil {
			return err
		}
	}
	return nil
}
