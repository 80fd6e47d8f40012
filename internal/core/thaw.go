package core

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/openefm/efm/internal/notify/subject"
)

// # A lease that ran out while the agent did not run (thaw)
//
// A primary agent that is stopped (SIGSTOP, a VM or GC stall) while its
// database stays up finds, on its first Step after the stall, a lease
// deadline long past. The other agents reached the database meanwhile and
// did not fail over (no failover on doubt), so fencing at once would turn an
// agent pause into an outage and a failover. Instead the holder renews once
// and waits a short grace for the answers:
//
//   - Detection: the previous Step's time was before the fencing deadline,
//     the current one is at or past it, and the two are more than
//     thawGap apart. Only then did the deadline pass while the agent was not
//     running; a running agent that merely ran out of acknowledgements fences
//     as before.
//   - Action: one renewal round at once (its send time s' is "now"), and no
//     fencing before s' + thawGrace.
//   - Outcome: if the round (or any round whose lease still runs) is
//     acknowledged by at least half of the voters at this node's epoch, the
//     lease is valid again and the node stays primary. Otherwise (the grace
//     ends, or any answer or heartbeat carries a higher epoch, which fences at
//     once through fenceStale) it fences exactly as an isolated primary.
//
// Why an acknowledged thaw round is enough. It is an ordinary renewal round,
// so the argument next to Timing applies to it unchanged from its send time
// s'. What must be added is that nothing happened during the stall that the
// argument would have prevented, namely a promotion in a higher epoch:
//
//  1. A voter acknowledges a renewal only for the epoch it follows, and
//     never for an epoch below its persisted VotedEpoch (onRenewal): a voter
//     that voted for epoch E+1 or later, at any time before it answered,
//     refuses our round with its higher epoch.
//  2. The holder's own acknowledgement counts too: while it holds the lease
//     it grants no vote to another candidate (voteDecision defers), and it
//     was not running during the stall, so it voted for no higher epoch.
//  3. Any promotion in an epoch above ours needed votes from a strict
//     majority of the voters, and the acknowledging set is at least half of
//     them: the two intersect. The common voter acknowledged our round at
//     some real time T >= S' (an answer cannot precede the request), so by
//     (1) and (2) it had not voted in that epoch before T, and from T on its
//     lease hold keeps it from voting before T + VoteHold/(1+ρ), which is
//     past the end of the lease counted from s' (Timing, point 4).
//
// So no other node was or can become primary while the renewed lease runs.
// ("Half" and "majority" are counted in each node's own view of the voting
// members, as for every renewal; the membership caveat in docs/core.md
// applies unchanged.)
// The grace does not weaken what the lease guaranteed while the agent ran:
// the database was writable during the whole stall anyway, with or without
// the grace, and only a stalled agent (no Step for more than thawGap) gets
// it (a holder isolated while running that then stalls across its
// deadline was already late by its stall; the grace adds at most
// thawGrace). What the grace changes is the case the lease never covered: another
// primary WAS promoted during the stall (possible only when the stall was
// not stopped by STONITH, script.fence, or the kernel watchdog, the
// documented protections for frozen agents). Then the round cannot succeed
// (point 3) and the thawed holder starts fencing at the first answer or
// heartbeat carrying the newer epoch (one round trip) and at the latest
// thawGrace after its first Step, instead of at that first Step: the window
// in which two databases may accept writes grows by at most thawGrace, and
// the watchdog, still armed with the old lease's timeout (only a successful
// round feeds it), bounds it as before when configured.

// thawGap is the smallest gap between two Steps that counts as a stall.
// A running agent is stepped at least every TickInterval (at most a quarter
// of RenewInterval) and the lease argument tolerates one tick of lateness;
// two whole renewal intervals (eight ticks or more) without a Step mean the
// agent skipped two of its own renewal rounds: it did not run late, it did
// not run. With the default allowance (Lease/4) any stall that takes a
// healthy holder past its deadline is at least Lease - FencingAllowance -
// RenewInterval = 2.75 renewal intervals long, so every such stall is caught.
func (t Timing) thawGap() time.Duration { return 2 * t.RenewInterval }

// thawGrace is how long a thawed holder waits for the acknowledgements of
// its renewal round before fencing: one renewal interval (the next round
// would be due then) and never more than remote.timeout (how long any agent
// waits for another's answer).
func (n *Node) thawGrace() time.Duration { return thawGrace(n.tm, n.p) }

// thawGrace is min(RenewInterval, remote.timeout); Predict reports it.
func thawGrace(tm Timing, p Params) time.Duration { return min(tm.RenewInterval, p.RemoteTimeout) }

// noteRun records the time of this Step; called at every timers() run. The
// second call within one Step (same now) keeps the previous Step's time.
func (n *Node) noteRun() {
	if l := &n.lease; n.now != l.lastRun {
		l.prevRun, l.lastRun = l.lastRun, n.now
	}
}

// thawing reports whether the holder, past its fencing deadline, must not
// fence yet because the deadline passed while the agent was stalled and its
// renewal round is still within the grace. It starts that round on the
// first Step after the stall.
func (n *Node) thawing() bool {
	l := &n.lease
	if l.thaw {
		return n.now < l.thawUntil
	}
	deadline := n.leaseDeadline()
	gap := n.now - l.prevRun
	if n.candidacy != nil || l.prevRun >= deadline || gap <= n.tm.thawGap() {
		return false
	}
	l.thaw = true
	l.thawAt = n.now
	l.thawUntil = n.now + n.thawGrace()
	l.thawGap = gap
	n.logEvent(LogThawStarted, slog.LevelWarn, "lease deadline passed while the agent was not running; renewing before fencing",
		"stalled", gap, "past_deadline", n.now-deadline, "grace", n.thawGrace())
	n.nextHeartbeat = n.now + n.tm.RenewInterval
	n.renew()
	return true
}

// thawEnded runs while the holder's lease is valid: a thaw under way
// succeeded once a round sent at or after the thaw was acknowledged (a late
// answer to a round sent before the stall may make the lease valid for a
// little longer, but the grace still runs for the thaw round).
func (n *Node) thawEnded() {
	l := &n.lease
	if !l.thaw || !l.valid || l.validFrom < l.thawAt {
		return
	}
	l.thaw = false
	n.logEvent(LogThawKept, slog.LevelInfo, "lease renewed after the agent was not running", "stalled", l.thawGap)
	n.notify(subject.PrimaryStalledPastLease,
		fmt.Sprintf("The primary agent of cluster %s did not run for %v, past its lease; half of the voting members still follow it, so it stays primary.",
			n.p.ClusterName, l.thawGap.Round(time.Millisecond)))
}

// thawWhy completes the fencing reason of a thaw that failed.
func (n *Node) thawWhy() string {
	if !n.lease.thaw {
		return ""
	}
	return fmt.Sprintf("; the agent had not run for %v and its renewal round was not acknowledged within %v", n.lease.thawGap.Round(time.Millisecond), n.thawGrace())
}
