package core

import (
	"fmt"
	"time"
)

// StoppedDB is what the shell reads from a data directory no server runs
// on (LocalDBProbe.Gone): pg_control's fields, as pg_controldata names
// them, and the newest timeline history file in pg_wal. The shell reads it
// only with no postmaster before and after the read, so that it describes
// the last run of the server, not one starting up.
type StoppedDB struct {
	// Read: the shell read all of it; false, nothing below is known.
	Read bool
	// State is "Database cluster state" (ClusterShutDown, ...).
	State string
	// CheckpointLSN and CheckpointTimeline are "Latest checkpoint
	// location" and "Latest checkpoint's TimeLineID".
	CheckpointLSN      LSN
	CheckpointTimeline uint32
	// MinRecoveryLSN and MinRecoveryTimeline are "Minimum recovery ending
	// location" and its timeline (0 on a server that was a primary).
	MinRecoveryLSN      LSN
	MinRecoveryTimeline uint32
	// NewestHistory is the highest timeline with a history file in pg_wal
	// (0: none). A server promoted and stopped before its first
	// checkpoint on the new timeline shows the old timeline in pg_control,
	// but wrote the new timeline's history file before it left recovery.
	NewestHistory uint32
	// BackupLabel: backup_label is there (a base backup not started yet,
	// or a rewound directory): pg_control is not its last run's.
	BackupLabel bool
	// WALEnd is where the valid WAL in pg_wal ends on CheckpointTimeline,
	// read from the latest checkpoint on (pg_waldump): the start of the
	// first record that is not there, never before the end of the last
	// one that is. 0: not read (the shell reads it only for a server that
	// last ran in recovery, with no newer timeline known).
	WALEnd LSN
	// WALEndWhy says why WALEnd was not read.
	WALEndWhy string
}

// pg_control's "Database cluster state" values the vote rule tells apart.
const (
	// ClusterShutDown: a primary stopped cleanly (its shutdown checkpoint
	// is its last WAL record).
	ClusterShutDown = "shut down"
	// ClusterInProduction: a primary that did not stop cleanly (crashed,
	// killed, immediate shutdown).
	ClusterInProduction = "in production"
	// ClusterShutDownInRecovery, ClusterInArchiveRecovery: a standby,
	// stopped cleanly or not (pg_rewind leaves a rewound directory in
	// archive recovery too).
	ClusterShutDownInRecovery = "shut down in recovery"
	ClusterInArchiveRecovery  = "in archive recovery"
)

// noteStopped keeps what a probe read from a stopped data directory, for
// the vote rules; a probe that reached the server forgets it.
func (n *Node) noteStopped(e LocalDBProbe) {
	at := n.now // a routine probe: no issue time kept (it reads no directory)
	if e.Seq != 0 && e.Seq == n.local.voteSeq {
		at = n.local.voteAt
		n.local.answeredAt = at
	}
	switch {
	case e.Reachable:
		n.local.stopped, n.local.stoppedAt = StoppedDB{}, 0
	case e.Gone && e.Stopped.Read:
		n.local.stopped, n.local.stoppedAt = e.Stopped, at
	}
}

// probeForVote is a check of the local database for a vote: a routine
// probe, that also reads the data directory if the server is certainly
// gone. It may take longer than a check period (pg_waldump reads the WAL
// since the last checkpoint): bounded by remote.timeout, what a vote
// request waits for anyway.
func (n *Node) probeForVote() {
	seq := n.await(pendingOp{awaits: awaitProbe})
	n.local.inflight = seq
	n.local.voteSeq, n.local.voteAt = seq, n.now
	n.local.nextProbe = n.now + n.p.LocalPeriod
	n.emit(ProbeLocalDB{Seq: seq, Timeout: max(n.p.LocalPeriod, n.p.RemoteTimeout), ReadStopped: true})
}

// stoppedKind is what a stopped database's control file proves about the
// server's last run.
type stoppedKind uint8

const (
	// stoppedInDoubt: nothing usable (a state of a server starting or
	// stopping, or crashed in crash recovery): the vote fails closed.
	stoppedInDoubt stoppedKind = iota
	// stoppedPrimary: it last ran out of recovery, on timeline at most
	// stoppedTimeline.
	stoppedPrimary
	// stoppedStandby: it last ran in recovery. The WAL it received may
	// go past every position pg_control records (minimum recovery point,
	// checkpoint): its position is unknown.
	stoppedStandby
	// stoppedStandbyAt: it last ran in recovery, and its received WAL
	// ends at WALEnd on CheckpointTimeline.
	stoppedStandbyAt
)

// judgeStopped reads s.
func judgeStopped(s StoppedDB) (stoppedKind, string) {
	switch {
	case !s.Read:
		return stoppedInDoubt, "data directory not read"
	case s.CheckpointTimeline == 0:
		return stoppedInDoubt, "pg_control names no checkpoint timeline"
	case s.BackupLabel:
		// pg_basebackup copies pg_control from the running primary ("in
		// production"): a standby not started yet would pass for one.
		return stoppedInDoubt, "this node's stopped data directory has a backup_label: pg_control does not describe its last run"
	case s.State == ClusterShutDown || s.State == ClusterInProduction:
		return stoppedPrimary, ""
	case (s.State == ClusterShutDownInRecovery || s.State == ClusterInArchiveRecovery) &&
		s.WALEnd != 0 && stoppedTimeline(s) == s.CheckpointTimeline:
		// Every byte the WAL receiver flushed is in pg_wal, so the end
		// of the valid WAL there is at or past its received position,
		// acknowledged commits included. Only on the checkpoint's
		// timeline: after a timeline switch the WAL is in files of
		// another timeline.
		return stoppedStandbyAt, ""
	case s.State == ClusterShutDownInRecovery || s.State == ClusterInArchiveRecovery:
		return stoppedStandby, fmt.Sprintf("this node's database is stopped and was a standby (%q): the WAL it received is not in pg_control, and its end in pg_wal was not read (%s)", s.State, s.WALEndWhy)
	default:
		return stoppedInDoubt, fmt.Sprintf("this node's database is stopped in state %q", s.State)
	}
}

// stoppedTimeline is the newest timeline the directory can be on: its
// latest checkpoint's, its minimum recovery point's, or a newer one it
// wrote (or received) a history file for. An upper bound, never less than
// the truth: the timeline rule refuses candidates below it.
func stoppedTimeline(s StoppedDB) uint32 {
	if !s.Read {
		return 0
	}
	return max(s.CheckpointTimeline, s.MinRecoveryTimeline, s.NewestHistory)
}

// stoppedVote decides the up-to-date rule for a voter whose database is
// stopped, from its data directory read at or after since; ok is false when
// there is no such read (the WAL rules of voteDecision decide).
//
// A server that last ran out of recovery is what the old-primary exemption
// is for: its WAL past what the standbys hold is its unacknowledged tail.
// That is safe only together with the timeline rule, applied before with
// stoppedTimeline: a candidate fenced mid-promotion (simulator seeds
// 53420, 53502, 69827) that did leave recovery is on the new timeline,
// and any candidate on that timeline streamed its WAL up to the
// promotion, acknowledged commits included; one still in recovery is a
// standby here and refuses.
func stoppedVote(f voterFacts, m Message, since time.Duration) (voteVerdict, bool) {
	if !f.stopped.Read || f.stoppedAt < since {
		return voteVerdict{}, false
	}
	kind, why := judgeStopped(f.stopped)
	switch {
	case kind == stoppedPrimary && m.Status == nil:
		return voteVerdict{answer: voteRefuse, rule: ruleStoppedInDoubt, why: "the candidate sent no timeline to compare with this stopped old primary's"}, true
	case kind == stoppedPrimary:
		return voteVerdict{answer: voteGrant, rule: ruleStoppedPrimary}, true
	case kind == stoppedStandby:
		return voteVerdict{answer: voteRefuse, rule: ruleStoppedStandby, why: why}, true
	case kind == stoppedStandbyAt && m.Status == nil:
		return voteVerdict{answer: voteRefuse, rule: ruleStoppedInDoubt, why: "the candidate sent no WAL position to compare with this stopped standby's"}, true
	case kind == stoppedStandbyAt:
		// The up-to-date rule, with the position read from pg_wal (the
		// timeline rule has refused older timelines).
		tl, end := f.stopped.CheckpointTimeline, f.stopped.WALEnd
		if m.Status.Timeline == tl && m.Status.ReceivedLSN < end {
			return voteVerdict{answer: voteRefuse, rule: ruleLessWAL,
				why: fmt.Sprintf("candidate received %d/%s, this stopped standby's WAL ends at %d/%s", m.Status.Timeline, m.Status.ReceivedLSN, tl, end)}, true
		}
		return voteVerdict{answer: voteGrant, rule: ruleStoppedStandbyAt}, true
	default:
		return voteVerdict{answer: voteRefuse, rule: ruleStoppedInDoubt, why: why}, true
	}
}
