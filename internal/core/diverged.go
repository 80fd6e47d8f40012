package core

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/openefm/efm/internal/notify/subject"
)

// A standby whose WAL diverged from the primary's.
//
// A standby can hold WAL past the new primary's fork point: its database
// was the old primary once and was started in recovery by someone else (an
// operator, a boot script) with its unreplicated tail; or it received the
// old primary's last WAL after the failover was decided. It then cannot
// stream from the new primary at all ("new timeline forked off ... before
// current recovery point"): a standby in name only. The shell's follow
// sees it (FollowPrimary answers Diverged, having compared this node's
// position with the primary's timeline history) and the core treats the
// node as what it is, a database with WAL the primary lacks: fenced, Idle,
// and rebuilt by the rejoin (rejoin.go) when auto.rewind or
// auto.basebackup allows, as an old primary is.
//
// The WAL it gives up was never acknowledged under the full num_sync: a
// synchronous standby that acknowledged a commit refuses its vote to any
// candidate without it (vote.go), and detaches its receiver before it votes
// (detach.go), so nothing it received after voting can have been
// acknowledged by a quorum that includes it.

// standbyDiverged: following primary failed because this standby's WAL
// diverged (why, from the shell).
func (n *Node) standbyDiverged(primary NodeID, why string) {
	next := "It is rebuilt as a standby of " + string(primary) + " (auto.rewind/auto.basebackup)."
	if !n.rejoinAllowed() {
		next = "auto.rewind and auto.basebackup are off: rebuild it by hand (efm create-standby after moving its data directory away), then efm resume."
	}
	n.log(slog.LevelError, "this standby's WAL diverged from the primary's; fencing it", "primary", primary, "why", why)
	n.notify(subject.StandbyDiverged, fmt.Sprintf("%s cannot follow the primary %s: %s. %s", n.p.Self, primary, why, next))
	if !n.st.Fenced {
		n.st.Fenced = true
		n.persist()
	}
	n.becomeIdle(idleFenced)
}

// recheckStuckStandby: a standby that believes it follows the primary pr,
// which is alive and writable, but has not streamed from it for
// stuckStandbyAfter is re-pointed at it (a FollowPrimary, whose first step
// is the divergence check). That is how a database started in recovery
// behind the agents' back with WAL the primary lacks, already pointed at
// the primary, is found out: no new primary ever asks it to follow.
func (n *Node) recheckStuckStandby(pr NodeID) {
	s := &n.standby
	l := n.local.last
	p, ok := n.members[pr]
	live := ok && p.heard && p.member.State == MemberAlive && n.now-p.lastSeen <= n.tm.PrimarySilence &&
		p.status.Role == RolePrimary && p.status.DBReachable && !p.status.InRecovery
	stuck := n.p.Kind == KindDatabase && n.role == RoleStandby && !n.primaryOrPromoting() && pr != "" && pr != n.p.Self &&
		s.following == pr && !s.followIssued && live && l.Reachable && l.InRecovery && !s.replayPaused &&
		l.WALReceiver != "streaming" && l.WALReceiver != WALReceiverHidden
	if !stuck {
		s.notStreamingSince = 0
		return
	}
	if s.notStreamingSince == 0 {
		s.notStreamingSince = n.now
		return
	}
	if n.now-s.notStreamingSince < n.stuckStandbyAfter() {
		return
	}
	n.log(slog.LevelWarn, "this standby has not streamed from its primary for a while; following it again",
		"primary", pr, "for", (n.now - s.notStreamingSince).Round(time.Millisecond), "wal_receiver", l.WALReceiver)
	s.notStreamingSince = 0
	s.following = ""
	s.followTarget, s.followAt = pr, n.now
}

// stuckStandbyAfter is how long a standby of a live primary may go without
// streaming before it is re-pointed: longer than a WAL receiver's retry
// (wal_retrieve_retry_interval, 5 s by default) and a primary's restart.
func (n *Node) stuckStandbyAfter() time.Duration { return StuckStandbyAfter(n.p) }

// StuckStandbyAfter is stuckStandbyAfter for p (the simulator's liveness
// bound counts it).
func StuckStandbyAfter(p Params) time.Duration {
	return max(2*p.NodeTimeout, 15*time.Second)
}
