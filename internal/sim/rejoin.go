package sim

import (
	"fmt"
	"time"

	"github.com/openefm/efm/internal/core"
)

// rejoin is pg.Rejoin on n: the guard, then the database rebuilt from the
// new primary's history. A node whose WAL is a prefix of the primary's
// follows it as it is; one that diverged LOSES its divergent commits and
// gets the primary's (pg_rewind or pg_basebackup: the same to the WAL); a
// node that may hold WAL the primary lacks is refused and left untouched.
func (w *World) rejoin(n *simNode, a core.RejoinDB) {
	// The core asks only for the node whose promotion is the latest at or
	// before the epoch it names (node 0, the first primary, when none is):
	// never for a candidate that has not promoted yet. (A primary may be
	// elected again in a later epoch it then names: two coordinators.) It
	// may have been demoted since (a switchover): then the rebuild fails
	// below, as pg.Rejoin's inspection would.
	if last := w.lastPromotedAt(a.Epoch); last != a.Primary {
		w.fail("%s asked to rejoin %s in epoch %d, but the latest promotion up to that epoch is %q's", n.id, a.Primary, a.Epoch, last)
	}
	d := n.db
	l := w.lat(200*time.Millisecond, 2*time.Second)
	start := max(w.now, d.busyUntil)
	d.busyUntil = start + l
	gen := n.gen
	w.at(start+l, func() {
		res := core.RejoinResult{Seq: a.Seq, Took: l}
		p := w.byID[a.Primary]
		switch {
		case n.nodeDown:
			res.Err = "host down"
		case p == nil || p.db == nil || !p.db.writable() || !w.linked(n.idx, p.idx) || !w.linked(p.idx, n.idx):
			res.Method, res.Reason = "refused", "the new primary "+string(a.Primary)+" cannot be reached or is not writable"
		case d.tl > p.db.tl || d.tl == p.db.tl && !w.holds(p.db, d):
			// The core asks for a rejoin only once a newer primary holds
			// the lease: a node that may hold WAL the primary lacks means
			// it asked too early.
			w.fail("%s asked to rejoin %s in epoch %d but its WAL %d/%s may be newer than the primary's %d/%s",
				n.id, a.Primary, a.Epoch, d.tl, d.lsn, p.db.tl, p.db.lsn)
			res.Method, res.Reason = "refused", "timeline not older than the primary's"
		default:
			pd := p.db
			if d.up {
				w.dbStop(n, "stopped for the rejoin")
			}
			res.Method = "followed without rewind"
			if !w.holds(pd, d) {
				res.Method = "rewound"
				w.checkRejoinLoss(n, p)
				w.logf("%s REJOIN discards its WAL %d/%s, rebuilt from %s at %d/%s", n.id, d.tl, d.lsn, p.id, pd.tl, pd.lsn)
				d.tl, d.lsn = pd.tl, pd.lsn
			}
			d.replay = d.lsn
			d.following = p.id
			d.rewind = false
			d.fenced = true
			d.inRecovery = true
			d.paused = false
			w.startDB(n, "rejoined as a standby of "+string(p.id))
			res.OK = true
			w.rejoins++
		}
		if n.agent != nil && gen == n.gen {
			w.deliver(n, gen, res)
		}
	})
}

// lastPromotedAt is the node of the latest promotion in an epoch <= e,
// node 0 (the initial primary) when there was none.
func (w *World) lastPromotedAt(e uint64) core.NodeID {
	best, who := uint64(0), nodeID(0)
	found := false
	for pe, id := range w.promotedIn {
		if pe <= e && (!found || pe > best) {
			best, who, found = pe, id, true
		}
	}
	return who
}

// checkRejoinLoss: what a rejoin discards must not be an acknowledged
// commit the new primary lacks (with synchronous replication).
func (w *World) checkRejoinLoss(n, p *simNode) {
	if w.cfg.SyncK == 0 {
		return
	}
	for tl, acked := range w.maxAcked {
		if acked > 0 && w.contains(n.db.tl, n.db.lsn, tl, acked) && !w.contains(p.db.tl, p.db.lsn, tl, acked) {
			w.fail("rejoin of %s to %s discards acknowledged commit %d/%s", n.id, p.id, tl, acked)
		}
	}
}

// healed: with auto.rewind or auto.basebackup, every database node whose
// agent runs is a Standby or the Primary, none left fenced.
func (w *World) healed() bool { return w.unhealed() == "" }

// unhealed names the first database node healed() waits for, "" if none.
func (w *World) unhealed() string {
	p := w.cfg.Params
	if !p.AutoRewind && !p.AutoBasebackup {
		return ""
	}
	for _, n := range w.nodes {
		if n.db == nil || n.agent == nil || n.paused {
			continue
		}
		if n.role != core.RoleStandby && n.role != core.RolePrimary {
			return fmt.Sprintf("%s is %s (fenced %v, persisted primary %s of epoch %d)", n.id, n.role, n.persisted.Fenced, n.persisted.Primary, n.persisted.Epoch)
		}
		if why := w.diverged(n); why != "" {
			return why
		}
	}
	return ""
}

// diverged: n is a standby of the primary of the moment that can never
// stream from it: its WAL runs past the primary's fork point and nothing
// will rewind it. A standby "healed" in name only.
func (w *World) diverged(n *simNode) string {
	p := w.byID[w.primaryDB]
	d := n.db
	if n.role != core.RoleStandby || p == nil || p == n || p.db == nil || !p.db.writable() || d == nil || !d.inRecovery || d.rewind {
		return ""
	}
	if w.holds(p.db, d) {
		return ""
	}
	return fmt.Sprintf("%s is a standby at %d/%s, past the fork point of the primary %s (%d/%s): it cannot follow it", n.id, d.tl, d.lsn, p.id, p.db.tl, p.db.lsn)
}

// rejoinable: the operator leaves n to the agents' rejoin (a fenced old
// primary that knows of a newer one).
func (w *World) rejoinable(n *simNode) bool {
	p, st := w.cfg.Params, n.persisted
	return (p.AutoRewind || p.AutoBasebackup) && st.Fenced && st.Primary != "" && st.Primary != n.id
}
