package pg

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// perNodeFiles are this node's own configuration. pg_rewind (and
// pg_basebackup) copy them from the source, which would give the node the
// source's port, listen address, socket directory and stale slot name
// (field-notes: measured), so Rewind puts the node's own versions back.
var perNodeFiles = []string{"postgresql.conf", "pg_hba.conf", "pg_ident.conf", autoConfName}

// Rewind rebuilds this (old, diverged) primary from the new primary with
// pg_rewind so it can rejoin as a standby: stop (fast; pg_rewind itself runs
// crash recovery on an unclean target), a --dry-run first so a hopeless
// rewind changes nothing, the real run, then this node's own configuration
// files restored and standby.signal written. The database is left stopped;
// follow with FollowAsStandby to set primary_conninfo and start it.
//
// sourceConninfo is a libpq connection string to the new primary (a role
// with superuser or pg_rewind's grants). The new primary should have run a
// CHECKPOINT after promotion (Promote does), or pg_rewind sees the old
// timeline and concludes no rewind is needed.
func (d *DB) Rewind(ctx context.Context, sourceConninfo string) error {
	start := time.Now()
	if err := d.rewind(ctx, sourceConninfo); err != nil {
		return fmt.Errorf("pg_rewind %s (%s): %w", d.cfg.Node, d.cfg.DataDir, err)
	}
	d.log.Info("database rewound", "took", time.Since(start))
	return nil
}

func (d *DB) rewind(ctx context.Context, source string) error {
	if err := d.Stop(ctx, StopFast); err != nil {
		return err
	}
	_, err := d.rewindFrom(ctx, source)
	return err
}

// rewindFrom runs pg_rewind on the stopped, cleanly shut down data
// directory: a --dry-run first, so a hopeless rewind changes nothing, then
// the real run (extra arguments go to both), this node's own
// configuration files put back whatever happened, and standby.signal. It
// returns pg_rewind's output ("no rewind required" when the directory
// was already on the source's history).
func (d *DB) rewindFrom(ctx context.Context, source string, extra ...string) (string, error) {
	saved, err := d.saveOwnFiles(ctx)
	if err != nil {
		return "", err
	}
	argv := append([]string{d.pgBin("pg_rewind"), "--target-pgdata=" + d.cfg.DataDir, "--source-server=" + source}, extra...)
	out, err := d.runOwnerLong(ctx, append(argv, "--dry-run")...)
	if err != nil {
		return out, fmt.Errorf("dry run (nothing changed): %w", err)
	}
	d.log.Info("pg_rewind dry run passed", "output", tail(out, 300))
	out, rewindErr := d.runOwnerLong(ctx, argv...)
	// Put the node's own configuration back whatever happened: a failed
	// rewind may already have copied the source's files.
	if err := d.restoreOwnFiles(ctx, saved); err != nil {
		return out, fmt.Errorf("restore own configuration after pg_rewind (rewind error: %v): %w", rewindErr, err)
	}
	if rewindErr != nil {
		return out, rewindErr
	}
	d.log.Info("pg_rewind finished", "output", tail(out, 300))
	return out, d.WriteStandbySignal(ctx)
}

// saveOwnFiles reads this node's own configuration files (perNodeFiles)
// from the data directory.
func (d *DB) saveOwnFiles(ctx context.Context) (map[string][]byte, error) {
	saved := map[string][]byte{}
	for _, f := range perNodeFiles {
		b, err := d.readOwnerFile(ctx, d.dataPath(f))
		if err != nil {
			return nil, err
		}
		if b != nil {
			saved[f] = b
		}
	}
	return saved, nil
}

// restoreOwnFiles writes back what saveOwnFiles read.
func (d *DB) restoreOwnFiles(ctx context.Context, saved map[string][]byte) error {
	for f, b := range saved {
		if err := d.writeOwnerFile(ctx, d.dataPath(f), b); err != nil {
			return fmt.Errorf("restore own %s: %w", f, err)
		}
	}
	return nil
}

func (r *rejoin) rewind(ctx context.Context) error {
	d, plan := r.d, r.plan
	if err := r.step(ctx, "checkpoint new primary", func(ctx context.Context) (string, error) {
		// A freshly promoted primary's control file may still show the
		// old timeline; pg_rewind would then see no divergence.
		return "CHECKPOINT on " + plan.Host, plan.Primary.Checkpoint(ctx)
	}); err != nil {
		return err
	}
	src, err := r.sourceConninfo(true)
	if err != nil {
		return err
	}
	var extra []string
	if rc, err := d.currentSetting(ctx, false, "restore_command"); err == nil && rc != "" {
		// WAL the target recycled since the fork point comes from its
		// archive.
		extra = append(extra, "--restore-target-wal")
	}
	fetched := map[string]bool{}
	for {
		var out string
		err := r.step(ctx, "pg_rewind", func(ctx context.Context) (string, error) {
			var err error
			out, err = d.rewindFrom(ctx, src, extra...)
			return tail(out, 300), err
		})
		seg := missingSegment(out)
		if err == nil || seg == "" || fetched[seg] || len(fetched) >= maxFetchedSegments {
			return err
		}
		// The dry run found a WAL segment missing (recycled since the
		// fork point): take it from the new primary when it lies wholly
		// before the fork point, where both histories are the same.
		if ferr := r.step(ctx, "fetch WAL from new primary", func(ctx context.Context) (string, error) {
			return r.fetchSegment(ctx, seg)
		}); ferr != nil {
			return fmt.Errorf("%w; and the missing WAL could not be fetched from %s: %v", err, plan.Host, ferr)
		}
		fetched[seg] = true
	}
}

// maxFetchedSegments bounds the dry-run/fetch rounds: every round finds
// one missing segment, and a rewind that needs more is cheaper as a base
// backup.
const maxFetchedSegments = 64

var missingSegmentRE = regexp.MustCompile(`could not open file "[^"]*pg_wal/([0-9A-F]{24})"`)

// missingSegment is the WAL segment pg_rewind's output says it could not
// open in the target's pg_wal, or "".
func missingSegment(out string) string {
	if m := missingSegmentRE.FindStringSubmatch(out); m != nil {
		return m[1]
	}
	return ""
}

// fetchSegment copies WAL segment seg from the new primary's pg_wal
// (pg_read_binary_file: superuser or pg_read_server_files) into this
// node's. Only a segment of this node's timeline that ends at or before
// the fork point is taken: its contents are the same on both, while a
// segment reaching past the fork point holds WAL only this node had, and a
// copy would hide that WAL from pg_rewind.
func (r *rejoin) fetchSegment(ctx context.Context, seg string) (string, error) {
	d, primary := r.d, r.plan.Primary
	var size int64
	if err := primary.queryRow(ctx, "read wal_segment_size", "SELECT setting::bigint FROM pg_settings WHERE name = 'wal_segment_size'", nil, &size); err != nil {
		return "", err
	}
	tli, start, err := segmentStart(seg, size)
	if err != nil {
		return "", err
	}
	fork, ok := forkPoint(r.primary.History, tli)
	switch {
	case tli != r.local.TLI || !ok:
		return "", fmt.Errorf("segment %s: timeline %d is not this node's timeline %d in %s's history: not taken", seg, tli, r.local.TLI, r.plan.Host)
	case start+LSN(size) > fork:
		return "", fmt.Errorf("segment %s (%s to %s) reaches past the fork point %s: only this node had that WAL", seg, start, start+LSN(size), fork)
	}
	var b []byte
	if err := primary.queryRow(ctx, "read "+seg, "SELECT pg_read_binary_file($1)", []any{"pg_wal/" + seg}, &b); err != nil {
		return "", err
	}
	if int64(len(b)) != size {
		return "", fmt.Errorf("segment %s from %s has %d bytes, want %d", seg, r.plan.Host, len(b), size)
	}
	if err := d.writeOwnerFile(ctx, d.dataPath("pg_wal/"+seg), b); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s (%s to %s, before the fork point %s) copied from %s", seg, start, start+LSN(size), fork, r.plan.Host), nil
}

// segmentStart parses a WAL segment file name into its timeline and first
// LSN, for segments of size bytes.
func segmentStart(seg string, size int64) (uint32, LSN, error) {
	if len(seg) != 24 || size <= 0 || size > 1<<32 {
		return 0, 0, fmt.Errorf("WAL segment name %q (segment size %d)", seg, size)
	}
	var v [3]uint64
	for i := range v {
		n, err := strconv.ParseUint(seg[8*i:8*i+8], 16, 32)
		if err != nil {
			return 0, 0, fmt.Errorf("WAL segment name %q: %w", seg, err)
		}
		v[i] = n
	}
	perID := uint64(1<<32) / uint64(size)
	if v[2] >= perID {
		return 0, 0, fmt.Errorf("WAL segment name %q: segment %X past the %d a log id holds", seg, v[2], perID)
	}
	return uint32(v[0]), LSN((v[1]*perID + v[2]) * uint64(size)), nil
}

// forkPoint is where timeline tli ended in a history.
func forkPoint(history []TimelineSwitch, tli uint32) (LSN, bool) {
	for _, sw := range history {
		if sw.TLI == tli {
			return sw.End, true
		}
	}
	return InvalidLSN, false
}
