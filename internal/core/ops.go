package core

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/openefm/efm/internal/notify/subject"
)

// Every action with a Seq is answered by exactly one result event with the
// same Seq. The core remembers, per Seq, the step its result returns to (a
// pendingOp, registered by await), and every result comes back one way:
// takePending, then the step named in the pendingOp (onResult; local
// probes through onLocalProbe). A result whose step has moved on (a
// candidacy that ended or changed phase, a probe given up on) finds no
// pending entry, or one that its step ignores.

// awaiting names the step a pending result returns to.
type awaiting uint8

const (
	awaitProbe        awaiting = iota + 1 // routine local probe (local.period)
	awaitFinalProbe                       // the last attempt (local.timeout.final)
	awaitReplayPaused                     // OpPauseReplay for a check job
	awaitPausedProbe                      // the probe after that pause: this standby's positions
	awaitCheckDB                          // CheckRemoteDB for a check job
	awaitLostStandby                      // CheckRemoteDB of a standby whose agent went DOWN
	awaitOutcome                          // a database or VIP operation: only a failure is reported
	awaitFenceStop                        // the stop of fenceSelf
	awaitCandidacy                        // a step of this node's promotion (phase)
	awaitScript                           // a script whose exit is notified
	awaitFollow                           // FollowPrimary
	awaitSyncCheck                        // CheckSyncStandbys (syncrep.go)
	awaitSyncSet                          // SetNumSync (syncrep.go)
	awaitSyncRename                       // RenameSyncStandby (syncrep.go)
	awaitSlotRead                         // ReadSlotPositions (slots.go)
	awaitSlotSync                         // SyncSlots (slots.go)
	awaitSlotDrop                         // DropSlots (slots.go)
	awaitPgpool                           // a Pgpool action: only a failure is reported
	awaitRejoin                           // RejoinDB (rejoin.go)
	awaitCheckpoint                       // the primary's CHECKPOINT before it hands over
	awaitEarlyProbe                       // a VIP or ping.server.ip probe started with a check round (early.go)
	awaitVoteDetach                       // OpDetachReceiver before a vote's WAL read (vote.go)
)

// pendingOp remembers why an action with a Seq was issued, to route its
// result.
type pendingOp struct {
	awaits awaiting
	// issuedAt is when the action was issued: a probe's answer describes
	// the database no earlier than that.
	issuedAt time.Duration
	// candidacy and phase: the candidacy and its phase an awaitCandidacy
	// result returns to (candidacyAt).
	candidacy *candidacy
	phase     candidacyPhase
	node      NodeID // awaitLostStandby: the standby; awaitPgpool: the backend's node
	job       uint64 // awaitReplayPaused, awaitPausedProbe, awaitCheckDB: the check job
	// script, db, vip: what ran, for the notification of its outcome.
	script Script
	db     DBOp
	vip    VIPOp
	// syncChange and syncWhy: an awaitSyncSet change, for its notification.
	syncChange SyncChange
	syncWhy    string
	pgpool     PgpoolOp
}

// await registers op and returns the Seq of the action that waits for it.
func (n *Node) await(op pendingOp) uint64 {
	seq := n.nextSeq()
	op.issuedAt = n.now
	n.pending[seq] = op
	return seq
}

// takePending returns (and forgets) what the result with seq returns to;
// false for a result nobody waits for (late, duplicated, or Seq 0).
func (n *Node) takePending(seq uint64) (pendingOp, bool) {
	op, ok := n.pending[seq]
	if ok {
		delete(n.pending, seq)
	}
	return op, ok
}

func (n *Node) doDB(op DBOp, timeout time.Duration) {
	n.doDBAwaiting(pendingOp{awaits: awaitOutcome}, op, timeout)
}

func (n *Node) doDBAwaiting(p pendingOp, op DBOp, timeout time.Duration) {
	n.emitDBOp(p, DoDB{Op: op, Timeout: timeout})
}

// emitDBOp emits a, its result awaited as p.
func (n *Node) emitDBOp(p pendingOp, a DoDB) {
	p.db = a.Op
	a.Seq = n.await(p)
	n.emit(a)
}

func (n *Node) runScript(s Script, ph Placeholders) {
	n.runScriptAwaiting(pendingOp{awaits: awaitScript}, s, ph)
}

func (n *Node) runScriptAwaiting(p pendingOp, s Script, ph Placeholders) {
	if !n.p.hasScript(s) {
		return
	}
	p.script = s
	n.emit(RunScript{Seq: n.await(p), Script: s, Placeholders: ph, Timeout: 3 * n.p.RemoteTimeout})
}

// result is an event that answers an action with a Seq. LocalDBProbe is
// one too, but the shell also probes unasked (Seq 0): onLocalProbe.
type result interface {
	Event
	resultSeq() uint64
}

func (e RemoteDBResult) resultSeq() uint64 { return e.Seq }
func (e VIPResult) resultSeq() uint64      { return e.Seq }
func (e PingResult) resultSeq() uint64     { return e.Seq }
func (e DBOpResult) resultSeq() uint64     { return e.Seq }
func (e ScriptResult) resultSeq() uint64   { return e.Seq }

// onResult routes a result to the step that waits for it; one nobody waits
// for (late, duplicated, never asked for) is dropped.
func (n *Node) onResult(r result) {
	op, ok := n.takePending(r.resultSeq())
	if !ok {
		return
	}
	switch r := r.(type) {
	case DBOpResult:
		n.opDone(op, r)
	case ScriptResult:
		n.scriptDone(op, r)
	case RemoteDBResult:
		n.remoteDBChecked(op, r)
	case PgpoolResult:
		n.pgpoolDone(op, r)
	case VIPResult:
		if op.awaits == awaitEarlyProbe {
			n.earlyVIPAnswered(r)
		} else if n.candidacyAt(op) != nil {
			n.vipProbed(r)
		}
	case PingResult:
		if op.awaits == awaitEarlyProbe {
			n.earlyPingAnswered(r)
		} else if n.candidacyAt(op) != nil {
			n.pingServerAnswered(r)
		}
	case SyncStandbys:
		if op.awaits == awaitSyncCheck {
			n.syncChecked(r)
		}
	case SlotPositions:
		if op.awaits == awaitSlotRead {
			n.slotPositionsRead(r)
		}
	case SlotsSynced:
		if op.awaits == awaitSlotSync {
			n.slotsSynced(r)
		}
	case RejoinResult:
		n.rejoinDone(r)
	}
}

// opDone: a DoDB, DoVIP or FollowPrimary finished.
func (n *Node) opDone(op pendingOp, e DBOpResult) {
	switch op.awaits {
	case awaitFenceStop:
		n.afterFenceStop(e.OK)
	case awaitCandidacy:
		if n.candidacyAt(op) != nil {
			n.promotionDone(e.OK, e.Err)
		}
	case awaitFollow:
		n.followDone(e.OK, e.Err, e.Diverged)
	case awaitSyncSet:
		n.syncSet(op, e)
	case awaitSyncRename:
		n.syncRenamed(op, e)
	case awaitSlotDrop:
		if !e.OK {
			n.log(slog.LevelWarn, "dropping the replication slots of members gone failed", "err", e.Err)
		}
	case awaitCheckpoint:
		n.handoverCheckpointed(e)
	case awaitReplayPaused:
		n.replayPausedFor(op.job, e)
	case awaitVoteDetach:
		n.voteDetached(op, e)
	case awaitOutcome:
		if e.OK {
			return
		}
		switch {
		case op.vip == OpAddVIP:
			n.notify(subject.CouldNotAssignVIP, e.Err)
		case op.db == OpFenceDB:
			n.notify(subject.ErrorCreatingRecoveryFile, e.Err)
		case op.vip != 0:
			n.log(slog.LevelError, "database operation failed", "op", op.vip.String(), "err", e.Err)
		default:
			n.log(slog.LevelError, "database operation failed", "op", op.db.String(), "err", e.Err)
		}
	}
}

// scriptNotes maps a script to EFM's success and failure notifications.
var scriptNotes = map[Script][2]subject.Subject{
	ScriptFence:             {subject.ExecutedFencingScript, subject.FencingScriptError},
	ScriptPostPromotion:     {subject.ExecutedPostPromotionScript, subject.PostPromotionScriptFailed},
	ScriptRemotePrePromote:  {subject.ExecutedRemotePrePromotionScript, subject.RemotePrePromotionScriptFailed},
	ScriptRemotePostPromote: {subject.ExecutedRemotePostPromotionScript, subject.RemotePostPromotionScriptFailed},
	ScriptDBFailure:         {subject.ExecutedPostDatabaseFailureScript, subject.PostDatabaseFailureScriptError},
	ScriptPrimaryIsolated:   {subject.ExecutedPrimaryIsolationScript, subject.PrimaryIsolationScriptFailed},
	ScriptResumed:           {subject.ExecutedAgentResumedScript, subject.AgentResumedScriptError},
	// EFM is silent about a load-balancer script that succeeded.
	ScriptLoadBalancerAttach: {{}, subject.LoadBalancerAttachScriptError},
	ScriptLoadBalancerDetach: {{}, subject.LoadBalancerDetachScriptError},
}

// scriptDone: a RunScript finished; its exit is notified, or decides the
// candidacy that ran it.
func (n *Node) scriptDone(op pendingOp, e ScriptResult) {
	if n.candidacyAt(op) != nil {
		n.fenceScriptDone(e)
		return
	}
	notes, ok := scriptNotes[op.script]
	if !ok {
		return
	}
	text := fmt.Sprintf("Results:\n%s\nexit status: %d", e.Output, e.ExitCode)
	if e.ExitCode == 0 {
		if notes[0].Text != "" {
			n.notify(notes[0], text)
		}
	} else {
		n.notify(notes[1], text)
	}
}

// remoteDBChecked: a CheckRemoteDB answered.
func (n *Node) remoteDBChecked(op pendingOp, e RemoteDBResult) {
	switch op.awaits {
	case awaitLostStandby:
		if e.Reachable {
			n.notify(subject.StandbyAgentFailed,
				fmt.Sprintf("The standby agent on %s failed; its database is still running. It is removed from the failover priority list.", op.node))
		} else {
			n.notify(subject.StandbyFailed,
				fmt.Sprintf("The standby on %s failed (agent and database unreachable). It is removed from the failover priority list.", op.node))
			// Its own agent cannot detach it: this (reporting) agent does.
			if n.mayDetachLost(op.node) {
				n.detachNode(op.node, "s")
			}
		}
	case awaitCheckDB:
		n.checkDBDone(op.job, e)
	}
}
