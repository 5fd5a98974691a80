package main

import "path/filepath"

// systemStatePath is %ProgramData%\zonecert, where a Windows service keeps
// machine-wide state. core/storage creates it with an ACL that lets only
// SYSTEM, Administrators and the creating user in.
func systemStatePath(e env) (string, bool) {
	d := e.getenv("ProgramData")
	if d == "" || !filepath.IsAbs(d) {
		d = `C:\ProgramData`
	}
	return filepath.Join(d, "zonecert"), true
}
