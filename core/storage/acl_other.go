//go:build !windows

package storage

// protectRoot: on Unix the 0700 directories and 0600 files FS creates are
// the protection (see acl_windows.go for Windows).
func protectRoot(string) error { return nil }
