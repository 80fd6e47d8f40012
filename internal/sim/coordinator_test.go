package sim

import (
	"testing"
	"time"

	"github.com/openefm/efm/internal/core"
)

// The chaos runner's seed 2000, scripted: the primary n1 (the smallest id,
// so the coordinator whenever it is alive) is cut off at 5 s and fences
// itself; n3's agent freezes at 6.5 s, after it answered the majority's
// check round and before its vote, so the majority's elections fail and
// leave n2 and the witness following newer epochs naming n2. The cut heals
// at 14 s while n3 is still frozen: n1, an isolated primary waiting for
// EFM 4.5's resume, cannot resume (the others follow a newer epoch), and
// it is the coordinator again. It must coordinate the failover itself.
// Before the fix it waited to resume for good, suspected nothing, and no
// other node coordinates: nobody was ever promoted, n3 thawed or not
// (core/resume_primary.go, newerPrimaryHeard). Pausing n3 anywhere from
// 6.2 s to 6.9 s stalled the same way.
func TestScenarioIsolatedPrimaryCoordinatesAfterAFailedElection(t *testing.T) {
	setLinks := func(w *World, up bool) {
		for a := range w.conn {
			for b := range w.conn[a] {
				if a != b && (up || (a == 0) != (b == 0)) {
					w.conn[a][b] = up
				}
			}
		}
		w.lastDisturb = w.now
		w.touchPrimaryLinks()
	}
	w := scenario(t, func(c *Config) {
		c.Stonith, c.Watchdog = false, true
		c.Params.Scripts = map[core.Script]bool{}
	}, func(w *World) {
		w.at(5*time.Second, func() { setLinks(w, false) })
		w.at(6500*time.Millisecond, func() { w.pauseAgent(w.nodes[2], 12*time.Second) })
		w.at(14*time.Second, func() { setLinks(w, true) })
	}, 60*time.Second)
	if !w.settled() || w.promotions == 0 {
		t.Fatalf("no single primary 41 s after n3 thawed (primary of record %s, %d promotions)\n%s", w.primaryDB, w.promotions, w.Trace())
	}
}

// The chaos runner's seed 3004, scripted: two switchovers make n1 (the
// smallest id) primary again, elected by a check round someone else
// coordinated; then n1's database crashes. n1 is the coordinator of that
// failover and must start it at once, not after the check round's hold
// (a whole failover window, 84 s on real hosts) that every other agent
// ended when it heard n1's promotion (core/promote.go).
func TestScenarioPromotedCoordinatorFailsOverItselfAtOnce(t *testing.T) {
	bound := BaseParams().Timing().FailoverBound
	crash := 18 * time.Second
	w := scenario(t, func(c *Config) {
		c.DBs, c.Promotable = 2, []bool{true, true}
	}, func(w *World) {
		w.at(5*time.Second, func() { w.deliver(w.nodes[2], -1, core.AdminPromote{Seq: 1, Switchover: true}) })
		w.at(15*time.Second, func() { w.deliver(w.nodes[2], -1, core.AdminPromote{Seq: 2, Switchover: true}) })
		w.at(crash, func() {
			if w.primaryDB != "10.0.0.1" {
				t.Errorf("set-up: primary %s before the crash, want 10.0.0.1 back\n%s", w.primaryDB, w.Trace())
			}
			w.crashDB(w.nodes[0], 0)
		})
	}, crash+bound)
	if w.primaryDB != "10.0.0.2" || !w.settled() {
		t.Fatalf("no failover to 10.0.0.2 within %v of the crash (failover bound); primary of record %s\n%s", bound, w.primaryDB, w.Trace())
	}
}
