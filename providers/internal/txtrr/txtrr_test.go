package txtrr

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestStringsRoundTrip(t *testing.T) {
	t.Parallel()
	for _, value := range []string{
		"LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0",
		strings.Repeat("a", 255),
		strings.Repeat("b", 256),
		strings.Repeat("c", 600),
		`back\slash`,
	} {
		rr := &dns.TXT{Hdr: dns.RR_Header{Name: "x.example.", Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: Strings(value)}
		buf := make([]byte, 2048)
		n, err := dns.PackRR(rr, buf, 0, nil, false)
		if err != nil {
			t.Fatalf("%.20q: packing: %v", value, err)
		}
		back, _, err := dns.UnpackRR(buf[:n], 0)
		if err != nil {
			t.Fatal(err)
		}
		var got string
		for _, s := range back.(*dns.TXT).Txt {
			got += strings.ReplaceAll(s, `\\`, `\`)
		}
		if got != value {
			t.Errorf("round trip of %.20q gave %.20q", value, got)
		}
		for _, s := range Strings(value) {
			if len(strings.ReplaceAll(s, `\\`, `\`)) > 255 {
				t.Errorf("character-string of %d bytes", len(s))
			}
		}
	}
}
