package core

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/zonecert/zonecert/core/acme"
	"github.com/zonecert/zonecert/core/dns01"
	"github.com/zonecert/zonecert/core/storage"
)

// PlanVersion is the version of the renewal plan format this zonecert
// writes. It reads plans of this version and older ones it knows how to
// upgrade; a plan from a newer zonecert is refused rather than half
// understood.
const PlanVersion = 1

// ErrNoLineage means no certificate lineage of that name exists.
var ErrNoLineage = errors.New("core: no such certificate lineage")

// Plan is a lineage's renewal plan: everything `renew` needs to repeat the
// order. obtain writes it next to live/<name>. It never holds a secret:
// provider settings are recorded by where they come from (environment
// variable names, a --dns-config path), not by value.
type Plan struct {
	Version int    `json:"version"`
	Name    string `json:"name"`
	// Directory is the ACME directory URL: the lineage's CA.
	Directory string `json:"directory"`
	// Account is the URL of the account that ordered the certificate.
	Account  string `json:"account,omitempty"`
	Email    string `json:"email,omitempty"`
	AgreeTOS bool   `json:"agree_tos,omitempty"`

	Domains        []string     `json:"domains"`
	KeyType        acme.KeyType `json:"key_type"`
	ReuseKey       bool         `json:"reuse_key,omitempty"`
	Profile        string       `json:"profile,omitempty"`
	PreferredChain string       `json:"preferred_chain,omitempty"`

	ChallengeAliases map[string]string `json:"challenge_aliases,omitempty"`
	Zones            map[string]string `json:"zones,omitempty"`
	Wait             string            `json:"wait"`
	// Challenge is the validation method asked for, which renew repeats
	// (empty, in older plans, means auto); ChallengeUsed is the method of
	// the last order (auto resolves to dns-persist-01 or dns-01).
	Challenge          string   `json:"challenge,omitempty"`
	ChallengeUsed      string   `json:"challenge_used,omitempty"`
	PropagationTimeout Duration `json:"propagation_timeout,omitempty"`
	Resolvers          []string `json:"resolvers,omitempty"`

	Provider   ProviderSource `json:"provider"`
	DeployHook string         `json:"deploy_hook,omitempty"`
	// CABundle is the --ca-bundle file the lineage's CA is trusted
	// through (a path, never its content); renew reads it again.
	CABundle string `json:"ca_bundle,omitempty"`

	Updated time.Time `json:"updated"`
	// Check caches the last renewal decision, so an hourly renew asks the
	// CA nothing until it is due or the CA's Retry-After has passed.
	Check *RenewalCheck `json:"check,omitempty"`
}

// ProviderSource names a DNS provider and where its settings come from.
type ProviderSource struct {
	Name string `json:"name"`
	// Env are the names of the environment variables the plugin declares
	// that were set when the lineage was obtained; renew needs them again.
	Env []string `json:"env,omitempty"`
	// ConfigFile is the --dns-config path, read again at each renewal.
	ConfigFile   string   `json:"config_file,omitempty"`
	PluginPath   string   `json:"plugin_path,omitempty"`
	PluginDirs   []string `json:"plugin_dirs,omitempty"`
	PluginSHA256 string   `json:"plugin_sha256,omitempty"`
}

// Lifecycle is the part of a Request that concerns the lineage rather
// than the one order.
type Lifecycle struct {
	// Replaces is the ARI identifier of the certificate this order renews
	// (RFC 9773 §5).
	Replaces string
	// ReuseKey keeps the lineage's private key instead of a fresh one.
	ReuseKey bool
	// DryRun orders and validates but stores no certificate and no plan.
	DryRun bool
	// Force lets a lineage move to another CA.
	Force bool
	// Renewing is the stored plan this order renews; it is saved back as
	// it was, so a run's overrides (resolvers, say) stay out of it.
	Renewing *Plan
	// SystemResolvers says Resolvers came from the system configuration:
	// the plan leaves them out, so renewals read it again.
	SystemResolvers bool
	// Provider, DeployHook and CABundle are recorded in a new plan.
	Provider   ProviderSource
	DeployHook string
	CABundle   string
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Request is the order the plan repeats. Resolvers and the name server
// port may be overridden by the caller afterwards.
func (p Plan) Request() (Request, error) {
	w, err := dns01.ParseWait(p.Wait)
	if err != nil {
		return Request{}, err
	}
	return Request{
		Domains: slices.Clone(p.Domains), CertName: p.Name, DirectoryURL: p.Directory,
		Email: p.Email, AgreeTOS: p.AgreeTOS, KeyType: p.KeyType, Profile: p.Profile,
		PreferredChain: p.PreferredChain, Resolvers: slices.Clone(p.Resolvers),
		PropagationTimeout: time.Duration(p.PropagationTimeout), Wait: w,
		ChallengeAliases: p.ChallengeAliases, Zones: p.Zones, Challenge: p.Challenge,
		Lifecycle: Lifecycle{ReuseKey: p.ReuseKey, Provider: p.Provider, DeployHook: p.DeployHook, CABundle: p.CABundle},
	}, nil
}

// planFor is the plan recording req, ordered with the account acct.
func planFor(req Request, acct string, now time.Time) Plan {
	resolvers := req.Resolvers
	if req.SystemResolvers {
		resolvers = nil
	}
	challenge := req.Challenge
	if req.Provider.Name == "" && challenge == ChallengeAuto {
		challenge = acme.ChallengeDNSPersist01 // all auto can do without a provider
	}
	return Plan{
		Version: PlanVersion, Name: req.CertName, Directory: req.DirectoryURL, Account: acct,
		Email: req.Email, AgreeTOS: req.AgreeTOS, Domains: req.Domains, KeyType: req.KeyType,
		ReuseKey: req.ReuseKey, Profile: req.Profile, PreferredChain: req.PreferredChain,
		ChallengeAliases: req.ChallengeAliases, Zones: req.Zones, Wait: req.Wait.String(),
		PropagationTimeout: Duration(req.PropagationTimeout), Resolvers: resolvers,
		Provider: req.Provider, DeployHook: req.DeployHook, CABundle: req.CABundle, Challenge: challenge, Updated: now.UTC(),
	}
}

// DecodePlan parses and validates a stored plan. A plan of a newer format,
// unknown fields and missing essentials are errors of kind KindInput that
// say what is wrong; nothing is guessed.
func DecodePlan(name string, b []byte) (Plan, error) {
	var head struct {
		Version *int `json:"version"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return Plan{}, kindErr(KindInput, "renewal plan %s is corrupt: %v", name, err)
	}
	switch {
	case head.Version == nil:
		return Plan{}, kindErr(KindInput, "renewal plan %s is corrupt: no version field", name)
	case *head.Version > PlanVersion:
		return Plan{}, kindErr(KindInput, "renewal plan %s has format version %d, written by a newer zonecert (this one reads up to %d): upgrade zonecert",
			name, *head.Version, PlanVersion)
	case *head.Version < 1:
		return Plan{}, kindErr(KindInput, "renewal plan %s is corrupt: bad version %d", name, *head.Version)
	}
	var p Plan
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return Plan{}, kindErr(KindInput, "renewal plan %s is corrupt: %v", name, err)
	}
	if err := p.validate(name); err != nil {
		return Plan{}, kindErr(KindInput, "renewal plan %s is corrupt: %v", name, err)
	}
	return p, nil
}

func (p Plan) validate(name string) error {
	if p.Name != name {
		return fmt.Errorf("it names lineage %q", p.Name)
	}
	if p.Directory == "" {
		return errors.New("no directory URL")
	}
	ch, err := ParseChallenge(p.Challenge)
	if err != nil {
		return err
	}
	if p.Provider.Name == "" && ch != acme.ChallengeDNSPersist01 {
		return errors.New("no provider")
	}
	if _, err := NormalizeDomains(p.Domains); err != nil {
		return err
	}
	if _, err := acme.ParseKeyType(string(p.KeyType)); err != nil {
		return err
	}
	if _, err := dns01.ParseWait(p.Wait); err != nil {
		return err
	}
	return nil
}

// LoadPlan reads the plan of lineage name. A lineage without one wraps
// ErrNoLineage.
func LoadPlan(ctx context.Context, s storage.Storage, name string) (Plan, error) {
	if err := ValidateCertName(name); err != nil {
		return Plan{}, &Error{Kind: KindInput, Err: err}
	}
	b, err := s.Get(ctx, storage.RenewalKey(name))
	if errors.Is(err, storage.ErrNotFound) {
		return Plan{}, &Error{Kind: KindInput, Err: fmt.Errorf("%w: %s has no renewal plan", ErrNoLineage, name)}
	}
	if err != nil {
		return Plan{}, &Error{Kind: KindStorage, Err: fmt.Errorf("reading renewal plan %s: %w", name, err)}
	}
	return DecodePlan(name, b)
}

// SavePlan writes p atomically (0600: it holds no secret, but names where
// they are).
func SavePlan(ctx context.Context, s storage.Storage, p Plan) error {
	p.Version = PlanVersion
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	if err := s.Put(ctx, storage.RenewalKey(p.Name), append(b, '\n'), true); err != nil {
		return &Error{Kind: KindStorage, Err: fmt.Errorf("storing renewal plan %s: %w", p.Name, err)}
	}
	return nil
}

// Lineages lists the names of the lineages that have a renewal plan.
func Lineages(ctx context.Context, s storage.Storage) ([]string, error) {
	files, err := s.List(ctx, storage.RenewalDir)
	if err != nil {
		return nil, &Error{Kind: KindStorage, Err: fmt.Errorf("listing renewal plans: %w", err)}
	}
	var names []string
	for _, f := range files {
		if n, ok := strings.CutSuffix(f, ".json"); ok && storage.RenewalKey(n) == storage.RenewalDir+"/"+f {
			names = append(names, n)
		}
	}
	return names, nil
}

// checkLineage refuses to move an existing lineage to another CA unless
// req.Force is set, and returns its plan (nil when there is none).
func (e *Engine) checkLineage(ctx context.Context, req Request) (*Plan, error) {
	p, err := LoadPlan(ctx, e.store, req.CertName)
	if errors.Is(err, ErrNoLineage) {
		return nil, nil
	}
	if err != nil {
		if req.Force {
			e.log.LogAttrs(ctx, slog.LevelWarn, "replacing an unreadable renewal plan (--force)", errAttr(err))
			return nil, nil
		}
		return nil, err
	}
	// A dry run stores nothing, so it may rehearse on another CA (staging).
	if p.Directory != req.DirectoryURL && !req.Force && !req.DryRun {
		return nil, kindErr(KindInput, "certificate %s belongs to the CA %s, not %s: pass --force to move it, or choose another --cert-name",
			req.CertName, p.Directory, req.DirectoryURL)
	}
	return &p, nil
}
