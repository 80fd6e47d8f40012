package core

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/openefm/efm/internal/notify/subject"
)

type candidacyPhase uint8

const (
	takingLease   candidacyPhase = iota + 1 // taking the new epoch's lease
	probingVIP                              // waiting for the VIP to stop answering
	pingingServer                           // ping server: are we orphaned?
	fencingOthers                           // script.fence
	promotingDB                             // pg_ctl promote
)

// candidacy is this node's promotion, ordered by a coordinator that won
// epoch votes for it (efm-reference §6 steps 2-8).
type candidacy struct {
	epoch  uint64
	failed NodeID
	// prev is the primary this node followed before (a switchover's old
	// primary too), for synchronous_standby_names (syncrep.go).
	prev       NodeID
	phase      candidacyPhase
	deadline   time.Duration
	vipStart   time.Duration
	vipRetryAt time.Duration
	issued     bool     // OpPromoteDB emitted: the database may be writable
	fence      []NodeID // script.fence targets still to run
	switchover bool
	quiet      bool
	noScripts  bool
	// vipDoubt is the error of the latest VIP probe that could not tell
	// (empty once a probe answered); vipWarned: the WARNING about it was
	// sent, once per candidacy, not at every retry.
	vipDoubt  string
	vipWarned bool
	// detach is the old primary this agent detaches from the load
	// balancers before attaching itself (MsgPromote's Detach).
	detach NodeID
	// resumed: an isolated primary resuming (resume_primary.go), primary
	// in epoch resumedFrom (0 is the cluster's first epoch, so it cannot
	// tell a resume by itself).
	resumed     bool
	resumedFrom uint64
	// timeline is the lowest timeline the promotion may create: one above
	// every timeline this node knew of when it became the candidate
	// (timeline.go).
	timeline uint32
	clock    stepClock
}

func (n *Node) onPromote(from NodeID, m Message) {
	if m.Target != n.p.Self || n.primaryOrPromoting() {
		return
	}
	if m.Epoch < n.st.Epoch || (m.Epoch == n.st.Epoch && n.st.Primary != n.p.Self) {
		n.log(slog.LevelWarn, "promote order for a stale epoch ignored", "vote_epoch", m.Epoch, "coordinator", from)
		return
	}
	if n.role != RoleStandby || !n.local.last.Reachable || !n.local.last.InRecovery {
		// Refused, and said so: the coordinator and the voters that
		// elected this node give the epoch up now, as for a candidate that
		// gave up, instead of waiting out the promotion budget and the
		// vote hold (chaos seed 9238: a node that had fenced its own
		// earlier promotion refused silently, and the cluster had no
		// primary for 98 s). This node never promotes for m.Epoch: the
		// order is sent once and nothing else starts a candidacy in it.
		n.logEvent(LogPromoteRefused, slog.LevelWarn, "promote order refused: not a healthy standby", "role", n.role, "coordinator", from, "vote_epoch", m.Epoch)
		n.broadcast(Message{Type: MsgResign, Epoch: m.Epoch, Primary: n.p.Self,
			Reason: fmt.Sprintf("promote order refused: %s is not a healthy standby (role %s)", n.p.Self, n.role)})
		return
	}
	n.becomeCandidate(&candidacy{epoch: m.Epoch, failed: m.FailedPrimary, fence: m.Fence, phase: takingLease, deadline: n.now + n.p.RemoteTimeout,
		switchover: m.Switchover, quiet: m.Quiet, noScripts: m.NoScripts, detach: m.Detach})
}

// awaitingStep is the pending operation of the candidacy's current phase:
// its result returns to that phase only (candidacyAt).
func (c *candidacy) awaitingStep() pendingOp {
	return pendingOp{awaits: awaitCandidacy, candidacy: c, phase: c.phase}
}

// candidacyAt is the candidacy a result returns to, nil when that
// candidacy ended or moved to another phase since the action was issued.
func (n *Node) candidacyAt(op pendingOp) *candidacy {
	if op.awaits != awaitCandidacy || op.candidacy != n.candidacy || n.candidacy == nil || n.candidacy.phase != op.phase {
		return nil
	}
	return n.candidacy
}

func (n *Node) candidateLeaseGranted() {
	c := n.candidacy
	if c.phase != takingLease {
		return
	}
	n.probeVIPBeforePromoting()
}

// probeVIPBeforePromoting: the VIP must stop answering before we promote
// (EFM's check.vip.before.promotion), retried up to check.vip.timeout. A
// probe that could not tell is in doubt: the VIP may still be held, so it
// is retried like a VIP that answers, never read as free.
func (n *Node) probeVIPBeforePromoting() {
	c := n.candidacy
	if !n.p.CheckVIPBeforePromotion || !n.p.VIPConfigured {
		n.pingBeforePromoting()
		return
	}
	if c.phase != probingVIP {
		n.candidateStep(c, probingVIP)
		c.phase = probingVIP
		c.vipStart = n.now
		if n.useEarlyVIP() {
			return
		}
	}
	c.vipRetryAt = 0
	n.emit(CheckVIP{Seq: n.await(c.awaitingStep()), Timeout: n.p.probeTimeout()})
}

// vipProbed: the VIP probe answered.
func (n *Node) vipProbed(e VIPResult) {
	c := n.candidacy
	switch {
	case e.Err == "" && !e.Reachable:
		n.pingBeforePromoting()
		return
	case e.Err != "":
		c.vipDoubt = e.Err
		n.log(slog.LevelWarn, "VIP probe in doubt; not promoting while the VIP may be held", "err", e.Err)
		if !c.vipWarned {
			c.vipWarned = true
			n.notify(subject.VIPInDoubt, fmt.Sprintf(
				"The VIP probe could not tell whether the VIP still answers: %s. %s will not promote while the VIP may still be held; "+
					"it probes again every recovery.check.period=%v until check.vip.timeout=%v has passed, then gives the promotion up.",
				e.Err, n.p.Self, n.p.RecoveryCheckPeriod, n.p.CheckVIPTimeout))
		}
	default:
		c.vipDoubt = ""
	}
	if n.now-c.vipStart >= n.p.CheckVIPTimeout {
		if c.vipDoubt != "" {
			n.abandonCandidacy(subject.VIPInDoubtNoPromotion, fmt.Sprintf(
				"The VIP probe was still in doubt after check.vip.timeout=%v: %s. Failover has not occurred; it is tried again "+
					"until the probe answers or an operator intervenes.", n.p.CheckVIPTimeout, c.vipDoubt))
			return
		}
		n.abandonCandidacy(subject.VIPStillAssigned,
			fmt.Sprintf("The VIP still answered after %v.", n.p.CheckVIPTimeout))
		return
	}
	c.vipRetryAt = n.now + n.p.RecoveryCheckPeriod
}

func (n *Node) pingBeforePromoting() {
	c := n.candidacy
	if !n.p.PingServerConfigured {
		n.fenceBeforePromoting()
		return
	}
	n.candidateStep(c, pingingServer)
	c.phase = pingingServer
	if n.useEarlyPing() {
		return
	}
	n.emit(CheckPingServer{Seq: n.await(c.awaitingStep()), Timeout: n.p.probeTimeout()})
}

// pingServerAnswered: the ping.server.ip probe answered.
func (n *Node) pingServerAnswered(e PingResult) {
	if e.Err != "" {
		n.abandonCandidacy(subject.PingInDoubt, fmt.Sprintf(
			"The ping.server.ip probe could not tell whether it answers: %s. Failover has not occurred: this node may be the one cut off.", e.Err))
		return
	}
	if !e.Reachable {
		n.abandonCandidacy(subject.StandbyOrphaned,
			"The ping server does not answer: this node may be the one cut off.")
		return
	}
	n.fenceBeforePromoting()
}

// fenceBeforePromoting runs script.fence (STONITH) once for each node whose database
// may still be writable, %f naming it (once with an empty %f when there is
// none, as EFM does); a non-zero exit aborts the promotion.
func (n *Node) fenceBeforePromoting() {
	c := n.candidacy
	if c.phase != fencingOthers {
		n.candidateStep(c, fencingOthers)
		c.phase = fencingOthers
		if len(c.fence) == 0 {
			c.fence = []NodeID{""}
		}
		// efm-reference §6 step 4: script.remote.pre.promotion on the other
		// agents, script.fence here.
		n.broadcast(Message{Type: MsgFailoverStart, Epoch: c.epoch, Target: n.p.Self, NoScripts: c.noScripts})
	}
	if c.noScripts || !n.p.hasScript(ScriptFence) || len(c.fence) == 0 {
		n.promoteDB()
		return
	}
	target := c.fence[0]
	c.fence = c.fence[1:]
	n.runScriptAwaiting(c.awaitingStep(), ScriptFence, Placeholders{NewPrimary: n.p.Self, FailedPrimary: target})
}

func (n *Node) fenceScriptDone(e ScriptResult) {
	text := fmt.Sprintf("Results:\n%s\nexit status: %d", e.Output, e.ExitCode)
	if e.ExitCode != 0 {
		n.abandonCandidacy(subject.FencingScriptError, "Failover has not occurred. "+text)
		return
	}
	n.notify(subject.ExecutedFencingScript, text)
	n.fenceBeforePromoting()
}

func (n *Node) promoteDB() {
	c := n.candidacy
	if !n.leaseValid() {
		n.abandonCandidacy(subject.CouldNotPromoteStandby, "The candidate lost its lease before promoting.")
		return
	}
	n.candidateStep(c, promotingDB)
	c.phase = promotingDB
	c.issued = true
	n.emitDBOp(c.awaitingStep(), DoDB{Op: OpPromoteDB, Timeout: n.p.promoteDBTimeout(), Timeline: c.timeline})
}

func (n *Node) promotionDone(ok bool, errText string) {
	c := n.candidacy
	if c == nil {
		return
	}
	n.candidacy = nil
	n.candidateStep(c, 0)
	if !ok {
		n.notify(subject.CouldNotPromoteStandby, fmt.Sprintf("Promoting %s failed: %s", n.p.Self, errText))
		// The promotion may have half happened: fence like a failed primary.
		n.fenceSelf(fenceHandover, "promotion failed")
		n.becomeIdle(idleFenced)
		return
	}
	n.local.last.InRecovery = false
	n.local.promotedAt = n.now
	n.standby.following = ""
	// The failover that elected this node is over: if its own database
	// fails next, it may coordinate that failover at once. The check
	// round's hold would otherwise keep it waiting for a
	// whole failover window, and as the smallest id it may be the only
	// coordinator (chaos seed 3004: 84 s without a primary). Every other
	// agent ends the hold in onPromoted; the candidate hears no
	// MsgPromoted of its own.
	n.endHolds()
	n.becomePrimary()
	n.assignVIPIfMissing()
	if !c.noScripts {
		n.runScript(ScriptPostPromotion, Placeholders{NewPrimary: n.p.Self, FailedPrimary: c.failed})
	}
	// The load balancers send writes to the new primary (%t p).
	n.attachPrimary(c.detach)
	n.priority = n.newPriority()
	n.checkSyncAfterFollow()
	old := c.failed
	if old == "" {
		old = c.prev
	}
	n.renameSyncForNewPrimary(old)
	if c.resumed {
		n.resumedAsPrimary(c)
		n.broadcast(n.promotedMsg(c, ""))
		return
	}
	completed := subject.FailoverCompleted
	if c.switchover {
		completed = subject.SwitchoverCompleted
	}
	n.notify(completed,
		fmt.Sprintf("%s is the new primary (epoch %d), replacing %q.", n.p.Self, c.epoch, c.failed))
	n.broadcast(n.promotedMsg(c, c.failed))
	// A coordinator that elected itself hears no MsgPromoted (a broadcast
	// goes to the others): its failover ends here, as onPromoted ends it
	// on every other agent.
	if n.failover != nil && n.failover.candidate == n.p.Self {
		n.failover = nil
	}
}

// abandonCandidacy ends a candidacy before the database was promoted: give the
// epoch up so the cluster can elect again.
func (n *Node) abandonCandidacy(s subject.Subject, text string) {
	c := n.candidacy
	if c == nil {
		return
	}
	n.notify(s, text)
	why := s.Render(string(n.p.Self), n.p.ClusterName)
	n.candidacy = nil
	if c.issued {
		n.fenceSelf(fenceHandover, why)
		n.becomeIdle(idleFenced)
		return
	}
	n.dropLease()
	n.disarmWatchdog()
	n.becomeStandby()
	n.resignLease(c.epoch, why, false)
}

func (n *Node) candidateTimers() {
	c := n.candidacy
	if c == nil {
		return
	}
	switch {
	case c.phase == takingLease && n.now >= c.deadline:
		n.abandonCandidacy(subject.CouldNotPromoteStandby, "The candidate could not renew its lease with half of the voting members.")
	case c.phase == probingVIP && c.vipRetryAt != 0 && n.now >= c.vipRetryAt:
		n.probeVIPBeforePromoting()
	}
}

// newPriority is the failover priority list once this node is primary:
// its priority.standbys first, then the previous order, then the other
// database members by id (efm-reference §6 step 8).
func (n *Node) newPriority() []NodeID {
	var out []NodeID
	seen := map[NodeID]bool{n.p.Self: true}
	add := func(id NodeID) {
		p, ok := n.members[id]
		if seen[id] || !ok || p.member.Kind != KindDatabase || p.member.State == MemberLeft {
			return
		}
		if pr, ok := n.setPriority[id]; ok && pr == 0 {
			return
		}
		seen[id] = true
		out = append(out, id)
	}
	for _, id := range n.p.PriorityStandbys {
		add(id)
	}
	for _, id := range n.priority {
		add(id)
	}
	for _, id := range n.order {
		add(id)
	}
	return out
}
