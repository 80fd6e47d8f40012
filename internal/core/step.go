package core

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/openefm/efm/internal/notify/subject"
)

func (n *Node) emit(a Action) { n.out = append(n.out, a) }

func (n *Node) nextSeq() uint64 {
	n.seq++
	return n.seq
}

// send stamps the envelope and queues it for one member.
func (n *Node) send(to NodeID, m Message) {
	m.V = ProtocolVersion
	m.Cluster = n.p.ClusterName
	m.From = n.p.Self
	if m.Epoch == 0 {
		m.Epoch = n.st.Epoch
	}
	if m.Primary == "" {
		m.Primary = n.st.Primary
	}
	m.Timeline = n.knownTimeline()
	n.emit(Send{To: to, Msg: m})
}

// broadcast sends m to every other member of this node's view, DOWN ones
// included: DOWN is this node's opinion, and a node thawed after a freeze
// sees everyone DOWN until its renewal round is answered. A member that
// left cleanly runs no agent to receive it.
func (n *Node) broadcast(m Message) {
	for _, id := range n.order {
		if id != n.p.Self && n.members[id].member.State != MemberLeft {
			n.send(id, m)
		}
	}
}

// persist queues the current persisted state; it must be queued before any
// Send that reveals it (the shell persists before executing later actions).
// The voter set is copied: the core edits it in place later.
func (n *Node) persist() { n.emit(Persist{State: n.Persisted()}) }

// notifications: what was notified when (notifyOnce), and the silence of
// efm promote -quiet.
type notifications struct {
	last       map[string]time.Duration
	quietUntil time.Duration
}

func (n *Node) notify(s subject.Subject, text string) {
	if n.now < n.notes.quietUntil {
		return
	}
	n.emit(Notify{Subject: s, Node: n.p.Self, Cluster: n.p.ClusterName, Text: text})
}

// notifyOnce suppresses repeats of one subject within ten node.timeouts:
// conditions that persist (primary agent missing, no standby) would otherwise
// mail the operator at every retry.
func (n *Node) notifyOnce(s subject.Subject, text string) {
	title := s.Render(string(n.p.Self), n.p.ClusterName)
	if t, ok := n.notes.last[title]; ok && n.now-t < 10*n.p.NodeTimeout {
		return
	}
	n.notes.last[title] = n.now
	n.notify(s, text)
}

func (n *Node) log(l slog.Level, msg string, kv ...any) { n.logEvent(LogPlain, l, msg, kv...) }

// logEvent is log for a line an observer counts (LogEvent).
func (n *Node) logEvent(ev LogEvent, l slog.Level, msg string, kv ...any) {
	attrs := make([]slog.Attr, 0, len(kv)/2+1)
	for i := 0; i+1 < len(kv); i += 2 {
		k, _ := kv[i].(string)
		attrs = append(attrs, slog.Any(k, kv[i+1]))
	}
	attrs = append(attrs, slog.Uint64("epoch", n.st.Epoch))
	n.emit(Log{Level: l, Msg: msg, Attrs: attrs, Event: ev})
}

func (n *Node) handle(ev Event) {
	if n.stopped {
		return
	}
	switch e := ev.(type) {
	case Start:
		n.onStart()
	case Tick:
	case Stopping:
		n.onStopping()
	case LocalDBProbe:
		n.onLocalProbe(e)
	case MembershipChanged:
		n.onMembership(e)
	case MessageReceived:
		n.onMessage(e.From, e.Msg)
	case UndecodableMessage:
		n.notifyOnce(subject.UndecodableMessage,
			fmt.Sprintf("Could not read a message from %s: %v", e.From, e.Err))
	case result:
		n.onResult(e)
	case AdminPromote:
		n.onAdminPromote(e)
	case AdminResume:
		n.onAdminResume(e)
	case AdminStopCluster:
		n.onAdminStopCluster(e)
	case CustomMonitorResult:
		n.onCustomMonitor(e)
	}
}

func (n *Node) onStart() {
	if n.started {
		return
	}
	n.started = true
	// A restarted voter forgot which renewals it acknowledged: it acts as if
	// it had acknowledged one just now (see Timing, point 3).
	n.voter.holdUntil = n.now + n.tm.VoteHold
	n.voter.holdFor = ""
	n.restartLeftHolds()
	n.watch.heardAt = n.now
	n.standby.following = n.st.Primary
	n.coord.maxEpochSeen = max(n.st.Epoch, n.st.VotedEpoch)
	n.nextHeartbeat = n.now
	n.emit(SetRole{Role: n.role}) // Witness or Unknown, as New set it
	if n.p.Kind == KindWitness {
		n.notify(subject.WitnessAgentRunning, "")
		return
	}
	n.probe(false)
}

func (n *Node) onStopping() {
	exited, ok := map[Role]subject.Subject{RolePrimary: subject.PrimaryAgentExited, RoleStandby: subject.StandbyAgentExited,
		RoleWitness: subject.WitnessAgentExited, RoleIdle: subject.IdleAgentExited, RolePromoting: subject.AgentExitedDuringPromotion}[n.role]
	if !ok {
		exited = subject.AgentExitedDuringStartup // no role yet
	}
	if n.candidacy != nil {
		n.notify(subject.AgentExitedDuringPromotion, fmt.Sprintf("The agent on %s stopped while promoting.", n.p.Self))
	} else {
		n.notify(exited, "")
	}
	// The VIP and the database are left as they are (EFM: an agent stop is
	// not a failover); the lease simply stops being renewed. The watchdog
	// stays armed while we hold a lease: a writable database without a
	// running agent is exactly what it guards against (the node resets when
	// the lease would have run out, unless the agent is back to feed it).
	if !n.lease.holder {
		n.disarmWatchdog()
	}
	n.stopped = true
}

func (n *Node) onMessage(from NodeID, m Message) {
	if from == n.p.Self || m.Cluster != n.p.ClusterName {
		return
	}
	if p, ok := n.members[from]; ok {
		p.lastSeen = n.now
		p.heard = true
		// Counting more voters is always safe; a member that talks is not
		// gone, whatever a lagging view says (a delayed message sent before
		// it left only keeps it counted until the next view of it).
		p.heardLeft = p.heardLeft || p.member.State == MemberLeft
		if m.Status != nil {
			p.status = *m.Status
		}
		p.epoch = m.Epoch
		p.primary = m.Primary
	}
	if m.Epoch > n.coord.maxEpochSeen {
		n.coord.maxEpochSeen = m.Epoch
	}
	// Before the handler answers: a lease ack or a vote must not go out
	// before what it learnt is persisted (timeline.go).
	n.learnTimeline(m.Timeline)
	if m.Status != nil {
		n.learnTimeline(m.Status.Timeline)
	}
	n.adoptWinnerOfMyEpoch(from, m)
	switch m.Type {
	case MsgHeartbeat:
		n.onHeartbeat(from, m)
	case MsgLeaseAck:
		n.onLeaseAck(from, m)
	case MsgCheckReq:
		n.onCheckReq(from, m)
	case MsgCheckResp:
		n.onCheckResp(from, m)
	case MsgVoteReq:
		n.onVoteReq(from, m)
	case MsgVoteResp:
		n.onVoteResp(from, m)
	case MsgPromote:
		n.onPromote(from, m)
	case MsgPromoted:
		n.onPromoted(from, m)
	case MsgResumeReplay:
		n.resumeReplay()
		if m.Aborted {
			// The coordinator gave its failover up: its hold ends.
			n.endHold(from)
		}
	case MsgResign, MsgDBFailed:
		n.onResign(from, m)
	case MsgSwitchover:
		n.onSwitchover(from, m)
	case MsgStopCluster:
		n.emit(Exit{Reason: "efm stop-cluster from " + string(from)})
		n.stopped = true
	case MsgSlots:
		n.onSlots(from, m)
	case MsgSlotsReq:
		n.onSlotsReq(from)
	case MsgFailoverStart:
		n.holdFor(from)
		if !m.NoScripts {
			n.runScript(ScriptRemotePrePromote, Placeholders{NewPrimary: m.Target})
		}
	}
}

// holdFor: the coordinator from runs a failover (its pausing check round,
// its MsgFailoverStart, its switchover request): this node coordinates
// none for a failover window, or until that one is reported promoted or
// given up (MsgResumeReplay with Aborted), or until from is DOWN or left
// (endHoldsOfGone). Each coordinator's hold is its own: one giving up
// does not end another's.
func (n *Node) holdFor(from NodeID) {
	if n.coord.holds == nil {
		n.coord.holds = map[NodeID]time.Duration{}
	}
	n.coord.holds[from] = max(n.coord.holds[from], n.now+n.failoverWindow())
}

// held: another coordinator's failover may still run.
func (n *Node) held() bool {
	for _, until := range n.coord.holds {
		if n.now < until {
			return true
		}
	}
	return false
}

// endHold: the failover from coordinated is over (given up): this node may
// coordinate the next one at once, unless another coordinator holds it.
func (n *Node) endHold(from NodeID) { delete(n.coord.holds, from) }

// endHolds: a promotion completed, so every failover that held this node
// is over.
func (n *Node) endHolds() { clear(n.coord.holds) }

// endHoldsOfGone ends the hold of a coordinator the membership reports
// DOWN or left: its failover died with its agent (a restarted agent
// coordinates nothing it started before), and nothing else would end the
// hold before the failover window (chaos seed 9331: the witness started a
// switchover's election and was killed; the smallest id, held, waited
// 88 s with no primary). A coordinator only cut off from this node may
// still be running its failover; a second one may then start beside it,
// which costs an epoch, not safety (one vote per epoch, the lease hold).
func (n *Node) endHoldsOfGone() {
	// In id order: the core's actions (these log lines) must not depend on
	// Go's map order, or a simulator seed would not replay.
	for _, id := range slices.Sorted(maps.Keys(n.coord.holds)) {
		if p, ok := n.members[id]; !ok || p.member.State != MemberAlive {
			n.log(slog.LevelInfo, "hold of a coordinator that is gone ended", "coordinator", id)
			delete(n.coord.holds, id)
		}
	}
}

// failoverWindow is how long a failover announced by another coordinator keeps
// this node from coordinating one itself (one promotion at a time).
func (n *Node) failoverWindow() time.Duration {
	return 3*n.p.RemoteTimeout + n.tm.VoteHold + n.promoteBudget()
}

// timers fires every deadline that passed; called after every event.
func (n *Node) timers() {
	if n.stopped || !n.started {
		return
	}
	n.noteRun()
	n.localTimers()
	n.leaseTimers()
	n.voterTimers()
	if n.now >= n.nextHeartbeat {
		n.nextHeartbeat = n.now + n.tm.RenewInterval
		if n.lease.holder {
			n.renew()
		} else {
			n.sendHeartbeat(0)
		}
	}
	n.watchPrimary()
	n.failoverTimers()
	n.candidateTimers()
	n.standbyTimers()
	n.syncTimers()
	n.slotTimers()
	n.healTimers()
}
