package pg

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

// DetachReceiver ends this standby's WAL receiver, if one runs, and
// returns once its process is gone, so that its connection is closed and
// nothing more arrives on it. The startup process starts a new receiver
// later (after wal_retrieve_retry_interval) with the same settings.
//
// Why: a primary that died with WAL still in its replication connection's
// send buffer (its kernel keeps sending an orphaned socket's data) delivers
// that WAL when a cut link heals, possibly after this standby reported its
// position for a failover; once the connection is closed here, the rest
// is refused. Pausing replay does not stop the receiver.
//
// The receiver is signalled from outside (SIGTERM, as the postmaster does
// at shutdown): pg_terminate_backend cannot, it is an auxiliary process.
func (d *DB) DetachReceiver(ctx context.Context) error {
	var pid *int32
	err := d.queryRow(ctx, "read the WAL receiver's pid", "SELECT (SELECT pid FROM pg_stat_wal_receiver)", nil, &pid)
	if err != nil {
		return fmt.Errorf("detach the WAL receiver of %s: %w", d.cfg.Node, err)
	}
	if pid == nil || *pid <= 1 {
		return nil // no receiver: nothing can arrive
	}
	p := int(*pid)
	if err := d.checkServerProcess(p, "the WAL receiver"); err != nil {
		if processGone(p) {
			return nil // it exited meanwhile
		}
		return err
	}
	if os.Geteuid() == 0 {
		err = syscall.Kill(p, syscall.SIGTERM)
	} else {
		_, err = d.runOwner(ctx, nil, "kill", "-TERM", strconv.Itoa(p))
	}
	if err != nil && !errors.Is(err, syscall.ESRCH) && !processGone(p) {
		return fmt.Errorf("detach the WAL receiver of %s: SIGTERM to pid %d: %w", d.cfg.Node, p, err)
	}
	err = pollUntil(ctx, d.cfg.CtlTimeout, 5*time.Millisecond, func(context.Context) (bool, error) {
		return processGone(p), nil
	})
	if err != nil {
		return fmt.Errorf("detach the WAL receiver of %s: pid %d still alive after SIGTERM: %w", d.cfg.Node, p, err)
	}
	d.log.Info("WAL receiver detached", "pid", p)
	return nil
}
