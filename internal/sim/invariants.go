package sim

import (
	"maps"
	"slices"
	"time"

	"github.com/openefm/efm/internal/core"
	"github.com/openefm/efm/internal/notify/subject"
)

// checkInstant runs after every event: never two writable primaries at the
// same simulated instant.
func (w *World) checkInstant() {
	var first *simNode
	for _, n := range w.nodes {
		if n.db == nil || !n.db.writable() {
			continue
		}
		if first != nil {
			w.fail("two writable primaries: %s (timeline %d) and %s (timeline %d)", first.id, first.db.tl, n.id, n.db.tl)
			return
		}
		first = n
	}
}

// window is how long a failover may take from its check round to the
// promotion; the "stable world" conditions below look that far back.
func (w *World) window() time.Duration {
	p := w.cfg.Params
	tm := p.Timing()
	return p.NodeTimeout + 4*p.RemoteTimeout + tm.VoteHold + 6*p.RemoteTimeout + p.CheckVIPTimeout
}

// promote is pg_ctl promote on n, asked to create timeline atLeast or one
// above (DoDB.Timeline); it checks the promotion invariants first.
func (w *World) promote(n *simNode, atLeast uint32) {
	d := n.db
	st := n.persisted
	e := st.Epoch
	if st.Primary != n.id {
		w.fail("%s promoted while its persisted primary of epoch %d is %q", n.id, e, st.Primary)
	}
	if other, ok := w.promotedIn[e]; ok && other != n.id {
		w.fail("two promotions in epoch %d: %s and %s", e, other, n.id)
	}
	w.promotedIn[e] = n.id
	// No promotion without a strict majority of votes for that epoch.
	votes := 0
	for _, c := range w.votes[e] {
		if c == n.id {
			votes++
		}
	}
	// Voting members: every configured node except those stopped cleanly
	// (DESIGN.md: members that leave cleanly do not count).
	voters := w.votersAt[e]
	if 2*votes <= voters {
		w.fail("%s promoted in epoch %d with %d votes of %d voting members", n.id, e, votes, voters)
	}
	// Synchronous replication: every acknowledged commit survives.
	if w.cfg.SyncK > 0 {
		for tl, acked := range w.maxAcked {
			if acked > 0 && !w.contains(d.tl, d.lsn, tl, acked) {
				w.fail("%s promoted at %d/%s without acknowledged commit %d/%s", n.id, d.tl, d.lsn, tl, acked)
			}
		}
		// Commits acknowledged while num_sync was lowered or cleared may
		// be lost: what reconfigure.num.sync and reconfigure.sync.primary
		// give up. Counted, not checked.
		for _, tl := range slices.Sorted(maps.Keys(w.maxAsync)) {
			if acked := w.maxAsync[tl]; acked > w.maxAcked[tl] && !w.contains(d.tl, d.lsn, tl, acked) {
				w.asyncLost++
				w.logf("%s promoted at %d/%s without commit %d/%s acknowledged under a lowered num_sync", n.id, d.tl, d.lsn, tl, acked)
				delete(w.maxAsync, tl)
			}
		}
	}
	stable := w.now-w.lastDisturb > w.window()
	// The promoted standby is the most up-to-date reachable promotable one
	// (checked when nothing disturbed the cluster during the failover).
	if stable {
		for _, s := range w.nodes {
			if s == n || s.db == nil || !s.db.up || !s.db.inRecovery || s.agent == nil || s.paused ||
				s.role != core.RoleStandby || !s.params.Promotable || !w.linked(n.idx, s.idx) {
				continue
			}
			if s.db.tl == d.tl && s.db.lsn > d.lsn {
				w.fail("%s promoted at %s but standby %s had received %s", n.id, d.lsn, s.id, s.db.lsn)
			}
		}
	}
	// No failover while the primary database was reachable: if the old
	// primary's database stayed up and its host fully connected for a whole
	// failover window, nobody may promote (admin promotions excepted). Up
	// as a primary: a database in recovery is no reachable primary (an
	// isolated primary's, started behind its fence to resume or rejoin).
	if old := w.byID[w.primaryDB]; old != nil && old != n && old.db.writable() && w.now-w.primaryDist > w.window() &&
		w.now > w.adminUntil && w.fullyLinked(old) {
		w.fail("%s promoted although the primary database on %s was up and reachable for %v", n.id, old.id, w.now-w.primaryDist)
	}
	// PostgreSQL takes the ID one above the newest history file in pg_wal
	// (its own timeline's, or a placeholder the shell placed for atLeast).
	d.hist = max(d.hist, atLeast-min(atLeast, 1))
	num := max(w.tl[d.tl].num, d.hist) + 1
	for _, t := range w.tl {
		if t.num == num {
			w.fail("%s promoted to timeline ID %d from %d at %s, an ID another history has (branched from %d at %s): two histories with one ID (chaos seed 7007)",
				n.id, num, w.tl[d.tl].num, d.lsn, w.tl[t.parent].num, t.branch)
		}
	}
	w.tl = append(w.tl, timeline{parent: d.tl, branch: d.lsn, num: num})
	d.tl = len(w.tl) - 1
	d.inRecovery = false
	d.fenced = false
	d.following = ""
	d.paused = false
	d.replay = d.lsn
	// The checkpoint after the promotion (pg_control's timeline lags
	// until it completes; control.go).
	tl := d.tl
	w.after(promotionCheckpoint, func() {
		if d.up && d.tl == tl {
			d.checkpoint()
		}
	})
	w.logf("%s PROMOTED in epoch %d at %s (timeline %d, ID %d, %d votes)", n.id, e, d.lsn, d.tl, num, votes)
	if w.primaryDB != "" && w.primaryDB != n.id {
		w.failovers++
	}
	w.primaryDB = n.id
	w.primaryDist = w.now
	w.promotions++
}

func (w *World) fullyLinked(n *simNode) bool {
	for _, o := range w.nodes {
		if !w.linked(n.idx, o.idx) {
			return false
		}
	}
	return true
}

// livenessBound is how long after the faults stop the cluster must have
// exactly one primary again: operator repair (1 s, then every 3 s), and
// three failover bounds (a first attempt that may fail on stale state, a
// retry, and the lease of a fenced primary running out).
func (w *World) livenessBound() time.Duration {
	p := w.cfg.Params
	b := time.Second + 3*p.Timing().FailoverBound
	if p.AutoRewind || p.AutoBasebackup {
		// A database the operator started in recovery with WAL the
		// primary lacks is found out only after it has not streamed for
		// core.StuckStandbyAfter, then rebuilt (a rejoin refused at
		// first is asked again after max(node.timeout, 10 s)).
		b += core.StuckStandbyAfter(p) + max(p.NodeTimeout, 10*time.Second)
	}
	return b
}

// settled: exactly one writable database, its agent Primary with a valid
// lease.
func (w *World) settled() bool {
	var p *simNode
	for _, n := range w.nodes {
		if n.db != nil && n.db.writable() {
			if p != nil {
				return false
			}
			p = n
		}
	}
	if p == nil || p.agent == nil || p.paused || p.role != core.RolePrimary {
		return false
	}
	return p.agent.Status().HasLease && w.healed()
}

// done ends a run once the quiet phase settled and stayed so for a while,
// or reports a liveness failure past the bound.
func (w *World) done() bool {
	if !w.faultsOver {
		return false
	}
	if w.settled() {
		if w.settledAt == 0 {
			w.settledAt = w.now
		}
		return w.now-w.settledAt > 3*w.cfg.Params.NodeTimeout
	}
	w.settledAt = 0
	if w.cfg.Liveness && w.now-w.quietAt > w.livenessBound() {
		if u := w.unhealed(); u != "" {
			w.fail("not healed %v after the faults stopped (bound %v): %s", w.now-w.quietAt, w.livenessBound(), u)
			return true
		}
		w.fail("no single primary %v after the faults stopped (bound %v)", w.now-w.quietAt, w.livenessBound())
		return true
	}
	return false
}

// checkDetaches: no agent detaches a primary from the load balancers
// while that primary holds its lease by its own clock and its database
// runs (a switched-over
// primary detaches itself after it dropped its lease). The one exception
// is detach.on.agent.failure, the operator's choice to detach a primary
// whose agent a majority found gone: an agent that restarts (or is heard
// again) while that check runs may hold a new lease by the time the
// detach is issued.
func (w *World) checkDetaches(by *simNode, acts []core.Action) {
	for _, a := range acts {
		if no, ok := a.(core.Notify); ok && no.Subject == subject.PrimaryLeftAndDetached {
			return
		}
	}
	for _, a := range acts {
		switch a := a.(type) {
		case core.RunScript:
			if a.Script == core.ScriptLoadBalancerDetach && a.Placeholders.Type == "p" {
				w.checkDetach(by, a.Placeholders.Host, "script.load.balancer.detach")
			}
		case core.Pgpool:
			if a.Op == core.PgpoolDetach {
				w.checkDetach(by, a.Node, "Pgpool detach")
			}
		}
	}
}

func (w *World) checkDetach(by *simNode, target core.NodeID, what string) {
	t := w.byID[target]
	if t == nil || t.agent == nil {
		return
	}
	// A primary whose database is down (powered off by the candidate's
	// STONITH, crashed) serves nobody: detaching it is right even while
	// its agent, cut off, still counts its lease (seed 43772).
	if t.db != nil && !t.db.up {
		return
	}
	if st := t.agent.Status(); st.HasLease && t.local(w.now) < st.LeaseUntil {
		w.fail("%s: %s of %s while %s holds its lease (until %v, now %v)", by.id, what, target, target, st.LeaseUntil, t.local(w.now))
	}
}
