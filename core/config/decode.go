package config

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

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
}

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
	RetryMin            string `toml:"retry_min"`
	RetryMax            string `toml:"retry_max"`
	StopTimeout         string `toml:"stop_timeout"`
}

type providerDoc struct {
	Plugin   string         `toml:"plugin"`
	Path     string         `toml:"path"`
	SHA256   string         `toml:"sha256"`
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

// decode reads doc strictly; unknown keys and syntax or type errors come
// back with their lines.
func decode(file string, doc []byte) (*fileDoc, Errors) {
	var raw fileDoc
	dec := toml.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	err := dec.Decode(&raw)
	if err == nil {
		return &raw, nil
	}
	var errs Errors
	if sm, ok := errors.AsType[*toml.StrictMissingError](err); ok {
		for _, e := range sm.Errors {
			row, _ := e.Position()
			errs = append(errs, &Error{File: file, Line: row, Msg: fmt.Sprintf("unknown key %q", strings.Join(e.Key(), "."))})
		}
		return nil, errs
	}
	if de, ok := errors.AsType[*toml.DecodeError](err); ok {
		row, _ := de.Position()
		return nil, Errors{{File: file, Line: row, Msg: strings.TrimPrefix(de.Error(), "toml: ")}}
	}
	return nil, Errors{{File: file, Msg: err.Error()}}
}
