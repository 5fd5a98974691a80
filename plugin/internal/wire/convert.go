package wire

import (
	"math"
	"time"

	"github.com/zonecert/zonecert/plugin"
	providerv1 "github.com/zonecert/zonecert/plugin/proto/provider/v1"
)

func recordsToProto(recs []plugin.Record) []*providerv1.Record {
	out := make([]*providerv1.Record, len(recs))
	for i, r := range recs {
		out[i] = &providerv1.Record{Id: r.ID, Fqdn: r.FQDN, Zone: r.Zone, Value: r.Value, Ttl: r.TTL, State: r.State,
			Identifier: r.Identifier, Token: r.Token, KeyAuthorization: r.KeyAuthorization}
	}
	return out
}

func recordsFromProto(recs []*providerv1.Record) []plugin.Record {
	out := make([]plugin.Record, len(recs))
	for i, r := range recs {
		out[i] = plugin.Record{ID: r.GetId(), FQDN: r.GetFqdn(), Zone: r.GetZone(), Value: r.GetValue(), TTL: r.GetTtl(), State: r.GetState(),
			Identifier: r.GetIdentifier(), Token: r.GetToken(), KeyAuthorization: r.GetKeyAuthorization()}
	}
	return out
}

func resultsToProto(res []plugin.Result) []*providerv1.Result {
	out := make([]*providerv1.Result, len(res))
	for i, r := range res {
		out[i] = &providerv1.Result{Id: r.ID, State: r.State, Error: errorToProto(r.Err)}
	}
	return out
}

func resultsFromProto(res []*providerv1.Result) []plugin.Result {
	out := make([]plugin.Result, len(res))
	for i, r := range res {
		out[i] = plugin.Result{ID: r.GetId(), State: r.GetState(), Err: errorFromProto(r.GetError())}
	}
	return out
}

func errorToProto(e *plugin.Error) *providerv1.Error {
	if e == nil {
		return nil
	}
	return &providerv1.Error{Code: codeToProto(e.Code), Retryable: e.Retryable, Message: e.Message,
		RetryAfterMs: uint32(min(max(e.RetryAfter.Milliseconds(), 0), math.MaxUint32))}
}

func errorFromProto(e *providerv1.Error) *plugin.Error {
	if e == nil {
		return nil
	}
	return &plugin.Error{Code: codeFromProto(e.GetCode()), Retryable: e.GetRetryable(), Message: e.GetMessage(),
		RetryAfter: time.Duration(e.GetRetryAfterMs()) * time.Millisecond}
}

func codeToProto(c plugin.Code) providerv1.ErrorCode {
	switch c {
	case plugin.CodeAuth:
		return providerv1.ErrorCode_ERROR_CODE_AUTH
	case plugin.CodeZoneNotFound:
		return providerv1.ErrorCode_ERROR_CODE_ZONE_NOT_FOUND
	case plugin.CodeRateLimited:
		return providerv1.ErrorCode_ERROR_CODE_RATE_LIMITED
	case plugin.CodeConflict:
		return providerv1.ErrorCode_ERROR_CODE_CONFLICT
	default:
		return providerv1.ErrorCode_ERROR_CODE_OTHER
	}
}

// codeFromProto maps unknown future codes to CodeOther.
func codeFromProto(c providerv1.ErrorCode) plugin.Code {
	switch c {
	case providerv1.ErrorCode_ERROR_CODE_AUTH:
		return plugin.CodeAuth
	case providerv1.ErrorCode_ERROR_CODE_ZONE_NOT_FOUND:
		return plugin.CodeZoneNotFound
	case providerv1.ErrorCode_ERROR_CODE_RATE_LIMITED:
		return plugin.CodeRateLimited
	case providerv1.ErrorCode_ERROR_CODE_CONFLICT:
		return plugin.CodeConflict
	default:
		return plugin.CodeOther
	}
}

// MetadataToProto converts metadata for the wire.
func MetadataToProto(m plugin.Metadata) *providerv1.Metadata {
	out := &providerv1.Metadata{
		Name:            m.Name,
		Version:         m.Version,
		ProtocolVersion: int32(m.ProtocolVersion),
		Description:     m.Description,
		PassEnv:         m.PassEnv,
		Capabilities: &providerv1.Capabilities{
			MaxBatch:  uint32(max(m.Capabilities.MaxBatch, 0)),
			Sync:      m.Capabilities.Sync,
			ListZones: m.Capabilities.ListZones,
			NoDelete:  m.Capabilities.NoDelete,
			// A negative cap is meaningless; it travels as "no limit".
			MaxValuesPerName: uint32(max(m.Capabilities.MaxValuesPerName, 0)),
			ProvisionedNames: m.Capabilities.ProvisionedNames,
			ChallengeDetails: m.Capabilities.ChallengeDetails,
		},
	}
	for _, s := range m.Settings {
		out.Settings = append(out.Settings, &providerv1.SettingSpec{
			Name: s.Name, Env: s.Env, Type: typeToProto(s.Type), Required: s.Required,
			Secret: s.Secret, DefaultValue: s.Default, Doc: s.Doc,
		})
	}
	return out
}

// MetadataFromProto converts metadata from the wire.
func MetadataFromProto(m *providerv1.Metadata) plugin.Metadata {
	out := plugin.Metadata{
		Name:            m.GetName(),
		Version:         m.GetVersion(),
		ProtocolVersion: int(m.GetProtocolVersion()),
		Description:     m.GetDescription(),
		PassEnv:         m.GetPassEnv(),
		Capabilities: plugin.Capabilities{
			MaxBatch:  int(m.GetCapabilities().GetMaxBatch()),
			Sync:      m.GetCapabilities().GetSync(),
			ListZones: m.GetCapabilities().GetListZones(),
			NoDelete:  m.GetCapabilities().GetNoDelete(),
			// Fields an older plugin does not send read as zero: no limits.
			MaxValuesPerName: int(m.GetCapabilities().GetMaxValuesPerName()),
			ProvisionedNames: m.GetCapabilities().GetProvisionedNames(),
			ChallengeDetails: m.GetCapabilities().GetChallengeDetails(),
		},
	}
	for _, s := range m.GetSettings() {
		out.Settings = append(out.Settings, plugin.SettingSpec{
			Name: s.GetName(), Env: s.GetEnv(), Type: typeFromProto(s.GetType()), Required: s.GetRequired(),
			Secret: s.GetSecret(), Default: s.GetDefaultValue(), Doc: s.GetDoc(),
		})
	}
	return out
}

func typeToProto(t plugin.SettingType) providerv1.SettingType {
	switch t {
	case plugin.TypeString:
		return providerv1.SettingType_SETTING_TYPE_STRING
	case plugin.TypeInt:
		return providerv1.SettingType_SETTING_TYPE_INT
	case plugin.TypeBool:
		return providerv1.SettingType_SETTING_TYPE_BOOL
	case plugin.TypeDuration:
		return providerv1.SettingType_SETTING_TYPE_DURATION
	default:
		return providerv1.SettingType_SETTING_TYPE_UNSPECIFIED
	}
}

func typeFromProto(t providerv1.SettingType) plugin.SettingType {
	switch t {
	case providerv1.SettingType_SETTING_TYPE_INT:
		return plugin.TypeInt
	case providerv1.SettingType_SETTING_TYPE_BOOL:
		return plugin.TypeBool
	case providerv1.SettingType_SETTING_TYPE_DURATION:
		return plugin.TypeDuration
	default:
		return plugin.TypeString
	}
}
