//go:build unix

package testenv

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBINDStopsWithTheTest checks that the named processes are gone once
// the test that started them has ended. The time the cleanups took is
// logged (run with -v); named exits within milliseconds of SIGTERM.
func TestBINDStopsWithTheTest(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs BIND9 and root")
	}
	t.Parallel()
	var pids []int
	var bodyDone time.Time
	t.Run("run", func(t *testing.T) {
		b := StartBIND(t, BINDConfig{Zones: []Zone{{Name: "stop.test"}}, Secondary: true})
		if err := b.Update(t.Context(), "stop.test", []string{`x.stop.test. 60 IN TXT "v"`}, nil); err != nil {
			t.Fatal(err)
		}
		for _, role := range []string{"primary", "secondary"} {
			raw, err := os.ReadFile(filepath.Join(b.Dir, role, "named.pid"))
			if err != nil {
				t.Fatalf("%s pid file: %v", role, err)
			}
			pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
			if err != nil || pid <= 1 {
				t.Fatalf("%s pid file holds %q", role, raw)
			}
			if err := syscall.Kill(pid, 0); err != nil {
				t.Fatalf("%s named (pid %d) is not running: %v", role, pid, err)
			}
			pids = append(pids, pid)
		}
		bodyDone = time.Now()
	})
	t.Logf("stopping primary and secondary took %s", time.Since(bodyDone))
	for _, pid := range pids {
		// cmd.Wait has reaped it, so the pid no longer exists.
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("named pid %d still exists after the test ended (kill -0: %v)", pid, err)
		}
	}
}
