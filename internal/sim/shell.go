package sim

import (
	"fmt"
	"strings"
	"time"

	"github.com/openefm/efm/internal/core"
	"github.com/openefm/efm/internal/notify/subject"
)

// deliver hands ev to n's agent. gen >= 0 ties a result to the agent
// incarnation that asked for it. A paused agent buffers, like a stopped
// process whose sockets keep queueing.
func (w *World) deliver(n *simNode, gen int, ev core.Event) {
	if n.agent == nil || (gen >= 0 && gen != n.gen) {
		return
	}
	if n.paused {
		n.buffered = append(n.buffered, ev)
		return
	}
	w.step(n, ev)
}

func (w *World) step(n *simNode, ev core.Event) {
	acts := n.agent.Step(n.local(w.now), ev)
	w.checkDetaches(n, acts)
	for _, a := range acts {
		if n.agent == nil {
			return
		}
		w.exec(n, a)
	}
}

// result delivers ev to the current incarnation of n after d.
func (w *World) result(n *simNode, d time.Duration, ev func() core.Event) {
	gen := n.gen
	w.after(d, func() {
		if n.agent == nil || gen != n.gen {
			return
		}
		w.deliver(n, gen, ev())
	})
}

func (w *World) lat(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(w.rng.Int63n(int64(hi-lo)+1))
}

func (w *World) exec(n *simNode, a core.Action) {
	switch a := a.(type) {
	case core.Send:
		if w.cfg.SilentPromoteRefusal && a.Msg.Type == core.MsgResign && strings.HasPrefix(a.Msg.Reason, "promote order refused") {
			return
		}
		w.send(n, a.To, a.Msg)
	case core.Persist:
		w.onPersist(n, a.State)
	case core.ProbeLocalDB:
		w.probeLocal(n, a)
	case core.CheckRemoteDB:
		t := w.byID[a.Node]
		d := w.lat(2*time.Millisecond, 20*time.Millisecond)
		if t == nil || !w.linked(n.idx, t.idx) {
			d = n.realDur(a.Timeout)
		}
		w.result(n, d, func() core.Event {
			ok := t != nil && t.db != nil && t.db.up && w.linked(n.idx, t.idx)
			return core.RemoteDBResult{Seq: a.Seq, Node: a.Node, Reachable: ok, InRecovery: ok && t.db.inRecovery}
		})
	case core.CheckVIP:
		n.vipSeq, n.vipFree = a.Seq, false
		d, doubt := w.probe(n, a.Timeout)
		w.result(n, d, func() core.Event {
			if doubt != "" {
				return core.VIPResult{Seq: a.Seq, Reachable: w.rng.Intn(2) == 0, Err: doubt}
			}
			r := core.VIPResult{Seq: a.Seq, Reachable: w.vipAnswers(n)}
			if a.Seq == n.vipSeq {
				n.vipFree = !r.Reachable
			}
			return r
		})
	case core.CheckPingServer:
		d, doubt := w.probe(n, a.Timeout)
		w.result(n, d, func() core.Event {
			if doubt != "" {
				return core.PingResult{Seq: a.Seq, Reachable: w.rng.Intn(2) == 0, Err: doubt}
			}
			return core.PingResult{Seq: a.Seq, Reachable: w.linked(n.idx, len(w.nodes))}
		})
	case core.DoDB:
		w.doDB(n, a)
	case core.DoVIP:
		w.doVIP(n, a)
	case core.FollowPrimary:
		if w.cfg.Record {
			n.follows = append(n.follows, a)
		}
		w.follow(n, a)
	case core.RejoinDB:
		w.rejoin(n, a)
	case core.RunScript:
		if w.cfg.Record && (a.Script == core.ScriptLoadBalancerAttach || a.Script == core.ScriptLoadBalancerDetach) {
			w.routing = append(w.routing, fmt.Sprintf("%s %s %s %s", n.id, a.Script, a.Placeholders.Host, a.Placeholders.Type))
		}
		w.runScript(n, a)
	case core.CheckSyncStandbys:
		w.checkSync(n, a)
	case core.SetNumSync:
		w.setNumSync(n, a)
	case core.ReadSlotPositions:
		w.readSlots(n, a)
	case core.SyncSlots:
		w.syncSlots(n, a)
	case core.DropSlots:
		w.dropSlots(n, a)
	case core.Pgpool:
		w.pgpool(n, a)
	case core.Notify:
		if !catalogued[a.Subject] {
			w.fail("%s notified %s, which is not in the subject catalogue", n.id, a.Subject)
		}
		if w.cfg.Record {
			n.notes = append(n.notes, a)
		}
		if a.Subject == subject.NodeNoLongerIsolated {
			w.resumedPrimaries++ // EFM 4.5's rule (core/resume_primary.go)
		}
		w.logf("%s notify [%s] %s", n.id, a.Level(), a.Title())
	case core.SetRole:
		n.role = a.Role
		w.logf("%s role %s", n.id, a.Role)
	case core.Watchdog:
		w.watchdog(n, a.Timeout)
	case core.Log:
		switch a.Event {
		case core.LogThawStarted:
			w.thaws++
			w.logf("%s thawed: %s %v", n.id, a.Msg, a.Attrs)
		case core.LogThawKept:
			w.thawsKept++
			w.logf("%s kept its lease after the thaw", n.id)
		case core.LogPromoteRefused:
			w.logf("%s refused a promote order: %v", n.id, a.Attrs)
			w.promoteRefused(n, a)
		case core.LogPromotionWaitedOut:
			w.logf("%s waited out its candidate: %v", n.id, a.Attrs)
			w.promotionWaitedOut(n, a)
		}
		if w.traceAll {
			w.logf("%s log %s %v", n.id, a.Msg, a.Attrs)
		}
	case core.AdminReply:
		n.replies = append(n.replies, a)
	case core.Exit:
		w.logf("%s agent exits: %s", n.id, a.Reason)
		n.agent = nil
		n.gen++
		n.stopped = true
	}
}

// probe is when a VIP or ping.server.ip probe of n answers, and the error
// it reports when n's probes are faulty (Reachable is then garbage: the
// core must ignore it).
func (w *World) probe(n *simNode, timeout time.Duration) (time.Duration, string) {
	switch n.probeFault {
	case probeFails:
		return w.lat(time.Millisecond, 10*time.Millisecond), "ping.server.command failed with exit status 2: Network is unreachable"
	case probeHangs:
		return n.realDur(timeout), "ping.server.command did not finish in time"
	}
	return w.lat(5*time.Millisecond, 50*time.Millisecond), ""
}

func (w *World) vipAnswers(from *simNode) bool {
	for id := range w.vip {
		h := w.byID[id]
		if !h.nodeDown && w.linked(from.idx, h.idx) {
			return true
		}
	}
	return false
}

func (w *World) probeLocal(n *simNode, a core.ProbeLocalDB) {
	seq, timeout := a.Seq, a.Timeout
	d := n.db
	if d == nil {
		return
	}
	if d.hung {
		w.result(n, n.realDur(timeout), func() core.Event {
			return core.LocalDBProbe{Seq: seq, Err: "timeout"}
		})
		return
	}
	w.result(n, w.lat(time.Millisecond, 10*time.Millisecond), func() core.Event {
		p := w.dbStatus(n, seq)
		if d := n.db; !d.up && a.ReadStopped {
			p.Stopped = w.stoppedDir(d)
		}
		return p
	})
}

func (w *World) dbStatus(n *simNode, seq uint64) core.LocalDBProbe {
	d := n.db
	if !d.up || d.hung {
		// A stopped server has no postmaster: the shell would find it
		// certainly gone.
		return core.LocalDBProbe{Seq: seq, Err: "connection refused", Gone: !d.up}
	}
	p := core.LocalDBProbe{Seq: seq, Reachable: true, InRecovery: d.inRecovery, ReplayPaused: d.paused, Timeline: w.tl[d.tl].num}
	if d.inRecovery {
		p.ReceivedLSN, p.ReplayLSN = d.lsn, d.replay
		p.Upstream = d.following
		if w.streams(n) {
			p.WALReceiver = "streaming"
		} else if d.following != "" {
			p.WALReceiver = "waiting"
		}
	} else {
		p.CurrentLSN = d.lsn
	}
	return p
}

// doDB performs one database operation; operations on one server run one
// after another.
func (w *World) doDB(n *simNode, a core.DoDB) {
	d := n.db
	if d == nil {
		w.result(n, time.Millisecond, func() core.Event { return core.DBOpResult{Seq: a.Seq, Err: "no database"} })
		return
	}
	var l time.Duration
	switch a.Op {
	case core.OpStopDB:
		l = w.lat(20*time.Millisecond, 150*time.Millisecond)
	case core.OpPromoteDB:
		l = w.lat(50*time.Millisecond, 400*time.Millisecond)
	case core.OpCheckpointDB:
		l = w.lat(10*time.Millisecond, 300*time.Millisecond)
	default:
		l = w.lat(time.Millisecond, 20*time.Millisecond)
	}
	start := max(w.now, d.busyUntil)
	d.busyUntil = start + l
	gen := n.gen
	w.at(start+l, func() {
		ok, errText := true, ""
		switch a.Op {
		case core.OpStartDB:
			if n.nodeDown {
				ok = false
			} else {
				w.startDB(n, "started by its agent")
			}
		case core.OpStopDB:
			d.adminStop = true
			if d.writable() {
				w.shutdownSend(n)
			}
			w.dbStop(n, "stopped by its agent")
		case core.OpPromoteDB:
			switch {
			case !d.up:
				ok, errText = false, "database not running"
			case d.inRecovery:
				if n.params.VIPConfigured && n.params.CheckVIPBeforePromotion && !n.vipFree {
					w.fail("%s promoted without a VIP probe that answered free (latest CheckVIP seq %d)", n.id, n.vipSeq)
				}
				atLeast := a.Timeline
				if w.cfg.NoTimelineReservation {
					atLeast = 0
				}
				w.promote(n, atLeast)
			}
		case core.OpFenceDB:
			d.fenced = true
			if n.id == w.primaryDB {
				w.primaryDist = w.now
			}
		case core.OpUnfenceDB:
			d.fenced = false
		case core.OpPauseReplay:
			if d.up && d.inRecovery {
				d.paused = true
			}
		case core.OpResumeReplay:
			d.paused = false
			d.replay = d.lsn
		case core.OpDetachReceiver:
			if !d.up || d.hung {
				ok, errText = false, "database not running"
			} else if !w.cfg.NoDetach {
				d.conn = nil
			}
		case core.OpCheckpointDB:
			if !d.up || d.hung {
				ok, errText = false, "database not running"
			} else {
				d.checkpoint()
			}
		}
		if n.agent != nil && gen == n.gen {
			w.deliver(n, gen, core.DBOpResult{Seq: a.Seq, OK: ok, Err: errText})
		}
	})
}

// doVIP adds or releases the VIP; it waits for the server's operations
// before it, as the agent's one operation queue does.
func (w *World) doVIP(n *simNode, a core.DoVIP) {
	l := w.lat(time.Millisecond, 20*time.Millisecond)
	start := w.now
	if n.db != nil {
		start = max(w.now, n.db.busyUntil)
		n.db.busyUntil = start + l
	}
	gen := n.gen
	w.at(start+l, func() {
		switch a.Op {
		case core.OpAddVIP:
			w.vip[n.id] = true
			w.logf("%s holds the VIP", n.id)
		case core.OpReleaseVIP:
			delete(w.vip, n.id)
		}
		if n.agent != nil && gen == n.gen {
			w.deliver(n, gen, core.DBOpResult{Seq: a.Seq, OK: true})
		}
	})
}

// follow: point primary_conninfo at the new primary and (re)start in
// recovery. A standby whose WAL runs past the primary's fork point is left
// as it is and answered Diverged, as the shell's check against the
// primary's timeline history does: the shell never rewinds in a follow
// (the rejoin does). The old primary of a switchover stops first; it
// stopped after the candidate had all its WAL, which the model does not
// track, so it may rewind (rewind) to stand for that.
func (w *World) follow(n *simNode, a core.FollowPrimary) {
	d := n.db
	l := w.lat(100*time.Millisecond, 300*time.Millisecond)
	start := max(w.now, d.busyUntil)
	d.busyUntil = start + l
	gen := n.gen
	w.at(start+l, func() {
		ok := !n.nodeDown
		if p := w.byID[a.Primary]; ok && (d.inRecovery || !d.up) && !d.rewind && p != nil && p.db != nil && p.db.writable() &&
			w.linked(p.idx, n.idx) && !w.holds(p.db, d) {
			w.logf("%s cannot follow %s: its WAL %d/%s runs past the primary's fork point", n.id, p.id, d.tl, d.lsn)
			if n.agent != nil && gen == n.gen {
				w.deliver(n, gen, core.DBOpResult{Seq: a.Seq, Err: "diverged", Diverged: true})
			}
			return
		}
		if ok {
			wasPrimary := d.up && !d.inRecovery
			if wasPrimary {
				w.dbStop(n, "stopped to become a standby")
			}
			d.following = a.Primary
			d.slot = a.Slot
			if a.Slot {
				w.followSlot(n, a.Primary)
			}
			d.rewind = d.rewind || wasPrimary
			d.fenced = true
			d.inRecovery = true
			d.paused = false
			w.startDB(n, "following "+string(a.Primary))
		}
		if n.agent != nil && gen == n.gen {
			w.deliver(n, gen, core.DBOpResult{Seq: a.Seq, OK: ok})
		}
	})
}

func (w *World) runScript(n *simNode, a core.RunScript) {
	exit := 0
	if a.Script == core.ScriptFence {
		if w.cfg.FenceFailPct > 0 && !w.faultsOver && w.rng.Intn(100) < w.cfg.FenceFailPct {
			exit = 1
		} else if t := w.byID[a.Placeholders.FailedPrimary]; w.cfg.Stonith && t != nil && t.db != nil {
			// STONITH: power the old primary's database off out of band
			// and leave it unable to come back writable.
			t.db.fenced = true
			t.db.adminStop = true
			w.dbDown(t, "powered off by STONITH from "+string(n.id))
			delete(w.vip, t.id)
			if t.id == w.primaryDB {
				w.primaryDist = w.now
			}
		}
	}
	w.result(n, w.lat(5*time.Millisecond, 50*time.Millisecond), func() core.Event {
		return core.ScriptResult{Seq: a.Seq, Script: a.Script, ExitCode: exit}
	})
}

func (w *World) watchdog(n *simNode, d time.Duration) {
	n.watchdogGen++
	if d == 0 {
		n.watchdogAt = 0
		return
	}
	n.watchdogAt = w.now + n.realDur(d)
	g := n.watchdogGen
	w.at(n.watchdogAt, func() {
		if n.watchdogGen == g && n.watchdogAt != 0 {
			w.logf("%s watchdog fires", n.id)
			w.resetNode(n, w.lat(time.Second, 5*time.Second))
		}
	})
}

// onPersist checks what the core persists: epochs never go back and a vote
// is granted once per epoch.
func (w *World) onPersist(n *simNode, st core.Persisted) {
	prev := n.persisted
	if st.Epoch < prev.Epoch {
		w.fail("%s persisted epoch %d after %d", n.id, st.Epoch, prev.Epoch)
	}
	if st.VotedEpoch < prev.VotedEpoch {
		w.fail("%s persisted voted epoch %d after %d", n.id, st.VotedEpoch, prev.VotedEpoch)
	}
	if st.VotedEpoch == prev.VotedEpoch && st.VotedEpoch > 0 && st.VotedFor != prev.VotedFor {
		w.fail("%s voted twice in epoch %d: %s then %s", n.id, st.VotedEpoch, prev.VotedFor, st.VotedFor)
	}
	if st.VotedEpoch > prev.VotedEpoch {
		if w.votes[st.VotedEpoch] == nil {
			w.votes[st.VotedEpoch] = map[core.NodeID]core.NodeID{}
		}
		w.votes[st.VotedEpoch][n.id] = st.VotedFor
		// The voting members when the vote was cast (a member that left
		// cleanly does not count; one rejoining later does not change an
		// election already decided).
		c := w.nonStopped()
		if v, ok := w.votersAt[st.VotedEpoch]; !ok || c < v {
			w.votersAt[st.VotedEpoch] = c
		}
	}
	n.persisted = st
}

// nonStopped counts the voting members as the design defines them: every
// node except those that left cleanly more than a vote hold ago. A member
// back from a clean stop counts once the membership views can know it
// (one membership tick): elections that race a rejoin are judged by what
// the agents could see (there is no joint consensus; see doc.go).
func (w *World) nonStopped() int {
	hold := w.cfg.Params.Timing().VoteHold
	c := 0
	for _, m := range w.nodes {
		switch {
		case m.stopped && w.now-m.stoppedAt < hold:
			c++
		case !m.stopped && (m.restartedAt == 0 || w.now-m.restartedAt > 150*time.Millisecond):
			c++
		}
	}
	return c
}

// catalogued is the subject catalogue: the core names every notification
// from it, never with a subject of its own making.
var catalogued = func() map[subject.Subject]bool {
	m := map[subject.Subject]bool{}
	for _, s := range subject.All() {
		m[s] = true
	}
	return m
}()

// pgpool records a Pgpool action and answers it as done: the simulated
// Pgpool always succeeds, after a fixed delay (no draw from the schedule's
// random source).
func (w *World) pgpool(n *simNode, a core.Pgpool) {
	if w.cfg.Record {
		n.pgpool = append(n.pgpool, a)
		w.routing = append(w.routing, fmt.Sprintf("%s pgpool-%s %s", n.id, a.Op, a.Node))
	}
	w.logf("%s pgpool %s %s", n.id, a.Op, a.Node)
	w.result(n, 20*time.Millisecond, func() core.Event { return core.PgpoolResult{Seq: a.Seq, OK: true} })
}
