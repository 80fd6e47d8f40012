package core

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/openefm/efm/internal/notify/subject"
)

type monitorPhase uint8

const (
	monitoring   monitorPhase = iota
	lastAttempt               // the one last attempt (local.timeout.final)
	askingOthers              // asked the other agents to reach our database
)

type idleReason uint8

const (
	idleNone idleReason = iota
	// idleNoDB: the database was unreachable from this agent but not
	// confirmed failed; the agent resumes by itself when it reaches it.
	idleNoDB
	// idleFailed: confirmed failure; needs efm resume.
	idleFailed
	// idleWrongState: primary in recovery or standby out of recovery.
	idleWrongState
	// idleFenced: old primary, fenced; needs a rebuild then efm resume.
	idleFenced
)

// localMon is EFM's local database monitor (efm-reference §1.4): a check
// every local.period; no success for local.timeout gives one last attempt
// bounded by local.timeout.final; if that fails the other agents are asked to
// connect to this database (bounded by remote.timeout). GoneChecks checks in
// a row that find the server certainly gone (LocalDBProbe.Gone) go to the
// other agents at once, without the rest of local.timeout and the last
// attempt (EFM waits those out whatever the failure).
type localMon struct {
	last   LocalDBProbe
	lastOK time.Duration
	// readAt: when the last answered probe was issued; what it read is
	// no older than that (lastOK is when the answer came).
	readAt time.Duration
	// promotedAt: when this node's own promotion completed; a probe issued
	// before it read the database still in recovery (checkState).
	promotedAt time.Duration
	nextProbe  time.Duration
	inflight   uint64
	phase      monitorPhase
	idle       idleReason
	// gone counts the checks in a row that found the server certainly gone.
	gone int
	// voteSeq is the probe a vote asked for (probeForVote), issued at
	// voteAt; answeredAt is when the last such probe that answered was
	// issued, whatever it found; stopped is the data directory read by
	// the last probe that found the server gone, issued at stoppedAt (zero
	// once a probe reaches the server). Issue times: the read happened
	// no earlier.
	voteSeq    uint64
	voteAt     time.Duration
	answeredAt time.Duration
	stopped    StoppedDB
	stoppedAt  time.Duration

	askRound    uint64
	askDeadline time.Duration
	askAsked    map[NodeID]bool
	askReached  []NodeID
}

func (n *Node) probe(final bool) {
	t := n.p.LocalPeriod
	op := pendingOp{awaits: awaitProbe}
	if final {
		t = n.p.LocalTimeoutFinal
		op.awaits = awaitFinalProbe
	}
	seq := n.await(op)
	n.local.inflight = seq
	n.local.nextProbe = n.now + n.p.LocalPeriod
	// The probe that decides the role also reads a stopped database's
	// data directory: detectRole needs to know whether it last ran as a
	// primary.
	n.emit(ProbeLocalDB{Seq: seq, Timeout: t, ReadStopped: n.role == RoleUnknown})
}

// GoneChecks is how many checks in a row, one local.period apart, must find
// the server certainly gone (connection refused, no live postmaster of this
// data directory) before the local monitor stops waiting out local.timeout.
// A pg_ctl restart leaves no postmaster only between the old one's exit and
// the new one's start (pg_ctl starts it at once, and the new postmaster
// writes postmaster.pid before it opens a socket; shutting down and starting
// up are "no answer"), far less than a check period, so one check may fall
// in that gap but not two; the third leaves room for a service manager
// that waits a moment between stop and start. Checks are at least a second
// apart (local.period), so the server was seen gone for 2 s at least.
const GoneChecks = 3

func (n *Node) onLocalProbe(e LocalDBProbe) {
	op, ok := n.takePending(e.Seq)
	if e.Seq != 0 && !ok {
		return // a late answer to a probe we gave up on
	}
	if e.Gone && !e.Reachable {
		n.local.gone++
	} else {
		n.local.gone = 0
	}
	if !e.Reachable && (n.isPrimary() || n.role == RoleStandby) && n.local.phase == monitoring {
		n.log(slog.LevelWarn, "local database check failed", "certainly_gone", e.Gone, "gone_checks", n.local.gone, "err", e.Err)
	}
	n.reconcileVIP(e)
	n.noteStopped(e)
	if e.Reachable {
		n.local.last = e
		n.local.lastOK = n.now
		n.local.readAt = n.now
		if ok {
			n.local.readAt = op.issuedAt
		}
		if e.InRecovery && e.Upstream != "" && !n.standby.followIssued {
			n.standby.following = e.Upstream
		}
	} else {
		n.local.last.Reachable = false
	}
	if op.awaits == awaitPausedProbe {
		n.pausedProbeDone(op.job, e)
		return
	}
	if e.Seq == n.local.inflight {
		n.local.inflight = 0
	}
	switch {
	case n.role == RoleUnknown:
		n.detectRole(e)
		return
	case n.role == RoleIdle && n.lease.holder:
		if n.local.idle == idleNoDB && e.Reachable {
			n.becomePrimary()
		}
	case n.role == RoleIdle:
		if n.local.idle == idleNoDB && e.Reachable {
			n.resume("local database reachable again")
		}
		return
	}
	if op.awaits == awaitFinalProbe {
		n.local.phase = monitoring
		if e.Reachable {
			n.notify(subject.AgentTimingOut,
				fmt.Sprintf("The local database on %s answered only the last attempt after %v without a successful check.", n.p.Self, n.p.LocalTimeout))
		} else {
			n.startAsk()
			return
		}
	}
	if e.Reachable {
		n.checkState(e)
	}
}

// checkState catches a database in the wrong state (efm-reference §4.5).
func (n *Node) checkState(e LocalDBProbe) {
	c := n.p.ClusterName
	switch {
	case n.isPrimary() && n.candidacy == nil && e.InRecovery && n.local.readAt > n.local.promotedAt:
		// (A probe issued before the promotion completed read the
		// database still in recovery: not a wrong state. One answered
		// 26 ms after pg_promote returned in TestSwitchoverAndBackWithPasswords,
		// and the new primary resigned.)
		n.notify(subject.DatabaseInWrongState,
			fmt.Sprintf("The primary database of cluster %s is in recovery.", c))
		if n.lease.holder {
			// In recovery it refuses writes: resigning is safe.
			n.resignLease(n.st.Epoch, "primary database in recovery", false)
		}
		n.becomeIdle(idleWrongState)
	case n.role == RoleStandby && n.candidacy == nil && !e.InRecovery:
		// A writable database this cluster did not elect: fence it rather
		// than risk a second primary (EFM only goes Idle here).
		n.fenceSelf(fenceWrongState, fmt.Sprintf("The standby database on %s of cluster %s is not in recovery; it is stopped and fenced.", n.p.Self, c))
		n.becomeIdle(idleWrongState)
	}
}

func (n *Node) localTimers() {
	if n.p.Kind != KindDatabase {
		return
	}
	l := &n.local
	if l.inflight == 0 && l.phase == monitoring && n.now >= l.nextProbe {
		n.probe(false)
	}
	monitored := n.isPrimary() || n.role == RoleStandby || n.role == RolePromoting
	if monitored && l.phase == monitoring && l.inflight == 0 && l.gone >= GoneChecks {
		// Certainly gone: nothing to wait for locally. The other agents
		// still try the database before anything is declared failed.
		n.log(slog.LevelWarn, "local database certainly gone; asking the other agents", "checks", l.gone)
		l.gone = 0
		n.startAsk()
		return
	}
	if monitored && l.phase == monitoring && l.inflight == 0 && n.now-l.lastOK >= n.p.LocalTimeout {
		l.phase = lastAttempt
		n.probe(true)
	}
	if l.phase == askingOthers && n.now >= l.askDeadline {
		n.finishAsk()
	}
}

// startAsk asks every other agent to connect to this node's database.
func (n *Node) startAsk() {
	l := &n.local
	l.phase = askingOthers
	l.askRound = n.nextSeq()
	l.askDeadline = n.now + n.p.RemoteTimeout
	l.askAsked = map[NodeID]bool{}
	l.askReached = nil
	for _, id := range n.aliveOthers() {
		l.askAsked[id] = false
		n.send(id, Message{Type: MsgCheckReq, Target: n.p.Self, Round: l.askRound})
	}
	if len(l.askAsked) == 0 {
		n.finishAsk()
	}
}

func (n *Node) onAskResp(from NodeID, m Message) {
	l := &n.local
	if l.phase != askingOthers || m.Round != l.askRound {
		return
	}
	if _, ok := l.askAsked[from]; !ok {
		return
	}
	l.askAsked[from] = true
	if m.OK {
		l.askReached = append(l.askReached, from)
	}
	for _, done := range l.askAsked {
		if !done {
			return
		}
	}
	n.finishAsk()
}

func (n *Node) finishAsk() {
	l := &n.local
	l.phase = monitoring
	l.lastOK = n.now
	what := "Standby"
	if n.isPrimary() {
		what = "Primary"
	}
	if len(l.askReached) > 0 {
		// Somebody reaches it: no failover (efm-reference §5). The agent
		// goes Idle and resumes by itself once it reaches its database. A
		// primary keeps renewing its lease meanwhile: its database may
		// well be writable.
		cannotPing := subject.StandbyCannotPingLocalDB
		if what == "Primary" {
			cannotPing = subject.PrimaryCannotPingLocalDB
		}
		n.notify(cannotPing,
			fmt.Sprintf("The agent on %s cannot connect to its database but %v can. Failover has not occurred.", n.p.Self, l.askReached))
		n.becomeIdle(idleNoDB)
		return
	}
	n.dbFailed(what)
}

// dbFailed: the local database failed and nobody could reach it.
func (n *Node) dbFailed(what string) {
	failure := subject.StandbyDatabaseFailure
	if what == "Primary" {
		failure = subject.PrimaryDatabaseFailure
	}
	n.notify(failure,
		fmt.Sprintf("The %s database on %s failed and no other agent could connect to it.", what, n.p.Self))
	if what == "Primary" {
		holder := n.lease.holder
		n.fenceSelf(fenceDBFailed, "database failed")
		n.runScript(ScriptDBFailure, Placeholders{FailedPrimary: n.p.Self})
		n.detachNode(n.p.Self, "p")
		n.becomeIdle(idleFailed)
		if holder && !n.p.StopFailedPrimary {
			// Not stopped: tell the others, but do not resign, so the
			// voters still wait for the lease to run out.
			n.broadcast(Message{Type: MsgDBFailed, Epoch: n.st.Epoch, Primary: n.p.Self, Reason: "primary database failed"})
		}
		return
	}
	n.runScript(ScriptDBFailure, Placeholders{FailedPrimary: n.p.Self})
	n.detachNode(n.p.Self, "s")
	n.becomeIdle(idleFailed)
}

// oldPrimaryDown: this node's database, found down by the probe that
// decides the role, was the primary. Either this node is the primary of
// the newest epoch it knows, or its stopped data directory proves it last
// ran out of recovery while the newest epoch names another primary: an
// agent that restarts after its host was lost can hear the new primary
// before its first probe, and then only pg_control tells it that its
// database is an old primary, to be fenced and rebuilt rather than left
// down for good (chaos seed 5007).
func (n *Node) oldPrimaryDown(e LocalDBProbe) bool {
	if n.st.Primary == n.p.Self {
		return true
	}
	if n.st.Primary == "" || !e.Gone {
		return false
	}
	if k, _ := judgeStopped(e.Stopped); k != stoppedPrimary {
		return false
	}
	n.log(slog.LevelWarn, "this node's stopped database last ran as a primary (pg_control) and another node is the primary: fencing it",
		"state", e.Stopped.State, "primary", n.st.Primary)
	return true
}

// detectRole sets the role from the first probe (efm-reference §4.2-3).
func (n *Node) detectRole(e LocalDBProbe) {
	defer func() { n.routing.attachOnStandby = false }()
	if n.p.VIPConfigured && (!e.Reachable || e.InRecovery || n.st.Fenced) {
		// EFM releases a VIP found on a non-primary. After a restart we do
		// not know whether this host still holds it: releasing an absent
		// address is harmless, keeping a stale one blocks every promotion
		// (check.vip.before.promotion).
		n.doVIP(OpReleaseVIP)
	}
	switch {
	case !e.Reachable:
		if !n.st.Fenced && n.oldPrimaryDown(e) {
			// We were the primary and our database is down: make sure it
			// comes back in recovery (standby.signal), whatever restarts
			// it. Meanwhile the cluster may well fail over (EFM: an Idle
			// agent ensures the recovery file exists). Fenced, it is also
			// the rejoin's to rebuild once a newer primary is heard.
			n.doDB(OpFenceDB, n.p.RemoteTimeout)
			n.st.Fenced = true
			n.persist()
		}
		n.becomeIdle(idleNoDB)
		n.notify(subject.IdleAgentRunning, "")
	case e.InRecovery && n.st.Fenced && n.rejoinAllowed() && n.st.Primary != n.p.Self:
		// A fenced old primary restarted in recovery (standby.signal) still
		// holds its divergent WAL: it cannot stream until rebuilt. With
		// auto.rewind or auto.basebackup the rejoin decides (and leaves an
		// operator's rebuild that already streams untouched).
		n.becomeIdle(idleFenced)
		n.notify(subject.IdleAgentRunning, "")
	case e.InRecovery:
		if n.st.Fenced {
			n.st.Fenced = false // rebuilt as a standby
			n.persist()
		}
		n.becomeStandby()
		n.notify(subject.StandbyAgentRunning, "")
		if n.routing.attachOnStandby {
			// Resumed as a standby (efm resume, a switched-over or
			// rejoined old primary): back into the load balancers.
			n.attachStandby()
		}
	case n.st.Fenced:
		n.fenceSelf(fenceWrongState, fmt.Sprintf("The database on %s is writable although this node was fenced as a failed primary; it is stopped again. Rebuild it as a standby.", n.p.Self))
		n.becomeIdle(idleFenced)
	case n.st.Primary == "" || n.st.Primary == n.p.Self:
		if n.st.Primary == "" {
			n.st.Primary = n.p.Self
			n.persist()
		}
		n.becomePrimary()
		n.notify(subject.PrimaryAgentRunning, "")
		n.claimLease()
	default:
		n.fenceSelf(fenceWrongState, fmt.Sprintf("There is already a primary node in this cluster: %s. The writable database on %s is stopped and fenced.", n.st.Primary, n.p.Self))
		n.becomeIdle(idleFenced)
	}
}

// resume leaves Idle: a new role detection from the next probe.
func (n *Node) resume(why string) {
	n.log(slog.LevelInfo, "resuming monitoring", "why", why)
	n.local.idle = idleNone
	n.local.phase = monitoring
	n.local.lastOK = n.now
	n.heal.rejoinFailed = false // efm resume retries a failed rejoin at once
	n.local.gone = 0
	n.runScript(ScriptResumed, Placeholders{})
	n.routing.attachOnStandby = !n.lease.holder
	if n.lease.holder {
		n.becomePrimary()
		return
	}
	n.becomeUnknown()
	if n.local.inflight == 0 {
		n.probe(false)
	}
}
