package plugin

// ProtocolVersion is the major protocol version this module speaks
// (protobuf package zonecert.provider.v1). It is negotiated in the
// go-plugin handshake so a v2 can be added beside it.
const ProtocolVersion = 1

// Metadata describes a plugin; GetMetadata returns it and the SDK's
// `describe` subcommand prints it as JSON.
type Metadata struct {
	Name            string        `json:"name"`
	Version         string        `json:"version"`
	ProtocolVersion int           `json:"protocol_version"`
	Description     string        `json:"description"`
	Settings        []SettingSpec `json:"settings"`
	Capabilities    Capabilities  `json:"capabilities"`
	// PassEnv names extra environment variables the plugin reads itself
	// (a vendor SDK's credential chain, say); the host passes them through.
	PassEnv []string `json:"pass_env,omitempty"`
	// Selector and Variants serve a bridge hosting many providers in one
	// binary (zonecert-dns-lego): Selector names the setting that chooses
	// one, and each variant adds its own settings. The host passes a
	// plugin only the environment of the chosen variant, never another's
	// (see SelectVariant). Describe output only: after Configure the
	// plugin reports the chosen variant's settings in Settings.
	Selector string    `json:"selector,omitempty"`
	Variants []Variant `json:"variants,omitempty"`
}

// Variant is one provider a bridge plugin hosts.
type Variant struct {
	Name        string        `json:"name"`
	Description string        `json:"description,omitempty"`
	Settings    []SettingSpec `json:"settings"`
}

// SelectVariant returns m with the settings of the variant chosen by the
// Selector setting (its value in settings, else in its environment
// variables) appended to Settings, and Variants dropped; ok is false when
// m has variants but none is chosen or the choice names no variant. A
// plugin without variants comes back unchanged.
func (m Metadata) SelectVariant(settings map[string]string, lookupEnv func(string) (string, bool)) (out Metadata, ok bool) {
	if m.Selector == "" || len(m.Variants) == 0 {
		return m, true
	}
	var choice string
	for _, s := range m.Settings {
		if s.Name != m.Selector {
			continue
		}
		if v, found := settings[s.Name]; found {
			choice = v
			break
		}
		for _, e := range s.Env {
			if v, found := lookupEnv(e); found && v != "" {
				choice = v
				break
			}
		}
	}
	out = m
	out.Variants = nil
	out.Settings = append([]SettingSpec(nil), m.Settings...)
	for _, v := range m.Variants {
		if v.Name == choice {
			out.Settings = append(out.Settings, v.Settings...)
			return out, true
		}
	}
	return out, false
}

// ResolversSetting is the name of a setting the host fills with its
// recursive resolvers (host:port, comma-separated) when a plugin declares
// it and the user did not set it: a plugin that must ask DNS itself (lego
// looks up CNAMEs and zones) then asks what zonecert asks, never the
// system's resolvers by accident.
const ResolversSetting = "resolvers"

// SettingType is the type of one setting's value.
type SettingType string

// Setting types.
const (
	TypeString   SettingType = "string"
	TypeInt      SettingType = "int"
	TypeBool     SettingType = "bool"
	TypeDuration SettingType = "duration"
)

// SettingSpec declares one setting a plugin accepts. The host passes a
// plugin only the environment variables its settings declare.
type SettingSpec struct {
	Name     string      `json:"name"`
	Env      []string    `json:"env,omitempty"` // first is canonical; others are accepted aliases
	Type     SettingType `json:"type"`
	Required bool        `json:"required,omitempty"`
	Secret   bool        `json:"secret,omitempty"`
	Default  string      `json:"default,omitempty"`
	Doc      string      `json:"doc"`
}

// Capabilities are optional features a plugin announces.
type Capabilities struct {
	// MaxBatch is the most records one Present/CleanUp call may carry; 0 means no limit.
	MaxBatch int `json:"max_batch,omitempty"`
	// Sync: the plugin implements WaitForSync.
	Sync bool `json:"sync,omitempty"`
	// ListZones: the plugin can list the zones it hosts.
	ListZones bool `json:"list_zones,omitempty"`

	// The limits below describe APIs that cannot meet the whole contract
	// of [Provider] (acme-dns, for one). A plugin declares them; the host
	// schedules around them and the conformance kit checks exactly what is
	// declared, failing a plugin whose behaviour differs.

	// NoDelete: the API cannot delete a value. CleanUp succeeds without
	// removing anything, and the host reports the values as left in place.
	NoDelete bool `json:"no_delete,omitempty"`
	// MaxValuesPerName is the most TXT values the API keeps at one name; 0
	// means no limit. Presenting one more drops the oldest, so the host
	// never puts more than this many values at one name in one wait.
	MaxValuesPerName int `json:"max_values_per_name,omitempty"`
	// ProvisionedNames: only names set up in advance (say, one account per
	// name) can be written; others are refused with CodeZoneNotFound.
	ProvisionedNames bool `json:"provisioned_names,omitempty"`
	// ChallengeDetails: the plugin wants each record's ACME details
	// (Record.Identifier, Token, KeyAuthorization); the host sends them
	// to no other plugin.
	ChallengeDetails bool `json:"challenge_details,omitempty"`
}

// Limited reports whether c declares any limit on the contract.
func (c Capabilities) Limited() bool {
	return c.NoDelete || c.MaxValuesPerName > 0 || c.ProvisionedNames
}

// CapabilityReporter is implemented by providers that declare their
// capabilities rather than have them found by type assertion: the host's
// plugin client has every method, whatever the plugin behind it supports.
type CapabilityReporter interface {
	Capabilities() Capabilities
}

// CapabilitiesOf returns what p declares, or, for a provider that does not
// report them, what its optional interfaces say.
func CapabilitiesOf(p Provider) Capabilities {
	if r, ok := p.(CapabilityReporter); ok {
		return r.Capabilities()
	}
	var c Capabilities
	_, c.Sync = p.(Syncer)
	_, c.ListZones = p.(ZoneLister)
	return c
}

// Diagnostic is a field-level problem with a plugin's settings, returned by
// Configure.
type Diagnostic struct {
	Setting string `json:"setting"`
	Message string `json:"message"`
}
