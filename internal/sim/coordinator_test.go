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
