package core

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/openefm/efm/internal/notify/subject"
)

// standbyState is a standby's side: replay paused for a failover check,
// and following the primary of its epoch.
type standbyState struct {
	replayPaused  bool
	pausedUntil   time.Duration
	following     NodeID        // the primary this standby streams from
	followTarget  NodeID        // the primary it is being re-pointed at
	followAt      time.Duration // scheduled FollowPrimary (standby.restart.delay)
	followIssued  bool          // FollowPrimary for followTarget is under way
	warnedNoRecfg uint64        // epoch of the last auto.reconfigure=false warning
	// notStreamingSince: this standby of a live primary has not streamed
	// from it since then (0: it streams); see recheckStuckStandby.
	notStreamingSince time.Duration
}

// onPromoted: a candidate finished its promotion.
func (n *Node) onPromoted(from NodeID, m Message) {
	if m.Epoch < n.st.Epoch {
		return
	}
	if n.lease.holder && from != n.p.Self {
		n.fenceStale(from, m.Epoch)
	}
	if m.Epoch > n.st.Epoch || n.st.Primary != from {
		n.st.Epoch = m.Epoch
		n.st.Primary = from
		n.persist()
	}
	n.priority = append([]NodeID(nil), m.Priority...)
	n.watch.heardAt = n.now
	n.watch.suspect = 0
	// The promotion someone else coordinated is over, and with it every
	// failover announced to this node (MsgFailoverStart, pausing check
	// rounds): this node may coordinate the next failover at once (a new
	// primary can fail seconds after a switchover).
	n.endHolds()
	if n.failover != nil && n.failover.candidate == from {
		n.stepDone(&n.failover.clock, "failover", "promotion (candidate's checks, pg_promote)")
		n.failover = nil
	}
	if n.p.Kind == KindDatabase {
		n.runScript(ScriptRemotePostPromote, Placeholders{NewPrimary: from, FailedPrimary: m.FailedPrimary})
	}
}

func (n *Node) resumeReplay() {
	if !n.standby.replayPaused {
		return
	}
	n.standby.replayPaused = false
	n.doDB(OpResumeReplay, n.p.RemoteTimeout)
}

// standbyTimers: replay pauses end, and standbys follow a new primary
// (auto.reconfigure, standby.restart.delay).
func (n *Node) standbyTimers() {
	if n.standby.replayPaused && n.now >= n.standby.pausedUntil && n.failover == nil && n.candidacy == nil {
		n.resumeReplay()
	}
	pr := n.st.Primary
	n.recheckStuckStandby(pr)
	if n.p.Kind != KindDatabase || n.primaryOrPromoting() || pr == "" || pr == n.p.Self || n.standby.following == pr {
		return
	}
	standby := n.role == RoleStandby
	oldPrimary := n.handover.follow && n.role == RoleIdle
	if !standby && !oldPrimary {
		return
	}
	p, ok := n.members[pr]
	if !ok || !p.heard || p.status.Role != RolePrimary || n.now-p.lastSeen > n.tm.PrimarySilence {
		return
	}
	if standby && !n.p.AutoReconfigure {
		if n.standby.warnedNoRecfg != n.st.Epoch {
			n.standby.warnedNoRecfg = n.st.Epoch
			n.notify(subject.StandbyNotReconfigured,
				fmt.Sprintf("auto.reconfigure=false: %s keeps following %q; the new primary is %s.", n.p.Self, n.standby.following, pr))
		}
		return
	}
	if n.standby.followTarget != pr {
		n.standby.followTarget = pr
		n.standby.followAt = n.now
		if standby {
			n.standby.followAt += n.p.StandbyRestartDelay
		}
		n.standby.followIssued = false
	}
	if !n.standby.followIssued && n.now >= n.standby.followAt {
		n.standby.followIssued = true
		n.log(slog.LevelInfo, "reconfiguring to follow the new primary", "primary", pr)
		fp := FollowPrimary{Seq: n.await(pendingOp{awaits: awaitFollow}), Primary: pr, Timeout: n.followBound() - n.p.StandbyRestartDelay, Slot: n.slotsOn()}
		if oldPrimary {
			fp.Sources = n.settingsSources(pr)
		}
		n.emit(fp)
	}
}

// settingsSources: whom the old primary of a switchover copies its
// replication settings from. The -sourcenode alone when given (a named
// source that cannot be read is an error to report, not a reason to use
// another); else the new primary, whose leftover primary_conninfo is the
// one it streamed from this node with, then every other database member in
// id order. A deterministic order, where EFM takes a random standby.
func (n *Node) settingsSources(pr NodeID) []NodeID {
	if n.handover.source != "" {
		return []NodeID{n.handover.source}
	}
	out := []NodeID{pr}
	for _, id := range n.order {
		if p := n.members[id]; id != pr && id != n.p.Self && p != nil && p.member.Kind == KindDatabase && p.member.State == MemberAlive {
			out = append(out, id)
		}
	}
	return out
}

func (n *Node) followDone(ok bool, errText string, diverged bool) {
	target := n.standby.followTarget
	n.standby.followIssued = false
	if !ok && diverged && (n.role == RoleStandby || n.handover.follow && n.role == RoleIdle) {
		// The old primary of a handover too: its tail was not all
		// replicated after all, and the rejoin's rewind is its way back.
		n.handover.follow, n.handover.source = false, ""
		n.standbyDiverged(target, errText)
		return
	}
	if !ok {
		n.notify(subject.StandbyRestartedCannotConnect,
			fmt.Sprintf("Reconfiguring %s to follow %s failed: %s", n.p.Self, target, errText))
		n.standby.followAt = n.now + n.p.LocalPeriod
		return
	}
	n.standby.following = target
	n.standby.replayPaused = false
	if !n.handover.follow {
		n.followedPrimary(target)
	}
	if n.handover.follow {
		n.handover.follow = false
		n.handover.source = ""
		if n.st.Fenced {
			n.st.Fenced = false
			n.persist()
		}
		n.resume("switched-over primary now follows " + string(target))
	}
}
