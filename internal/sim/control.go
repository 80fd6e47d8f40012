package sim

import (
	"time"

	"github.com/openefm/efm/internal/core"
)

// What a stopped server leaves in its data directory for the agent to read
// (core.StoppedDB): pg_control's state, latest checkpoint and minimum
// recovery point, and the timeline history files in pg_wal.

// controlFile is fakeDB's pg_control, as of its last checkpoint and stop.
type controlFile struct {
	state string
	// ckptTL, ckptLSN: the latest checkpoint (restartpoint on a standby).
	ckptTL  int
	ckptLSN core.LSN
	// minRecTL, minRecLSN: the minimum recovery point, set only in
	// recovery.
	minRecTL  int
	minRecLSN core.LSN
}

// checkpoint: a checkpoint (restartpoint) completed now.
func (d *fakeDB) checkpoint() {
	d.ctl.ckptTL, d.ctl.ckptLSN = d.tl, d.replay
}

// stopCtl records in pg_control how the server stopped: a clean stop ends
// with a shutdown checkpoint; a crash leaves the running state and the
// checkpoint before it (after a promotion, still on the old timeline until
// the first checkpoint on the new one).
func (d *fakeDB) stopCtl(clean bool) {
	if clean {
		d.checkpoint()
	}
	d.ctl.minRecTL, d.ctl.minRecLSN = 0, 0
	if d.inRecovery {
		d.ctl.minRecTL, d.ctl.minRecLSN = d.tl, d.replay
	}
	switch {
	case clean && d.inRecovery:
		d.ctl.state = core.ClusterShutDownInRecovery
	case clean:
		d.ctl.state = core.ClusterShutDown
	case d.inRecovery:
		d.ctl.state = core.ClusterInArchiveRecovery
	default:
		d.ctl.state = core.ClusterInProduction
	}
}

// dbStop stops the server cleanly (pg_ctl stop -m fast).
func (w *World) dbStop(n *simNode, why string) {
	if !n.db.up {
		return
	}
	w.dbDown(n, why)
	n.db.stopCtl(true)
}

// stoppedDir is what the agent reads from n's data directory with no
// server running, timelines by their IDs as probes report them; timeline 1
// has no history file.
func (w *World) stoppedDir(d *fakeDB) core.StoppedDB {
	s := core.StoppedDB{Read: true, State: d.ctl.state,
		CheckpointLSN: d.ctl.ckptLSN, CheckpointTimeline: w.tl[d.ctl.ckptTL].num}
	if d.ctl.minRecLSN != 0 || d.ctl.minRecTL != 0 {
		s.MinRecoveryLSN, s.MinRecoveryTimeline = d.ctl.minRecLSN, w.tl[d.ctl.minRecTL].num
	}
	if d.inRecovery && d.tl == d.ctl.ckptTL {
		// pg_waldump from the checkpoint: every byte received is there.
		s.WALEnd = d.lsn
	}
	if h := max(w.tl[d.tl].num, d.hist); h > 1 {
		// The history file of the newest timeline it was on (written when
		// it promoted to it, or streamed from its primary), or a newer
		// placeholder.
		s.NewestHistory = h
	}
	return s
}

// promotionCheckpoint is how long after a promotion its checkpoint
// completes: a crash before leaves pg_control on the old timeline, and
// only the new timeline's history file tells the agent it promoted.
const promotionCheckpoint = 300 * time.Millisecond
