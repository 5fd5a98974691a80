//go:build !unix

package storage

// oNoFollow: no such open flag here; FS relies on os.Root and on comparing
// the Lstat of a file with what was opened (see fs_walk.go).
const oNoFollow = 0
