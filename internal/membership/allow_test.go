package membership

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestAllowAndDisallowNode(t *testing.T) {
	t.Parallel()
	ns := startCluster(t, "efm", 2)
	a, b := ns[0], ns[1]

	// c is not in a's .nodes, so not in the seeded allowed list.
	cIP := takeIP(t)
	c := startNode(t, "efm", cIP, withJoin(a.ip, b.ip))
	waitFor(t, settle, "c learns it is refused", func() (bool, string) {
		return c.Rejected() != "", "not rejected"
	})
	if !c.logs.contains("not in the allowed node host list") {
		t.Errorf("c's log does not say why it was refused")
	}
	for _, n := range []*testNode{a, b} {
		waitFor(t, settle, n.ip.String()+" logs that it refuses c", func() (bool, string) {
			return n.logs.contains("refusing node"), "not logged"
		})
	}
	for _, n := range []*testNode{a, b} {
		if slices.Contains(memberNames(n.Membership), cIP.String()) {
			t.Errorf("%s lists the refused node c: %s", n.ip, view(n.Membership))
		}
	}

	// allow-node through b (forwarded to the coordinator a): the running c
	// gets in at its next push/pull, without a restart.
	if err := b.AllowNode(ctxT(t), cIP.String()); err != nil {
		t.Fatalf("allow-node c through b: %v", err)
	}
	waitMembers(t, settle, []*testNode{a, b, c}, a, b, c)
	waitFor(t, settle, "c no longer refused", func() (bool, string) { return c.Rejected() == "", c.Rejected() })

	// disallow-node c through b, c stops cleanly, and a restarted c is
	// refused and logs why.
	if err := b.DisallowNode(ctxT(t), cIP.String()); err != nil {
		t.Fatalf("disallow-node c through b: %v", err)
	}
	for _, n := range []*testNode{a, b} {
		waitFor(t, settle, n.ip.String()+" drops c from the allowed list", func() (bool, string) {
			return !slices.Contains(n.Allowed(), cIP.String()), strings.Join(n.Allowed(), " ")
		})
	}
	if err := c.Leave(2 * time.Second); err != nil {
		t.Fatalf("c leaves: %v", err)
	}
	waitMembers(t, settle, []*testNode{a, b}, a, b)
	c2 := startNode(t, "efm", cIP, withJoin(a.ip, b.ip))
	waitFor(t, settle, "restarted c is refused", func() (bool, string) { return c2.Rejected() != "", "" })
	if !c2.logs.contains("not in the allowed node host list") {
		t.Errorf("restarted c's log does not say why it was refused")
	}
	// Give the refused node a few heartbeats and push/pulls to sneak in.
	time.Sleep(3 * c2.Timing().PushPull / 2) // observation window, not synchronisation
	for _, n := range []*testNode{a, b} {
		if slices.Contains(memberNames(n.Membership), cIP.String()) {
			t.Errorf("%s lists the disallowed node c: %s", n.ip, view(n.Membership))
		}
		if q := n.Quorum(); q.Voters != 2 {
			t.Errorf("%s counts %d voters, want 2", n.ip, q.Voters)
		}
	}
	if q := c2.Quorum(); q.Majority {
		t.Errorf("refused c thinks it has a majority: %+v", q)
	}
}
