package preflight

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/zonecert/zonecert/core/acme"
)

// maxSkew is the clock difference from the CA worth a warning.
const maxSkew = 30 * time.Second

// CAOptions says what the order will ask of the CA.
type CAOptions struct {
	DirectoryURL string
	Profile      string
	HasEAB       bool
}

// CheckCA fetches the directory and reports what the CA offers (ARI,
// profiles, EAB) and the clock skew from its Date header. It also returns
// the directory, for CAA identities.
func (c *Checker) CheckCA(ctx context.Context, o CAOptions) ([]Finding, *acme.Directory) {
	f := func(sev Severity, msg, fix string) Finding {
		return Finding{Check: CheckCA, Name: o.DirectoryURL, Severity: sev, Message: msg, Fix: fix}
	}
	hc := c.cfg.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.DirectoryURL, nil)
	if err != nil {
		return []Finding{f(Error, err.Error(), "give the directory URL, e.g. https://acme-v02.api.letsencrypt.org/directory")}, nil
	}
	sent := c.now()
	resp, err := hc.Do(req)
	if err != nil {
		return []Finding{f(Error, "directory unreachable: "+err.Error(), "check the URL, the network and --ca-bundle")}, nil
	}
	defer resp.Body.Close()
	got := c.now()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return []Finding{f(Error, fmt.Sprintf("directory answered %s", resp.Status), "check the directory URL")}, nil
	}
	var dir acme.Directory
	if err := json.Unmarshal(body, &dir); err != nil || dir.NewOrder == "" {
		return []Finding{f(Error, "the answer is not an ACME directory", "check the directory URL")}, nil
	}
	var out []Finding
	var offers []string
	if dir.RenewalInfo != "" {
		offers = append(offers, "ARI")
	} else {
		offers = append(offers, "no ARI")
	}
	if len(dir.Meta.Profiles) > 0 {
		names := make([]string, 0, len(dir.Meta.Profiles))
		for n := range dir.Meta.Profiles {
			names = append(names, n)
		}
		slices.Sort(names)
		offers = append(offers, "profiles "+strings.Join(names, ", "))
		if o.Profile != "" && !slices.Contains(names, o.Profile) {
			out = append(out, f(Error, fmt.Sprintf("the CA offers no profile %q", o.Profile), "use one of "+strings.Join(names, ", ")))
		}
	}
	if len(dir.Meta.CAAIdentities) > 0 {
		offers = append(offers, "CAA identities "+strings.Join(dir.Meta.CAAIdentities, ", "))
	}
	if dir.Meta.ExternalAccountRequired {
		offers = append(offers, "EAB required")
		if !o.HasEAB {
			out = append(out, f(Error, "the CA requires External Account Binding and none is given",
				"get an EAB key ID and MAC key from the CA and pass --eab-kid and ZONECERT_EAB_HMAC"))
		}
	}
	out = append(out, f(OK, "directory reachable: "+strings.Join(offers, "; "), ""))
	if d, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		mid := sent.Add(got.Sub(sent) / 2)
		skew := mid.Sub(d)
		if skew.Abs() > maxSkew+time.Second {
			out = append(out, f(Warning, fmt.Sprintf("this clock is %s off the CA's", skew.Round(time.Second)),
				"synchronize the clock (NTP): certificates' validity is set by the CA's clock"))
		}
	}
	return out, &dir
}
