package membership

import (
	"bytes"
	"maps"
	"net/netip"
	"testing"
	"time"
)

func TestThreeAgentsAndAWitnessAgree(t *testing.T) {
	t.Parallel()
	ips := []netip.Addr{takeIP(t), takeIP(t), takeIP(t), takeIP(t)}
	var ns []*testNode
	for i, ip := range ips {
		var others []netip.Addr
		for _, o := range ips {
			if o != ip {
				others = append(others, o)
			}
		}
		kind := KindDatabase
		if i == 3 {
			kind = KindWitness
		}
		ns = append(ns, startNode(t, "efm", ip, withJoin(others...), func(c *Config) { c.Kind = kind }))
	}
	waitMembers(t, settle, ns, ns...)
	ns[0].SetLocalState(StatePrimary)
	ns[1].SetLocalState(StateStandby)
	ns[2].SetLocalState(StateStandby)
	want := map[string]string{ns[0].Name(): StatePrimary, ns[1].Name(): StateStandby,
		ns[2].Name(): StateStandby, ns[3].Name(): StateWitness}
	for _, n := range ns {
		waitFor(t, settle, n.ip.String()+" sees the same membership", func() (bool, string) {
			got := map[string]string{}
			for _, m := range n.Members() {
				got[m.Name] = m.State
			}
			return maps.Equal(got, want), view(n.Membership)
		})
		for _, m := range n.Members() {
			if wantKind := map[bool]Kind{true: KindWitness, false: KindDatabase}[m.Name == ns[3].Name()]; m.Kind != wantKind || !m.Voting {
				t.Errorf("%s sees %s as kind %s voting %v, want %s voting", n.ip, m.Name, m.Kind, m.Voting, wantKind)
			}
		}
		if q := n.Quorum(); q.Voters != 4 || q.Reachable != 4 || !q.Majority || q.Half {
			t.Errorf("%s: quorum %+v, want 4 of 4", n.ip, q)
		}
		if c := n.Coordinator(); c != ns[0].Name() {
			t.Errorf("%s: coordinator %s, want %s", n.ip, c, ns[0].Name())
		}
	}
	t.Logf("membership: %s", view(ns[0].Membership))

	// Messaging for the failover core, both ways.
	if err := ns[1].Send(ctxT(t), ns[3].Name(), []byte("vote?")); err != nil {
		t.Fatalf("reliable send: %v", err)
	}
	expectMsg(t, ns[3], ns[1].Name(), "vote?", true)
	if err := ns[3].SendBestEffort(ns[1].Name(), []byte("yes")); err != nil {
		t.Fatalf("best-effort send: %v", err)
	}
	expectMsg(t, ns[1], ns[3].Name(), "yes", false)
	if err := ns[1].Send(ctxT(t), "192.0.2.1", []byte("x")); err == nil {
		t.Errorf("sending to a non-member: no error")
	}

	// Two of four is exactly half: the witness and one standby crash.
	ns[3].Shutdown()
	ns[2].Shutdown()
	waitFor(t, settle, "primary sees exactly half", func() (bool, string) {
		q := ns[0].Quorum()
		return q.Half && !q.Majority && q.Voters == 4 && q.Reachable == 2, view(ns[0].Membership)
	})
}

func expectMsg(t *testing.T, n *testNode, from, payload string, reliable bool) {
	t.Helper()
	select {
	case m := <-n.Messages():
		if m.From != from || !bytes.Equal(m.Payload, []byte(payload)) || m.Reliable != reliable {
			t.Errorf("%s got %+v, want %q from %s (reliable %v)", n.ip, m, payload, from, reliable)
		}
	case <-time.After(settle):
		t.Fatalf("%s got no message from %s", n.ip, from)
	}
}
