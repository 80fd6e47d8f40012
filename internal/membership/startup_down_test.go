package membership

import (
	"testing"
	"time"
)

// TestDownWithinBoundRightAfterStart: a member cut off right after the
// cluster formed (every node just saw every other) is shown DOWN by the
// others within IsolationBound (node.timeout), as later in a cluster's
// life. The grace a just-joined member gets (one window, from when it was
// first seen) ends before the heartbeat window of the cut does, and
// memberlist's own suspicion (which scales with log N and waits for
// confirmations) takes no part in DOWN. A measurement with EFM's timers
// had been read as "DOWN 58.7 s after the cut with node.timeout 50"; its
// logs show the coordinator acting 48.2 s after the cut, and the time past
// the prediction was the other standby's re-pointing (docs/timing.md).
func TestDownWithinBoundRightAfterStart(t *testing.T) {
	t.Parallel()
	ns := startCluster(t, "efm", 4)
	a := ns[0] // the oldest, as the first agent of a cluster
	bound := a.IsolationBound()
	for _, o := range ns[1:] {
		a.tr.cut(o.ip)
		o.tr.cut(a.ip)
	}
	cut := time.Now()
	for _, n := range ns[1:] {
		waitFor(t, 5*bound, n.ip.String()+" shows a DOWN", func() (bool, string) {
			return stateOf(n.Membership, a.ip.String()) == StateDown, view(n.Membership)
		})
		down := time.Since(cut)
		t.Logf("%s shows a DOWN %v after the cut (IsolationBound %v)", n.ip, down.Round(time.Millisecond), bound)
		// The bound plus one heartbeat: this process's goroutines may be
		// scheduled late on a loaded machine, and the poll above runs every
		// 10 ms.
		if limit := bound + a.Timing().Heartbeat; down > limit {
			t.Errorf("%s showed the cut member DOWN %v after the cut, beyond IsolationBound %v (+ one heartbeat)", n.ip, down, bound)
		}
	}
}
