package pg

import (
	"context"
	"fmt"
)

// StoppedDir is what a data directory no server runs on tells about the
// server's last run, for an agent that cannot ask it over SQL: pg_control
// (state, latest checkpoint, minimum recovery point) and the newest
// timeline history file in pg_wal.
type StoppedDir struct {
	Control ControlData
	// NewestHistory is the highest timeline with a history file in pg_wal
	// (0: none). A server promoted and stopped before the first checkpoint
	// on its new timeline still shows the old one in pg_control, but wrote
	// the new timeline's history file before it left recovery.
	NewestHistory uint32
	// BackupLabel: backup_label is there. pg_control then is a copy taken
	// from a running server by pg_basebackup (or set by pg_rewind), not
	// the record of this directory's last run.
	BackupLabel bool
}

// ReadStopped reads the data directory of a server that is certainly not
// running: no postmaster before the read nor after it (one starting in
// between would be rewriting pg_control, and what was read would describe
// neither run). Anything less certain is an error.
func (d *DB) ReadStopped(ctx context.Context) (StoppedDir, error) {
	if gone, why := d.PostmasterGone(ctx); !gone {
		return StoppedDir{}, fmt.Errorf("reading the stopped data directory of %s: a server may be running (%s)", d.cfg.Node, why)
	}
	cd, err := d.ControlData(ctx)
	if err != nil {
		return StoppedDir{}, err
	}
	hist, err := d.newestLocalHistory(ctx)
	if err != nil {
		return StoppedDir{}, fmt.Errorf("timeline history files of %s: %w", d.cfg.Node, err)
	}
	label, err := d.ownerFileExists(ctx, d.dataPath("backup_label"))
	if err != nil {
		return StoppedDir{}, fmt.Errorf("backup_label of %s: %w", d.cfg.Node, err)
	}
	if gone, why := d.PostmasterGone(ctx); !gone {
		return StoppedDir{}, fmt.Errorf("reading the stopped data directory of %s: a server started meanwhile (%s)", d.cfg.Node, why)
	}
	return StoppedDir{Control: cd, NewestHistory: hist, BackupLabel: label}, nil
}
