package core

import (
	"fmt"
	"log/slog"
	"time"
)

// handover is the old primary's side of efm promote: it resigns once its
// database is stopped and, after -switchover, follows the new primary.
type handover struct {
	follow     bool   // -switchover: follow the new primary once there is one
	source     NodeID // -sourcenode ("" = the default order, settingsSources)
	switchover bool   // the resignation is a switchover's
	// checkpointing: the CHECKPOINT before the handover runs (since
	// askedAt); the primary still takes writes.
	checkpointing bool
	askedAt       time.Duration
}

// onAdminPromote: efm promote [-switchover] (efm-reference §6). The node the
// command reaches coordinates; auto.failover does not apply.
func (n *Node) onAdminPromote(e AdminPromote) {
	if n.failover != nil || n.candidacy != nil {
		n.emit(AdminReply{Seq: e.Seq, Err: "Promotion has not occurred: a promotion is already in progress."})
		return
	}
	if e.Switchover && (n.st.Primary == "" || !n.primaryAlive()) {
		n.emit(AdminReply{Seq: e.Seq, Err: "There is no running primary in the cluster: switchover needs one."})
		return
	}
	if why := n.promoteRefusal(e); why != "" {
		n.log(slog.LevelWarn, "efm promote refused", "switchover", e.Switchover, "why", why)
		n.emit(AdminReply{Seq: e.Seq, Err: why})
		return
	}
	trig := TriggerManual
	if e.Switchover {
		trig = TriggerSwitchover
	}
	f := &failover{trigger: trig, primary: n.st.Primary, switchover: e.Switchover, quiet: e.Quiet, noScripts: e.NoScripts,
		source: e.SourceNode}
	f.waitResign = n.st.Primary != "" && n.primaryAlive()
	n.emit(AdminReply{Seq: e.Seq, Text: "Promote command accepted by local agent. Proceeding with promotion; run the cluster-status command for information about the new cluster state."})
	n.startFailover(f)
}

// primaryAlive: the primary's agent is in the view and renewed recently.
func (n *Node) primaryAlive() bool {
	pr := n.st.Primary
	if pr == n.p.Self {
		return n.lease.holder
	}
	p, ok := n.members[pr]
	return ok && p.member.State == MemberAlive && n.now-n.watch.heardAt <= n.tm.PrimarySilence
}

// onSwitchover: the primary hands over. It releases the VIP, stops and
// fences its database, then resigns its epoch; with Switchover it follows
// the new primary once there is one.
func (n *Node) onSwitchover(from NodeID, m Message) {
	if !n.lease.holder || n.candidacy != nil {
		return
	}
	n.handover.follow = m.Switchover
	n.handover.source = m.Source
	n.handover.switchover = m.Switchover
	if m.Quiet {
		n.notes.quietUntil = n.now + n.failoverWindow()
	}
	// The coordinator that asked runs the promotion: do not start one.
	n.holdFor(from)
	n.checkpointBeforeHandover()
}

func (n *Node) onAdminResume(e AdminResume) {
	if n.role != RoleIdle {
		n.emit(AdminReply{Seq: e.Seq, Err: fmt.Sprintf("The agent on %s is %s, not Idle: nothing to resume.", n.p.Self, n.role)})
		return
	}
	if n.rejoinInFlight() {
		n.emit(AdminReply{Seq: e.Seq, Err: fmt.Sprintf("The database on %s is being rebuilt as a standby of %s (auto.rewind/auto.basebackup); it resumes by itself when that ends.", n.p.Self, n.heal.rejoinTo)})
		return
	}
	n.resume("efm resume")
	n.emit(AdminReply{Seq: e.Seq, Text: "Resume command successful on local agent."})
}

func (n *Node) onAdminStopCluster(e AdminStopCluster) {
	if why := n.p.StopClusterRefused(); why != "" {
		n.emit(AdminReply{Seq: e.Seq, Err: why})
		return
	}
	n.broadcast(Message{Type: MsgStopCluster})
	n.emit(AdminReply{Seq: e.Seq, Text: "Stop cluster command successful."})
	n.emit(Exit{Reason: "efm stop-cluster"})
	n.stopped = true
}
