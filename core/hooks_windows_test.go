package core

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A hook ending in .ps1 runs with PowerShell, a command through cmd /S /C
// verbatim, an .exe directly; directory hooks are recognised by extension.
func TestWindowsHookCommand(t *testing.T) {
	ctx := context.Background()
	if c := hookCommand(ctx, `C:\hooks\deploy.ps1`, true); !strings.EqualFold(filepath.Base(c.Path), "powershell.exe") || c.Args[len(c.Args)-1] != `C:\hooks\deploy.ps1` {
		t.Errorf(".ps1: %s %q", c.Path, c.Args)
	}
	if c := hookCommand(ctx, `net stop "W3SVC" && echo done`, false); c.SysProcAttr == nil || c.SysProcAttr.CmdLine != `cmd.exe /S /C "net stop "W3SVC" && echo done"` {
		t.Errorf("command: %+v", c.SysProcAttr)
	}
	if c := hookCommand(ctx, `C:\hooks\reload.exe`, true); c.Args[0] != `C:\hooks\reload.exe` || len(c.Args) != 1 {
		t.Errorf(".exe: %q", c.Args)
	}
	dir := t.TempDir()
	for name, ok := range map[string]bool{"a.exe": true, "b.PS1": true, "c.cmd": true, "d.sh": false, "e": false} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, nil, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := executable(p); (err == nil) != ok {
			t.Errorf("executable(%s) = %v, want ok=%v", name, err, ok)
		}
	}
	if got := programNames("certutil"); len(got) != len(runnable) || got[0] != "certutil.exe" {
		t.Errorf("programNames = %q", got)
	}
}
