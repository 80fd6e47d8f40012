package core

import (
	"fmt"
	"time"

	"github.com/openefm/efm/internal/notify/subject"
)

// leaseState is the primary side of the lease (see Timing for the
// argument). A node is the holder while it acts as primary of st.Epoch or
// takes its lease as a candidate.
type leaseState struct {
	holder    bool
	since     time.Duration // claim time: deadline base until a round succeeds
	round     uint64
	sent      map[uint64]time.Duration
	acks      map[uint64]map[NodeID]bool
	validFrom time.Duration // send time of the latest successful round
	valid     bool

	// Stall detection and the thaw grace (thaw.go). prevRun and lastRun
	// survive a new claim: they describe the agent, not the lease.
	prevRun, lastRun time.Duration // now of the previous and of this Step
	thaw             bool          // a thaw round is under way
	thawAt           time.Duration // send time of the thaw round
	thawUntil        time.Duration // fence if still past the deadline then
	thawGap          time.Duration // how long the agent did not run
}

// claimLease makes this node the lease holder of st.Epoch and starts a
// renewal round at once. Until a round succeeds the node may stay writable
// only until since+Lease-FencingAllowance, as if since were a successful
// round: a primary agent that (re)starts cut off from the voters fences its
// database within one lease.
func (n *Node) claimLease() {
	n.lease = leaseState{holder: true, since: n.now, sent: map[uint64]time.Duration{}, acks: map[uint64]map[NodeID]bool{},
		prevRun: n.lease.prevRun, lastRun: n.lease.lastRun}
	n.nextHeartbeat = n.now + n.tm.RenewInterval
	n.renew()
}

// renew sends one renewal round. The lease counts from this send time,
// never from the replies (Timing, point 1).
func (n *Node) renew() {
	l := &n.lease
	l.round++
	l.sent[l.round] = n.now
	l.acks[l.round] = map[NodeID]bool{n.p.Self: true}
	// The holder acknowledges its own round like any voter: it grants no
	// vote to another candidate within VoteHold.
	n.voter.holdUntil = max(n.voter.holdUntil, n.now+n.tm.VoteHold)
	n.voter.holdFor = n.p.Self
	for r, t := range l.sent {
		if n.now-t > n.tm.Lease {
			delete(l.sent, r)
			delete(l.acks, r)
		}
	}
	n.sendHeartbeat(l.round)
	n.countAcks(l.round)
}

func (n *Node) onLeaseAck(from NodeID, m Message) {
	l := &n.lease
	if !l.holder {
		return
	}
	if !m.OK {
		if m.Epoch > n.st.Epoch {
			n.fenceStale(from, m.Epoch)
		}
		return
	}
	if m.Epoch != n.st.Epoch || !n.isVoter(from) {
		return
	}
	if acks, ok := l.acks[m.Round]; ok {
		acks[from] = true
		n.countAcks(m.Round)
	}
}

// countAcks extends the lease when round r was acknowledged by at least half
// of the voting members, the holder included (atLeastHalf says why half).
func (n *Node) countAcks(r uint64) {
	l := &n.lease
	if !atLeastHalf(len(l.acks[r]), n.numVoters()) {
		return
	}
	if t := l.sent[r]; !l.valid || t > l.validFrom {
		l.validFrom = t
		l.valid = true
		if n.p.Watchdog {
			// The watchdog resets the node half an allowance after the
			// agent should have started fencing: still before the lease
			// ends, and late enough not to race a healthy agent.
			d := l.validFrom + n.tm.Lease - n.tm.FencingAllowance/2 - n.now
			n.emit(Watchdog{Timeout: max(d, time.Millisecond)})
		}
		if n.candidacy != nil {
			n.candidateLeaseGranted()
		} else if n.role == RolePrimary {
			// EFM acquires a missing VIP at primary start; we do once the
			// lease is ours.
			n.assignVIPIfMissing()
		}
	}
}

// leaseDeadline is when the holder must start fencing: Lease minus the
// fencing allowance after the send time of its latest successful round.
func (n *Node) leaseDeadline() time.Duration {
	base := n.lease.since
	if n.lease.valid {
		base = n.lease.validFrom
	}
	return base + n.tm.Lease - n.tm.FencingAllowance
}

func (n *Node) leaseValid() bool {
	return n.lease.holder && n.lease.valid && n.now < n.leaseDeadline()
}

func (n *Node) leaseTimers() {
	if !n.lease.holder {
		return
	}
	if n.now < n.leaseDeadline() {
		n.thawEnded()
		return
	}
	if n.thawing() {
		return
	}
	if n.candidacy != nil && !n.candidacy.issued {
		// Not promoted yet: the database is still a standby.
		n.abandonCandidacy(subject.CouldNotPromoteStandby, "The candidate lost its lease before promoting.")
		return
	}
	n.candidacy = nil
	n.fenceSelf(fenceIsolated, fmt.Sprintf("no renewal acknowledged by half of the %d voting members within %v%s", n.numVoters(), n.tm.Lease-n.tm.FencingAllowance, n.thawWhy()))
	// The idle reason stays: an agent that was waiting for its database
	// (idleNoDB) still resumes by itself when it reaches it, and is fenced
	// again then (detectRole).
	n.becomeIdle(n.local.idle)
}

type fenceCause uint8

const (
	fenceIsolated   fenceCause = iota + 1 // lease ran out
	fenceStaleEpoch                       // a newer primary exists
	fenceDBFailed                         // local database failed
	fenceHandover                         // switchover / manual promote
	fenceWrongState                       // writable although it must not be
)

// fenceSelf makes sure the local database refuses writes and cannot come
// back writable: release the VIP, stop the database, write the fence, run
// script.primary.isolated (efm-reference §5, §6 step 1). The node resigns its
// epoch only once the stop is confirmed; until then the voters' lease hold
// protects the cluster.
func (n *Node) fenceSelf(cause fenceCause, why string) {
	wasHolder := n.lease.holder
	n.dropLease()
	// Only an isolated primary may resume by EFM 4.5's rule
	// (resume_primary.go); a failed database is failed over. A candidate
	// whose lease ran out while it promoted is no primary that resumes:
	// its pg_promote may still be in flight, and a resume would take that
	// stale promotion for the win of its new epoch (simulator seed 42671:
	// writable in the new epoch with its own vote alone).
	n.heal.resume.isolated = cause == fenceIsolated && n.role == RolePrimary
	n.heal.resume.fencedAt = n.now
	switch cause {
	case fenceIsolated:
		n.notify(subject.PrimaryFencedOff,
			fmt.Sprintf("The primary %s is isolated from the majority of the cluster (%s); it releases the VIP and stops its database.", n.p.Self, why))
	case fenceStaleEpoch:
		n.notify(subject.PrimaryFencedOff,
			fmt.Sprintf("A standby has already been promoted (%s); the old primary %s stays fenced.", why, n.p.Self))
	case fenceWrongState:
		n.notify(subject.PrimaryFencedOff, why)
	}
	if n.p.VIPConfigured && cause != fenceWrongState {
		n.doVIP(OpReleaseVIP)
		n.notify(subject.ReleasingVIP, "")
	}
	stop := n.p.StopIsolatedPrimary
	if cause == fenceDBFailed {
		stop = n.p.StopFailedPrimary
	}
	if cause == fenceHandover || cause == fenceWrongState {
		stop = true
	}
	if stop {
		n.doDBAwaiting(pendingOp{awaits: awaitFenceStop}, OpStopDB, n.tm.FencingAllowance)
	}
	n.doDB(OpFenceDB, n.tm.FencingAllowance)
	if !n.st.Fenced {
		n.st.Fenced = true
		n.persist()
	}
	if cause == fenceIsolated || cause == fenceStaleEpoch {
		n.runScript(ScriptPrimaryIsolated, Placeholders{FailedPrimary: n.p.Self})
	}
	if !stop && wasHolder {
		// Nothing to wait for: the database is left running, fenced.
		n.disarmWatchdog()
	}
}

// fenceStale: a voter reports an epoch above ours, so a newer primary has
// been elected; a returning old primary stays fenced. A candidate whose
// database was not promoted yet is a standby, not a stale primary: it gives
// its epoch up as when its lease runs out (leaseTimers), so that it may be
// ordered to promote in the newer epoch (two coordinators whose views
// disagree can elect the same standby in two epochs).
func (n *Node) fenceStale(from NodeID, epoch uint64) {
	if c := n.candidacy; c != nil && !c.issued {
		n.abandonCandidacy(subject.CouldNotPromoteStandby,
			fmt.Sprintf("%s reports epoch %d, above this candidacy's epoch %d.", from, epoch, c.epoch))
		return
	}
	if n.lease.holder || n.isWritableHere() {
		n.candidacy = nil
		n.fenceSelf(fenceStaleEpoch, fmt.Sprintf("%s reports epoch %d, this node held epoch %d", from, epoch, n.st.Epoch))
		n.becomeIdle(n.local.idle) // as after a lease that ran out (leaseTimers)
	}
}

// isWritableHere: the last probe saw the local database accepting writes.
func (n *Node) isWritableHere() bool {
	return n.p.Kind == KindDatabase && n.local.last.Reachable && !n.local.last.InRecovery
}

// afterFenceStop runs when the stop issued by fenceSelf completed.
func (n *Node) afterFenceStop(ok bool) {
	if !ok {
		n.notify(subject.UnexpectedError, fmt.Sprintf("Stopping the fenced database on %s failed; the cluster waits for the lease to run out.", n.p.Self))
		return
	}
	n.disarmWatchdog()
	// The database is stopped and fenced: voters may stop waiting for our
	// lease (resign), which shortens a database-failure failover.
	n.resignLease(n.st.Epoch, "database stopped and fenced", n.handover.switchover)
	n.handover.switchover = false
	if n.failover != nil && n.failover.waitResign && n.failover.primary == n.p.Self {
		// efm promote ran on the primary's own agent: it coordinates.
		n.failover.resigned()
	}
}
