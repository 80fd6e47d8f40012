package pg

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
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
		end, err := d.walEnd(ctx, cd.CheckpointTLI, cd.Checkpoint, cd.SegmentSize)
		if err != nil {
			sd.WALEndWhy = err.Error()
		} else {
			sd.WALEnd = end
		}
	}
	return sd, nil
}

// walEndLength is pg_waldump's last line when the WAL ends within a
// page: zeroes where the next record should start.
var walEndLength = regexp.MustCompile(`^pg_waldump: error: error in WAL record at [0-9A-F]+/[0-9A-F]+: invalid record length at ([0-9A-F]+/[0-9A-F]+): wanted \d+, got 0$`)

// walEndPage is pg_waldump's last line when the WAL ends at a page: the
// page's header is not one written for this position (a preallocated or
// recycled segment's old or zeroed content).
var walEndPage = regexp.MustCompile(`^pg_waldump: error: error in WAL record at [0-9A-F]+/[0-9A-F]+: (?:invalid magic number [0-9A-F]+|unexpected pageaddr [0-9A-F]+/[0-9A-F]+) in log segment ([0-9A-F]{24}), offset (\d+)$`)

// walEnd reads the WAL in pg_wal on timeline tli from the record at start
// (pg_waldump -q, as the service owner) up to the end of the newest
// segment file of that timeline, and returns where the valid WAL ends: at
// or past the end of the last record there, which is what a standby
// reports as received (its WAL receiver writes and flushes every byte it
// received into these files, in order). The ends it accepts: that
// segment's end (every record valid to there, nothing can have been
// received past an existing file), zeroes where a record should start, or
// a page whose header was not written for its position. Anything else (a
// missing segment in between, a bad checksum, a timeout) is an error: the
// WAL may go on past it.
func (d *DB) walEnd(ctx context.Context, tli uint32, start LSN, segSize uint64) (LSN, error) {
	fail := func(f string, a ...any) (LSN, error) {
		return InvalidLSN, fmt.Errorf("WAL end of %s on timeline %d from %s: %s", d.cfg.Node, tli, start, fmt.Sprintf(f, a...))
	}
	if segSize == 0 || segSize&(segSize-1) != 0 {
		return fail("WAL segment size %d unknown", segSize)
	}
	names, err := d.walNames(ctx)
	if err != nil {
		return fail("%v", err)
	}
	var last uint64
	found := false
	for _, n := range names {
		if seg, ok := segmentNo(n, tli, segSize); ok && (!found || seg > last) {
			last, found = seg, true
		}
	}
	if !found {
		return fail("no WAL segment of the timeline in pg_wal")
	}
	bound := LSN((last + 1) * segSize)
	if bound <= start {
		return fail("newest segment ends at %s", bound)
	}
	// -e bounds the read by what exists: past it pg_waldump would wait
	// for the next segment to appear (ten times half a second).
	out, err := d.runOwner(ctx, nil, "env", "LC_ALL=C", "LANG=C", d.pgBin("pg_waldump"), "-q",
		"-p", d.dataPath("pg_wal"), "-t", fmt.Sprint(tli), "-s", start.String(), "-e", bound.String())
	if err == nil {
		return bound, nil
	}
	lastLine := strings.TrimSpace(out)
	if i := strings.LastIndexByte(lastLine, '\n'); i >= 0 {
		lastLine = lastLine[i+1:]
	}
	var end LSN
	if m := walEndLength.FindStringSubmatch(lastLine); m != nil {
		end, err = ParseLSN(m[1])
		if err != nil {
			return fail("%q: %v", lastLine, err)
		}
	} else if m := walEndPage.FindStringSubmatch(lastLine); m != nil {
		seg, ok := segmentNo(m[1], tli, segSize)
		off, perr := strconv.ParseUint(m[2], 10, 64)
		if !ok || perr != nil || off >= segSize {
			return fail("%q: not a segment of the timeline", lastLine)
		}
		end = LSN(seg*segSize + off)
	} else {
		return fail("not an end of WAL: %v", err)
	}
	if end < start || end > bound {
		return fail("end %s outside %s..%s", end, start, bound)
	}
	return end, nil
}

// segmentNo is the segment number of a WAL segment file name of timeline
// tli (segmentStart's first LSN over the segment size).
func segmentNo(name string, tli uint32, segSize uint64) (uint64, bool) {
	t, start, err := segmentStart(name, int64(segSize))
	if err != nil || t != tli {
		return 0, false
	}
	return uint64(start) / segSize, true
}

// walNames lists pg_wal, as the service owner if this process may not.
func (d *DB) walNames(ctx context.Context) ([]string, error) {
	dir := d.dataPath("pg_wal")
	ents, err := os.ReadDir(dir)
	switch {
	case err == nil:
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		return names, nil
	case errors.Is(err, os.ErrPermission):
		out, err := d.runOwner(ctx, nil, "ls", "-1", dir)
		if err != nil {
			return nil, fmt.Errorf("list %s as %s: %w", dir, d.cfg.ServiceOwner, err)
		}
		return strings.Fields(out), nil
	default:
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
}
