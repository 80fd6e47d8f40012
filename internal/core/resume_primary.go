package core

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/openefm/efm/internal/notify/subject"
)

// # EFM 4.5's rule: an isolated primary resumes when nobody was promoted
//
// A primary that fenced itself (its lease ran out while cut off from the
// majority) and hears a majority again resumes as primary, instead of
// staying fenced, when no other node was promoted meanwhile. EFM decides
// that from what the node sees; OpenEFM only from the epochs, through the
// vote machinery every promotion uses:
//
//  1. The node is Idle and fenced because its lease ran out, and the
//     primary of its persisted epoch is itself (it never learned of a newer
//     primary; one it learned of is the rejoin's business, rejoin.go). It
//     hears, since it fenced itself and within two renewal intervals, a
//     strict majority of the voters (itself included), all following it in
//     its epoch (majorityInEpoch).
//  2. It starts its database in recovery (the fence, standby.signal, is
//     still there, so it cannot come up writable) and asks every voter for
//     its vote in a NEW epoch E, above every epoch it has seen, with
//     Message.Resume.
//  3. A voter grants such a vote only under the usual rules (once per
//     epoch, persisted before the answer, E above every epoch it has seen
//     or voted in, no other lease it acknowledged still running) and only
//     if the primary of the newest epoch it knows is this node and it has
//     voted in no epoch after that one: it has seen no other node become
//     primary since. The WAL rules do not apply: no promotion since means
//     no WAL exists beyond this node's.
//  4. With a strict majority of grants it is the candidate of E and
//     promotes its database exactly as an elected standby does
//     (becomeCandidate: the lease of E first, the VIP checked free, then
//     pg_ctl promote), without script.fence (there is no other primary to
//     fence) and without the post-promotion script.
//
// Why no other node can have been promoted. A promotion of Y in an epoch
// F needs a strict majority of votes for Y in F, and so does E: the two
// majorities share a voter v. If v voted for Y before it granted E, its
// newest epoch then named Y, and only a later epoch naming this node
// (which again needed a majority: induction on epochs) could have made
// it grant; if v granted E first, its persisted vote in E makes it refuse
// every F <= E, and its lease hold for this node covers F > E as for any
// elected primary. Any newer epoch the node hears of stops the attempt
// (step 1), and a refusal carries the voter's epoch, which the next
// attempt must exceed.

// resumeState is the attempt under way (epoch != 0) and the next one.
type resumeState struct {
	epoch    uint64
	votes    map[NodeID]bool
	voters   int
	deadline time.Duration
	next     time.Duration
	// startAgain: no other start of the database before then.
	startAgain time.Duration
	from       uint64 // the epoch this node was primary in when it asked
	// isolated: this node fenced itself because its lease ran out (not
	// for a failed database, a handover, a newer epoch). In memory only:
	// a restarted agent cannot tell, and leaves the node to a failover.
	isolated bool
	fencedAt time.Duration
}

// resumeCandidate: this node may try to resume as the primary it was. Not
// once it hears another node follow a newer epoch naming another primary:
// a promotion may have happened, and it is the failover's (and then the
// rejoin's) business. A resume candidate neither suspects its own primary
// role nor coordinates a failover of it, so staying one then would leave
// the cluster without a primary for good whenever it is the coordinator
// (chaos seed 2000: an election in epoch 1 failed, the old primary, the
// smallest id, kept waiting to resume in epoch 0 and nobody else
// coordinated).
func (n *Node) resumeCandidate() bool {
	return n.p.Kind == KindDatabase && n.heal.resume.isolated && n.role == RoleIdle && n.st.Fenced && n.st.Primary == n.p.Self &&
		!n.primaryOrPromoting() && n.failover == nil && !n.rejoinInFlight() && !n.newerPrimaryHeard()
}

// newerPrimaryHeard: a member heard since this node fenced itself follows
// an epoch above this node's, naming another node its primary.
func (n *Node) newerPrimaryHeard() bool {
	for _, id := range n.order {
		p := n.members[id]
		if id == n.p.Self || p == nil || !p.heard || p.lastSeen <= n.heal.resume.fencedAt {
			continue
		}
		if p.epoch > n.st.Epoch && p.primary != "" && p.primary != n.p.Self {
			return true
		}
	}
	return false
}

// majorityInEpoch: a strict majority of the voters, this node included,
// was heard since this node fenced itself and within two renewal
// intervals (every agent sends its status every interval: what an agent
// heard before it was cut off proves nothing), and none of them follows
// another primary or a newer epoch. An attempt without that would only
// burn an epoch: its own vote in it makes this node refuse the renewals of
// a primary elected meanwhile in an older epoch, fencing it.
func (n *Node) majorityInEpoch() bool {
	heard := 1
	for _, id := range n.order {
		p := n.members[id]
		if id == n.p.Self || !n.counts(p) || !p.heard || p.lastSeen <= n.heal.resume.fencedAt || n.now-p.lastSeen > 2*n.tm.RenewInterval {
			continue
		}
		if p.epoch > n.st.Epoch || p.primary != "" && p.primary != n.p.Self {
			return false
		}
		heard++
	}
	return strictMajority(heard, n.numVoters())
}

func (n *Node) resumePrimaryTimers() {
	r := &n.heal.resume
	if !n.resumeCandidate() {
		r.epoch = 0
		if n.role == RolePrimary || n.role == RoleStandby {
			r.isolated = false
		}
		return
	}
	if r.epoch != 0 {
		if n.now >= r.deadline {
			n.log(slog.LevelInfo, "isolated primary not resumed: no majority granted its new epoch", "vote_epoch", r.epoch, "votes", len(r.votes))
			r.epoch = 0
		}
		return
	}
	if n.now < r.next || !n.majorityInEpoch() {
		return
	}
	// Its database must run in recovery first: promoted, not started
	// writable, once the epoch is won. The fence keeps it in recovery. The
	// request goes out at the first probe that shows it so: the other
	// agents may be about to fail over meanwhile.
	n.local.idle = idleFenced
	l := n.local.last
	if !l.Reachable || !l.InRecovery || n.now-n.local.lastOK > 2*n.p.LocalPeriod {
		if n.now >= r.startAgain {
			r.startAgain = n.now + n.p.promoteDBTimeout() + 2*n.p.LocalPeriod
			if l.Reachable && !l.InRecovery {
				// Fenced but left running (stop.isolated.primary=false):
				// restart it in recovery.
				n.doDB(OpStopDB, n.tm.FencingAllowance)
			}
			n.doDB(OpStartDB, n.p.promoteDBTimeout())
		}
		return
	}
	e := max(n.coord.maxEpochSeen, n.st.Epoch, n.st.VotedEpoch) + 1
	*r = resumeState{epoch: e, votes: map[NodeID]bool{}, voters: n.numVoters(), from: n.st.Epoch, next: n.now + 2*n.p.RemoteTimeout,
		deadline: n.now + n.tm.VoteHold + 2*n.p.RemoteTimeout, isolated: true, startAgain: r.startAgain, fencedAt: r.fencedAt}
	st := n.myStatus()
	req := Message{Type: MsgVoteReq, Epoch: e, Target: n.p.Self, Round: e, Status: &st, Resume: true}
	n.log(slog.LevelWarn, "isolated primary back with a majority: asking to resume as primary in a new epoch", "vote_epoch", e, "primary_epoch", r.from)
	n.broadcast(req)
	n.onVoteReq(n.p.Self, req)
}

// onResumeVoteResp counts an answer to this node's resume request; false
// when the answer is not for it.
func (n *Node) onResumeVoteResp(from NodeID, m Message) bool {
	r := &n.heal.resume
	if r.epoch == 0 || m.Round != r.epoch || m.Target != n.p.Self {
		return false
	}
	r.voters = max(r.voters, n.numVoters(), m.Voters)
	if !m.OK {
		n.coord.maxEpochSeen = max(n.coord.maxEpochSeen, m.Epoch)
		n.log(slog.LevelInfo, "resume as primary refused", "voter", from, "vote_epoch", r.epoch, "why", m.Reason)
		return true
	}
	if from != n.p.Self && !n.isVoter(from) {
		return true
	}
	r.votes[from] = true
	if !strictMajority(len(r.votes), r.voters) {
		return true
	}
	e, prev := r.epoch, r.from
	r.epoch = 0
	n.log(slog.LevelWarn, "isolated primary resumes: no other primary since its epoch", "vote_epoch", e, "primary_epoch", prev, "votes", len(r.votes), "voters", r.voters)
	n.becomeCandidate(&candidacy{epoch: e, phase: takingLease, deadline: n.now + n.p.RemoteTimeout, noScripts: true, resumed: true, resumedFrom: prev})
	return true
}

// resumeVote is the voter's rule for a resume request (step 3 above),
// applied after the rules every vote obeys.
func resumeVote(f voterFacts, m Message) voteVerdict {
	if f.primary != m.Target || f.votedEpoch > f.epoch {
		return voteVerdict{answer: voteRefuse, rule: ruleNewerPrimary,
			why: fmt.Sprintf("the newest epoch this node knows (%d, voted %d) has primary %q, not %s", f.epoch, f.votedEpoch, f.primary, m.Target)}
	}
	return voteVerdict{answer: voteGrant, rule: ruleNoNewerPrimary}
}

// resumedAsPrimary: the promotion of a resume candidacy finished.
func (n *Node) resumedAsPrimary(c *candidacy) {
	if n.st.Fenced {
		n.st.Fenced = false
		n.persist()
	}
	n.notify(subject.NodeNoLongerIsolated, fmt.Sprintf(
		"The primary %s, isolated and fenced in epoch %d, hears a majority again and no other node was promoted meanwhile: it resumed as primary in epoch %d.",
		n.p.Self, c.resumedFrom, c.epoch))
}
