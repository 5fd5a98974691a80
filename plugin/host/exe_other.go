//go:build !windows

package host

import (
	"os"
	"path/filepath"
)

// exeSuffix ends a plugin binary's file name.
const exeSuffix = ""

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && executableFile(p, st)
}

// executableFile says whether st, the file at p, is a regular file with an
// execute bit.
func executableFile(_ string, st os.FileInfo) bool {
	return st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0
}

// pluginName is the <name> of a file named zonecert-dns-<name>, once the
// prefix is cut.
func pluginName(rest string) (string, bool) { return rest, true }

// userPluginDir is $XDG_DATA_HOME/zonecert/plugins, or
// ~/.local/share/zonecert/plugins.
func userPluginDir(lookupEnv func(string) (string, bool)) (string, bool) {
	if x, ok := lookupEnv("XDG_DATA_HOME"); ok && filepath.IsAbs(x) {
		return filepath.Join(x, "zonecert", "plugins"), true
	} else if h, ok := lookupEnv("HOME"); ok && filepath.IsAbs(h) {
		return filepath.Join(h, ".local", "share", "zonecert", "plugins"), true
	}
	return "", false
}
