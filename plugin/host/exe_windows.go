package host

import (
	"os"
	"path/filepath"
	"strings"
)

// exeSuffix ends a plugin binary's file name: Windows runs only files
// with an executable extension, and plugins are Go programs.
const exeSuffix = ".exe"

// isExecutable: Windows has no execute bit; a regular file ending in .exe
// is a program.
func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && executableFile(p, st)
}

// executableFile says whether st, the file at p, is a regular file with
// the executable extension.
func executableFile(p string, st os.FileInfo) bool {
	return st.Mode().IsRegular() && strings.EqualFold(filepath.Ext(p), exeSuffix)
}

// pluginName is the <name> of a file named zonecert-dns-<name>.exe, once
// the prefix is cut (file names are case-insensitive: .EXE counts).
func pluginName(rest string) (string, bool) {
	if len(rest) <= len(exeSuffix) || !strings.EqualFold(rest[len(rest)-len(exeSuffix):], exeSuffix) {
		return "", false
	}
	return rest[:len(rest)-len(exeSuffix)], true
}

// userPluginDir is $XDG_DATA_HOME\zonecert\plugins when set, else
// %LOCALAPPDATA%\zonecert\plugins.
func userPluginDir(lookupEnv func(string) (string, bool)) (string, bool) {
	for _, v := range []string{"XDG_DATA_HOME", "LOCALAPPDATA"} {
		if x, ok := lookupEnv(v); ok && filepath.IsAbs(x) {
			return filepath.Join(x, "zonecert", "plugins"), true
		}
	}
	return "", false
}
