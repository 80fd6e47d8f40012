package sim

import (
	"cmp"
	"slices"
	"time"

	"github.com/openefm/efm/internal/core"
)

// timeline is a PostgreSQL timeline: it branched from parent at branch.
// Servers refer to it by its index in World.tl; num is the timeline ID
// PostgreSQL gave it, chosen by the server that promoted as PostgreSQL
// does (promote), so two timelines can get one number: the failure the
// simulator must find (chaos seed 7007).
type timeline struct {
	parent int
	branch core.LSN
	num    uint32
}

// fakeDB is a PostgreSQL server as far as failover cares.
type fakeDB struct {
	up          bool
	inRecovery  bool
	fenced      bool // standby.signal / recovery.conf: restarts in recovery
	hung        bool // the local agent's connections hang
	adminStop   bool // stopped on purpose: no automatic restart
	tl          int
	lsn         core.LSN // received (standby) or current (primary) position
	replay      core.LSN
	paused      bool
	following   core.NodeID
	rewind      bool // may rewind (pg_rewind) to follow its primary
	busyUntil   time.Duration
	lastRestart time.Duration
	// syncK is num_sync of this server's synchronous_standby_names (its
	// own postgresql.auto.conf): Config.SyncK, unless the agent changed
	// it; 0 = cleared (asynchronous).
	syncK int
	// slots: this server's physical slots for other nodes, at their
	// restart_lsn (slots.go); slot: the standby streams through its slot
	// on the primary it follows.
	slots map[core.NodeID]core.LSN
	slot  bool
	// ctl is pg_control (control.go).
	ctl controlFile
	// hist is the newest timeline ID with a history file in pg_wal beyond
	// the server's own timeline's: the placeholders an earlier promotion
	// placed (DoDB.Timeline).
	hist uint32
	// conn is the WAL receiver's connection to the primary it follows:
	// what that primary has written into it, received or not. A cut link
	// holds it back; it arrives when the link heals even if the primary
	// died meanwhile (its kernel sends an orphaned socket's data), unless
	// the connection ended first (this server stopped, the receiver was
	// detached, it follows another primary, the primary's host died).
	conn *walConn
}

// walConn is WAL in flight on a replication connection from a primary.
type walConn struct {
	from core.NodeID
	tl   int
	lsn  core.LSN
	// votedEpoch is the receiving node's persisted vote when WAL last
	// flowed normally: WAL that arrives after a newer vote (for another
	// node) was compared by nobody.
	votedEpoch uint64
}

func (d *fakeDB) writable() bool { return d.up && !d.inRecovery }

// holds: p's WAL contains all of d's (d is on p's history, not past its
// fork point), so d can stream from p without a rewind.
func (w *World) holds(p, d *fakeDB) bool { return w.contains(p.tl, p.lsn, d.tl, d.lsn) }

// contains: a server whose WAL ends at (tl, lsn) holds commit (ctl, clsn).
func (w *World) contains(tl int, lsn core.LSN, ctl int, clsn core.LSN) bool {
	limit := lsn
	for cur := tl; cur >= 0; {
		if cur == ctl {
			return clsn <= limit
		}
		t := w.tl[cur]
		limit = min(limit, t.branch)
		cur = t.parent
	}
	return false
}

// streams: s's WAL receiver is connected to a writable primary it can
// follow (what pg_stat_wal_receiver shows as "streaming").
func (w *World) streams(s *simNode) bool {
	d := s.db
	if d == nil || !d.up || !d.inRecovery || d.following == "" {
		return false
	}
	p := w.byID[d.following]
	if p == nil || p.db == nil || !p.db.writable() || !w.linked(p.idx, s.idx) {
		return false
	}
	return d.rewind || w.holds(p.db, d)
}

// replicate streams WAL to every standby from the primary it follows, and
// lets the client commit on every writable server.
func (w *World) replicate() {
	for _, s := range w.nodes {
		d := s.db
		if d == nil || !d.up || !d.inRecovery || d.following == "" {
			continue
		}
		p := w.byID[d.following]
		if c := d.conn; c != nil && (p == nil || c.from != p.id || p.db == nil) {
			d.conn = nil // the receiver follows another primary now
		}
		if c := d.conn; c != nil && p.db.writable() && p.db.tl == c.tl {
			// Written into the connection whether the link holds or not.
			c.lsn = p.db.lsn
		}
		if c := d.conn; c != nil && !p.db.writable() && w.linked(p.idx, s.idx) {
			// The primary is gone, and what it had sent arrives now.
			if c.lsn > d.lsn && w.contains(c.tl, c.lsn, d.tl, d.lsn) {
				w.logf("%s received %d/%s that %s had sent before it stopped", s.id, c.tl, c.lsn, p.id)
				if st := s.persisted; s.params.Promotable && st.VotedEpoch > c.votedEpoch && st.VotedFor != p.id && st.VotedFor != s.id {
					// The vote compared a position that has grown since (a
					// promotable voter applies the WAL rule, vote.go):
					// the voter may now hold WAL its candidate lacks.
					w.fail("%s received WAL from %s (to %d/%s) after voting for %s in epoch %d: a voter's position must not grow after its vote (core/detach.go)",
						s.id, p.id, c.tl, c.lsn, st.VotedFor, st.VotedEpoch)
				}
				d.tl, d.lsn = c.tl, c.lsn
				if !d.paused {
					d.replay = d.lsn
				}
			}
			d.conn = nil
		}
		if p == nil || p.db == nil || !p.db.writable() || !w.linked(p.idx, s.idx) {
			continue
		}
		pd := p.db
		if !w.holds(pd, d) {
			if !d.rewind {
				continue // diverged: stuck until rebuilt
			}
			w.logf("%s rewound from %d/%s to follow %s", s.id, d.tl, d.lsn, p.id)
			d.rewind = false
		}
		target := pd.lsn
		if d.tl == pd.tl && w.rng.Intn(4) == 0 {
			// Asynchronous lag: only part of the way this time.
			target = d.lsn + (pd.lsn-d.lsn)/2
		}
		d.tl = pd.tl
		d.lsn = target
		if !d.paused {
			d.replay = d.lsn
		}
		// The rest of what the primary wrote is in flight.
		d.conn = &walConn{from: p.id, tl: pd.tl, lsn: pd.lsn, votedEpoch: s.persisted.VotedEpoch}
	}
	for _, p := range w.nodes {
		if p.db == nil || !p.db.writable() {
			continue
		}
		p.db.lsn += core.LSN(1 + w.rng.Intn(500))
		p.db.replay = p.db.lsn
		if w.cfg.SyncK > 0 {
			w.ackSync(p)
		}
	}
}

// ackSync: a commit on p is acknowledged once k standbys hold it
// (synchronous_standby_names = ANY k, k = p's own num_sync). Under the
// full setting (k = SyncK) it must survive every failover; under a
// lowered or cleared one it is an asynchronous commit (maxAsync).
func (w *World) ackSync(p *simNode) {
	k := p.db.syncK
	if k < w.cfg.SyncK {
		w.ackAsync(p, k)
		return
	}
	var have []core.LSN
	for _, s := range w.nodes {
		if s == p || s.db == nil || !s.db.inRecovery || s.db.tl != p.db.tl || !s.params.Promotable {
			continue
		}
		have = append(have, s.db.lsn)
	}
	if len(have) < w.cfg.SyncK {
		return
	}
	// k-th largest
	for i := 0; i < w.cfg.SyncK; i++ {
		for j := i + 1; j < len(have); j++ {
			if have[j] > have[i] {
				have[i], have[j] = have[j], have[i]
			}
		}
	}
	acked := min(have[w.cfg.SyncK-1], p.db.lsn)
	if acked > w.maxAcked[p.db.tl] {
		w.maxAcked[p.db.tl] = acked
		w.ackedCommits++
	}
}

// ackAsync acknowledges commits on p under num_sync k < SyncK (k = 0: on
// p alone): the same k-th largest rule, booked as asynchronous.
func (w *World) ackAsync(p *simNode, k int) {
	acked := p.db.lsn
	if k > 0 {
		var have []core.LSN
		for _, s := range w.nodes {
			if s == p || s.db == nil || !s.db.inRecovery || s.db.tl != p.db.tl || !s.params.Promotable {
				continue
			}
			have = append(have, s.db.lsn)
		}
		if len(have) < k {
			return
		}
		slices.SortFunc(have, func(a, b core.LSN) int { return cmp.Compare(b, a) })
		acked = min(have[k-1], acked)
	}
	if w.cfg.BrokenAsyncIsSync && acked > w.maxAcked[p.db.tl] {
		w.maxAcked[p.db.tl] = acked
	}
	if acked > w.maxAsync[p.db.tl] {
		w.maxAsync[p.db.tl] = acked
		w.asyncCommits++
	}
}

// crashDB kills the postmaster; systemd restarts it unless it was stopped
// on purpose or the host is down.
func (w *World) crashDB(n *simNode, restartAfter time.Duration) {
	d := n.db
	if d == nil || !d.up {
		return
	}
	w.dbDown(n, "crashed")
	if restartAfter > 0 {
		w.after(restartAfter, func() {
			if !d.up && !d.adminStop && !n.nodeDown {
				w.startDB(n, "restarted by systemd")
			}
		})
	}
}

func (w *World) dbDown(n *simNode, why string) {
	d := n.db
	if !d.up {
		return
	}
	d.up = false
	d.paused = false
	d.conn = nil
	d.stopCtl(false) // a crash; dbStop makes it a clean stop
	w.logf("%s database %s", n.id, why)
	if n.id == w.primaryDB {
		w.primaryDist = w.now
	}
}

// startDB starts the server as configured: in recovery if fenced
// (standby.signal) or already a standby, writable otherwise.
func (w *World) startDB(n *simNode, why string) {
	d := n.db
	if d.up {
		return
	}
	d.up = true
	d.adminStop = false
	d.lastRestart = w.now
	if d.fenced {
		d.inRecovery = true
	}
	state := "writable"
	if d.inRecovery {
		state = "in recovery"
	}
	w.logf("%s database started (%s, %s)", n.id, state, why)
}

// shutdownSend: a primary's fast shutdown writes its shutdown checkpoint and
// waits until its WAL senders have sent everything to the standbys
// connected to it, which receive it; a standby cut off from it gets nothing
// (what was written into its connection stays in flight, walConn).
func (w *World) shutdownSend(p *simNode) {
	for _, s := range w.nodes {
		d := s.db
		if s == p || d == nil || !d.up || !d.inRecovery || d.following != p.id || !w.linked(p.idx, s.idx) {
			continue
		}
		if d.lsn < p.db.lsn && w.holds(p.db, d) {
			d.tl, d.lsn = p.db.tl, p.db.lsn
			if !d.paused {
				d.replay = d.lsn
			}
			d.conn = nil
		}
	}
}
