package core

import (
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/openefm/efm/internal/notify/subject"
)

type failoverPhase uint8

const (
	waitingForHandover failoverPhase = iota + 1 // switchover: the primary stops first
	checkingPrimary                             // everyone checks the primary database, standbys pause replay
	electing                                    // votes for the candidate in a new epoch
	awaitingPromotion                           // the candidate promotes
)

type checkReport struct {
	reached    bool
	status     NodeStatus
	heardAgent bool // the reporter heard the primary's agent recently
}

// failover is a failover (or switchover) this node coordinates. The
// coordinator is the alive voting member with the smallest id, the primary
// excluded; one promotion runs at a time (MsgCheckReq with Pause tells the
// others to hold off).
type failover struct {
	trigger   Trigger
	primary   NodeID
	phase     failoverPhase
	round     uint64
	deadline  time.Duration
	asked     map[NodeID]bool
	reports   map[NodeID]checkReport
	epoch     uint64
	candidate NodeID
	votes     map[NodeID]bool
	voters    int // largest voter count heard during the vote

	waitResign bool
	switchover bool
	clock      stepClock
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
	nextAttempt time.Duration // earliest next failover attempt
	// holds: until when each other coordinator's failover keeps this node
	// from coordinating (holdFor); an entry ends with that failover
	// (promoted, given up) or with its coordinator (membership: DOWN or
	// left).
	holds        map[NodeID]time.Duration
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
		if (n.role == RoleStandby || n.role == RoleIdle || n.role == RoleWitness) && !n.resumeCandidate() {
			n.suspect(TriggerPrimaryDBFailed, "this node was the primary and no longer is")
		}
		return
	}
	if n.now-n.watch.heardAt <= n.tm.PrimarySilence {
		return
	}
	if m, ok := n.members[pr]; ok && m.member.State == MemberLeft && !n.p.PrimaryShutdownAsFailure {
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
	if n.failover == nil {
		if n.watch.suspect != 0 && !n.primaryOrPromoting() && n.now >= n.coord.nextAttempt &&
			!n.held() && n.isCoordinator() {
			n.startFailover(&failover{trigger: n.watch.suspect, primary: n.st.Primary})
		}
		return
	}
	if f := n.failover; f.phase == awaitingPromotion && f.candidate == n.p.Self && n.candidacy == nil && n.role != RolePrimary {
		// It elected itself and its candidacy ended without a promotion
		// (lost its lease, a newer epoch, a failed pg_promote, a refused
		// order): its resignation went to the others only. Chaos seed
		// 9318: the coordinator waited out its own promotion budget, 79 s
		// without a primary.
		n.log(slog.LevelWarn, "own candidacy ended without a promotion; failover given up", "vote_epoch", f.epoch)
		n.abortFailover(n.p.RemoteTimeout)
		return
	}
	if n.now < n.failover.deadline {
		return
	}
	switch n.failover.phase {
	case waitingForHandover:
		n.log(slog.LevelWarn, "primary did not hand over in time; checking it", "primary", n.failover.primary)
		n.failover.waitResign = false
		n.startCheck()
	case checkingPrimary:
		n.decide()
	case electing:
		n.log(slog.LevelWarn, "no majority of votes in time", "vote_epoch", n.failover.epoch, "votes", len(n.failover.votes), "voters", n.numVoters())
		n.abortFailover(2 * n.p.RemoteTimeout)
	case awaitingPromotion:
		n.logEvent(LogPromotionWaitedOut, slog.LevelWarn, "candidate did not report its promotion in time",
			"candidate", n.failover.candidate, "vote_epoch", n.failover.epoch)
		n.abortFailover(n.p.RemoteTimeout)
	}
}

func (n *Node) startFailover(f *failover) {
	f.node = n
	f.clock = n.startClock()
	n.failover = f
	if f.quiet {
		n.notes.quietUntil = n.now + n.failoverWindow()
	}
	if f.waitResign {
		f.phase = waitingForHandover
		f.deadline = n.now + 2*n.p.RemoteTimeout + n.tm.FencingAllowance
		msg := Message{Type: MsgSwitchover, Target: f.primary, Switchover: f.switchover, Quiet: f.quiet, Source: f.source}
		if f.primary == n.p.Self {
			n.onSwitchover(n.p.Self, msg)
		} else {
			n.send(f.primary, msg)
		}
		return
	}
	n.startCheck()
}

// resigned: the primary handed over (switchover, manual promote).
func (f *failover) resigned() {
	n := f.node
	f.waitResign = false
	if f.phase == waitingForHandover {
		n.stepDone(&f.clock, "failover", "handover (the primary stopped and resigned)")
		n.startCheck()
	}
}

// startCheck asks every alive agent to connect to the primary database
// directly and, standbys, to pause replay and report their LSNs.
func (n *Node) startCheck() {
	f := n.failover
	f.phase = checkingPrimary
	f.round = n.nextSeq()
	f.deadline = n.now + n.p.RemoteTimeout
	f.asked = map[NodeID]bool{n.p.Self: true}
	f.reports = map[NodeID]checkReport{}
	n.log(slog.LevelWarn, "failover check started", "trigger", f.trigger.String(), "primary", f.primary)
	for _, id := range n.aliveOthers() {
		f.asked[id] = true
		n.send(id, Message{Type: MsgCheckReq, Target: f.primary, Round: f.round, Pause: true})
	}
	n.startCheckJob(n.p.Self, f.primary, f.round, true)
}

func (n *Node) onCheckRoundAnswer(from NodeID, m Message) {
	f := n.failover
	if f.phase != checkingPrimary || m.Round != f.round || !f.asked[from] || m.Status == nil {
		return
	}
	f.reports[from] = checkReport{reached: m.OK, status: *m.Status, heardAgent: m.HeardAgent}
	if len(f.reports) == len(f.asked) {
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
	f := n.failover
	s := Situation{Cluster: n.p.ClusterName, Trigger: f.trigger, Primary: f.primary, Voters: n.numVoters(), Priority: n.priority}
	for _, id := range n.order {
		r, ok := f.reports[id]
		if ok && n.isVoter(id) {
			s.Connected++
		}
		if ok && r.reached {
			s.ReachedBy = append(s.ReachedBy, id)
		}
		p := n.members[id]
		// The failed primary stays in the list: if its agent reports it
		// as a standby in recovery (rebuilt), it is one like any other.
		if p.member.Kind != KindDatabase {
			continue
		}
		s.Standbys = append(s.Standbys, n.standbyInfo(id, r.status, ok))
	}
	return s
}

func (n *Node) decide() {
	f := n.failover
	s := n.situation()
	d := Decide(s, n.p)
	for _, v := range d.Verdicts {
		n.log(slog.LevelInfo, "standby eligibility", "standby", v.ID, "eligible", v.Eligible, "why", v.Why)
	}
	for _, no := range d.Notify {
		if !f.quiet {
			n.notifyOnce(no.Subject, no.Text)
		}
	}
	if d.Candidate == "" {
		backoff := 2 * n.p.RemoteTimeout
		if len(s.ReachedBy) > 0 {
			// The primary database answers: look again after a node.timeout.
			backoff = n.p.NodeTimeout
			if _, answered := f.reports[f.primary]; !answered {
				n.primaryAgentFailed(f.primary)
			}
		}
		n.abortFailover(backoff)
		return
	}
	n.stepDone(&f.clock, "failover", "check round")
	f.phase = electing
	f.candidate = d.Candidate
	f.epoch = max(n.coord.maxEpochSeen, n.st.Epoch, n.st.VotedEpoch) + 1
	f.votes = map[NodeID]bool{}
	f.deadline = n.now + n.tm.VoteHold + n.p.RemoteTimeout
	if !f.quiet {
		n.notify(subject.PromotionStarted,
			fmt.Sprintf("Promoting %s in place of %s (%s).", d.Candidate, f.primary, f.trigger))
	}
	cs := f.reports[d.Candidate].status
	req := Message{Type: MsgVoteReq, Epoch: f.epoch, Target: d.Candidate, Status: &cs, FailedPrimary: f.primary}
	for _, id := range n.voterIDs() {
		if id != n.p.Self {
			n.send(id, req)
		}
	}
	req.From = n.p.Self
	n.onVoteReq(n.p.Self, req)
}

func (n *Node) onVoteResp(from NodeID, m Message) {
	if n.onResumeVoteResp(from, m) {
		return
	}
	f := n.failover
	if f == nil || f.phase != electing || m.Round != f.epoch || m.Target != f.candidate {
		return
	}
	// Views of the membership may lag (a member that left and came back):
	// a majority of the largest voter count anyone reports.
	f.voters = max(f.voters, n.numVoters(), m.Voters)
	if !m.OK {
		n.coord.maxEpochSeen = max(n.coord.maxEpochSeen, m.Epoch)
		return
	}
	if !n.isVoter(from) {
		return
	}
	f.votes[from] = true
	// A strict majority of the voting members, DOWN members counted.
	if !strictMajority(len(f.votes), f.voters) {
		return
	}
	n.stepDone(&f.clock, "failover", "vote")
	f.phase = awaitingPromotion
	f.deadline = n.now + n.promoteBudget()
	n.log(slog.LevelWarn, "candidate elected", "candidate", f.candidate, "vote_epoch", f.epoch, "votes", len(f.votes), "voters", f.voters)
	failed := f.primary
	if r, ok := f.reports[failed]; failed == f.candidate || ok && r.status.DBReachable && r.status.InRecovery {
		// The "primary" we replace is a standby now (rebuilt, or elected
		// and never promoted).
		failed = ""
	}
	msg := Message{Type: MsgPromote, Epoch: f.epoch, Target: f.candidate, FailedPrimary: failed,
		Fence: n.fenceTargets(failed), Switchover: f.switchover, Quiet: f.quiet, NoScripts: f.noScripts}
	if _, answered := f.reports[failed]; failed != "" && !answered {
		msg.Detach = failed
	}
	for _, id := range f.askedInOrder() {
		if id != f.candidate && id != n.p.Self {
			n.send(id, Message{Type: MsgResumeReplay})
		}
	}
	if f.candidate != n.p.Self {
		n.resumeReplay()
		n.send(f.candidate, msg)
	} else {
		msg.From = n.p.Self
		n.onPromote(n.p.Self, msg)
	}
}

// askedInOrder is the members asked in the check round, in id order: the
// core's actions must not depend on Go's map order, or a simulator seed
// would not replay.
func (f *failover) askedInOrder() []NodeID {
	out := make([]NodeID, 0, len(f.asked))
	for id := range f.asked {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// abortFailover ends a failover attempt without promotion.
func (n *Node) abortFailover(backoff time.Duration) {
	if f := n.failover; f != nil {
		for _, id := range f.askedInOrder() {
			if id != n.p.Self {
				// Aborted: the hold its check round set on id ends now,
				// rather than a failover window later (chaos seed 7043:
				// a failed switchover election kept every node from
				// coordinating for 82 s).
				n.send(id, Message{Type: MsgResumeReplay, Aborted: true})
			}
		}
	}
	n.resumeReplay()
	n.failover = nil
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
	f := n.failover
	var out []NodeID
	if failed != "" {
		out = append(out, failed)
	}
	for _, id := range n.order {
		p := n.members[id]
		if id == f.candidate || id == failed || p.member.Kind != KindDatabase {
			continue
		}
		r, ok := f.reports[id]
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
