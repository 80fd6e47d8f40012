package core

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/openefm/efm/internal/notify/subject"
)

type foPhase uint8

const (
	foWaitResign foPhase = iota + 1 // switchover: the primary stops first
	foCheck                         // everyone checks the primary database, standbys pause replay
	foVote                          // votes for the candidate in a new epoch
	foPromote                       // the candidate promotes
)

type checkReport struct {
	reached bool
	status  NodeStatus
}

// failover is a failover (or switchover) this node coordinates. The
// coordinator is the alive voting member with the smallest id, the primary
// excluded; one promotion runs at a time (MsgCheckReq with Pause tells the
// others to hold off).
type failover struct {
	trigger  Trigger
	primary  NodeID
	phase    foPhase
	round    uint64
	deadline time.Duration
	asked    map[NodeID]bool
	reports  map[NodeID]checkReport
	epoch    uint64
	cand     NodeID
	votes    map[NodeID]bool
	voters   int // largest voter count heard during the vote

	waitResign bool
	switchover bool
	source     NodeID // -sourcenode
	quiet      bool
	noScripts  bool
	node       *Node
}

// primaryWatch is how a standby or witness watches the primary of its
// epoch.
type primaryWatch struct {
	heardAt time.Duration // last renewal heard from st.Primary
	suspect Trigger       // why the primary is suspected; 0 = not
	why     string
}

// coordination is what any node keeps between the failovers it may
// coordinate (one promotion at a time, epochs above every one seen).
type coordination struct {
	nextAttempt  time.Duration // earliest next failover attempt
	othersUntil  time.Duration // someone else coordinates until then
	maxEpochSeen uint64
}

// suspect records that the primary may be gone; the coordinator acts on it
// from failoverTimers.
func (n *Node) suspect(t Trigger, why string) {
	if n.primaryOrPromoting() {
		return
	}
	if n.watch.suspect == 0 || t == TriggerPrimaryDBFailed {
		n.watch.suspect = t
		n.watch.why = why
		n.log(slog.LevelWarn, "primary suspected", "primary", n.st.Primary, "why", why)
	}
}

// watchPrimary suspects a primary whose renewals stopped for node.timeout,
// whatever the membership layer says (an asymmetric partition can leave it
// "alive" there).
func (n *Node) watchPrimary() {
	pr := n.st.Primary
	if pr == "" || n.primaryOrPromoting() || n.watch.suspect != 0 {
		return
	}
	if pr == n.p.Self {
		// Our epoch names us primary, but we do not hold its lease: we were
		// fenced, or restarted as a standby. The cluster has no primary.
		if n.role == RoleStandby || n.role == RoleIdle || n.role == RoleWitness {
			n.suspect(TriggerPrimaryDBFailed, "this node was the primary and no longer is")
		}
		return
	}
	if n.now-n.watch.heardAt <= n.tm.PrimarySilence {
		return
	}
	if m, ok := n.members[pr]; ok && m.m.State == MemberLeft && !n.p.PrimaryShutdownAsFailure {
		n.notifyOnce(subject.PrimaryAgentMissing,
			fmt.Sprintf("The primary agent on %s is not running: no failover protection.", pr))
		return
	}
	n.suspect(TriggerPrimaryLost, fmt.Sprintf("no renewal from primary %s for %v", pr, n.now-n.watch.heardAt))
}

// isCoordinator: the smallest id among the members the membership layer
// reports alive. It does not depend on who anyone believes the primary is, so
// agents that disagree about the epoch still agree on the coordinator. A live
// primary holding its lease never coordinates a failover of itself (suspect
// ignores it), and a primary agent that is gone is not alive.
func (n *Node) isCoordinator() bool {
	a := n.aliveOthers()
	return len(a) == 0 || n.p.Self < a[0]
}

// promoteBudget is how long a coordinator gives its candidate: the VIP and
// ping.server.ip checks run for as long as their probes need (their own
// deadline, not remote.timeout), so a candidacy is not given up on while
// its checks may still succeed.
func (n *Node) promoteBudget() time.Duration {
	return 6*n.p.RemoteTimeout + n.p.vipCheckBound() + n.p.pingCheckBound()
}

func (n *Node) failoverTimers() {
	if n.fo == nil {
		if n.watch.suspect != 0 && !n.primaryOrPromoting() && n.now >= n.coord.nextAttempt &&
			n.now >= n.coord.othersUntil && n.isCoordinator() {
			n.startFailover(&failover{trigger: n.watch.suspect, primary: n.st.Primary})
		}
		return
	}
	if n.now < n.fo.deadline {
		return
	}
	switch n.fo.phase {
	case foWaitResign:
		n.log(slog.LevelWarn, "primary did not hand over in time; checking it", "primary", n.fo.primary)
		n.fo.waitResign = false
		n.startCheck()
	case foCheck:
		n.decide()
	case foVote:
		n.log(slog.LevelWarn, "no majority of votes in time", "vote_epoch", n.fo.epoch, "votes", len(n.fo.votes), "voters", n.numVoters())
		n.abortFailover(2 * n.p.RemoteTimeout)
	case foPromote:
		n.log(slog.LevelWarn, "candidate did not report its promotion in time", "candidate", n.fo.cand)
		n.fo = nil
		n.coord.nextAttempt = n.now + n.p.RemoteTimeout
	}
}

func (n *Node) startFailover(fo *failover) {
	fo.node = n
	n.fo = fo
	if fo.quiet {
		n.notes.quietUntil = n.now + n.foWindow()
	}
	if fo.waitResign {
		fo.phase = foWaitResign
		fo.deadline = n.now + 2*n.p.RemoteTimeout + n.tm.FencingAllowance
		msg := Message{Type: MsgSwitchover, Target: fo.primary, Switchover: fo.switchover, Quiet: fo.quiet, Source: fo.source}
		if fo.primary == n.p.Self {
			n.onSwitchover(n.p.Self, msg)
		} else {
			n.send(fo.primary, msg)
		}
		return
	}
	n.startCheck()
}

// resigned: the primary handed over (switchover, manual promote).
func (fo *failover) resigned() {
	n := fo.node
	fo.waitResign = false
	if fo.phase == foWaitResign {
		n.startCheck()
	}
}

// startCheck asks every alive agent to connect to the primary database
// directly and, standbys, to pause replay and report their LSNs.
func (n *Node) startCheck() {
	fo := n.fo
	fo.phase = foCheck
	fo.round = n.nextSeq()
	fo.deadline = n.now + n.p.RemoteTimeout
	fo.asked = map[NodeID]bool{n.p.Self: true}
	fo.reports = map[NodeID]checkReport{}
	n.log(slog.LevelWarn, "failover check started", "trigger", fo.trigger.String(), "primary", fo.primary)
	for _, id := range n.aliveOthers() {
		fo.asked[id] = true
		n.send(id, Message{Type: MsgCheckReq, Target: fo.primary, Round: fo.round, Pause: true})
	}
	n.startCheckJob(n.p.Self, fo.primary, fo.round, true)
}

func (n *Node) onFoResp(from NodeID, m Message) {
	fo := n.fo
	if fo.phase != foCheck || m.Round != fo.round || !fo.asked[from] || m.Status == nil {
		return
	}
	fo.reports[from] = checkReport{reached: m.OK, status: *m.Status}
	if len(fo.reports) == len(fo.asked) {
		n.decide()
	}
}

// standbyInfo is one database node as Decide sees it: what its agent said
// (when it answered) with the cluster's set-priority value winning over the
// promotable it reported (its own setting, or a view of ours that lags).
func (n *Node) standbyInfo(id NodeID, st NodeStatus, answered bool) StandbyInfo {
	si := StandbyInfo{ID: id, Answered: answered}
	if answered {
		si.Role = st.Role
		si.DBReachable = st.DBReachable
		si.InRecovery = st.InRecovery
		si.Promotable = st.Promotable
		si.ReceivedLSN = st.ReceivedLSN
		si.ReplayLSN = st.ReplayLSN
		si.Timeline = st.Timeline
	}
	if pr, ok := n.setPriority[id]; ok {
		si.Promotable = pr > 0
	}
	return si
}

// situation gathers what the check round learnt, for Decide.
func (n *Node) situation() Situation {
	fo := n.fo
	s := Situation{Cluster: n.p.ClusterName, Trigger: fo.trigger, Primary: fo.primary, Voters: n.numVoters(), Priority: n.priority}
	for _, id := range n.order {
		r, ok := fo.reports[id]
		if ok && n.isVoter(id) {
			s.Connected++
		}
		if ok && r.reached {
			s.ReachedBy = append(s.ReachedBy, id)
		}
		p := n.members[id]
		// The failed primary stays in the list: if its agent reports it
		// as a standby in recovery (rebuilt), it is one like any other.
		if p.m.Kind != KindDatabase {
			continue
		}
		s.Standbys = append(s.Standbys, n.standbyInfo(id, r.status, ok))
	}
	return s
}

func (n *Node) decide() {
	fo := n.fo
	s := n.situation()
	d := Decide(s, n.p)
	for _, v := range d.Verdicts {
		n.log(slog.LevelInfo, "standby eligibility", "standby", v.ID, "eligible", v.Eligible, "why", v.Why)
	}
	for _, no := range d.Notify {
		if !fo.quiet {
			n.notifyOnce(no.Subject, no.Text)
		}
	}
	if d.Candidate == "" {
		backoff := 2 * n.p.RemoteTimeout
		if len(s.ReachedBy) > 0 {
			// The primary database answers: look again after a node.timeout.
			backoff = n.p.NodeTimeout
		}
		n.abortFailover(backoff)
		return
	}
	fo.phase = foVote
	fo.cand = d.Candidate
	fo.epoch = max(n.coord.maxEpochSeen, n.st.Epoch, n.st.VotedEpoch) + 1
	fo.votes = map[NodeID]bool{}
	fo.deadline = n.now + n.tm.VoteHold + n.p.RemoteTimeout
	if !fo.quiet {
		n.notify(subject.PromotionStarted,
			fmt.Sprintf("Promoting %s in place of %s (%s).", d.Candidate, fo.primary, fo.trigger))
	}
	cs := fo.reports[d.Candidate].status
	req := Message{Type: MsgVoteReq, Epoch: fo.epoch, Target: d.Candidate, Status: &cs, FailedPrimary: fo.primary}
	for _, id := range n.voterIDs() {
		if id != n.p.Self {
			n.send(id, req)
		}
	}
	req.From = n.p.Self
	n.onVoteReq(n.p.Self, req)
}

func (n *Node) onVoteResp(from NodeID, m Message) {
	fo := n.fo
	if fo == nil || fo.phase != foVote || m.Round != fo.epoch || m.Target != fo.cand {
		return
	}
	// Views of the membership may lag (a member that left and came back):
	// a majority of the largest voter count anyone reports.
	fo.voters = max(fo.voters, n.numVoters(), m.Voters)
	if !m.OK {
		n.coord.maxEpochSeen = max(n.coord.maxEpochSeen, m.Epoch)
		return
	}
	if !n.isVoter(from) {
		return
	}
	fo.votes[from] = true
	// A strict majority of the voting members, DOWN members counted.
	if !strictMajority(len(fo.votes), fo.voters) {
		return
	}
	fo.phase = foPromote
	fo.deadline = n.now + n.promoteBudget()
	n.log(slog.LevelWarn, "candidate elected", "candidate", fo.cand, "vote_epoch", fo.epoch, "votes", len(fo.votes), "voters", fo.voters)
	failed := fo.primary
	if r, ok := fo.reports[failed]; failed == fo.cand || ok && r.status.DBReachable && r.status.InRecovery {
		// The "primary" we replace is a standby now (rebuilt, or elected
		// and never promoted).
		failed = ""
	}
	msg := Message{Type: MsgPromote, Epoch: fo.epoch, Target: fo.cand, FailedPrimary: failed,
		Fence: n.fenceTargets(failed), Switchover: fo.switchover, Quiet: fo.quiet, NoScripts: fo.noScripts}
	for id := range fo.asked {
		if id != fo.cand && id != n.p.Self {
			n.send(id, Message{Type: MsgResumeReplay})
		}
	}
	if fo.cand != n.p.Self {
		n.resumeReplay()
		n.send(fo.cand, msg)
	} else {
		msg.From = n.p.Self
		n.onPromote(n.p.Self, msg)
	}
}

// abortFailover ends a failover attempt without promotion.
func (n *Node) abortFailover(backoff time.Duration) {
	if fo := n.fo; fo != nil {
		for id := range fo.asked {
			if id != n.p.Self {
				n.send(id, Message{Type: MsgResumeReplay})
			}
		}
	}
	n.resumeReplay()
	n.fo = nil
	n.coord.nextAttempt = n.now + backoff
}

// fenceTargets: every database node whose database may still accept writes
// although its agent cannot fence it. Our idea of "the primary" may be stale
// (an agent that restarted, a candidate that was elected and never
// promoted), so the failed primary is not enough: any database node that did
// not answer the check round, or answered as a primary, a promoting node or a
// writable database, is fenced too (the votes may come much later than the
// answers, after a lease hold). A frozen primary agent is the
// case this protects against (DESIGN.md, leases).
func (n *Node) fenceTargets(failed NodeID) []NodeID {
	fo := n.fo
	var out []NodeID
	if failed != "" {
		out = append(out, failed)
	}
	for _, id := range n.order {
		p := n.members[id]
		if id == fo.cand || id == failed || p.m.Kind != KindDatabase {
			continue
		}
		r, ok := fo.reports[id]
		if !ok || mayWrite(r.status) {
			out = append(out, id)
			continue
		}
		// The check round may be long past (votes wait out lease holds):
		// what the node said since counts too, and silence is suspect.
		if !p.heard || n.now-p.lastSeen > n.p.RemoteTimeout || mayWrite(p.status) {
			out = append(out, id)
		}
	}
	return out
}

// mayWrite: a status that does not rule out a writable database.
func mayWrite(s NodeStatus) bool {
	return s.Role == RolePrimary || s.Role == RolePromoting || s.DBReachable && !s.InRecovery
}
