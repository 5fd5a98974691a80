package sdk

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/zonecert/zonecert/plugin"
)

// SettingsError carries field-level problems with a plugin's settings. New
// may return one (for example when a token is well-formed but the API
// rejects it); the host shows each diagnostic against its setting.
type SettingsError struct {
	Diagnostics []plugin.Diagnostic
}

func (e *SettingsError) Error() string {
	parts := make([]string, len(e.Diagnostics))
	for i, d := range e.Diagnostics {
		parts[i] = d.Setting + ": " + d.Message
	}
	return "invalid settings: " + strings.Join(parts, "; ")
}

// InvalidSetting returns a *SettingsError about one setting.
func InvalidSetting(setting, format string, args ...any) *SettingsError {
	return &SettingsError{Diagnostics: []plugin.Diagnostic{{Setting: setting, Message: fmt.Sprintf(format, args...)}}}
}

var (
	secretType   = reflect.TypeFor[Secret]()
	durationType = reflect.TypeFor[time.Duration]()
)

// field is one tagged field of a settings struct.
type field struct {
	index int
	spec  plugin.SettingSpec
}

// parseSchema reads the settings schema from S's struct tags. Untagged
// fields are ignored; a tag on an unsupported type is an error.
func parseSchema(t reflect.Type) ([]field, error) {
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("settings type %s is not a struct", t)
	}
	var out []field
	seen := map[string]bool{}
	for i := range t.NumField() {
		sf := t.Field(i)
		tag, ok := sf.Tag.Lookup("setting")
		if !ok {
			continue
		}
		if !sf.IsExported() {
			return nil, fmt.Errorf("settings field %s is not exported", sf.Name)
		}
		parts := strings.Split(tag, ",")
		spec := plugin.SettingSpec{Name: strings.TrimSpace(parts[0]), Default: sf.Tag.Get("default"), Doc: sf.Tag.Get("doc")}
		if spec.Name == "" {
			return nil, fmt.Errorf("settings field %s: empty setting name", sf.Name)
		}
		if seen[spec.Name] {
			return nil, fmt.Errorf("settings field %s: duplicate setting name %q", sf.Name, spec.Name)
		}
		seen[spec.Name] = true
		for _, opt := range parts[1:] {
			switch strings.TrimSpace(opt) {
			case "required":
				spec.Required = true
			case "secret":
				spec.Secret = true
			default:
				return nil, fmt.Errorf("settings field %s: unknown option %q", sf.Name, opt)
			}
		}
		if env := sf.Tag.Get("env"); env != "" {
			for _, e := range strings.Split(env, ",") {
				if e = strings.TrimSpace(e); e != "" {
					spec.Env = append(spec.Env, e)
				}
			}
		}
		switch {
		case sf.Type == secretType:
			spec.Type, spec.Secret = plugin.TypeString, true
		case sf.Type == durationType:
			spec.Type = plugin.TypeDuration
		case sf.Type.Kind() == reflect.String:
			spec.Type = plugin.TypeString
		case sf.Type.Kind() == reflect.Int:
			spec.Type = plugin.TypeInt
		case sf.Type.Kind() == reflect.Bool:
			spec.Type = plugin.TypeBool
		default:
			return nil, fmt.Errorf("settings field %s: unsupported type %s", sf.Name, sf.Type)
		}
		if spec.Default != "" {
			if _, err := parseValue(spec.Type, spec.Default); err != nil {
				return nil, fmt.Errorf("settings field %s: bad default: %w", sf.Name, err)
			}
		}
		out = append(out, field{index: i, spec: spec})
	}
	return out, nil
}

// decodeSettings fills *dst (a pointer to the settings struct). Precedence:
// the value sent in Configure, then the first set environment variable,
// then the default. Every problem becomes a diagnostic; values of secret
// settings never appear in one.
func decodeSettings(dst any, fields []field, given map[string]string, lookupEnv func(string) (string, bool)) []plugin.Diagnostic {
	v := reflect.ValueOf(dst).Elem()
	var diags []plugin.Diagnostic
	known := map[string]bool{}
	for _, f := range fields {
		known[f.spec.Name] = true
		raw, source, ok := lookup(f.spec, given, lookupEnv)
		if !ok {
			if f.spec.Required {
				diags = append(diags, plugin.Diagnostic{Setting: f.spec.Name, Message: missingMessage(f.spec)})
			}
			continue
		}
		val, err := parseValue(f.spec.Type, raw)
		if err != nil {
			msg := fmt.Sprintf("invalid %s from %s", f.spec.Type, source)
			if !f.spec.Secret {
				msg += fmt.Sprintf(": %q", raw)
			}
			diags = append(diags, plugin.Diagnostic{Setting: f.spec.Name, Message: msg})
			continue
		}
		v.Field(f.index).Set(reflect.ValueOf(val).Convert(v.Field(f.index).Type()))
	}
	for name := range given {
		if !known[name] {
			diags = append(diags, plugin.Diagnostic{Setting: name, Message: "unknown setting"})
		}
	}
	return diags
}

func lookup(spec plugin.SettingSpec, given map[string]string, lookupEnv func(string) (string, bool)) (raw, source string, ok bool) {
	if v, ok := given[spec.Name]; ok && v != "" {
		return v, "configuration", true
	}
	for _, e := range spec.Env {
		if v, ok := lookupEnv(e); ok && v != "" {
			return v, "$" + e, true
		}
	}
	if spec.Default != "" {
		return spec.Default, "default", true
	}
	return "", "", false
}

func missingMessage(spec plugin.SettingSpec) string {
	if len(spec.Env) == 0 {
		return "required but not set"
	}
	return "required but not set (set it in the configuration or $" + spec.Env[0] + ")"
}

func parseValue(t plugin.SettingType, raw string) (any, error) {
	switch t {
	case plugin.TypeInt:
		return strconv.Atoi(strings.TrimSpace(raw))
	case plugin.TypeBool:
		return strconv.ParseBool(strings.TrimSpace(raw))
	case plugin.TypeDuration:
		return time.ParseDuration(strings.TrimSpace(raw))
	default:
		return raw, nil
	}
}
