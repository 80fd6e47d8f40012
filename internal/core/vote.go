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
	n.lastPrimaryT = n.now
	if n.suspectTrig != 0 {
		n.log(slog.LevelInfo, "primary heard again", "primary", from)
	}
	n.suspectTrig = 0
}

type voteVerdict uint8

const (
	voteGrant voteVerdict = iota + 1
	voteRefuse
	voteDefer
)

// voteDecision applies the voting rules to a request for m.Target in
// m.Epoch.
// since is when the request arrived: the WAL position compared must be newer.
func (n *Node) voteDecision(m Message, since time.Duration) (voteVerdict, string) {
	e, c := m.Epoch, m.Target
	if e == n.st.VotedEpoch && c == n.st.VotedFor && !n.lease.holder {
		// Asked again (another coordinator, a lost answer): same answer.
		return voteGrant, ""
	}
	if e <= n.st.Epoch || e <= n.st.VotedEpoch {
		return voteRefuse, fmt.Sprintf("epoch %d not above %d (voted %d)", e, n.st.Epoch, n.st.VotedEpoch)
	}
	if n.cand != nil {
		// Promoting under its own epoch: a vote in another would move the
		// epoch it renews its lease under.
		return voteRefuse, fmt.Sprintf("this node is promoting in epoch %d", n.cand.epoch)
	}
	if n.lease.holder && c != n.p.Self {
		return voteDefer, "this node holds the primary lease"
	}
	// Raft's up-to-date rule: a standby does not vote for a candidate that
	// received less WAL than itself. With synchronous replication this is
	// what carries an acknowledged commit across the election.
	if n.now < n.voter.holdUntil && n.voter.holdFor != c && !n.brokenNoLeaseWait {
		return voteDefer, fmt.Sprintf("lease of %s may still be valid for %v", n.voter.holdFor, n.voter.holdUntil-n.now)
	}
	// Every database voter, the old primary included, refuses a candidate
	// on an older timeline than its own last one: that candidate missed a
	// promotion and everything written after it.
	if l := n.local.last; c != n.p.Self && n.p.Kind == KindDatabase && m.Status != nil && m.Status.Timeline < l.Timeline {
		return voteRefuse, fmt.Sprintf("candidate is on timeline %d, this node was on %d", m.Status.Timeline, l.Timeline)
	}
	// Only promotable standbys apply it: synchronous_standby_names should
	// name exactly those, and a standby that can never be promoted must not
	// block a failover. The old primary (last seen out of recovery) cannot
	// tell acknowledged WAL from its unacknowledged tail and does not apply
	// it; witnesses have no WAL.
	if l := n.local.last; c != n.p.Self && n.p.Kind == KindDatabase && n.myStatus().Promotable && (l.InRecovery || l == (LocalDBProbe{})) {
		// Compare with a position read after the request arrived (and after
		// any lease hold): WAL received since the last routine probe may be
		// exactly the acknowledged commit the candidate lacks.
		if !l.Reachable || n.local.lastOK < since {
			if n.role == RoleStandby || n.role == RoleUnknown {
				if n.local.inflight == 0 {
					n.probe(false)
				}
				return voteDefer, "reading this standby's WAL position first"
			}
			return voteRefuse, "this standby cannot read its own WAL position (database unreachable)"
		}
		if m.Status != nil && (m.Status.Timeline < l.Timeline || m.Status.Timeline == l.Timeline && m.Status.ReceivedLSN < l.ReceivedLSN) {
			return voteRefuse, fmt.Sprintf("candidate received %d/%s, this standby %d/%s", m.Status.Timeline, m.Status.ReceivedLSN, l.Timeline, l.ReceivedLSN)
		}
	}
	return voteGrant, ""
}

func (n *Node) onVoteReq(from NodeID, m Message) {
	n.onVoteReqAt(from, m, n.now)
}

func (n *Node) onVoteReqAt(from NodeID, m Message, since time.Duration) {
	v, why := n.voteDecision(m, since)
	switch v {
	case voteDefer:
		if n.voter.pending == nil || n.voter.pending.Epoch <= m.Epoch {
			mm := m
			if n.voter.pending == nil || n.voter.pending.Epoch != m.Epoch {
				n.voter.pendingAt = since
				n.log(slog.LevelDebug, "vote deferred", "candidate", m.Target, "vote_epoch", m.Epoch, "why", why)
			}
			n.voter.pending, n.voter.pendingFrom = &mm, from
		}
	case voteRefuse:
		n.log(slog.LevelInfo, "vote refused", "candidate", m.Target, "vote_epoch", m.Epoch, "why", why)
		n.replyVote(from, Message{Type: MsgVoteResp, Epoch: max(n.st.Epoch, n.st.VotedEpoch), Target: m.Target, Round: m.Epoch, Reason: why, Voters: n.numVoters()})
	case voteGrant:
		if m.Epoch == n.st.VotedEpoch && m.Target == n.st.VotedFor {
			n.replyVote(from, Message{Type: MsgVoteResp, Epoch: m.Epoch, Target: m.Target, Round: m.Epoch, OK: true, Voters: n.numVoters()})
			return
		}
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
		n.lastPrimaryT = n.now
		n.suspectTrig = 0
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
	if m.Epoch != n.st.Epoch || from != n.st.Primary {
		return
	}
	if n.voter.holdFor == from {
		n.voter.holdUntil = n.now
	}
	trig := TriggerPrimaryDBFailed
	if n.fo != nil && n.fo.waitResign {
		n.fo.resigned()
		return
	}
	if n.fo != nil && n.fo.phase == foPromote && n.fo.cand == from {
		// Our candidate gave up (VIP, ping server, fence script): retry
		// soon rather than wait out the promotion budget.
		n.log(slog.LevelWarn, "candidate gave up", "candidate", from, "why", m.Reason)
		n.fo = nil
		n.nextAttempt = n.now + n.p.RemoteTimeout
	}
	if m.Switchover {
		trig = TriggerSwitchover
	}
	n.suspect(trig, "primary "+string(from)+" resigned: "+m.Reason)
}
