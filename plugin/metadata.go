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
}

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
