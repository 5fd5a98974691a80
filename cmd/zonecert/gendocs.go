package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/zonecert/zonecert/core"
)

// newGendocsCmd is `zonecert gendocs DIR`, hidden: make dist writes the
// man pages (DIR/man/man1) and the shell completions (DIR/completions)
// from the command tree, so they cannot drift from the flags. The pages
// are dated by $SOURCE_DATE_EPOCH (the commit time), so two builds of one
// commit give the same bytes.
func newGendocsCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "gendocs DIR",
		Short:  "Write man pages and shell completions into DIR",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return gendocs(cmd.Root(), args[0])
		},
	}
}

func gendocs(root *cobra.Command, dir string) error {
	date := time.Unix(0, 0).UTC()
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH: %w", err)
		}
		date = time.Unix(sec, 0).UTC()
	}
	root.DisableAutoGenTag = true // it embeds the time of the run
	man := filepath.Join(dir, "man", "man1")
	if err := os.MkdirAll(man, 0o755); err != nil {
		return err
	}
	err := doc.GenManTree(root, &doc.GenManHeader{
		Title: "ZONECERT", Section: "1", Date: &date,
		Source: "zonecert " + core.Version, Manual: "zonecert manual",
	}, man)
	if err != nil {
		return fmt.Errorf("man pages: %w", err)
	}
	comp := filepath.Join(dir, "completions")
	if err := os.MkdirAll(comp, 0o755); err != nil {
		return err
	}
	for name, gen := range map[string]func(io.Writer) error{
		"zonecert.bash": func(w io.Writer) error { return root.GenBashCompletionV2(w, true) },
		"_zonecert":     root.GenZshCompletion,
		"zonecert.fish": func(w io.Writer) error { return root.GenFishCompletion(w, true) },
		"zonecert.ps1":  root.GenPowerShellCompletionWithDesc,
	} {
		f, err := os.Create(filepath.Join(comp, name))
		if err != nil {
			return err
		}
		if err := errors.Join(gen(f), f.Close()); err != nil {
			return fmt.Errorf("completion %s: %w", name, err)
		}
	}
	return nil
}
