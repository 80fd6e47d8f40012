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
	if err := b.AllowNode(ctxT(t), cIP); err != nil {
		t.Fatalf("allow-node c through b: %v", err)
	}
	waitMembers(t, settle, []*testNode{a, b, c}, a, b, c)
	waitFor(t, settle, "c no longer refused", func() (bool, string) { return c.Rejected() == "", c.Rejected() })

	// disallow-node c through b, c stops cleanly, and a restarted c is
	// refused and logs why.
	if err := b.DisallowNode(ctxT(t), cIP); err != nil {
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

// TestRefusedNodeCannotOverwriteSharedState: a node that formed its own
// cluster (and bumped its shared state to a higher version) is refused by
// the real cluster; its push/pulls, which carry that state, must not
// replace the real cluster's allowed list.
func TestRefusedNodeCannotOverwriteSharedState(t *testing.T) {
	t.Parallel()
	aIP, bIP, yIP := takeIP(t), takeIP(t), takeIP(t)
	y := startNode(t, "efm", yIP, withJoin(aIP)) // a is not up: y seeds {y, a}
	waitFor(t, settle, "y seeds its own state", func() (bool, string) { return len(y.Allowed()) == 2, "" })
	for i := range 5 {
		if err := y.SetPriority(ctxT(t), yIP, i+1); err != nil {
			t.Fatalf("bumping y's version: %v", err)
		}
	}
	a := startNode(t, "efm", aIP, withJoin(bIP))
	b := startNode(t, "efm", bIP, withJoin(aIP))
	waitMembers(t, settle, []*testNode{a, b}, a, b)
	if yv, av := y.Status().Version, a.Status().Version; yv <= av {
		t.Fatalf("test setup: y's version %d should exceed the cluster's %d", yv, av)
	}
	waitFor(t, settle, "y learns it is refused", func() (bool, string) { return y.Rejected() != "", "" })
	// Several push/pull rounds from y to a.
	time.Sleep(3 * y.Timing().PushPull) // observation window, not synchronisation
	want := names(a, b)
	for _, n := range []*testNode{a, b} {
		if got := n.Allowed(); !slices.Equal(got, want) {
			t.Errorf("%s: allowed list %v, want the cluster's own %v", n.ip, got, want)
		}
		if w := n.Status(); slices.Contains(memberNames(n.Membership), yIP.String()) {
			t.Errorf("%s lists the refused node: %+v", n.ip, w.Members)
		}
	}
}
