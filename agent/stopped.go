package agent

import (
	"context"

	"github.com/openefm/efm/internal/core"
	"github.com/openefm/efm/internal/pg"
)

// ReadStopped reads the data directory of a server certainly not running,
// for the core's vote rules (core/stopped.go).
func (l *pgLocal) ReadStopped(ctx context.Context) (core.StoppedDB, error) {
	sd, err := l.db.ReadStopped(ctx)
	if err != nil {
		return core.StoppedDB{}, err
	}
	return toStopped(sd), nil
}

// toStopped is what the core reads of a stopped data directory.
func toStopped(sd pg.StoppedDir) core.StoppedDB {
	c := sd.Control
	return core.StoppedDB{Read: true, State: c.State,
		CheckpointLSN: c.Checkpoint, CheckpointTimeline: c.CheckpointTLI,
		MinRecoveryLSN: c.MinRecoveryEnd, MinRecoveryTimeline: c.MinRecoveryEndTLI,
		NewestHistory: sd.NewestHistory, BackupLabel: sd.BackupLabel,
		WALEnd: sd.WALEnd, WALEndWhy: sd.WALEndWhy}
}

func (noDB) ReadStopped(context.Context) (core.StoppedDB, error) { return core.StoppedDB{}, errNoDB }
