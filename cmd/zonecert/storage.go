package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/zonecert/zonecert/core/config"
	"github.com/zonecert/zonecert/core/storage"
	"github.com/zonecert/zonecert/core/storage/etcdstore"
)

// storeFlags holds the persistent --storage flag: where the state lives
// when it is not the --path directory.
type storeFlags struct {
	spec string
}

func (s *storeFlags) bind(fl *pflag.FlagSet) {
	fl.StringVar(&s.spec, "storage", "", "shared state store instead of --path: etcd://HOST:2379[,HOST:2379]/PREFIX[?ca=FILE&cert=FILE&key=FILE] (env ZONECERT_STORAGE; credentials in ZONECERT_ETCD_USERNAME, ZONECERT_ETCD_PASSWORD[_FILE]; encryption key in ZONECERT_STORAGE_KEY_FILE or ZONECERT_STORAGE_KEY)")
}

// etcdSpec is an etcd store as --storage or the config's [storage] table
// names it.
type etcdSpec struct {
	Endpoints                 []string
	Prefix                    string
	CAFile, CertFile, KeyFile string
	Username, Password        string
}

// openStorage is the one place that chooses the state backend: --storage
// (or ZONECERT_STORAGE) when given, else the FS directory path. The
// returned close releases the backend's connections.
func openStorage(e env, path string) (storage.Storage, func(), error) {
	spec := storageSpec(e)
	if spec == "" {
		fs, err := storage.NewFS(path)
		return fs, func() {}, err
	}
	return openSpec(e, spec)
}

// storageSpec is the --storage flag, else ZONECERT_STORAGE: "" for the
// --path directory.
func storageSpec(e env) string {
	if e.store != nil && e.store.spec != "" {
		return e.store.spec
	}
	return e.getenv("ZONECERT_STORAGE")
}

// openChecked is openStorage for a command: an etcd that does not answer
// fails it within etcdProbeTimeout.
func openChecked(ctx context.Context, e env, path string) (storage.Storage, func(), error) {
	s, closeStore, err := openStorage(e, path)
	if err != nil {
		return nil, nil, err
	}
	if err := probe(ctx, s, closeStore); err != nil {
		return nil, nil, err
	}
	return s, closeStore, nil
}

// openSpec opens an etcd:// URL, or the state directory spec names.
func openSpec(e env, spec string) (storage.Storage, func(), error) {
	if !strings.Contains(spec, "://") {
		fs, err := storage.NewFS(spec)
		return fs, func() {}, err
	}
	es, err := parseStorageURL(spec)
	if err != nil {
		return nil, nil, err
	}
	es.Username = e.getenv("ZONECERT_ETCD_USERNAME")
	if es.Password, err = secretFromEnv(e, "ZONECERT_ETCD_PASSWORD"); err != nil {
		return nil, nil, err
	}
	return openEtcd(e, es)
}

// parseStorageURL reads etcd://host:port[,host:port]/prefix[?ca=&cert=&key=].
func parseStorageURL(spec string) (etcdSpec, error) {
	u, err := url.Parse(spec)
	if err != nil || u.Scheme != "etcd" || u.Host == "" {
		return etcdSpec{}, usageError{fmt.Errorf("--storage %q: want etcd://HOST:PORT[,HOST:PORT]/PREFIX", spec)}
	}
	if u.User != nil {
		return etcdSpec{}, usageError{errors.New("--storage: credentials do not belong in the URL (process arguments are public): use ZONECERT_ETCD_USERNAME and ZONECERT_ETCD_PASSWORD_FILE")}
	}
	q := u.Query()
	es := etcdSpec{
		Endpoints: strings.Split(u.Host, ","),
		Prefix:    strings.Trim(u.Path, "/"),
		CAFile:    q.Get("ca"), CertFile: q.Get("cert"), KeyFile: q.Get("key"),
	}
	for k := range q {
		if k != "ca" && k != "cert" && k != "key" {
			return etcdSpec{}, usageError{fmt.Errorf("--storage: unknown parameter %q (want ca, cert, key)", k)}
		}
	}
	return es, nil
}

// secretFromEnv reads NAME, or the file NAME_FILE names.
func secretFromEnv(e env, name string) (string, error) {
	if v := e.getenv(name); v != "" {
		return v, nil
	}
	f := e.getenv(name + "_FILE")
	if f == "" {
		return "", nil
	}
	b, err := os.ReadFile(f)
	if err != nil {
		return "", fmt.Errorf("%s_FILE: %w", name, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// storageKeys reads the encryption keys of private values: the file
// ZONECERT_STORAGE_KEY_FILE names, or ZONECERT_STORAGE_KEY itself. Never
// from a config file. None is not an error here: the store then refuses
// private values with a message that names these variables.
func storageKeys(e env) ([][]byte, error) {
	text := []byte(e.getenv("ZONECERT_STORAGE_KEY"))
	if f := e.getenv("ZONECERT_STORAGE_KEY_FILE"); f != "" {
		fi, err := os.Stat(f)
		if err != nil {
			return nil, fmt.Errorf("ZONECERT_STORAGE_KEY_FILE: %w", err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("ZONECERT_STORAGE_KEY_FILE %s is readable by others (mode %v): chmod 600 it", f, fi.Mode().Perm())
		}
		if text, err = os.ReadFile(f); err != nil {
			return nil, fmt.Errorf("ZONECERT_STORAGE_KEY_FILE: %w", err)
		}
	}
	if len(text) == 0 {
		return nil, nil
	}
	return etcdstore.ParseKeys(text)
}

// etcdProbeTimeout bounds the first question a command asks etcd.
const etcdProbeTimeout = 10 * time.Second

// probe fails a command at once on a cluster it cannot reach; the agent
// and the daemon do not probe: they wait out an outage.
func probe(ctx context.Context, s storage.Storage, closeStore func()) error {
	es, ok := s.(*etcdstore.Store)
	if !ok {
		return nil
	}
	if err := es.Probe(ctx, etcdProbeTimeout); err != nil {
		closeStore()
		return err
	}
	return nil
}

func openEtcd(e env, es etcdSpec) (storage.Storage, func(), error) {
	keys, err := storageKeys(e)
	if err != nil {
		return nil, nil, usageError{err}
	}
	opts := etcdstore.Options{Endpoints: es.Endpoints, Prefix: es.Prefix, Username: es.Username, Password: es.Password, Keys: keys}
	if es.CAFile != "" || es.CertFile != "" {
		if opts.TLS, err = etcdTLS(es); err != nil {
			return nil, nil, usageError{err}
		}
	}
	s, err := etcdstore.New(opts)
	if err != nil {
		return nil, nil, err
	}
	return s, func() { _ = s.Close() }, nil
}

// etcdTLS builds the client TLS config: the cluster's CA, and a client
// certificate when the cluster authenticates clients by certificate.
func etcdTLS(es etcdSpec) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if es.CAFile != "" {
		pem, err := os.ReadFile(es.CAFile)
		if err != nil {
			return nil, fmt.Errorf("etcd CA: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("etcd CA %s holds no PEM certificate", es.CAFile)
		}
	}
	if (es.CertFile == "") != (es.KeyFile == "") {
		return nil, errors.New("etcd client certificate: give both cert and key")
	}
	if es.CertFile != "" {
		c, err := tls.LoadX509KeyPair(es.CertFile, es.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("etcd client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	return cfg, nil
}

// daemonStorage is the daemon's store: --storage (or ZONECERT_STORAGE),
// else the config's [storage] table, else nil (the daemon's state
// directory). A reload does not change it: restart to move the state.
func daemonStorage(e env, cfg *config.Config) (storage.Storage, func(), error) {
	if (e.store != nil && e.store.spec != "") || e.getenv("ZONECERT_STORAGE") != "" {
		return openStorage(e, cfg.State)
	}
	if !cfg.Storage.Etcd() {
		return nil, func() {}, nil
	}
	s := cfg.Storage
	return openEtcd(e, etcdSpec{Endpoints: s.Endpoints, Prefix: s.Prefix, CAFile: s.CAFile,
		CertFile: s.CertFile, KeyFile: s.KeyFile, Username: s.Username, Password: s.Password})
}
