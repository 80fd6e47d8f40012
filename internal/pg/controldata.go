package pg

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"strings"
)

// ControlData is what a rejoin needs from pg_control, read with
// pg_controldata, which works whether or not the server runs (a stopped,
// fenced old primary has no SQL to ask).
type ControlData struct {
	SystemIdentifier string
	// State is "Database cluster state": "shut down", "shut down in
	// recovery", "in production", "in archive recovery", "in crash
	// recovery", "shutting down"...
	State string
	// Checkpoint is the latest checkpoint's location, CheckpointTLI its
	// timeline.
	Checkpoint    LSN
	CheckpointTLI uint32
	// MinRecoveryEnd is "Minimum recovery ending location" and its
	// timeline (0/0 and 0 on a server that was a primary).
	MinRecoveryEnd    LSN
	MinRecoveryEndTLI uint32
	// DataChecksums: "Data page checksum version" is not 0.
	DataChecksums bool
	// WALLogHints is the wal_log_hints the server last ran with.
	WALLogHints bool
	// SegmentSize is "Bytes per WAL segment" (0 if not shown).
	SegmentSize uint64
}

// CleanlyShutDown tells whether pg_rewind can use the directory as it is:
// the server stopped with a shutdown checkpoint (as a primary or in
// recovery).
func (c ControlData) CleanlyShutDown() bool {
	return c.State == "shut down" || c.State == "shut down in recovery"
}

// WasStandby tells whether the server last ran in recovery.
func (c ControlData) WasStandby() bool {
	return strings.Contains(c.State, "recovery")
}

// Timeline is the newest timeline the control file knows, as pg_rewind
// reckons it: the checkpoint's, or the minimum recovery point's when that
// is newer (a standby that replayed into a new timeline).
func (c ControlData) Timeline() uint32 { return max(c.CheckpointTLI, c.MinRecoveryEndTLI) }

// End is where the directory's WAL ends as far as pg_control tells: the
// latest checkpoint (for a clean shutdown, the shutdown checkpoint is the
// last record) or the minimum recovery point, whichever is later. For an
// unclean shutdown WAL may go on beyond it.
func (c ControlData) End() LSN { return max(c.Checkpoint, c.MinRecoveryEnd) }

// ControlData runs pg_controldata on the data directory as the service
// owner, with the C locale so the labels are the English ones parsed here.
func (d *DB) ControlData(ctx context.Context) (ControlData, error) {
	out, err := d.runOwner(ctx, nil, "env", "LC_ALL=C", "LANG=C", d.pgBin("pg_controldata"), "-D", d.cfg.DataDir)
	if err != nil {
		return ControlData{}, fmt.Errorf("pg_controldata of %s (%s): %w", d.cfg.Node, d.cfg.DataDir, err)
	}
	cd, err := parseControlData(out)
	if err != nil {
		return ControlData{}, fmt.Errorf("pg_controldata of %s (%s): %w", d.cfg.Node, d.cfg.DataDir, err)
	}
	return cd, nil
}

func parseControlData(out string) (ControlData, error) {
	fields := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok {
			fields[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	var cd ControlData
	var errs []string
	need := func(k string) string {
		v, ok := fields[k]
		if !ok {
			errs = append(errs, fmt.Sprintf("no %q line", k))
		}
		return v
	}
	lsn := func(k string) LSN {
		v := need(k)
		if v == "" {
			return InvalidLSN
		}
		l, err := ParseLSN(v)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", k, err))
		}
		return l
	}
	tli := func(k string) uint32 {
		v := need(k)
		if v == "" {
			return 0
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", k, err))
		}
		return uint32(n)
	}
	cd.SystemIdentifier = need("Database system identifier")
	cd.State = need("Database cluster state")
	cd.Checkpoint = lsn("Latest checkpoint location")
	cd.CheckpointTLI = tli("Latest checkpoint's TimeLineID")
	cd.MinRecoveryEnd = lsn("Minimum recovery ending location")
	cd.MinRecoveryEndTLI = tli("Min recovery ending loc's timeline")
	cd.DataChecksums = need("Data page checksum version") != "0"
	cd.WALLogHints = need("wal_log_hints setting") == "on"
	if v, ok := fields["Bytes per WAL segment"]; ok {
		cd.SegmentSize, _ = strconv.ParseUint(v, 10, 64)
	}
	if len(errs) > 0 {
		return ControlData{}, fmt.Errorf("unexpected output (%s)", strings.Join(errs, "; "))
	}
	return cd, nil
}

// CheckRewindable tells whether pg_rewind can work on this node's data
// directory (auto.rewind): it needs wal_log_hints=on or data checksums,
// else pg_rewind refuses and a rejoin can only rebuild from a base backup.
// It reads both without a running server: wal_log_hints as the server
// will start with it (postgres -C, as the service owner), checksums from
// pg_controldata. A node without a database yet (no PG_VERSION) passes:
// there is nothing to rewind until efm create-standby builds one.
func (d *DB) CheckRewindable(ctx context.Context) error {
	ok, err := d.ownerFileExists(ctx, d.dataPath("PG_VERSION"))
	if err != nil || !ok {
		return err
	}
	cd, err := d.ControlData(ctx)
	if err != nil {
		return err
	}
	if cd.DataChecksums {
		return nil
	}
	hints, err := d.currentSetting(ctx, false, "wal_log_hints")
	if err != nil {
		return err
	}
	if hints != "on" {
		return fmt.Errorf("pg_rewind needs wal_log_hints=on or data checksums, and %s has wal_log_hints=%s and no checksums: set wal_log_hints = on in %s/postgresql.conf and restart it (or set auto.rewind=false)",
			d.cfg.DataDir, hints, d.cfg.ConfigDir)
	}
	return nil
}
