package storage

import (
	"context"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/windows"
)

// A state root FS creates is protected: its DACL does not inherit from the
// parent, and every ACE of the root and of a private key below it grants
// only SYSTEM, Administrators or the running user.
func TestWindowsStateACL(t *testing.T) {
	root := filepath.Join(t.TempDir(), "state")
	s, err := NewFS(root)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(context.Background(), "accounts/ca/1/key.pem", []byte("secret"), true); err != nil {
		t.Fatal(err)
	}
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{u.User.Sid.String(): true}
	for _, w := range []windows.WELL_KNOWN_SID_TYPE{windows.WinLocalSystemSid, windows.WinBuiltinAdministratorsSid} {
		sid, err := windows.CreateWellKnownSid(w)
		if err != nil {
			t.Fatal(err)
		}
		allowed[sid.String()] = true
	}
	for i, p := range []string{root, filepath.Join(root, "accounts", "ca", "1", "key.pem")} {
		sd, err := windows.GetNamedSecurityInfo(p, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			ctl, _, err := sd.Control()
			if err != nil {
				t.Fatal(err)
			}
			if ctl&windows.SE_DACL_PROTECTED == 0 {
				t.Errorf("%s: DACL not protected; it inherits from its parent", p)
			}
		}
		dacl, _, err := sd.DACL()
		if err != nil || dacl == nil {
			t.Fatalf("%s: no DACL (%v): everyone has access", p, err)
		}
		for j := uint32(0); j < uint32(dacl.AceCount); j++ {
			var ace *windows.ACCESS_ALLOWED_ACE
			if err := windows.GetAce(dacl, j, &ace); err != nil {
				t.Fatal(err)
			}
			sid := (*windows.SID)(unsafe.Pointer(&ace.SidStart))
			if !allowed[sid.String()] {
				t.Errorf("%s: ACE %d grants %s", p, j, sid)
			}
		}
	}
}
