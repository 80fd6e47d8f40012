package sim

import (
	"testing"
	"time"
)

// TestScenarioOtherStandbyRepointsAtOnce: after a failover the standbys
// that were not promoted follow the new primary as soon as they hear of
// the promotion, not at the new primary's next status heartbeat (one
// renewal interval, node.timeout/5, later). A synchronous client's commits
// wait for one of them: with EFM's timers the wait was 11.3 s of a 44 s
// write gap. Simulated time: deterministic, not the machine's.
func TestScenarioOtherStandbyRepointsAtOnce(t *testing.T) {
	const crashAt = 5 * time.Second
	w := scenario(t, func(cfg *Config) {
		// A long renewal interval (4 s) makes waiting for a heartbeat
		// plain.
		cfg.Params.NodeTimeout = 20 * time.Second
	}, func(w *World) {
		w.at(crashAt, func() { w.crashDB(w.nodes[0], 0) })
	}, crashAt)
	for w.promotions == 0 && w.now < 5*time.Minute {
		w.run(w.now + 10*time.Millisecond)
	}
	if w.promotions == 0 {
		t.Fatalf("no promotion after the primary database died\n%s", w.Trace())
	}
	promoted, primary := w.now, w.primaryDB
	following := func() bool {
		for _, n := range w.nodes[1:] {
			if n.db != nil && n.id != primary && n.db.following != primary {
				return false
			}
		}
		return true
	}
	for !following() && w.now < promoted+time.Minute {
		w.run(w.now + 10*time.Millisecond)
	}
	if w.err != nil {
		t.Fatalf("invariant violated: %v\n%s", w.err, w.Trace())
	}
	took := w.now - promoted
	t.Logf("the other standby follows %s %v after its promotion (renewal interval %v)", primary, took, w.cfg.Params.Timing().RenewInterval)
	// A message, a tick and the simulated restart (at most 300 ms).
	if bound := time.Second; took > bound {
		t.Errorf("the other standby followed the new primary %v after its promotion, want within %v (not at its next heartbeat)\n%s", took, bound, w.Trace())
	}
}
