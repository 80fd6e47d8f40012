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

// Promote turns this standby into a primary: pg_promote (or pg_ctl promote
// when the role may not call pg_promote), repeated every promoteNudge until
// pg_is_in_recovery() is false, polled every RecoveryCheckPeriod (at most
// 100 ms), within CtlTimeout; then CHECKPOINT so the control file shows the new
// timeline at once (pg_rewind of the old primary needs that; see
// CloudNativePG's PromoteAndWait). Replay is resumed first: a paused
// startup process notices a promotion request only on its 1 s wake-up
// (measured: 1.1 s instead of 0.1 s), while a resume wakes it at once.
//
// A failed CHECKPOINT is logged, not returned: the node is a primary by
// then, and the caller must treat it as one.
func (d *DB) Promote(ctx context.Context, atLeast uint32) error {
	if err := d.PromoteOnly(ctx, atLeast); err != nil {
		return err
	}
	d.CheckpointAfterPromotion(ctx)
	return nil
}

// CheckpointAfterPromotion is Promote's CHECKPOINT, for a caller that
// makes the promoted server reachable (the VIP) first: writes need not
// wait for it. A failure is logged.
func (d *DB) CheckpointAfterPromotion(ctx context.Context) {
	start := time.Now()
	if err := d.Checkpoint(ctx); err != nil {
		d.log.Warn("CHECKPOINT after promotion failed; pg_rewind against this node may fail until the next checkpoint", "err", err)
		return
	}
	d.log.Info("checkpoint after promotion", "took", time.Since(start))
}

// PromoteOnly is Promote without the CHECKPOINT after it: the caller runs
// CheckpointAfterPromotion once the new primary is reachable. The new
// timeline is atLeast or above (reserveTimelines; 0: PostgreSQL's own
// choice); a reservation that cannot be made fails the promotion before it
// is asked for.
func (d *DB) PromoteOnly(ctx context.Context, atLeast uint32) error {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, d.cfg.CtlTimeout)
	defer cancel()
	if _, err := d.reserveTimelines(ctx, atLeast); err != nil {
		return fmt.Errorf("promote %s (%s): %w", d.cfg.Node, d.cfg.DataDir, err)
	}
	if err := d.ResumeReplay(ctx); err != nil {
		// Not fatal: the promotion still ends a paused recovery, only
		// slower; and on a primary it fails below with a clearer error.
		d.log.Warn("resume replay before promotion failed", "err", err)
	}
	var signalled time.Time
	signals := 0
	// Poll at least every 100 ms, whatever recovery.check.period says: the
	// check is one cheap query, and every poll period is failover time.
	poll := min(d.cfg.RecoveryCheckPeriod, 100*time.Millisecond)
	err := pollUntil(ctx, d.cfg.CtlTimeout, poll, func(ctx context.Context) (bool, error) {
		if time.Since(signalled) >= promoteNudge {
			signalled = time.Now()
			err := d.signalPromotion(ctx)
			var pgErr *pgconn.PgError
			switch {
			case err == nil || signals > 0:
				signals++
			case errors.As(err, &pgErr):
				// Refused by the server (not in recovery, no privilege
				// and no pg_ctl): promotion cannot happen.
				return false, err
			default:
				// No connection yet; keep trying until the deadline.
				d.log.Warn("promotion request failed; retrying", "err", err)
				return false, nil
			}
		}
		var inRecovery bool
		if err := d.queryRow(ctx, "pg_is_in_recovery", "SELECT pg_is_in_recovery()", nil, &inRecovery); err != nil {
			d.log.Warn("waiting for promotion", "err", err)
			return false, nil
		}
		return !inRecovery, nil
	})
	if err != nil {
		return fmt.Errorf("promote %s (%s): %w", d.cfg.Node, d.cfg.DataDir, err)
	}
	promoted := time.Since(start)
	// A signal racing the end of recovery can leave a "promote" file
	// behind; it must not promote this node the next time it is a standby.
	if err := d.removeOwnerFile(ctx, d.dataPath(promoteSignalName)); err != nil {
		d.log.Warn("removing leftover promote signal file", "err", err)
	}
	tli := uint32(0)
	if st, err := d.Probe(ctx); err == nil {
		tli = st.Timeline
	}
	if tli != 0 && tli < atLeast {
		d.log.Error("promoted to a timeline below the one the agents reserved; a later rejoin may refuse nodes of the same timeline ID",
			"timeline", tli, "reserved", atLeast)
	}
	d.log.Info("database promoted", "timeline", tli, "promoted_after", promoted, "signals", signals, "took", time.Since(start))
	return nil
}

// promoteNudge is how often a promotion that has not finished yet is
// signalled again. Measured on PostgreSQL 15: in about a third of runs, a
// standby whose wal receiver had just lost its primary logged "received
// promote request" and then still slept out wal_retrieve_retry_interval
// (5 s) before ending recovery. Signalling again wakes it: promotion then
// takes ~0.2-0.3 s instead of 5 s.
const promoteNudge = 150 * time.Millisecond

// promoteSignalName is the file pg_promote and pg_ctl promote leave for
// the startup process.
const promoteSignalName = "promote"

// signalPromotion asks for promotion without waiting: pg_promote(false),
// or pg_ctl promote when the role may not call pg_promote. Asking again
// while a promotion runs is harmless; once recovery has ended it fails
// with "recovery is not in progress", which the caller ignores after the
// first signal.
func (d *DB) signalPromotion(ctx context.Context) error {
	var ok bool
	err := d.queryRow(ctx, "pg_promote", "SELECT pg_promote(false)", nil, &ok)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42501" { // insufficient_privilege
		d.log.Info("pg_promote not permitted for this role; using pg_ctl promote", "err", pgErr.Message)
		_, err = d.runOwner(ctx, nil, d.pgBin("pg_ctl"), "promote", "-D", d.cfg.ConfigDir, "-W")
	}
	return err
}
