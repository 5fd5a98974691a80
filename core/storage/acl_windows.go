package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/windows"
)

// privateDACL is the DACL of a state root on Windows: full control for
// SYSTEM, Administrators and the user running zonecert (%s), inherited by
// every directory and file below (OICI), and protected (P) from what the
// parent grants, since %ProgramData% lets every user read. Windows ignores
// Unix modes, so this is what makes key files private there.
const privateDACL = "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FA;;;%s)"

// protectRoot creates root with privateDACL when it does not exist yet. A
// root that already exists keeps the ACL its owner gave it.
func protectRoot(root string) error {
	if _, err := os.Lstat(root); !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return err
	}
	return protectDir(root)
}

// protectDir sets privateDACL on dir.
func protectDir(dir string) error {
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return fmt.Errorf("reading the process user: %w", err)
	}
	sd, err := windows.SecurityDescriptorFromString(fmt.Sprintf(privateDACL, u.User.Sid.String()))
	if err != nil {
		return err
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return err
	}
	err = windows.SetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil)
	if err != nil {
		return fmt.Errorf("setting the ACL of %s: %w", dir, err)
	}
	return nil
}
