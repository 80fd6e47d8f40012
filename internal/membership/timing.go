package membership

import (
	"fmt"
	"time"
)

// Timing is every interval the membership layer derives from NodeTimeout.
// Every node computes the same Timing from the same configuration, which
// is what lets the failover core rely on IsolationBound without asking
// anyone.
//
// The arithmetic (T = NodeTimeout):
//
//	h = Heartbeat     = clamp(T/10, 10ms, 1s)
//	W = Window        = T - h
//	IsolationBound    = W + h = T
//
// Every h each node sends a heartbeat request to every voter and counts a
// voter reachable while the newest request that voter acknowledged was
// *sent* less than W ago (the lease is counted from the send, never from
// the reply, so message delay can only shorten it). After a cut at time c
// every acknowledged request was sent before c, so on demand (Quorum,
// Members) a peer is unreachable at c+W at the latest, and the periodic
// check that emits events runs every h, so by c+W+h = c+T:
//
//   - "X notices it is isolated": X's Quorum drops below a majority by c+T.
//   - "the majority declares X DOWN": each majority node stops getting X's
//     acks at the same moment, so each shows X DOWN by c+T as well.
//
// Lease corollary for the core: a voter V that acknowledged X's request
// at V's own monotonic time a (see Membership.AnsweredAt) knows X stops
// counting V by a + IsolationBound on X's clock, so V must not help anyone
// else to promote before a + IsolationBound + drift margin.
//
// With W/h ≥ 9 heartbeats per window, one peer is only called unreachable
// after ~9 consecutive lost round trips (5 % loss each way: ≈ 0.1^9).
//
// memberlist itself is tuned to the same period so that it is never the
// more trigger-happy detector, and to have no k-confirmation trap:
//
//	ProbeInterval           = h
//	ProbeTimeout            = h/2 (at most 500ms)
//	SuspicionMaxTimeoutMult = 1    => suspicion timeout is always its minimum,
//	                                  confirmed or not (isolated side = majority side)
//	SuspicionMult           = max(1, T/h - 2)
//	memberlist dead ≈ (wait for the probe, ≤ a probe round) + h + SuspicionMult·h·max(1, log10 N)
//	               ≈ T for N < 10
//
// DOWN is decided by the heartbeat alone, so the bound above does not
// depend on memberlist, and a stale "dead" rumour gossiped after a heal
// cannot flap a member that still answers.
type Timing struct {
	NodeTimeout time.Duration
	// Heartbeat is h, the heartbeat period and the event check period.
	Heartbeat time.Duration
	// Window is W: a peer counts as reachable while its newest acknowledged
	// heartbeat was sent less than W ago.
	Window time.Duration

	ProbeInterval  time.Duration
	ProbeTimeout   time.Duration
	SuspicionMult  int
	GossipInterval time.Duration
	PushPull       time.Duration
	TCPTimeout     time.Duration
	// Rejoin is how often every known but not-alive address is re-joined.
	Rejoin time.Duration
}

// MinNodeTimeout is the smallest NodeTimeout accepted (tests use ~1s).
const MinNodeTimeout = 100 * time.Millisecond

// TimingFor derives every interval from the node timeout.
func TimingFor(nodeTimeout time.Duration) (Timing, error) {
	if nodeTimeout < MinNodeTimeout {
		return Timing{}, fmt.Errorf("node timeout %v: must be at least %v", nodeTimeout, MinNodeTimeout)
	}
	t := Timing{NodeTimeout: nodeTimeout}
	t.Heartbeat = clamp(nodeTimeout/10, 10*time.Millisecond, time.Second)
	t.Window = nodeTimeout - t.Heartbeat
	t.ProbeInterval = t.Heartbeat
	t.ProbeTimeout = min(t.Heartbeat/2, 500*time.Millisecond)
	t.SuspicionMult = max(1, int(nodeTimeout/t.Heartbeat)-2)
	t.GossipInterval = min(200*time.Millisecond, t.Heartbeat/2)
	t.PushPull = clamp(10*t.Heartbeat, time.Second, 30*time.Second)
	t.TCPTimeout = clamp(nodeTimeout/5, 200*time.Millisecond, 10*time.Second)
	t.Rejoin = clamp(2*t.Heartbeat, 200*time.Millisecond, 2*time.Second)
	return t, nil
}

// IsolationBound is the longest time between losing contact with a set of
// voters and this node (and each of them) no longer counting the other
// side: W + h, which equals NodeTimeout.
func (t Timing) IsolationBound() time.Duration { return t.Window + t.Heartbeat }

func clamp(d, lo, hi time.Duration) time.Duration {
	return max(lo, min(d, hi))
}
