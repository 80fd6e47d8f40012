package core

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/openefm/efm/internal/notify/subject"
)

// Synchronous replication (EFM 5.x, check.num.sync.period): the primary
// counts, every period, the synchronous standbys that actually stream
// against num_sync of its synchronous_standby_names, and with the
// operator's leave lowers num_sync (reconfigure.num.sync), clears the
// setting (reconfigure.sync.primary), or raises num_sync back
// (reconfigure.num.sync.max). The core decides (DecideSync, pure); the
// shell reads the setting and pg_stat_replication (CheckSyncStandbys) and
// writes the new value (SetNumSync).

// CheckSyncStandbys asks the shell for the local primary's
// synchronous_standby_names and its streaming standbys; it answers with
// SyncStandbys within Timeout.
type CheckSyncStandbys struct {
	Seq     uint64
	Timeout time.Duration
}

// SetNumSync asks the shell to set num_sync of the local primary's
// synchronous_standby_names to Num (keeping the operator's FIRST/ANY form
// and names), or to clear the setting (asynchronous) when Num is 0, then
// reload; it answers with DBOpResult.
type SetNumSync struct {
	Seq     uint64
	Num     int
	Timeout time.Duration
}

// SyncStandbys answers CheckSyncStandbys.
type SyncStandbys struct {
	Seq uint64
	// Num is num_sync now; 0 when synchronous_standby_names is empty
	// (asynchronous).
	Num int
	// Listed is how many standby names the setting lists, 0 when "*" is
	// one of them (any standby may count).
	Listed int
	// Available is how many listed standbys stream now: their walsender
	// is "streaming" with sync_state sync, quorum or potential. These are
	// the standbys that can confirm commits.
	Available int
	// Err: the check could not tell (no connection, no privilege). The
	// core changes nothing on an answer in doubt.
	Err string
}

func (e SyncStandbys) resultSeq() uint64 { return e.Seq }

func (CheckSyncStandbys) isAction() {}
func (SetNumSync) isAction()        {}
func (SyncStandbys) isEvent()       {}

// SyncChange is what DecideSync asks for.
type SyncChange uint8

const (
	SyncKeep    SyncChange = iota // nothing to do
	SyncLower                     // lower num_sync to Num (reconfigure.num.sync)
	SyncClear                     // clear synchronous_standby_names (reconfigure.sync.primary)
	SyncRaise                     // raise num_sync to Num (reconfigure.num.sync.max)
	SyncBlocked                   // too few standbys and nothing allowed: notify only
)

var syncChangeNames = [...]string{"keep", "lower", "clear", "raise", "blocked"}

func (c SyncChange) String() string {
	if int(c) < len(syncChangeNames) {
		return syncChangeNames[c]
	}
	return "syncchange?"
}

// SyncDecision is DecideSync's verdict: the change, the num_sync it sets
// (Lower, Raise) and why, in words for the log and the notification.
type SyncDecision struct {
	Change SyncChange
	Num    int
	Why    string
}

// DecideSync is EFM's rule for the primary's synchronous standbys, given
// what the shell saw (s, not in doubt):
//   - fewer standbys available than num_sync: with reconfigure.num.sync,
//     num_sync is lowered to the number available, never below 1; when
//     none is available, reconfigure.sync.primary clears the setting
//     (commits stop waiting for any standby); with neither allowed, only
//     the notification "Not enough synchronous standbys" (writes wait);
//   - more available than num_sync and reconfigure.num.sync.max set:
//     num_sync is raised, up to the max, the number available and the
//     names listed. An empty setting is never filled in again (EFM: not
//     after a clear; the operator restores it).
func DecideSync(p Params, s SyncStandbys) SyncDecision {
	if s.Num <= 0 {
		return SyncDecision{Change: SyncKeep, Why: "synchronous_standby_names is empty (asynchronous)"}
	}
	avail := s.Available
	if avail < s.Num {
		short := fmt.Sprintf("%d synchronous standby(s) available, num_sync is %d", avail, s.Num)
		switch {
		case avail == 0 && p.ReconfigureSyncPrimary:
			return SyncDecision{Change: SyncClear, Why: short + ": cleared (reconfigure.sync.primary=true), commits no longer wait for a standby"}
		case p.ReconfigureNumSync && s.Num > 1:
			n := max(avail, 1)
			why := fmt.Sprintf("%s: lowered to %d (reconfigure.num.sync=true)", short, n)
			if avail == 0 {
				why += "; commits still wait for one standby"
			}
			return SyncDecision{Change: SyncLower, Num: n, Why: why}
		default:
			return SyncDecision{Change: SyncBlocked, Why: short + ": commits wait (" + syncBlockedBecause(p, avail) + ")"}
		}
	}
	if p.ReconfigureNumSyncMax > s.Num && avail > s.Num {
		n := min(p.ReconfigureNumSyncMax, avail)
		if s.Listed > 0 {
			n = min(n, s.Listed)
		}
		if n > s.Num {
			return SyncDecision{Change: SyncRaise, Num: n, Why: fmt.Sprintf(
				"%d synchronous standby(s) available, num_sync is %d: raised to %d (reconfigure.num.sync.max=%d)",
				avail, s.Num, n, p.ReconfigureNumSyncMax)}
		}
	}
	return SyncDecision{Change: SyncKeep}
}

// syncBlockedBecause names the settings that leave commits waiting.
func syncBlockedBecause(p Params, avail int) string {
	switch {
	case p.ReconfigureNumSync:
		return "num_sync is already 1 and reconfigure.sync.primary=false"
	case p.ReconfigureSyncPrimary && avail > 0:
		return "reconfigure.num.sync=false; reconfigure.sync.primary clears only when no synchronous standby is left"
	default:
		return "reconfigure.num.sync=false and reconfigure.sync.primary=false"
	}
}

// syncRep is the primary's synchronous-standby check.
type syncRep struct {
	next     time.Duration // when the next check is due
	inFlight bool          // a check or change is pending
}

// syncTimers runs the check every check.num.sync.period on the lease
// holding primary whose database is writable.
func (n *Node) syncTimers() {
	if n.p.CheckNumSyncPeriod <= 0 || n.p.Kind != KindDatabase || n.role != RolePrimary || !n.lease.holder {
		return
	}
	if n.syncrep.inFlight || n.now < n.syncrep.next {
		return
	}
	n.syncrep.next = n.now + n.p.CheckNumSyncPeriod
	n.syncrep.inFlight = true
	n.emit(CheckSyncStandbys{Seq: n.await(pendingOp{awaits: awaitSyncCheck}), Timeout: n.p.RemoteTimeout})
}

// checkSyncAfterFollow schedules a new primary's first count once its
// standbys have had the time to follow it (standby.restart.delay, then
// FollowPrimary's bound), and at the earliest one period on: counted at
// once, none would stream yet, and reconfigure.sync.primary would clear
// the setting after every failover, for good.
func (n *Node) checkSyncAfterFollow() {
	n.syncrep.next = n.now + max(n.p.CheckNumSyncPeriod, n.followBound())
}

// followBound is how long a standby may take to follow a new primary.
func (n *Node) followBound() time.Duration {
	return n.p.StandbyRestartDelay + 6*n.p.RemoteTimeout
}

// syncChecked: the shell's answer to CheckSyncStandbys.
func (n *Node) syncChecked(s SyncStandbys) {
	n.syncrep.inFlight = false
	if s.Err != "" {
		// In doubt: change nothing (the next period asks again).
		n.log(slog.LevelWarn, "synchronous standby check failed", "err", s.Err)
		return
	}
	if n.role != RolePrimary || !n.lease.holder {
		return
	}
	d := DecideSync(n.p, s)
	switch d.Change {
	case SyncKeep:
		return
	case SyncBlocked:
		n.log(slog.LevelWarn, "not enough synchronous standbys", "why", d.Why)
		n.notifyOnce(subject.NotEnoughSyncStandbys, "Not enough synchronous standbys: "+d.Why+".")
		return
	}
	n.log(slog.LevelWarn, "reconfiguring synchronous replication", "change", d.Change.String(), "num_sync", d.Num, "why", d.Why)
	if d.Change == SyncLower && s.Available == 0 {
		n.notifyOnce(subject.NotEnoughSyncStandbys, "Not enough synchronous standbys: "+d.Why+".")
	}
	n.syncrep.inFlight = true
	num := d.Num
	if d.Change == SyncClear {
		num = 0
	}
	n.emit(SetNumSync{Seq: n.await(pendingOp{awaits: awaitSyncSet, syncWhy: d.Why, syncChange: d.Change}), Num: num, Timeout: n.p.RemoteTimeout})
}

// syncSet: the shell's answer to SetNumSync.
func (n *Node) syncSet(op pendingOp, e DBOpResult) {
	n.syncrep.inFlight = false
	// The next look is a whole period after the change, not after the
	// check that asked for it: the standbys' sync_state follows the reload.
	n.syncrep.next = n.now + n.p.CheckNumSyncPeriod
	if !e.OK {
		n.log(slog.LevelError, "could not change synchronous_standby_names", "change", op.syncChange.String(), "err", e.Err)
		n.notify(subject.CouldNotReloadDBConfig, fmt.Sprintf("Changing synchronous_standby_names (%s) failed: %s", op.syncWhy, e.Err))
		return
	}
	s := subject.SyncReplicationReconfigured
	if op.syncChange == SyncClear {
		s = subject.SyncReplicationDisabled
	}
	n.notify(s, "Synchronous replication on "+string(n.p.Self)+": "+op.syncWhy+".")
}

// RenameSyncStandby asks the shell of a new primary to rewrite its
// synchronous_standby_names as SyncNamesForNewPrimary says, for a primary
// whose own application_name is Self and whose predecessor's is Old;
// answered by DBOpResult.
type RenameSyncStandby struct {
	Seq       uint64
	Self, Old string
	Timeout   time.Duration
}

func (RenameSyncStandby) isAction() {}

// SyncNamesForNewPrimary is what a promoted standby's
// synchronous_standby_names becomes. Its value was written for the old
// primary (the same on every server, as PostgreSQL's documentation
// suggests), so it lists this node (self, its application.name), which
// can never confirm its own commits, and not the old primary (old), which
// will be a standby once rejoined. self is replaced by old in place (the
// FIRST order kept), or removed when old is unknown or listed already, and
// num_sync is capped at the names left. changed is false when self is not
// listed (nothing to do) or removing it would leave no name; names are
// compared case-insensitively, as PostgreSQL does.
func SyncNamesForNewPrimary(num int, names []string, self, old string) (newNum int, newNames []string, changed bool) {
	idx := -1
	for i, n := range names {
		if strings.EqualFold(n, self) {
			idx = i
		}
	}
	if self == "" || idx < 0 {
		return num, names, false
	}
	oldListed := false
	for _, n := range names {
		oldListed = oldListed || strings.EqualFold(n, old)
	}
	out := append([]string(nil), names...)
	if old != "" && !oldListed {
		out[idx] = old
		return num, out, true
	}
	out = append(out[:idx], out[idx+1:]...)
	if len(out) == 0 {
		return num, names, false
	}
	return min(num, len(out)), out, true
}

// manageSync: the operator let the agents change synchronous_standby_names
// (reconfigure.num.sync, reconfigure.sync.primary or
// reconfigure.num.sync.max, with the check on).
func (n *Node) manageSync() bool {
	return n.p.CheckNumSyncPeriod > 0 && (n.p.ReconfigureNumSync || n.p.ReconfigureSyncPrimary || n.p.ReconfigureNumSyncMax > 0)
}

// renameSyncForNewPrimary: this node was just promoted in place of old.
// The count check waits until the names are right.
func (n *Node) renameSyncForNewPrimary(old NodeID) {
	if !n.manageSync() || n.p.AppName == "" {
		return
	}
	oldApp := ""
	if p, ok := n.members[old]; ok && old != "" {
		oldApp = p.status.App
	}
	n.syncrep.inFlight = true
	n.emit(RenameSyncStandby{Seq: n.await(pendingOp{awaits: awaitSyncRename,
		syncWhy: fmt.Sprintf("%s (%s) is the new primary in place of %s (%q)", n.p.Self, n.p.AppName, old, oldApp)}),
		Self: n.p.AppName, Old: oldApp, Timeout: n.p.RemoteTimeout})
}

// syncRenamed: the shell's answer to RenameSyncStandby. Err "unchanged"
// is not a failure: there was nothing to rewrite.
func (n *Node) syncRenamed(op pendingOp, e DBOpResult) {
	n.syncrep.inFlight = false
	switch {
	case e.OK && e.Err == "":
		n.log(slog.LevelWarn, "synchronous_standby_names rewritten for the new primary", "why", op.syncWhy)
		n.notify(subject.SyncReplicationReconfigured, "synchronous_standby_names rewritten: "+op.syncWhy+".")
	case !e.OK:
		n.log(slog.LevelError, "could not rewrite synchronous_standby_names for the new primary", "why", op.syncWhy, "err", e.Err)
		n.notify(subject.CouldNotReloadDBConfig, fmt.Sprintf("Rewriting synchronous_standby_names (%s) failed: %s", op.syncWhy, e.Err))
	}
}
