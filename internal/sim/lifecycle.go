package sim

import (
	"time"

	"github.com/openefm/efm/internal/core"
)

// startAgent starts (or restarts) n's agent from its persisted state.
func (w *World) startAgent(n *simNode, why string) {
	if n.agent != nil || n.nodeDown {
		return
	}
	a, err := core.New(n.params, n.persisted)
	if err != nil {
		w.fail("starting agent %s: %v", n.id, err)
		return
	}
	n.agent = a
	n.gen++
	n.paused = false
	n.buffered = nil
	if n.stopped {
		n.restartedAt = w.now
	}
	n.stopped = false
	n.role = core.RoleUnknown
	n.joined = !w.soloStart
	for _, m := range w.nodes {
		n.view[m.id] = core.MemberAlive
		n.lastHeard[m.idx] = w.now
	}
	w.logf("%s agent started (%s)", n.id, why)
	gen := n.gen
	w.deliver(n, gen, core.Start{})
	w.deliver(n, gen, w.membershipOf(n))
	w.tickLoop(n, gen)
}

func (w *World) tickLoop(n *simNode, gen int) {
	w.after(n.realDur(n.params.TickInterval()), func() {
		if n.agent == nil || n.gen != gen {
			return
		}
		if !n.paused {
			w.deliver(n, gen, core.Tick{})
		}
		w.tickLoop(n, gen)
	})
}

// crashAgent kills the agent process (kill -9). The kernel watchdog, if
// armed, keeps counting.
func (w *World) crashAgent(n *simNode) {
	if n.agent == nil {
		return
	}
	w.logf("%s agent crashed", n.id)
	n.agent = nil
	n.gen++
	n.paused = false
	n.buffered = nil
}

// stopAgent stops the agent cleanly: it leaves the membership; the watchdog
// is disarmed only if the core said so (Watchdog{0}).
func (w *World) stopAgent(n *simNode) {
	if n.agent == nil || n.paused {
		return
	}
	w.deliver(n, n.gen, core.Stopping{})
	w.logf("%s agent stopped cleanly", n.id)
	n.agent = nil
	n.gen++
	n.stopped = true
	n.stoppedAt = w.now
}

func (w *World) pauseAgent(n *simNode, d time.Duration) {
	if n.agent == nil || n.paused {
		return
	}
	w.logf("%s agent paused for %v", n.id, d)
	if n.agent.Status().HasLease && n.realDur(n.agent.Timing().Lease) < d {
		w.longPauses++
	}
	n.paused = true
	gen := n.gen
	w.after(d, func() { w.resumeAgent(n, gen) })
}

func (w *World) resumeAgent(n *simNode, gen int) {
	if n.agent == nil || n.gen != gen || !n.paused {
		return
	}
	w.logf("%s agent resumed", n.id)
	n.paused = false
	buf := n.buffered
	n.buffered = nil
	w.deliver(n, gen, core.Tick{})
	for _, ev := range buf {
		if n.agent == nil || n.gen != gen || n.paused {
			return
		}
		w.step(n, ev)
	}
}

// resetNode powers the host off (crash, watchdog reset) and boots it again
// after d. The database does not start at boot: the agent or the operator
// starts it, which is the order EFM documents.
func (w *World) resetNode(n *simNode, d time.Duration) {
	if n.nodeDown {
		return
	}
	w.logf("%s host down", n.id)
	w.crashAgent(n)
	n.nodeDown = true
	n.watchdogGen++
	n.watchdogAt = 0
	delete(w.vip, n.id)
	if n.db != nil {
		n.db.adminStop = true
		w.dbDown(n, "lost with its host")
		n.db.hung = false
	}
	for _, s := range w.nodes {
		if s.db != nil && s.db.conn != nil && s.db.conn.from == n.id {
			s.db.conn = nil // its kernel, and what it had yet to send, are gone
		}
	}
	if n.id == w.primaryDB {
		w.primaryDist = w.now
	}
	w.lastDisturb = w.now
	w.after(d, func() { w.bootNode(n) })
}

func (w *World) bootNode(n *simNode) {
	if !n.nodeDown {
		return
	}
	n.nodeDown = false
	w.logf("%s host up", n.id)
	w.lastDisturb = w.now
	if n.id == w.primaryDB {
		w.primaryDist = w.now
	}
	if !n.stopped {
		w.startAgent(n, "boot")
	}
}
