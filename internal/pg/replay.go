package pg

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// PauseReplay pauses WAL replay on a standby so its positions hold still
// while the promoter compares candidates (EFM's standby selection).
func (d *DB) PauseReplay(ctx context.Context) error {
	return d.exec(ctx, "pause WAL replay (pg_wal_replay_pause)", "SELECT pg_wal_replay_pause()")
}

// ResumeReplay resumes WAL replay on a standby.
func (d *DB) ResumeReplay(ctx context.Context) error {
	return d.exec(ctx, "resume WAL replay (pg_wal_replay_resume)", "SELECT pg_wal_replay_resume()")
}

// Checkpoint runs CHECKPOINT, allowed up to CtlTimeout: a checkpoint can
// legitimately take longer than an ordinary query.
func (d *DB) Checkpoint(ctx context.Context) error {
	err := d.withConnTimeout(ctx, false, d.cfg.CtlTimeout, func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, "CHECKPOINT")
		return err
	})
	if err != nil {
		return fmt.Errorf("CHECKPOINT on %s: %w", d.cfg.Node, err)
	}
	return nil
}

// Promote turns this standby into a primary: pg_promote(wait => true) (or
// pg_ctl promote when the role may not call pg_promote), then polls
// pg_is_in_recovery() every RecoveryCheckPeriod until it is false, within
// CtlTimeout, then runs CHECKPOINT so the control file shows the new
// timeline at once (pg_rewind of the old primary needs that; see
// CloudNativePG's PromoteAndWait). Replay is resumed first: a paused
// startup process notices a promotion request only on its 1 s wake-up
// (measured: 1.1 s instead of 0.1 s), while a resume wakes it at once.
//
// A failed CHECKPOINT is logged, not returned: the node is a primary by
// then, and the caller must treat it as one.
func (d *DB) Promote(ctx context.Context) error {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, d.cfg.CtlTimeout)
	defer cancel()
	if err := d.ResumeReplay(ctx); err != nil {
		// Not fatal: pg_promote below still ends a paused recovery, only
		// slower; and on a primary it fails with a clearer error.
		d.log.Warn("resume replay before promotion failed", "err", err)
	}
	if err := d.requestPromotion(ctx); err != nil {
		return fmt.Errorf("promote %s (%s): %w", d.cfg.Node, d.cfg.DataDir, err)
	}
	err := pollUntil(ctx, d.cfg.CtlTimeout, d.cfg.RecoveryCheckPeriod, func(ctx context.Context) (bool, error) {
		var inRecovery bool
		if err := d.queryRow(ctx, "pg_is_in_recovery", "SELECT pg_is_in_recovery()", nil, &inRecovery); err != nil {
			d.log.Warn("waiting for promotion", "err", err)
			return false, nil
		}
		return !inRecovery, nil
	})
	if err != nil {
		return fmt.Errorf("promote %s (%s): still in recovery: %w", d.cfg.Node, d.cfg.DataDir, err)
	}
	promoted := time.Since(start)
	if err := d.Checkpoint(ctx); err != nil {
		d.log.Warn("CHECKPOINT after promotion failed; pg_rewind against this node may fail until the next checkpoint", "err", err)
	}
	d.log.Info("database promoted", "promoted_after", promoted, "took", time.Since(start))
	return nil
}

// requestPromotion asks for promotion and waits up to QueryTimeout for it.
// A false result (still promoting after the wait) is left to the caller's
// polling.
func (d *DB) requestPromotion(ctx context.Context) error {
	wait := max(int((d.cfg.QueryTimeout-time.Second)/time.Second), 1)
	var ok bool
	err := d.withConnTimeout(ctx, false, time.Duration(wait+5)*time.Second, func(ctx context.Context, c *pgx.Conn) error {
		return c.QueryRow(ctx, "SELECT pg_promote(true, $1)", wait).Scan(&ok)
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42501" { // insufficient_privilege
		d.log.Info("pg_promote not permitted for this role; using pg_ctl promote", "err", pgErr.Message)
		_, err = d.runOwner(ctx, nil, d.pgBin("pg_ctl"), "promote", "-D", d.cfg.ConfigDir, "-w", "-t", d.ctlSeconds(ctx))
		return err
	}
	if err != nil {
		return fmt.Errorf("pg_promote: %w", err)
	}
	if !ok {
		d.log.Warn("pg_promote returned before promotion finished; polling", "wait_seconds", wait)
	}
	return nil
}
