package config

import (
	"net/url"
	"strings"
)

// storageDoc is the [storage] table: a shared etcd store instead of the
// state directory's files (README, "Running a fleet").
type storageDoc struct {
	Endpoints []string `toml:"endpoints"`
	Prefix    string   `toml:"prefix"`
	CAFile    string   `toml:"ca_file"`
	CertFile  string   `toml:"cert_file"`
	KeyFile   string   `toml:"key_file"`
	Username  string   `toml:"username"`
	// Password is a secret: "${ENV}" or "file:PATH", or a literal in a
	// 0600 file.
	Password string `toml:"password"`
}

// Storage is where the daemon keeps its state: the zero value means the
// state directory; Endpoints set means etcd. The key that seals private
// values never comes from here (ZONECERT_STORAGE_KEY_FILE).
type Storage struct {
	Endpoints                 []string
	Prefix                    string
	CAFile, CertFile, KeyFile string
	Username, Password        string
}

// Etcd reports whether the state lives in etcd.
func (s Storage) Etcd() bool { return len(s.Endpoints) > 0 }

func (v *validator) storage(raw *fileDoc, cfg *Config) {
	d := raw.Storage
	if len(d.Endpoints) == 0 {
		if d.Prefix != "" || d.CAFile != "" || d.CertFile != "" || d.KeyFile != "" || d.Username != "" || d.Password != "" {
			v.errorf(v.lines.at("storage"), "storage: endpoints are required (e.g. endpoints = [\"etcd1:2379\"])")
		}
		return
	}
	for i, ep := range d.Endpoints {
		host := ep
		if u, err := url.Parse(ep); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
			host = u.Host
		}
		if host == "" || !strings.Contains(host, ":") {
			v.errorf(v.lines.at("storage", "endpoints"), "storage.endpoints[%d]: %q is not HOST:PORT or a http(s) URL", i, ep)
		}
	}
	if (d.CertFile == "") != (d.KeyFile == "") {
		v.errorf(v.lines.at("storage"), "storage: cert_file and key_file go together")
	}
	if d.Password != "" && d.Username == "" {
		v.errorf(v.lines.at("storage", "password"), "storage.password: needs storage.username")
	}
	s := Storage{Endpoints: d.Endpoints, Prefix: strings.Trim(d.Prefix, "/"), CAFile: d.CAFile,
		CertFile: d.CertFile, KeyFile: d.KeyFile, Username: d.Username}
	if d.Password != "" {
		pw, literal, ok := v.resolve(d.Password, true, "storage", "password")
		if literal {
			v.literalSecrets = append(v.literalSecrets, v.lines.at("storage", "password"))
		}
		if ok {
			s.Password = pw
		}
	}
	cfg.Storage = s
}
