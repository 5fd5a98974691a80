package config

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	toml "github.com/pelletier/go-toml/v2"
)

// fileDoc is the document as written. Keys follow the shape; added
// keys are documented in the README.
type fileDoc struct {
	State      string                 `toml:"state"`
	PluginDirs []string               `toml:"plugin_dirs"`
	ACME       acmeDoc                `toml:"acme"`
	DNS        dnsDoc                 `toml:"dns"`
	Defaults   defaultsDoc            `toml:"defaults"`
	Hooks      hooksDoc               `toml:"hooks"`
	Daemon     daemonDoc              `toml:"daemon"`
	Providers  map[string]providerDoc `toml:"providers"`
	Cert       []certDoc              `toml:"certificate"`
	Storage    storageDoc             `toml:"storage"` // storage.go

	// dropped holds the dotted paths of keys the decoder reported and
	// removed, so the validator does not call them missing as well.
	dropped map[string]bool
}

// reported tells whether the key at path was present but unusable, and
// already reported by the decoder.
func (d *fileDoc) reported(path ...string) bool { return d.dropped[dotted(path)] }

type acmeDoc struct {
	Server   string `toml:"server"`
	CABundle string `toml:"ca_bundle"`
	Email    string `toml:"email"`
	AgreeTOS bool   `toml:"agree_tos"`
	EABKID   string `toml:"eab_kid"`
	EABHMAC  string `toml:"eab_hmac"`
}

type dnsDoc struct {
	Resolvers          []string `toml:"resolvers"`
	PropagationTimeout string   `toml:"propagation_timeout"`
	Wait               string   `toml:"wait"`
	NameserverPort     int      `toml:"nameserver_port"`
}

type defaultsDoc struct {
	KeyType        string `toml:"key_type"`
	Profile        string `toml:"profile"`
	PreferredChain string `toml:"preferred_chain"`
}

type hooksDoc struct {
	Pre    string `toml:"pre_hook"`
	Post   string `toml:"post_hook"`
	Deploy string `toml:"deploy_hook"`
}

type daemonDoc struct {
	CheckInterval       string `toml:"check_interval"`
	Jitter              string `toml:"jitter"`
	MaxConcurrent       *int   `toml:"max_concurrent"`
	NewOrderConcurrency *int   `toml:"new_order_concurrency"`
	FleetNewOrders      *int   `toml:"fleet_new_order_concurrency"`
	RetryMin            string `toml:"retry_min"`
	RetryMax            string `toml:"retry_max"`
	StopTimeout         string `toml:"stop_timeout"`
}

type providerDoc struct {
	Plugin   string         `toml:"plugin"`
	Path     string         `toml:"path"`
	SHA256   string         `toml:"sha256"`
	PassEnv  []string       `toml:"pass_env"`
	Settings map[string]any `toml:"settings"`
	limitsDoc
}

type certDoc struct {
	Name           string            `toml:"name"`
	Domains        []string          `toml:"domains"`
	Provider       string            `toml:"provider"`
	Providers      map[string]string `toml:"providers"`
	KeyType        string            `toml:"key_type"`
	Profile        string            `toml:"profile"`
	PreferredChain string            `toml:"preferred_chain"`
	PreHook        string            `toml:"pre_hook"`
	PostHook       string            `toml:"post_hook"`
	DeployHook     string            `toml:"deploy_hook"`
}

// decode reads doc strictly, reporting every unknown key and every value
// of the wrong type at once, each with its line and key path, in the
// file's own terms ("want true or false, got \"yes\""), never Go's. Keys
// in error are dropped, so the rest of the document still decodes and the
// validator can report its own errors beside these. Only a syntax error
// stops decoding (raw is nil then).
func decode(file string, doc []byte) (*fileDoc, Errors) {
	var generic map[string]any
	if err := toml.Unmarshal(doc, &generic); err != nil {
		if de, ok := errors.AsType[*toml.DecodeError](err); ok {
			row, _ := de.Position()
			return nil, Errors{{File: file, Line: row, Msg: "syntax error: " + strings.TrimPrefix(de.Error(), "toml: ")}}
		}
		return nil, Errors{{File: file, Msg: "syntax error: " + strings.TrimPrefix(err.Error(), "toml: ")}}
	}
	c := checker{file: file, lines: indexLines(doc), dropped: map[string]bool{}}
	c.table(nil, generic, reflect.TypeFor[fileDoc]())
	clean, err := toml.Marshal(generic)
	if err != nil {
		return nil, append(c.errs, &Error{File: file, Msg: err.Error()})
	}
	var raw fileDoc
	if err := toml.Unmarshal(clean, &raw); err != nil {
		return nil, append(c.errs, &Error{File: file, Msg: strings.TrimPrefix(err.Error(), "toml: ")})
	}
	raw.dropped = c.dropped
	return &raw, c.errs
}

// checker walks the generic document against fileDoc's shape.
type checker struct {
	file    string
	lines   lines
	errs    Errors
	dropped map[string]bool
}

func (c *checker) errorf(path []string, format string, args ...any) {
	c.errs = append(c.errs, &Error{File: c.file, Line: c.lines.at(path...), Msg: dotted(path) + ": " + fmt.Sprintf(format, args...)})
}

// dotted spells a path as the file does: acme.agree_tos, certificate[2].name.
func dotted(path []string) string {
	var b strings.Builder
	for i, seg := range path {
		switch {
		case strings.HasPrefix(seg, "#"):
			b.WriteString("[" + seg[1:] + "]")
		case i > 0:
			b.WriteString("." + seg)
		default:
			b.WriteString(seg)
		}
	}
	return b.String()
}

// fields maps the toml names of t's fields (embedded structs included).
func fields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for f := range t.Fields() {
		if f.Anonymous {
			maps.Copy(out, fields(f.Type))
			continue
		}
		if name, _, _ := strings.Cut(f.Tag.Get("toml"), ","); name != "" {
			out[name] = f.Type
		}
	}
	return out
}

// table checks a table against struct type t, deleting bad keys from m.
func (c *checker) table(path []string, m map[string]any, t reflect.Type) {
	known := fields(t)
	for _, k := range slices.Sorted(maps.Keys(m)) {
		p := append(clip(path), k)
		ft, ok := known[k]
		if !ok {
			c.errs = append(c.errs, &Error{File: c.file, Line: c.lines.at(p...), Msg: fmt.Sprintf("unknown key %q", dotted(p))})
			delete(m, k)
			continue
		}
		if !c.value(p, m[k], ft) {
			c.dropped[dotted(p)] = true
			delete(m, k)
		}
	}
}

// value checks v against type t; false means v is unusable and was
// reported.
func (c *checker) value(path []string, v any, t reflect.Type) bool {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		if _, ok := v.(string); !ok {
			c.errorf(path, "want a string in quotes, got %s", describe(v))
			return false
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			c.errorf(path, "want true or false, got %s", describe(v))
			return false
		}
	case reflect.Int:
		if _, ok := v.(int64); !ok {
			c.errorf(path, "want a whole number, got %s", describe(v))
			return false
		}
	case reflect.Float64:
		switch v.(type) {
		case int64, float64:
		default:
			c.errorf(path, "want a number, got %s", describe(v))
			return false
		}
	case reflect.Interface:
	case reflect.Slice:
		list, ok := v.([]any)
		if !ok {
			c.errorf(path, "want a list, got %s", describe(v))
			return false
		}
		good := true
		for i, el := range list {
			if t.Elem().Kind() == reflect.Struct {
				m, ok := el.(map[string]any)
				if !ok {
					c.errorf(append(clip(path), idx(i)), "want a table, got %s", describe(el))
					good = false
					continue
				}
				c.table(append(clip(path), idx(i)), m, t.Elem())
				continue
			}
			good = c.value(append(clip(path), idx(i)), el, t.Elem()) && good
		}
		return good
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			c.errorf(path, "want a table, got %s", describe(v))
			return false
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			p := append(clip(path), k)
			if t.Elem().Kind() == reflect.Struct {
				sub, ok := m[k].(map[string]any)
				if !ok {
					c.errorf(p, "want a table, got %s", describe(m[k]))
					delete(m, k)
					continue
				}
				c.table(p, sub, t.Elem())
				continue
			}
			if !c.value(p, m[k], t.Elem()) {
				delete(m, k)
			}
		}
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			c.errorf(path, "want a table, got %s", describe(v))
			return false
		}
		c.table(path, m, t)
	}
	return true
}

// describe spells a decoded TOML value as the file would.
func describe(v any) string {
	switch v := v.(type) {
	case string:
		return strconv.Quote(v)
	case map[string]any:
		return "a table"
	case []any:
		return "a list"
	case time.Time, toml.LocalDate, toml.LocalDateTime, toml.LocalTime:
		return fmt.Sprintf("the date %v", v)
	}
	return fmt.Sprint(v)
}
