package wire

import (
	"slices"
	"testing"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	"github.com/zonecert/zonecert/plugin"
	providerv1 "github.com/zonecert/zonecert/plugin/proto/provider/v1"
)

// FuzzRecordRoundTrip sends one record through the conversions and the
// protobuf encoding, as a Present call does: it arrives unchanged, or, with
// text that is not UTF-8 (protobuf strings must be), encoding fails with an
// error. Seeds are in testdata/fuzz/FuzzRecordRoundTrip.
func FuzzRecordRoundTrip(f *testing.F) {
	f.Fuzz(func(t *testing.T, id, fqdn, zone, value string, ttl uint32, state []byte) {
		in := []plugin.Record{{ID: id, FQDN: fqdn, Zone: zone, Value: value, TTL: ttl, State: state}}
		b, err := proto.Marshal(&providerv1.PresentRequest{Records: recordsToProto(in)})
		valid := utf8.ValidString(id) && utf8.ValidString(fqdn) && utf8.ValidString(zone) && utf8.ValidString(value)
		if err != nil {
			if valid {
				t.Fatalf("encoding %+v: %v", in[0], err)
			}
			return
		}
		if !valid {
			t.Fatalf("encoded %+v, which is not UTF-8", in[0])
		}
		var req providerv1.PresentRequest
		if err := proto.Unmarshal(b, &req); err != nil {
			t.Fatalf("decoding what was encoded: %v", err)
		}
		out := recordsFromProto(req.GetRecords())
		if len(out) != 1 || out[0].ID != id || out[0].FQDN != fqdn || out[0].Zone != zone ||
			out[0].Value != value || out[0].TTL != ttl || !slices.Equal(out[0].State, state) {
			t.Fatalf("sent %+v, received %+v", in[0], out)
		}
	})
}

// FuzzWireMessages decodes arbitrary bytes as a plugin's answers (results
// with errors, metadata): whatever decodes converts without panicking, and
// converting back and forth again changes nothing (unknown codes and
// setting types settle on CodeOther and TypeString). Seeds are in
// testdata/fuzz/FuzzWireMessages.
func FuzzWireMessages(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		var res providerv1.PresentResponse
		if proto.Unmarshal(b, &res) == nil {
			once := resultsFromProto(res.GetResults())
			twice := resultsFromProto(resultsToProto(once))
			if len(once) != len(twice) {
				t.Fatalf("%d results became %d", len(once), len(twice))
			}
			for i := range once {
				a, c := once[i], twice[i]
				if a.ID != c.ID || !slices.Equal(a.State, c.State) || (a.Err == nil) != (c.Err == nil) ||
					a.Err != nil && *a.Err != *c.Err {
					t.Fatalf("result %+v became %+v", a, c)
				}
			}
		}
		var md providerv1.Metadata
		if proto.Unmarshal(b, &md) == nil {
			once := MetadataFromProto(&md)
			twice := MetadataFromProto(MetadataToProto(once))
			if !metadataEqual(once, twice) {
				t.Fatalf("metadata %+v became %+v", once, twice)
			}
		}
	})
}

func metadataEqual(a, b plugin.Metadata) bool {
	return a.Name == b.Name && a.Version == b.Version && a.ProtocolVersion == b.ProtocolVersion &&
		a.Description == b.Description && slices.Equal(a.PassEnv, b.PassEnv) && a.Capabilities == b.Capabilities &&
		slices.EqualFunc(a.Settings, b.Settings, func(x, y plugin.SettingSpec) bool {
			return x.Name == y.Name && slices.Equal(x.Env, y.Env) && x.Type == y.Type && x.Required == y.Required &&
				x.Secret == y.Secret && x.Default == y.Default && x.Doc == y.Doc
		})
}
