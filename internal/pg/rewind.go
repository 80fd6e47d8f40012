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
