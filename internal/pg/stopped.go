package pg

import (
	"context"
	"fmt"
	"regexp"
	"strings"
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
	// WALEnd is where the valid WAL in pg_wal ends on the latest
	// checkpoint's timeline (walEnd), read only for a server that last ran
	// in recovery with no newer timeline known and no backup_label; 0 when
	// not read, with WALEndWhy saying why.
	WALEnd    LSN
	WALEndWhy string
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
	sd := StoppedDir{Control: cd, NewestHistory: hist, BackupLabel: label}
	switch {
	case !cd.WasStandby():
		sd.WALEndWhy = "not a standby"
	case label:
		sd.WALEndWhy = "backup_label present"
	case max(cd.MinRecoveryEndTLI, hist) > cd.CheckpointTLI:
		sd.WALEndWhy = fmt.Sprintf("timeline %d is newer than the checkpoint's %d", max(cd.MinRecoveryEndTLI, hist), cd.CheckpointTLI)
	default:
		end, err := d.walEnd(ctx, cd.CheckpointTLI, cd.Checkpoint)
		if err != nil {
			sd.WALEndWhy = err.Error()
		} else {
			sd.WALEnd = end
		}
	}
	return sd, nil
}

// walEndLine is pg_waldump's last line when it reaches the end of the
// valid WAL: the last record read, and where the next one should have
// started.
var walEndLine = regexp.MustCompile(`^pg_waldump: error: error in WAL record at ([0-9A-F]+/[0-9A-F]+): invalid record length at ([0-9A-F]+/[0-9A-F]+): wanted \d+, got 0$`)

// walEnd reads the WAL in pg_wal on timeline tli from the record at start
// (pg_waldump -q, as the service owner) and returns where it ends: the
// start of the record that is not there, which is where the last valid
// record ended (what a standby reports as received). Only a zero-length
// record counts as the end (what lies past the last write in a
// preallocated or recycled segment); any other ending (a missing segment,
// a checksum failure, a new segment's header) is an error, not an end:
// the WAL may go on.
func (d *DB) walEnd(ctx context.Context, tli uint32, start LSN) (LSN, error) {
	out, err := d.runOwner(ctx, nil, "env", "LC_ALL=C", "LANG=C", d.pgBin("pg_waldump"), "-q",
		"-p", d.dataPath("pg_wal"), "-t", fmt.Sprint(tli), "-s", start.String())
	if err == nil {
		return InvalidLSN, fmt.Errorf("pg_waldump of %s from %d/%s: no end of WAL reported (%q)", d.cfg.Node, tli, start, out)
	}
	last := out
	if i := strings.LastIndexByte(out, '\n'); i >= 0 {
		last = out[i+1:]
	}
	m := walEndLine.FindStringSubmatch(strings.TrimSpace(last))
	if m == nil {
		return InvalidLSN, fmt.Errorf("pg_waldump of %s from %d/%s: not an end of WAL: %w", d.cfg.Node, tli, start, err)
	}
	end, perr := ParseLSN(m[2])
	if perr != nil || end < start {
		return InvalidLSN, fmt.Errorf("pg_waldump of %s from %d/%s: end %q: %v", d.cfg.Node, tli, start, m[2], perr)
	}
	return end, nil
}
