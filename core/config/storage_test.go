package config

import (
	"slices"
	"strings"
	"testing"
)

func TestStorageTable(t *testing.T) {
	doc := goodDoc + `[storage]
endpoints = ["etcd1.example:2379", "https://etcd2.example:2379"]
prefix = "/prod/"
ca_file = "/etc/zonecert/etcd-ca.pem"
cert_file = "/etc/zonecert/etcd.pem"
key_file = "/etc/zonecert/etcd-key.pem"
username = "zonecert"
password = "${ETCD_PW}"
`
	cfg, err := parse(t, doc, 0o644, map[string]string{"RFC2136_TSIG_SECRET": "eA==", "ETCD_PW": "pw"})
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Storage
	if !s.Etcd() || !slices.Equal(s.Endpoints, []string{"etcd1.example:2379", "https://etcd2.example:2379"}) ||
		s.Prefix != "prod" || s.Password != "pw" || s.Username != "zonecert" || s.KeyFile == "" {
		t.Errorf("storage = %+v", s)
	}
	plain, err := parse(t, goodDoc, 0o644, map[string]string{"RFC2136_TSIG_SECRET": "eA=="})
	if err != nil || plain.Storage.Etcd() {
		t.Errorf("no [storage] table: %+v, %v", plain.Storage, err)
	}
	for _, c := range []struct{ table, want string }{
		{`prefix = "x"`, "endpoints are required"},
		{`endpoints = ["etcd1"]`, "not HOST:PORT"},
		{"endpoints = [\"e:2379\"]\ncert_file = \"/c\"", "go together"},
		{"endpoints = [\"e:2379\"]\nusername = \"u\"\npassword = \"literal\"", "literal secret"},
		{"endpoints = [\"e:2379\"]\nkey = \"x\"", "key"},
	} {
		_, err := parse(t, goodDoc+"[storage]\n"+c.table+"\n", 0o644, map[string]string{"RFC2136_TSIG_SECRET": "eA=="})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("[storage] %q: %v, want an error with %q", c.table, err, c.want)
		}
	}
}
