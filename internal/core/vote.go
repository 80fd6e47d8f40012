package core

import (
	"fmt"
	"log/slog"
	"time"
)

// voterState is the voter side of leases and elections.
type voterState struct {
	// holdUntil: no vote for a candidate other than holdFor before this
	// local time (Timing, point 3).
	holdUntil time.Duration
	holdFor   NodeID
	// pending is a vote request deferred only by the hold; it is answered
	// when the hold ends.
	pending     *Message
	pendingFrom NodeID
	pendingAt   time.Duration
	// detach: the receiver detach before a vote's WAL read (detach.go).
	detach detachState
}

// onRenewal answers a lease renewal request from `from` for m.Epoch.
func (n *Node) onRenewal(from NodeID, m Message) {
	nack := func(why string) {
		n.send(from, Message{Type: MsgLeaseAck, Round: m.Round, Epoch: max(n.st.Epoch, n.st.VotedEpoch), Reason: why})
	}
	e := m.Epoch
	if e < n.st.Epoch || e < n.st.VotedEpoch {
		nack("stale epoch")
		return
	}
	if e == n.st.Epoch && n.st.Primary != "" && n.st.Primary != from {
		nack(fmt.Sprintf("epoch %d belongs to %s", e, n.st.Primary))
		return
	}
	if e > n.st.Epoch || n.st.Primary == "" {
		if n.lease.holder || (n.st.Primary == n.p.Self && n.isWritableHere()) {
			n.fenceStale(from, e)
		}
		n.st.Epoch = e
		n.st.Primary = from
		n.persist()
	}
	if n.lease.holder {
		// Two holders of one epoch cannot exist (one vote per epoch); refuse
		// rather than guess.
		nack("this node holds the epoch")
		return
	}
	n.voter.holdUntil = max(n.voter.holdUntil, n.now+n.tm.VoteHold)
	n.voter.holdFor = from
	n.send(from, Message{Type: MsgLeaseAck, Round: m.Round, Epoch: e, OK: true})
	n.watch.heardAt = n.now
	n.early.renewalAt = n.now
	if n.watch.suspect != 0 {
		n.log(slog.LevelInfo, "primary heard again", "primary", from)
	}
	n.watch.suspect = 0
}

// voteAnswer is what onVoteReq does with a vote request.
type voteAnswer string

const (
	// voteGrant: record the vote (persisted before the answer), start the
	// lease hold for the candidate, and grant.
	voteGrant voteAnswer = "grant"
	// voteGrantAgain: this vote was granted already (another coordinator,
	// a lost answer); grant it again, recording nothing.
	voteGrantAgain voteAnswer = "grant again"
	voteRefuse     voteAnswer = "refuse"
	// voteDefer: keep the request; voterTimers decides it again later,
	// until the coordinator would have stopped waiting.
	voteDefer voteAnswer = "defer"
	// voteReadWALFirst: defer, and read this standby's WAL position with a
	// local probe (unless one is in flight already).
	voteReadWALFirst voteAnswer = "read my WAL position first"
)

// voteRule names the rule of voteDecision that decided, in the order they
// are applied; the first that applies decides.
type voteRule string

const (
	ruleAskedAgain    voteRule = "asked again"          // grant again
	ruleEpochNotAbove voteRule = "epoch not above mine" // refuse
	ruleMyCandidacy   voteRule = "promoting myself"     // refuse
	ruleHoldingLease  voteRule = "holding the lease"    // defer
	ruleLeaseHold     voteRule = "lease hold"           // defer
	ruleOlderTimeline voteRule = "older timeline"       // refuse
	ruleWALNotRead    voteRule = "WAL not read yet"     // read my WAL position first
	ruleWALUnreadable voteRule = "WAL unreadable"       // refuse
	ruleLessWAL       voteRule = "less WAL"             // refuse
	ruleUpToDate      voteRule = "up to date"           // grant
	// A voter whose database is stopped (stopped.go).
	ruleStoppedPrimary voteRule = "stopped old primary" // grant
	ruleStoppedStandby voteRule = "stopped standby"     // refuse
	// ruleStoppedStandbyAt: its WAL end read from pg_wal, as far as the
	// candidate's (else ruleLessWAL).
	ruleStoppedStandbyAt voteRule = "stopped standby, WAL end read" // grant
	ruleStoppedInDoubt   voteRule = "stopped database in doubt"     // refuse
	// A resume request (Message.Resume, resume_primary.go).
	ruleNewerPrimary   voteRule = "another primary since" // refuse
	ruleNoNewerPrimary voteRule = "no primary since"      // grant
)

// voteVerdict is voteDecision's answer and the rule that gave it; why is
// the reason logged and sent with a refusal ("" on a grant).
type voteVerdict struct {
	answer voteAnswer
	rule   voteRule
	why    string
}

// voterFacts is what the voting rules read of this node (gathered by
// Node.voterFacts), so that voteDecision is a function of its arguments.
type voterFacts struct {
	self NodeID
	kind Kind
	role Role
	// promotable: this node's status says it may be promoted
	// (Params.Promotable, or a set-priority above 0).
	promotable bool
	now        time.Duration
	// The persisted epoch and vote.
	epoch, votedEpoch uint64
	votedFor          NodeID
	// primary is the persisted primary of epoch; fenced is
	// Persisted.Fenced (a failed or replaced primary, rejoin.go).
	primary NodeID
	fenced  bool
	// holdsLease: this node is the lease holder (lease.holder).
	holdsLease bool
	// promoting: this node runs a candidacy, in promotingEpoch.
	promoting      bool
	promotingEpoch uint64
	// The voter's lease hold: no vote for another candidate than holdFor
	// before holdUntil; ignoreHold is a test-only broken mode
	// (Params.brokenNoLeaseWait).
	holdUntil  time.Duration
	holdFor    NodeID
	ignoreHold bool
	// wal is the last local probe, walReadAt when a probe last succeeded.
	wal       LocalDBProbe
	walReadAt time.Duration
	// detach: the last WAL receiver detach (detach.go).
	detach detachState
	// probedAt is when a probe for a vote last answered, whatever it
	// found;
	// stopped is the data directory of a stopped database as the last
	// probe that found it gone read it, at stoppedAt (stopped.go).
	probedAt  time.Duration
	stopped   StoppedDB
	stoppedAt time.Duration
}

// ownTimeline is the newest timeline this node's database is known to
// have been on: its last probe's, or its stopped data directory's.
func (f voterFacts) ownTimeline() uint32 {
	return max(f.wal.Timeline, stoppedTimeline(f.stopped))
}

func (n *Node) voterFacts() voterFacts {
	f := voterFacts{
		self:       n.p.Self,
		kind:       n.p.Kind,
		role:       n.role,
		promotable: n.myStatus().Promotable,
		now:        n.now,
		epoch:      n.st.Epoch,
		votedEpoch: n.st.VotedEpoch,
		votedFor:   n.st.VotedFor,
		primary:    n.st.Primary,
		fenced:     n.st.Fenced,
		holdsLease: n.lease.holder,
		holdUntil:  n.voter.holdUntil,
		holdFor:    n.voter.holdFor,
		ignoreHold: n.brokenNoLeaseWait,
		wal:        n.local.last,
		walReadAt:  n.local.readAt,
		detach:     n.voter.detach,
		probedAt:   n.local.answeredAt,
		stopped:    n.local.stopped,
		stoppedAt:  n.local.stoppedAt,
	}
	if n.candidacy != nil {
		f.promoting, f.promotingEpoch = true, n.candidacy.epoch
	} else if e, ok := n.strayPromotion(); ok {
		// A candidacy given up after its pg_promote was issued: until that
		// answers, the database may turn writable at any moment under the
		// old epoch's (lapsed) lease. Voting meanwhile, for itself in
		// particular, would let that stale promotion pass for the win of a
		// new epoch (simulator seed 18496).
		f.promoting, f.promotingEpoch = true, e
	}
	return f
}

// strayPromotion: an OpPromoteDB of a candidacy that has ended is still
// unanswered; its epoch.
// (The newest, so the answer does not depend on map order.)
func (n *Node) strayPromotion() (uint64, bool) {
	var epoch uint64
	found := false
	for _, op := range n.pending {
		if op.awaits == awaitCandidacy && op.phase == promotingDB && op.candidacy != nil && op.candidacy != n.candidacy {
			epoch, found = max(epoch, op.candidacy.epoch), true
		}
	}
	return epoch, found
}

// voteDecision applies the voting rules to a request for m.Target in
// m.Epoch. since is when the request arrived (or its lease hold ended): the
// WAL position compared must have been read at or after it.
func voteDecision(f voterFacts, m Message, since time.Duration) voteVerdict {
	e, c := m.Epoch, m.Target
	refuse := func(r voteRule, why string) voteVerdict { return voteVerdict{answer: voteRefuse, rule: r, why: why} }
	deferBy := func(r voteRule, why string) voteVerdict { return voteVerdict{answer: voteDefer, rule: r, why: why} }
	if e == f.votedEpoch && c == f.votedFor && !f.holdsLease {
		// Asked again (another coordinator, a lost answer): same answer.
		return voteVerdict{answer: voteGrantAgain, rule: ruleAskedAgain}
	}
	if e <= f.epoch || e <= f.votedEpoch {
		return refuse(ruleEpochNotAbove, fmt.Sprintf("epoch %d not above %d (voted %d)", e, f.epoch, f.votedEpoch))
	}
	if f.promoting {
		// Promoting under its own epoch: a vote in another would move the
		// epoch it renews its lease under.
		return refuse(ruleMyCandidacy, fmt.Sprintf("this node is promoting in epoch %d", f.promotingEpoch))
	}
	if f.holdsLease && c != f.self {
		return deferBy(ruleHoldingLease, "this node holds the primary lease")
	}
	// The lease hold (Timing, point 3): a voter that acknowledged another
	// node's renewal (or voted for another candidate, or restarted and
	// forgot what it acknowledged) votes for nobody else until that lease
	// has run out.
	if f.now < f.holdUntil && f.holdFor != c && !f.ignoreHold {
		return deferBy(ruleLeaseHold, fmt.Sprintf("lease of %s may still be valid for %v", f.holdFor, f.holdUntil-f.now))
	}
	if m.Resume {
		return resumeVote(f, m)
	}
	// Every database voter, the old primary included, refuses a candidate
	// on an older timeline than its own last one: that candidate missed a
	// promotion and everything written after it.
	if tl := f.ownTimeline(); c != f.self && f.kind == KindDatabase && m.Status != nil && m.Status.Timeline < tl {
		return refuse(ruleOlderTimeline, fmt.Sprintf("candidate is on timeline %d, this node was on %d", m.Status.Timeline, tl))
	}
	// Raft's up-to-date rule: a standby does not vote for a candidate that
	// received less WAL than itself. With synchronous replication this is
	// what carries an acknowledged commit across the election.
	// Only promotable standbys apply it: synchronous_standby_names should
	// name exactly those, and a standby that can never be promoted must not
	// block a failover. The old primary (last seen out of recovery) cannot
	// tell acknowledged WAL from its unacknowledged tail and does not apply
	// it; witnesses have no WAL. A fenced node is NOT exempt: a candidate
	// whose lease ran out while it promoted is fenced too, and it holds
	// the acknowledged commits of a standby (simulator seeds 53420, 53502,
	// 69827: exempting every fenced node elected a standby without them).
	// A fenced old primary is exempt by the rule above: its last probe saw
	// it out of recovery. A voter whose database is stopped decides by
	// what its data directory proves, read since the request
	// (stoppedVote).
	if c != f.self && f.kind == KindDatabase && f.promotable {
		if v, ok := stoppedVote(f, m, since); ok {
			return v
		}
	}
	if l := f.wal; c != f.self && f.kind == KindDatabase && f.promotable && (l.InRecovery || l == (LocalDBProbe{})) {
		// Compare with a position read after the request arrived (and after
		// any lease hold): WAL received since the last routine probe may be
		// exactly the acknowledged commit the candidate lacks. And read it
		// with the receiver detached, so that it cannot grow after the
		// vote (detach.go).
		if !l.Reachable || f.walReadAt < since {
			// An Idle agent reads once: its database may be stopped
			// (stoppedVote) or answer again; a probe that answered since
			// without either is an unreadable position.
			if f.role == RoleStandby || f.role == RoleUnknown || f.role == RoleIdle && f.probedAt < since {
				return voteVerdict{answer: voteReadWALFirst, rule: ruleWALNotRead, why: "reading this standby's WAL position first"}
			}
			return refuse(ruleWALUnreadable, "this standby cannot read its own WAL position (database unreachable)")
		}
		if l.InRecovery && !f.detachedSince(since) {
			return voteVerdict{answer: voteReadWALFirst, rule: ruleWALNotRead, why: "detaching this standby's WAL receiver, then reading its WAL position"}
		}
		if m.Status != nil && (m.Status.Timeline < l.Timeline || m.Status.Timeline == l.Timeline && m.Status.ReceivedLSN < l.ReceivedLSN) {
			return refuse(ruleLessWAL, fmt.Sprintf("candidate received %d/%s, this standby %d/%s", m.Status.Timeline, m.Status.ReceivedLSN, l.Timeline, l.ReceivedLSN))
		}
	}
	return voteVerdict{answer: voteGrant, rule: ruleUpToDate}
}

func (n *Node) onVoteReq(from NodeID, m Message) {
	n.onVoteReqAt(from, m, n.now)
}

func (n *Node) onVoteReqAt(from NodeID, m Message, since time.Duration) {
	v := voteDecision(n.voterFacts(), m, since)
	switch v.answer {
	case voteDefer, voteReadWALFirst:
		if v.answer == voteReadWALFirst {
			n.readWALForVote(since)
		}
		if n.voter.pending == nil || n.voter.pending.Epoch <= m.Epoch {
			mm := m
			if n.voter.pending == nil || n.voter.pending.Epoch != m.Epoch {
				n.voter.pendingAt = since
				n.log(slog.LevelDebug, "vote deferred", "candidate", m.Target, "vote_epoch", m.Epoch, "why", v.why)
			}
			n.voter.pending, n.voter.pendingFrom = &mm, from
		}
	case voteRefuse:
		n.log(slog.LevelInfo, "vote refused", "candidate", m.Target, "vote_epoch", m.Epoch, "why", v.why)
		n.replyVote(from, Message{Type: MsgVoteResp, Epoch: max(n.st.Epoch, n.st.VotedEpoch), Target: m.Target, Round: m.Epoch, Reason: v.why, Voters: n.numVoters()})
	case voteGrantAgain:
		n.replyVote(from, Message{Type: MsgVoteResp, Epoch: m.Epoch, Target: m.Target, Round: m.Epoch, OK: true, Voters: n.numVoters()})
	case voteGrant:
		// Persist before answering: a vote is granted once per epoch even
		// across a crash.
		n.st.VotedEpoch = m.Epoch
		n.st.VotedFor = m.Target
		n.st.Epoch = m.Epoch
		n.st.Primary = m.Target
		n.persist()
		// The vote is an acknowledgement for the candidate's coming lease.
		n.voter.holdUntil = n.now + n.tm.VoteHold
		n.voter.holdFor = m.Target
		n.watch.heardAt = n.now
		n.watch.suspect = 0
		n.log(slog.LevelInfo, "vote granted", "candidate", m.Target, "vote_epoch", m.Epoch)
		n.replyVote(from, Message{Type: MsgVoteResp, Epoch: m.Epoch, Target: m.Target, Round: m.Epoch, OK: true, Voters: n.numVoters()})
	}
}

func (n *Node) replyVote(to NodeID, m Message) {
	if to == n.p.Self {
		n.onVoteResp(n.p.Self, m)
		return
	}
	n.send(to, m)
}

func (n *Node) voterTimers() {
	if n.voter.pending == nil {
		return
	}
	// The coordinator stops waiting after VoteHold plus remote.timeout; a
	// later grant would only burn an epoch.
	if n.now-n.voter.pendingAt > n.tm.VoteHold+n.p.RemoteTimeout {
		n.voter.pending = nil
		return
	}
	if n.now >= n.voter.holdUntil || n.voter.holdFor == n.voter.pending.Target {
		m, from := *n.voter.pending, n.voter.pendingFrom
		at := n.voter.pendingAt
		// The WAL position must be read after the hold too: the old
		// primary may have streamed to us until its lease ended.
		since := max(at, n.voter.holdUntil)
		n.voter.pending = nil
		n.onVoteReqAt(from, m, since)
		if n.voter.pending != nil {
			n.voter.pendingAt = at
		}
	}
}

// onResign: the primary of our epoch fenced itself (after its database
// stopped) or gave up a candidacy; its lease no longer binds us.
func (n *Node) onResign(from NodeID, m Message) {
	if v := n.voter.pending; v != nil && v.Epoch == m.Epoch && v.Target == from {
		// A vote for a candidate that gave that epoch up elects nobody.
		n.voter.pending = nil
	}
	if f := n.failover; f != nil && f.phase == awaitingPromotion && f.candidate == from && f.epoch == m.Epoch {
		// Our candidate gave up (VIP, ping server, fence script) or
		// refused the order: retry soon rather than wait out the
		// promotion budget. Its epoch is the failover's, whether or not
		// this node's own vote (deferred by a lease hold) went in yet:
		// chaos seed 9238, simulator seed 343.
		n.log(slog.LevelWarn, "candidate gave up", "candidate", from, "vote_epoch", m.Epoch, "why", m.Reason)
		n.abortFailover(n.p.RemoteTimeout)
	}
	if m.Epoch != n.st.Epoch || from != n.st.Primary {
		return
	}
	if n.voter.holdFor == from {
		n.voter.holdUntil = n.now
	}
	trig := TriggerPrimaryDBFailed
	if n.failover != nil && n.failover.waitResign {
		n.failover.resigned()
		return
	}
	if m.Switchover {
		trig = TriggerSwitchover
	}
	n.suspect(trig, "primary "+string(from)+" resigned: "+m.Reason)
}
