package pg

import (
	"context"
	"fmt"
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
	saved := map[string][]byte{}
	for _, f := range perNodeFiles {
		b, err := d.readOwnerFile(ctx, d.dataPath(f))
		if err != nil {
			return err
		}
		if b != nil {
			saved[f] = b
		}
	}
	var rewindErr error
	argv := []string{d.pgBin("pg_rewind"), "--target-pgdata=" + d.cfg.DataDir, "--source-server=" + source}
	out, err := d.runOwner(ctx, nil, append(argv, "--dry-run")...)
	if err != nil {
		return fmt.Errorf("dry run (nothing changed): %w", err)
	}
	d.log.Info("pg_rewind dry run passed", "output", tail(out, 300))
	out, rewindErr = d.runOwner(ctx, nil, argv...)
	// Put the node's own configuration back whatever happened: a failed
	// rewind may already have copied the source's files.
	for f, b := range saved {
		if err := d.writeOwnerFile(ctx, d.dataPath(f), b); err != nil {
			return fmt.Errorf("restore own %s after pg_rewind (rewind error: %v): %w", f, rewindErr, err)
		}
	}
	if rewindErr != nil {
		return rewindErr
	}
	d.log.Info("pg_rewind finished", "output", tail(out, 300))
	return d.WriteStandbySignal(ctx)
}
