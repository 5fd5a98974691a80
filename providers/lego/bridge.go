package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/go-acme/lego/v5/challenge/dns01"
	legolog "github.com/go-acme/lego/v5/log"

	"github.com/zonecert/zonecert/plugin"
	"github.com/zonecert/zonecert/plugin/sdk"
)

// Setting names of the bridge itself; each provider adds its own.
const (
	settingProvider  = "provider"
	settingResolvers = plugin.ResolversSetting
)

func commonSettings() []plugin.SettingSpec {
	return []plugin.SettingSpec{
		{Name: settingProvider, Env: []string{"LEGO_PROVIDER"}, Type: plugin.TypeString, Required: true,
			Doc: "the lego DNS provider's code (digitalocean, route53, dnsupdate...): `zonecert-dns-lego describe` lists them"},
		{Name: settingResolvers, Env: []string{"LEGO_DNS_RESOLVERS"}, Type: plugin.TypeString, Required: true,
			Doc: "recursive resolvers (host:port, comma-separated) lego uses for CNAME and zone lookups; zonecert passes its own"},
	}
}

// byCode finds a hosted provider by code or alias.
func byCode(code string) (legoProvider, bool) {
	for _, p := range hosted {
		if p.code == code {
			return p, true
		}
		for _, a := range p.aliases {
			if a == code {
				return p, true
			}
		}
	}
	return legoProvider{}, false
}

// settingsOf are a provider's settings, named after lego's variables in
// lower case: credentials are secret (lego also reads VAR_FILE for each),
// additional ones optional. Which credentials are needed together is
// lego's to say, so none is marked required: lego's own error names the
// missing variable at Configure.
func settingsOf(p legoProvider) []plugin.SettingSpec {
	var out []plugin.SettingSpec
	for _, c := range p.credentials {
		out = append(out, plugin.SettingSpec{Name: strings.ToLower(c.env), Env: []string{c.env, c.env + "_FILE"},
			Type: plugin.TypeString, Secret: true, Doc: c.doc})
	}
	for _, a := range p.additional {
		out = append(out, plugin.SettingSpec{Name: strings.ToLower(a.env), Env: []string{a.env}, Type: plugin.TypeString,
			Secret: looksSecret(a.env), Doc: a.doc})
	}
	return out
}

// looksSecret says whether an additional setting holds a secret by its
// name: lego's metadata files some (DNSUPDATE_TSIG_SECRET, passwords) as
// additional. Marking a harmless one secret only keeps it out of logs.
func looksSecret(env string) bool {
	for _, w := range []string{"SECRET", "PASSWORD", "TOKEN", "PRIVATE", "API_KEY", "APIKEY"} {
		if strings.Contains(env, w) {
			return true
		}
	}
	return strings.HasSuffix(env, "_KEY")
}

func newBridge() sdk.Bridge {
	m := plugin.Metadata{
		Name:        "lego",
		Version:     version,
		Description: fmt.Sprintf("lego's DNS providers (%d), chosen by LEGO_PROVIDER", len(hosted)),
		Settings:    commonSettings(),
		Selector:    settingProvider,
	}
	for _, p := range hosted {
		for _, code := range append([]string{p.code}, p.aliases...) {
			m.Variants = append(m.Variants, plugin.Variant{Name: code, Description: p.name, Settings: settingsOf(p)})
		}
	}
	return sdk.Bridge{Metadata: m, Configure: configure}
}

// configure builds the chosen lego provider. Settings given by name are
// put in the environment under lego's names, where lego reads them: this
// process serves one provider, so the environment is its own.
func configure(ctx context.Context, given map[string]string, lookupEnv func(string) (string, bool),
	log *slog.Logger) (sdk.Provider, plugin.Metadata, []plugin.Diagnostic, error) {
	// lego logs to stdout by default, which is the plugin protocol's.
	legolog.SetDefault(log)
	get := func(s plugin.SettingSpec) string {
		if v, ok := given[s.Name]; ok {
			return v
		}
		for _, e := range s.Env {
			if v, ok := lookupEnv(e); ok && v != "" {
				return v
			}
		}
		return ""
	}
	common := commonSettings()
	code := get(common[0])
	diag := func(setting, format string, args ...any) (sdk.Provider, plugin.Metadata, []plugin.Diagnostic, error) {
		return nil, plugin.Metadata{}, []plugin.Diagnostic{{Setting: setting, Message: fmt.Sprintf(format, args...)}}, nil
	}
	if code == "" {
		return diag(settingProvider, "missing: set LEGO_PROVIDER (or the setting provider) to a lego DNS provider's code")
	}
	p, ok := byCode(code)
	if !ok {
		if why, left := unavailable[code]; left {
			return diag(settingProvider, "lego provider %q is not in this build: %s", code, why)
		}
		return diag(settingProvider, "unknown lego provider %q (this build hosts %d; `zonecert-dns-lego describe` lists them)", code, len(hosted))
	}
	resolvers := splitList(get(common[1]))
	if len(resolvers) == 0 {
		return diag(settingResolvers, "missing: zonecert passes its resolvers; without them lego would use the system's")
	}
	specs := settingsOf(p)
	known := map[string]plugin.SettingSpec{}
	for _, s := range append(common, specs...) {
		known[s.Name] = s
	}
	for name, v := range given {
		s, ok := known[name]
		if !ok {
			return diag(name, "unknown setting for lego provider %s", p.code)
		}
		if len(s.Env) > 0 && name != settingProvider && name != settingResolvers {
			if err := os.Setenv(s.Env[0], v); err != nil {
				return nil, plugin.Metadata{}, nil, err
			}
		}
	}
	dns01.SetDefaultClient(dns01.NewClient(&dns01.Options{RecursiveNameservers: resolvers}))
	prov, err := p.new()
	if err != nil {
		// lego's message names the variable that is missing or wrong.
		return diag(settingFor(specs, err.Error()), "lego provider %s: %v", p.code, err)
	}
	caps := plugin.Capabilities{ChallengeDetails: true}
	if _, seq := prov.(interface{ Sequential() time.Duration }); seq {
		// lego solves such providers one challenge at a time: they may
		// replace the values at a name (dnsupdate removes the RRset).
		caps.MaxValuesPerName = 1
	}
	if l, ok := providerLimits[p.code]; ok {
		caps.NoDelete, caps.MaxValuesPerName, caps.ProvisionedNames = l.NoDelete, l.MaxValuesPerName, l.ProvisionedNames
	}
	meta := plugin.Metadata{
		Description:  "lego provider " + p.code + " (" + p.name + ")",
		Settings:     append(common, specs...),
		Capabilities: caps,
	}
	return &bridge{code: p.code, lego: prov, log: log}, meta, nil, nil
}

// providerLimits are limits of lego providers that lego's interface does
// not show, declared so that the engine schedules around them.
var providerLimits = map[string]plugin.Capabilities{
	// CleanUp does nothing, acme-dns keeps the last two values of an
	// account (a third overwrites the oldest), and each name needs its
	// account (and the user's CNAME to it) set up in advance.
	"acmedns": {NoDelete: true, MaxValuesPerName: 2, ProvisionedNames: true},
}

// settingFor names the setting whose variable lego's error mentions, or
// the provider setting.
func settingFor(specs []plugin.SettingSpec, msg string) string {
	for _, s := range specs {
		if strings.Contains(msg, s.Env[0]) {
			return s.Name
		}
	}
	return settingProvider
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		out = append(out, f)
	}
	return out
}
