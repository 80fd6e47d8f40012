package core

import (
	"log/slog"
	"time"
)

// Detaching the WAL receiver before a vote.
//
// A promotable standby votes only for a candidate that received at least
// as much WAL as itself (vote.go), so the position it compares must not
// grow after the vote. Pausing replay does not stop receiving, and a dead
// primary can still deliver: WAL it wrote into its replication connection
// before it died waits in its kernel's send buffer and is sent when a cut
// link heals (found on real hosts by the ten-failures test: the other
// standby received 336 bytes of the old primary's tail after it had voted,
// past the new primary's fork point, and could follow nobody). So a voter
// first ends its receiver's connection, then reads its position, then
// votes; the connection its startup process opens later reaches a primary
// whose lease has run out and which has fenced itself.

// detachState is the voter's last receiver detach.
type detachState struct {
	// at is when the last successful detach was issued; ok says there
	// was one. inflight: a detach is running.
	at       time.Duration
	ok       bool
	inflight bool
	// failedAt: the last detach failed then; the next waits a
	// local.period.
	failedAt time.Duration
}

// detachedSince: the receiver was detached at or after since, and the WAL
// position read at or after that detach.
func (f voterFacts) detachedSince(since time.Duration) bool {
	return f.detach.ok && f.detach.at >= since && f.walReadAt >= f.detach.at
}

// readWALForVote makes the position a deferred vote needs: detach the
// receiver (once per request), then probe.
func (n *Node) readWALForVote(since time.Duration) {
	d := &n.voter.detach
	if d.inflight {
		return
	}
	if (!d.ok || d.at < since) && n.local.last.InRecovery {
		if d.failedAt > 0 && n.now-d.failedAt < n.p.LocalPeriod {
			return
		}
		d.inflight = true
		n.doDBAwaiting(pendingOp{awaits: awaitVoteDetach}, OpDetachReceiver, n.p.RemoteTimeout/4)
		return
	}
	if n.local.inflight == 0 {
		n.probeForVote()
	}
}

// voteDetached: the detach answered. A failed one leaves the vote
// deferred (the next evaluation tries again) and says why.
func (n *Node) voteDetached(op pendingOp, e DBOpResult) {
	d := &n.voter.detach
	d.inflight = false
	if !e.OK {
		d.failedAt = n.now
		n.log(slog.LevelWarn, "could not detach the WAL receiver before voting; the vote waits", "err", e.Err)
		if n.local.inflight == 0 {
			n.probeForVote() // a database gone down answers as unreadable
		}
		return
	}
	d.at, d.ok = op.issuedAt, true
	if n.local.inflight == 0 {
		n.probeForVote()
	}
}
