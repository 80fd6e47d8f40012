package membership

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"
)

const settle = 10 * time.Second // generous bound for convergence under CPU load

// startCluster starts n nodes whose .nodes lists name all the others, the
// first one seeding the allowed list from it (auto.allow.hosts), and waits
// until every node sees every other.
func startCluster(t *testing.T, cluster string, n int, opts ...nodeOpt) []*testNode {
	t.Helper()
	ips := make([]netip.Addr, n)
	for i := range ips {
		ips[i] = takeIP(t)
	}
	nodes := make([]*testNode, n)
	for i, ip := range ips {
		others := slices.DeleteFunc(slices.Clone(ips), func(o netip.Addr) bool { return o == ip })
		nodes[i] = startNode(t, cluster, ip, append([]nodeOpt{withJoin(others...)}, opts...)...)
		if i == 0 {
			waitFor(t, settle, "first node seeds the allowed list", func() (bool, string) {
				return len(nodes[0].Allowed()) == n, ""
			})
		}
	}
	waitMembers(t, settle, nodes, nodes...)
	return nodes
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestJoinAndCleanLeave(t *testing.T) {
	t.Parallel()
	ns := startCluster(t, "efm", 3)
	a, b, c := ns[0], ns[1], ns[2]
	if !a.Status().Seeded || b.Status().Seeded || c.Status().Seeded {
		t.Errorf("only the first node should have seeded the shared state")
	}
	for _, n := range ns {
		if q := n.Quorum(); q.Voters != 3 || q.Reachable != 3 || !q.Majority {
			t.Errorf("%s: quorum %+v, want 3 of 3 voters, majority", n.ip, q)
		}
		if q := n.Quorum(); !q.Settled {
			t.Errorf("%s: quorum not settled after joining", n.ip)
		}
		if got := n.Coordinator(); got != a.ip.String() {
			t.Errorf("%s: coordinator %s, want the oldest, %s", n.ip, got, a.ip)
		}
	}
	if err := c.Leave(2 * time.Second); err != nil {
		t.Fatalf("c leaves: %v", err)
	}
	waitMembers(t, settle, []*testNode{a, b}, a, b)
	for _, n := range []*testNode{a, b} {
		if q := n.Quorum(); q.Voters != 2 || !q.Majority {
			t.Errorf("%s after clean leave: quorum %+v, want 2 voters (a clean leave does not count)", n.ip, q)
		}
	}
}

func TestCrashedMemberStaysDownUntilReset(t *testing.T) {
	t.Parallel()
	ns := startCluster(t, "efm", 3)
	a, b, c := ns[0], ns[1], ns[2]
	crash := time.Now()
	if err := c.Shutdown(); err != nil { // no Leave: a crash
		t.Fatalf("crashing c: %v", err)
	}
	for _, n := range []*testNode{a, b} {
		waitFor(t, settle, n.ip.String()+" shows c DOWN", func() (bool, string) {
			return stateOf(n.Membership, c.ip.String()) == StateDown, view(n.Membership)
		})
		t.Logf("%s saw the crashed node DOWN %v after the crash (IsolationBound %v)", n.ip, time.Since(crash).Round(time.Millisecond), n.IsolationBound())
		q := n.Quorum()
		if q.Voters != 3 || q.Reachable != 2 || !q.Majority {
			t.Errorf("%s: quorum %+v, want 2 reachable of 3 voters (a failed member still counts)", n.ip, q)
		}
	}
	// Through b, which forwards it to the coordinator a.
	if err := b.ResetMembers(ctxT(t)); err != nil {
		t.Fatalf("reset-members through b: %v", err)
	}
	waitMembers(t, settle, []*testNode{a, b}, a, b)
	for _, n := range []*testNode{a, b} {
		if q := n.Quorum(); q.Voters != 2 {
			t.Errorf("%s after reset: %d voters, want 2", n.ip, q.Voters)
		}
		if got, want := n.Allowed(), names(a, b); !slices.Equal(got, want) {
			t.Errorf("%s after reset: allowed %v, want it trimmed to the members %v", n.ip, got, want)
		}
	}
}

func TestLifecycleCallsAreIdempotent(t *testing.T) {
	t.Parallel()
	n := startNode(t, "efm", takeIP(t))
	if err := n.Shutdown(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if err := n.Shutdown(); err != nil {
		t.Errorf("second shutdown: %v", err)
	}
	if err := n.Leave(time.Second); err != nil { // memberlist alone would panic here
		t.Errorf("leave after shutdown: %v", err)
	}
	// allow-node of a non-IP cannot reach the membership any more: the
	// address is a netip.Addr, decoded by the admin protocol
	// (admin.TestDecodeRefuses, "not an address").
}
