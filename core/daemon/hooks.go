package daemon

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/zonecert/zonecert/core/daemon/config"
)

// hookTimeout bounds one hook; a reload of a web server takes seconds.
const hookTimeout = 5 * time.Minute

// HookRunner runs a certificate's shell hooks. The lifecycle's hook runner
// plugs in here.
type HookRunner interface {
	// Run runs command (kind is pre, post or deploy) for cert.
	Run(ctx context.Context, kind, command string, cert config.Certificate, lineage string) error
}

// shellHooks runs hooks with /bin/sh -c and a small environment: PATH and
// HOME of the daemon plus certbot's RENEWED_LINEAGE and RENEWED_DOMAINS and
// zonecert's own names, so certbot deploy hooks work unchanged.
type shellHooks struct {
	lookupEnv func(string) (string, bool)
}

func (h shellHooks) Run(ctx context.Context, kind, command string, cert config.Certificate, lineage string) error {
	ctx, cancel := context.WithTimeout(ctx, hookTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", command)
	env := []string{
		"ZONECERT_HOOK=" + kind,
		"ZONECERT_CERT_NAME=" + cert.Name,
		"ZONECERT_DOMAINS=" + strings.Join(cert.Domains, " "),
		"RENEWED_LINEAGE=" + lineage,
		"RENEWED_DOMAINS=" + strings.Join(cert.Domains, " "),
	}
	for _, k := range []string{"PATH", "HOME"} {
		if v, ok := h.lookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(out.String())
		if len(msg) > 512 {
			msg = msg[:512] + "…"
		}
		return fmt.Errorf("%s hook: %w: %s", kind, err, msg)
	}
	return nil
}
