package core

import (
	"log/slog"
	"time"
)

// stepClock times the steps of a failover (on its coordinator) or of a
// promotion (on the candidate), so that the log says where the time went
// ("failover step" / "promotion step": step, took, since the start).
type stepClock struct {
	start, at time.Duration
}

func (n *Node) startClock() stepClock { return stepClock{start: n.now, at: n.now} }

// stepDone logs the step that just ended and starts the next.
func (n *Node) stepDone(c *stepClock, what, step string) {
	n.log(slog.LevelInfo, what+" step", "step", step, "took", (n.now - c.at).Round(time.Millisecond),
		"since_start", (n.now - c.start).Round(time.Millisecond))
	c.at = n.now
}

var candidacyPhaseNames = [...]string{"", "candidate's lease round", "VIP probe (check.vip.before.promotion)",
	"ping.server.ip probe", "script.fence", "promotion (pg_promote)"}

// candidateStep logs the candidacy's current phase as done, once per phase.
func (n *Node) candidateStep(c *candidacy, next candidacyPhase) {
	if c.phase == next {
		return
	}
	name := "?"
	if int(c.phase) < len(candidacyPhaseNames) {
		name = candidacyPhaseNames[c.phase]
	}
	n.stepDone(&c.clock, "promotion", name)
}
