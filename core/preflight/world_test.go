package preflight_test

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zonecert/zonecert/core/preflight"
	"github.com/zonecert/zonecert/internal/testenv"
)

// caaID is the CA identity the CAA cases name (Pebble's directory has
// none, so the tests give the Target one).
const caaID = "ca.test.invalid"

// world is a small DNS tree on real BIND: "test." on its own server P,
// its child zones on C, and L, a server that serves none of them (a lame
// server for lame.test).
type world struct {
	P, C, L netip.Addr
	// D is a dead server: it reads nothing and answers nothing.
	D netip.Addr
	// Resolvers ask C first (the children), then P (test. itself): both
	// answer only for their own zones, as a CA's resolver would find them.
	Resolvers []string
}

// child is one zone below test., served by C.
type child struct {
	name       string // e.g. "ex.test"
	records    []string
	minimum    uint32
	sign       *testenv.Signing // nil: unsigned
	badDS      bool             // the parent's DS matches no key
	badDigest  bool             // the parent's DS names the KSK's tag, with a wrong digest
	extraNS    []string         // more NS lines in the zone and the parent (relative to test.)
	parentOnly []string         // lines only the parent has (a delegation the zone disagrees with)
	ns         string           // the zone's one NS host; default ns1.<zone>
	inParent   bool
	dsInto     string // with inParent: the zone (listed later) that gets its NS, glue and DS             // delegated from ex.test (by its records), not from test.
}

func startWorld(t testing.TB) *world {
	t.Helper()
	w := &world{P: testenv.LoopbackAddr(t), C: testenv.LoopbackAddr(t), L: testenv.LoopbackAddr(t), D: testenv.LoopbackAddr(t)}
	silent(t, w.D)
	w.Resolvers = []string{w.C.String() + ":53", w.P.String() + ":53"}
	children := []child{
		{name: "ex.test", minimum: 1, records: []string{
			"_acme-challenge.loop CNAME a.loop",
			"a.loop CNAME _acme-challenge.loop",
			"_acme-challenge.dangle CNAME _acme-challenge.gone.invalid.",
			"_acme-challenge.good CNAME good.acme.test.",
			"_acme-challenge.direct TXT \"old\"",
			"_acme-challenge.deleg NS ns1.ex.test.",
			`caa-other CAA 0 issue "other.invalid"`,
			`caa-acct CAA 0 issue "` + caaID + `; accounturi=https://ca.test.invalid/acct/2"`,
			`caa-http CAA 0 issue "` + caaID + `; validationmethods=http-01"`,
			`caa-ok CAA 0 issue "` + caaID + `; validationmethods=dns-01; accounturi=https://ca.test.invalid/acct/1"`,
			`caa-wild CAA 0 issue "` + caaID + `"`,
			`caa-wild CAA 0 issuewild ";"`,
			`caa-none CAA 0 issue ";"`,
		}},
		{name: "acme.test", minimum: 1},
		// _acme-challenge.deleg.ex.test is a zone of its own, on the
		// same server as ex.test.
		// (NS host ns1.ex.test: BIND refuses underscores in host names).
		{name: "_acme-challenge.deleg.ex.test", minimum: 1, ns: "ns1.ex.test.", inParent: true},
		{name: "lame.test", minimum: 1, extraNS: []string{"lame.test. NS ns3.lame.test.", "ns3.lame.test. A " + w.L.String()}},
		{name: "slowneg.test", minimum: 86400},
		{name: "dead.test", minimum: 1, extraNS: []string{"dead.test. NS ns4.dead.test.", "ns4.dead.test. A " + w.D.String()}},
		{name: "mismatch.test", minimum: 1, parentOnly: []string{"mismatch.test. NS ns9.mismatch.test.", "ns9.mismatch.test. A " + w.C.String()}},
		// Two signed levels, and a signed child below a broken link.
		{name: "sub.signed.test", minimum: 1, sign: &testenv.Signing{}, inParent: true, dsInto: "signed.test"},
		{name: "sub.badds.test", minimum: 1, sign: &testenv.Signing{}, inParent: true, dsInto: "badds.test"},
		{name: "signed.test", minimum: 1, sign: &testenv.Signing{}},
		{name: "expired.test", minimum: 1, sign: &testenv.Signing{Inception: time.Now().Add(-30 * 24 * time.Hour), Expiration: time.Now().Add(-24 * time.Hour)}},
		{name: "badds.test", minimum: 1, sign: &testenv.Signing{}, badDS: true},
		{name: "baddigest.test", minimum: 1, sign: &testenv.Signing{}, badDigest: true},
		// P serves test. only: asked about referral.test it refers, without AA.
		{name: "referral.test", minimum: 1, extraNS: []string{"referral.test. NS ns5.referral.test.", "ns5.referral.test. A " + w.P.String()}},
	}
	parent := []string{"ns.test. A " + w.P.String()}
	var zones []testenv.AuthZone
	pending := map[string][]string{} // records for a zone listed later
	for _, c := range children {
		apex := c.name + "."
		ns := "ns1." + apex
		var recs []string
		if c.ns != "" {
			ns = c.ns
		} else {
			recs = append(recs, ns+" A "+w.C.String())
		}
		recs = append(recs, c.records...)
		recs = append(recs, c.extraNS...)
		recs = append(recs, pending[c.name]...)
		hosts := []string{ns}
		text := testenv.ZoneText(apex, 1, c.minimum, hosts, recs...)
		if !c.inParent {
			parent = append(parent, apex+" NS "+ns, ns+" A "+w.C.String())
		}
		parent = append(parent, c.extraNS...)
		parent = append(parent, c.parentOnly...)
		if c.sign != nil {
			signed, ds := testenv.SignZone(t, apex, text, *c.sign)
			text = signed
			if c.badDS {
				ds = testenv.UnrelatedDS(t, apex)
			}
			if c.badDigest {
				// Flip the digest's last hex digit.
				last := ds[len(ds)-1]
				flipped := byte('0')
				if last == '0' {
					flipped = '1'
				}
				ds = ds[:len(ds)-1] + string(flipped)
			}
			if c.dsInto != "" {
				pending[c.dsInto] = append(pending[c.dsInto], apex+" NS "+ns, ns+" A "+w.C.String(), ds)
			} else {
				parent = append(parent, ds)
			}
		}
		zones = append(zones, testenv.AuthZone{Name: apex, Text: text})
	}
	testenv.StartAuthority(t, testenv.AuthorityConfig{Addrs: []netip.Addr{w.C}, Zones: zones})
	testenv.StartAuthority(t, testenv.AuthorityConfig{Addrs: []netip.Addr{w.P}, Zones: []testenv.AuthZone{
		{Name: "test.", Text: testenv.ZoneText("test.", 1, 1, []string{"ns.test."}, parent...)},
	}})
	// L is a real name server, for another zone only.
	testenv.StartAuthority(t, testenv.AuthorityConfig{Addrs: []netip.Addr{w.L}, Zones: []testenv.AuthZone{
		{Name: "elsewhere.invalid.", Text: testenv.ZoneText("elsewhere.invalid.", 1, 1, []string{"ns.elsewhere.invalid."}, "ns A "+w.L.String())},
	}})
	return w
}

// silent binds port 53 of addr over UDP and TCP and never answers: a
// server that times out.
func silent(t testing.TB, addr netip.Addr) {
	t.Helper()
	pc, err := net.ListenPacket("udp", netip.AddrPortFrom(addr, 53).String())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", netip.AddrPortFrom(addr, 53).String())
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never read
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = pc.Close()
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
}

func (w *world) checker() *preflight.Checker {
	return preflight.New(preflight.Config{Resolvers: w.Resolvers, QueryTimeout: 500 * time.Millisecond})
}

// only returns the findings of one check.
func only(fs []preflight.Finding, check string) []preflight.Finding {
	var out []preflight.Finding
	for _, f := range fs {
		if f.Check == check {
			out = append(out, f)
		}
	}
	return out
}

func dump(fs []preflight.Finding) string {
	var sb strings.Builder
	for _, f := range fs {
		fmt.Fprintln(&sb, f)
	}
	return sb.String()
}
