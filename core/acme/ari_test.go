package acme

import (
	"crypto/x509"
	"encoding/hex"
	"math/big"
	"testing"
)

// TestARICertID checks the certificate identifier against the example of
// RFC 9773 §4.1, whose serial needs a leading zero octet, and a serial that
// does not.
func TestARICertID(t *testing.T) {
	t.Parallel()
	aki, _ := hex.DecodeString("69885B6B87464041E1B37B847BA0AE2CDE01C8D4")
	for _, tc := range []struct {
		serial int64
		want   string
	}{
		{0x87654321, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"},
		{0x7f01, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.fwE"},
	} {
		got, err := ARICertID(&x509.Certificate{AuthorityKeyId: aki, SerialNumber: big.NewInt(tc.serial)})
		if err != nil || got != tc.want {
			t.Errorf("ARICertID(serial %#x) = %q, %v; want %q", tc.serial, got, err, tc.want)
		}
	}
	for _, c := range []*x509.Certificate{nil, {SerialNumber: big.NewInt(1)}, {AuthorityKeyId: aki}, {AuthorityKeyId: aki, SerialNumber: big.NewInt(-1)}} {
		if id, err := ARICertID(c); err == nil {
			t.Errorf("ARICertID(%v) = %q, want an error", c, id)
		}
	}
}
