package core

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/openefm/efm/internal/notify/subject"
)

type opKind uint8

const (
	opProbe opKind = iota + 1
	opFinalProbe
	opPauseProbe
	opStandbyLostCheck
	opJobDB
	opPlain
	opFenceStop
	opCandVIP
	opCandPing
	opCandPromote
	opScript
	opFollow
)

// pendingOp remembers why an action with a Seq was issued, to route its
// result.
type pendingOp struct {
	kind   opKind
	node   NodeID
	job    uint64
	script Script
	op     DBOp
}

func (n *Node) dbOp(op DBOp, kind opKind, timeout time.Duration) uint64 {
	seq := n.nextSeq()
	n.pending[seq] = pendingOp{kind: kind, op: op}
	n.emit(DoDB{Seq: seq, Op: op, Timeout: timeout})
	if op == OpReleaseVIP {
		n.vipHeld = false
	}
	return seq
}

func (n *Node) runScript(s Script, ph Placeholders) uint64 {
	if !n.p.hasScript(s) {
		return 0
	}
	seq := n.nextSeq()
	n.pending[seq] = pendingOp{kind: opScript, script: s}
	n.emit(RunScript{Seq: seq, Script: s, Placeholders: ph, Timeout: 3 * n.p.RemoteTimeout})
	return seq
}

func (n *Node) onDBOp(e DBOpResult) {
	op, ok := n.pending[e.Seq]
	if !ok {
		return
	}
	delete(n.pending, e.Seq)
	switch op.kind {
	case opFenceStop:
		n.afterFenceStop(e.OK)
	case opCandPromote:
		n.candPromoted(e.OK, e.Err)
	case opFollow:
		n.followDone(e.OK, e.Err)
	case opPlain:
		if !e.OK {
			switch op.op {
			case OpAddVIP:
				n.notify(subject.CouldNotAssignVIP, e.Err)
			case OpFenceDB:
				n.notify(subject.ErrorCreatingRecoveryFile, e.Err)
			default:
				n.log(slog.LevelError, "database operation failed", "op", op.op.String(), "err", e.Err)
			}
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
}

func (n *Node) onScript(e ScriptResult) {
	op, ok := n.pending[e.Seq]
	if !ok {
		return
	}
	delete(n.pending, e.Seq)
	if n.cand != nil && n.cand.scriptSeq == e.Seq {
		n.candFenceScriptDone(e)
		return
	}
	notes, ok := scriptNotes[op.script]
	if !ok {
		return
	}
	text := fmt.Sprintf("Results:\n%s\nexit status: %d", e.Output, e.ExitCode)
	if e.ExitCode == 0 {
		n.notify(notes[0], text)
	} else {
		n.notify(notes[1], text)
	}
}

func (n *Node) onRemoteDB(e RemoteDBResult) {
	op, ok := n.pending[e.Seq]
	if !ok {
		return
	}
	delete(n.pending, e.Seq)
	switch op.kind {
	case opStandbyLostCheck:
		if e.Reachable {
			n.notify(subject.StandbyAgentFailed,
				fmt.Sprintf("The standby agent on %s failed; its database is still running. It is removed from the failover priority list.", op.node))
		} else {
			n.notify(subject.StandbyFailed,
				fmt.Sprintf("The standby on %s failed (agent and database unreachable). It is removed from the failover priority list.", op.node))
			// Its own agent cannot detach it: this (reporting) agent does.
			n.runScript(ScriptLoadBalancerDetach, Placeholders{Host: op.node, Type: "s"})
		}
	case opJobDB:
		if j, ok := n.checks[op.job]; ok {
			// A database in recovery is no primary: reaching it is no
			// reason to hold a failover back.
			j.reached = e.Reachable && !(j.primaryCheck && e.InRecovery)
			j.dbDone = true
			n.maybeFinishJob(op.job)
		}
	}
}
