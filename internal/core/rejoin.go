package core

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/openefm/efm/internal/notify/subject"
)

// # Healing: rejoin and auto.resume
//
// A fenced old primary is rebuilt as a standby of the new primary
// (auto.rewind, auto.basebackup: RejoinDB), and an Idle agent resumes by
// itself (auto.resume.startup.period, auto.resume.failure.period). The core
// decides when; the shell does it (pg.Rejoin).
//
// When a rejoin may start (rejoinTarget). This node is Idle and fenced
// (Persisted.Fenced: it was fenced as a failed, isolated or stale primary,
// or found writable at start while another node was primary), it neither
// holds a lease nor promotes, and the primary of its persisted epoch E is
// another node P that this node hears, within one PrimarySilence, report
// itself Primary (a role an agent takes only once its database left
// recovery: never a candidate that has not promoted yet) in epoch E with a
// writable database.
//
// Why P's epoch is newer than any epoch this node was primary in, without
// persisting that epoch: a node persists itself as the primary of the
// epoch it becomes primary in (becomeCandidate, detectRole), its persisted
// epoch never goes back, and an epoch has one primary (one vote per epoch
// and a strict majority). So once it persisted P as the primary of E, every
// epoch it was primary in is below E. The one exception is the cluster's
// first start, where every writable database claims epoch 0; there the
// shell's guard decides (pg.Rejoin refuses a node whose timeline is not
// older than the primary's, or that was a primary on the primary's own
// timeline), as it does for anything the core cannot see.
//
// Retry policy. A rejoin that fails leaves the node fenced and Idle, says
// why (SEVERE), and is tried again once per auto.resume.failure.period
// when that is set, else only after efm resume: a rebuild that failed
// (no room for a base backup, a role without the rights pg_rewind needs)
// rarely succeeds unattended, and pg_basebackup in a tight loop would load
// the new primary.

// RejoinDB rebuilds the local database as a standby of Primary, the primary
// of Epoch: pg_rewind when Rewind allows it, pg_basebackup when BaseBackup
// does (alone or when the rewind cannot work), then standby.signal,
// primary_conninfo, start, and wait until it streams. The shell refuses to
// touch a database that may hold commits Primary lacks (pg.Rejoin's guard)
// and answers RejoinResult. No deadline is given: a base backup takes as
// long as the database is large; the shell bounds it by its own life.
type RejoinDB struct {
	Seq        uint64
	Primary    NodeID
	Epoch      uint64
	Rewind     bool
	BaseBackup bool
	// Slot: update.physical.slots.period is on, so the node streams
	// through its efm_ slot on Primary, created there when missing, as
	// every follower does (slots.go).
	Slot bool
}

// RejoinResult answers RejoinDB. OK means the database now streams from
// the primary (or already did and was not touched). Method and Reason are
// the shell's one-line account (pg.RejoinReport), Took how long it took;
// BaseBackup says the database was rebuilt from a base backup.
type RejoinResult struct {
	Seq        uint64
	OK         bool
	Method     string
	Reason     string
	BaseBackup bool
	Took       time.Duration
	Err        string
	// Untouched: the rejoin failed before it changed anything on this
	// node (it only read), so it may be asked again soon.
	Untouched bool
}

func (RejoinDB) isAction()               {}
func (RejoinResult) isEvent()            {}
func (e RejoinResult) resultSeq() uint64 { return e.Seq }
func (n *Node) rejoinAllowed() bool      { return n.p.AutoRewind || n.p.AutoBasebackup }
func (n *Node) rejoinInFlight() bool     { return n.heal.rejoinSeq != 0 }
func (p Params) autoResumeEnabled() bool { return p.AutoResumeStartup > 0 || p.AutoResumeFailure > 0 }
func (n *Node) healEnabled() bool        { return n.rejoinAllowed() || n.p.autoResumeEnabled() }
func (h *healState) rejoinRetryDue(now, period, refusedRetry time.Duration) bool {
	switch {
	case !h.rejoinFailed:
		return true
	case h.rejoinRefused && now >= h.rejoinFailedAt+refusedRetry:
		return true
	}
	return period > 0 && now >= h.rejoinFailedAt+period
}

// rejoinRefusedRetry is how long a fenced node waits before it asks again
// for a rejoin that was refused before anything was changed (the new
// primary not reachable yet, right after a link heals; its replication
// settings not readable): such a rejoin only reads, so asking again costs
// nothing, and its causes are often gone a moment later. A rejoin that
// failed after it changed the database (a rewind or a base backup that
// broke) waits for auto.resume.failure.period or efm resume, as before.
func (n *Node) rejoinRefusedRetry() time.Duration {
	return max(n.p.NodeTimeout, 10*time.Second)
}

// healState is the node's side of rejoin and auto.resume.
type healState struct {
	// The rejoin in flight (rejoinSeq != 0), its target and start.
	rejoinSeq uint64
	rejoinTo  NodeID
	rejoinAt  time.Duration
	// The last rejoin failed at rejoinFailedAt: retried per
	// auto.resume.failure.period, or after efm resume.
	rejoinFailed   bool
	rejoinFailedAt time.Duration
	// rejoinRefused: the failed rejoin changed nothing (Untouched); it is
	// asked again after rejoinRefusedRetry. rejoinWhy is its reason,
	// notified once per reason rather than at every retry.
	rejoinRefused bool
	rejoinWhy     string

	// auto.resume: idle says the role was Idle at the last look, since
	// idleAt; startupIdle that the agent has not been Primary or Standby
	// since it started (auto.resume.startup.period applies, else
	// auto.resume.failure.period); nextResume is the next attempt.
	idle        bool
	idleAt      time.Duration
	startupIdle bool
	seenRole    bool
	nextResume  time.Duration

	// resume is EFM 4.5's resume of an isolated primary (resume_primary.go).
	resume resumeState
}

// healTimers runs at every timers(): rejoin and auto.resume.
func (n *Node) healTimers() {
	if n.p.Kind != KindDatabase {
		return
	}
	n.resumePrimaryTimers()
	if !n.healEnabled() {
		return
	}
	n.trackIdle()
	n.rejoinTimers()
	n.autoResumeTimers()
}

// trackIdle notes when the agent went Idle, and whether it has been
// anything else since it started.
func (n *Node) trackIdle() {
	h := &n.heal
	if n.role != RoleIdle {
		h.idle = false
		if n.role != RoleUnknown {
			h.seenRole = true
		}
		return
	}
	if !h.idle {
		h.idle, h.idleAt, h.startupIdle, h.nextResume = true, n.now, !h.seenRole, 0
	}
}

// rejoinTarget is the primary this node may be rebuilt to follow now, ""
// when none (see the comment at the top of this file).
func (n *Node) rejoinTarget() NodeID {
	// The old primary of a switchover follows by FollowPrimary; the rejoin
	// only steps in when that is not under way (it never started: the
	// agent believed it already followed that node).
	if !n.rejoinAllowed() || n.role != RoleIdle || !n.st.Fenced || n.primaryOrPromoting() || n.standby.followIssued {
		return ""
	}
	pr := n.st.Primary
	if pr == "" || pr == n.p.Self {
		return ""
	}
	p, ok := n.members[pr]
	if !ok || !p.heard || p.member.State != MemberAlive || n.now-p.lastSeen > n.tm.PrimarySilence {
		return ""
	}
	if p.epoch != n.st.Epoch || p.status.Role != RolePrimary || !p.status.DBReachable || p.status.InRecovery {
		return ""
	}
	return pr
}

func (n *Node) rejoinTimers() {
	h := &n.heal
	if h.rejoinSeq != 0 {
		return
	}
	pr := n.rejoinTarget()
	if pr == "" || !h.rejoinRetryDue(n.now, n.p.AutoResumeFailure, n.rejoinRefusedRetry()) {
		return
	}
	// The database restarts during the rebuild: the agent must not take
	// that for its database coming back (idleNoDB resumes by itself).
	n.local.idle = idleFenced
	h.rejoinTo, h.rejoinAt = pr, n.now
	h.rejoinSeq = n.await(pendingOp{awaits: awaitRejoin})
	n.log(slog.LevelWarn, "rebuilding this fenced old primary as a standby of the new primary",
		"primary", pr, "primary_epoch", n.st.Epoch, "auto.rewind", n.p.AutoRewind, "auto.basebackup", n.p.AutoBasebackup)
	n.emit(RejoinDB{Seq: h.rejoinSeq, Primary: pr, Epoch: n.st.Epoch, Rewind: n.p.AutoRewind, BaseBackup: n.p.AutoBasebackup, Slot: n.slotsOn()})
}

// rejoinDone: the shell finished a RejoinDB.
func (n *Node) rejoinDone(r RejoinResult) {
	h := &n.heal
	h.rejoinSeq = 0
	pr := h.rejoinTo
	took := r.Took.Round(time.Millisecond)
	if !r.OK {
		h.rejoinFailed, h.rejoinFailedAt = true, n.now
		h.rejoinRefused = r.Untouched
		retry := "it is tried again after efm resume (auto.resume.failure.period=0)"
		switch {
		case h.rejoinRefused:
			retry = fmt.Sprintf("nothing was changed, so it is asked again every %v", n.rejoinRefusedRetry())
		case n.p.AutoResumeFailure > 0:
			retry = fmt.Sprintf("it is tried again in %v (auto.resume.failure.period)", n.p.AutoResumeFailure)
		}
		why := r.Err
		if r.Reason != "" {
			why = r.Method + ": " + r.Reason
		}
		n.log(slog.LevelError, "rebuilding this old primary as a standby failed; it stays fenced",
			"primary", pr, "method", r.Method, "why", why, "took", took)
		if why != h.rejoinWhy {
			n.notify(subject.FailedPrimaryNotRejoined,
				fmt.Sprintf("Rebuilding %s as a standby of %s failed after %v: %s. The database stays fenced; %s.", n.p.Self, pr, took, why, retry))
		}
		h.rejoinWhy = why
		return
	}
	h.rejoinFailed, h.rejoinRefused, h.rejoinWhy = false, false, ""
	if r.BaseBackup {
		n.notify(subject.FailedPrimaryRebuilt, fmt.Sprintf("%s was rebuilt from a base backup of %s: %s", n.p.Self, pr, r.Reason))
	}
	n.log(slog.LevelWarn, "old primary rejoined as a standby", "primary", pr, "method", r.Method, "why", r.Reason, "took", took)
	n.notify(subject.FailedPrimaryRejoined,
		fmt.Sprintf("%s now streams from the primary %s (%s in %v): %s", n.p.Self, pr, r.Method, took, r.Reason))
	n.st.Fenced = false
	n.persist()
	n.standby.following = pr
	n.handover.follow, n.handover.source = false, ""
	n.resume("rejoined as a standby of " + string(pr))
}

// autoResumeTimers: auto.resume.startup.period and
// auto.resume.failure.period (EFM 5.0). A fenced node is left to the
// rejoin (or efm resume): resuming it only finds it fenced again.
func (n *Node) autoResumeTimers() {
	h := &n.heal
	if !h.idle || n.st.Fenced || n.primaryOrPromoting() || h.rejoinSeq != 0 {
		return
	}
	period := n.p.AutoResumeFailure
	which := "auto.resume.failure.period"
	if h.startupIdle {
		period, which = n.p.AutoResumeStartup, "auto.resume.startup.period"
	}
	if period <= 0 {
		return
	}
	if h.nextResume == 0 {
		h.nextResume = h.idleAt + period
	}
	if n.now < h.nextResume {
		return
	}
	h.nextResume = n.now + period
	n.notify(subject.StartingAutoResumeCheck, fmt.Sprintf("The agent on %s has been Idle for %v; it resumes by itself (%s=%v).",
		n.p.Self, (n.now-h.idleAt).Round(time.Millisecond), which, period))
	n.resume(which)
}
