package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// isPathFlag reports whether the flag called name names a file or a
// directory. Those are made absolute once, before any command runs, so a
// relative one means the same thing to every part that uses it: the state
// directory and the hook directories under it, plugins started elsewhere,
// the renewal plan that records it.
func isPathFlag(name string) bool {
	switch name {
	case "path", "ca-bundle", "dns-config", "plugin-dir", "plugin-path", "key-file", "config":
		return true
	}
	return false
}

// absPathFlags rewrites every path flag given to cmd as an absolute path.
func absPathFlags(cmd *cobra.Command) error {
	var err error
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if err != nil || !isPathFlag(f.Name) {
			return
		}
		abs := func(p string) string {
			if p == "" || filepath.IsAbs(p) {
				return p
			}
			a, aerr := filepath.Abs(p)
			if aerr != nil {
				err = fmt.Errorf("--%s %s: %w", f.Name, p, aerr)
				return p
			}
			return a
		}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			vals := sv.GetSlice()
			for i, v := range vals {
				vals[i] = abs(v)
			}
			if rerr := sv.Replace(vals); rerr != nil && err == nil {
				err = fmt.Errorf("--%s: %w", f.Name, rerr)
			}
			return
		}
		if serr := f.Value.Set(abs(f.Value.String())); serr != nil && err == nil {
			err = fmt.Errorf("--%s: %w", f.Name, serr)
		}
	})
	return err
}
