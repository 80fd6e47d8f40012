package membership

import (
	"testing"
	"time"
)

// TestPartitionedNodeDetectsIsolation cuts one node off from the other two
// for real: the test transports drop every UDP packet and hang every TCP
// dial between them, in both directions, as a pulled cable would. The
// isolated node must see it lost the majority within IsolationBound, the
// majority must show it DOWN within the same bound, and once the link is
// back the cluster must converge again (the re-join loop).
func TestPartitionedNodeDetectsIsolation(t *testing.T) {
	t.Parallel()
	ns := startCluster(t, "efm", 3)
	a, b, c := ns[0], ns[1], ns[2]
	bound := a.IsolationBound()

	a.tr.cut(b.ip, c.ip)
	b.tr.cut(a.ip)
	c.tr.cut(a.ip)
	cut := time.Now()

	// Quorum() is computed on demand from the newest acknowledged
	// heartbeat's send time, so it is exact; poll it finely.
	var isolated time.Duration
	for {
		q := a.Quorum()
		if !q.Majority {
			isolated = time.Since(cut)
			if q.Reachable != 1 || q.Voters != 3 {
				t.Errorf("isolated a: quorum %+v, want 1 reachable of 3", q)
			}
			break
		}
		if time.Since(cut) > bound+time.Second {
			t.Fatalf("a still sees a majority %v after the cut (IsolationBound %v): %+v", time.Since(cut), bound, q)
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Logf("isolated node lost its majority %v after the cut (IsolationBound %v)", isolated.Round(time.Millisecond), bound)
	if isolated > bound {
		t.Errorf("isolation noticed after %v, beyond IsolationBound %v", isolated, bound)
	}
	for _, n := range []*testNode{b, c} {
		waitFor(t, settle, n.ip.String()+" shows a DOWN", func() (bool, string) {
			return stateOf(n.Membership, a.ip.String()) == StateDown, view(n.Membership)
		})
		down := time.Since(cut)
		t.Logf("%s showed the isolated node DOWN by %v after the cut", n.ip, down.Round(time.Millisecond))
		if q := n.Quorum(); !q.Majority || q.Reachable != 2 {
			t.Errorf("%s: quorum %+v, want 2 of 3, majority", n.ip, q)
		}
	}

	// The majority side elects its own coordinator (a was the oldest);
	// the isolated side keeps itself.
	for _, n := range []*testNode{b, c} {
		waitFor(t, settle, n.ip.String()+" hands the coordinator role to b", func() (bool, string) {
			return n.Coordinator() == b.Name(), n.Coordinator()
		})
	}
	if got := a.Coordinator(); got != a.Name() {
		t.Errorf("isolated a sees coordinator %s, want itself", got)
	}

	// Keep the cut longer than memberlist's GossipToTheDeadTime (= node
	// timeout): plain memberlist would never re-merge after this.
	waitFor(t, settle, "memberlist on b declares a dead", func() (bool, string) {
		b.mu.Lock()
		defer b.mu.Unlock()
		p := b.peers[a.ip.String()]
		return p != nil && !p.mlAlive, "still alive to memberlist"
	})
	time.Sleep(a.Timing().NodeTimeout + a.Timing().Heartbeat) // let the partition outlast GossipToTheDeadTime

	for _, n := range ns {
		n.tr.heal()
	}
	healed := time.Now()
	waitMembers(t, settle, ns, ns...)
	t.Logf("cluster converged %v after the heal", time.Since(healed).Round(time.Millisecond))
	if q := a.Quorum(); !q.Majority || q.Reachable != 3 {
		t.Errorf("a after heal: %+v", q)
	}
	for _, n := range ns {
		waitFor(t, settle, n.ip.String()+" agrees on a as coordinator again", func() (bool, string) {
			return n.Coordinator() == a.Name(), n.Coordinator()
		})
	}
}

// TestLossAndJitterDoNotFlap: with 5 % of the packets lost each way and
// up to 100 ms of delay (a tenth of the node timeout here), nobody is
// shown DOWN and every node keeps its majority.
func TestLossAndJitterDoNotFlap(t *testing.T) {
	t.Parallel()
	ns := startCluster(t, "efm", 3)
	for _, n := range ns {
		n.tr.degrade(0.05, 100*time.Millisecond)
	}
	watch := 4 * ns[0].Timing().NodeTimeout
	end := time.Now().Add(watch)
	flaps := 0
	for time.Now().Before(end) {
		for _, n := range ns {
			q := n.Quorum()
			for _, m := range n.Members() {
				if m.State == StateDown {
					flaps++
					t.Errorf("%s shows %s DOWN under mild loss: %s", n.ip, m.Name, view(n.Membership))
				}
			}
			if !q.Majority {
				flaps++
				t.Errorf("%s lost its majority under mild loss: %+v", n.ip, q)
			}
		}
		if flaps > 5 {
			t.FailNow()
		}
		time.Sleep(20 * time.Millisecond) // sampling period of the observation
	}
	t.Logf("no flap over %v with 5%% loss and 0-100ms jitter", watch)
}
