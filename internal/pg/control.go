package pg

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// StopMode is pg_ctl's shutdown mode.
type StopMode string

const (
	// StopFast rolls back open transactions and writes a shutdown
	// checkpoint: the normal way to stop a database being reconfigured.
	StopFast StopMode = "fast"
	// StopImmediate quits at once (crash recovery on the next start): for
	// fencing, where getting writes stopped now matters more than a clean
	// shutdown.
	StopImmediate StopMode = "immediate"
	// StopKill sends SIGKILL to the postmaster's whole process group (with
	// db.service.name: systemctl kill --signal=SIGKILL), for a server that
	// does not react to an immediate shutdown (a frozen or wedged
	// postmaster). Backends die with it, so none can commit afterwards.
	StopKill StopMode = "kill"
)

func (d *DB) pgBin(name string) string {
	if d.cfg.BinDir == "" {
		return name
	}
	return filepath.Join(d.cfg.BinDir, name)
}

// ctlSeconds is pg_ctl's own -t wait, a little under our deadline (ctx's
// or CtlTimeout) so pg_ctl reports its own failure before we kill it.
func (d *DB) ctlSeconds(ctx context.Context) string {
	budget := d.cfg.CtlTimeout
	if dl, ok := ctx.Deadline(); ok {
		budget = min(budget, time.Until(dl))
	}
	return strconv.Itoa(max(int(budget/time.Second)-1, 1))
}

// Running reports whether the postmaster of the data directory runs
// (pg_ctl status: 0 running, 3 not running).
func (d *DB) Running(ctx context.Context) (bool, error) {
	_, err := d.runOwner(ctx, nil, d.pgBin("pg_ctl"), "status", "-D", d.cfg.ConfigDir)
	if err == nil {
		return true, nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 3 {
		return false, nil
	}
	return false, fmt.Errorf("status of database %s (%s): %w", d.cfg.Node, d.cfg.ConfigDir, err)
}

// Stop shuts the database down and waits until it is gone. Stopping a
// stopped database is not an error: fencing must be idempotent.
func (d *DB) Stop(ctx context.Context, mode StopMode) error {
	start := time.Now()
	var err error
	if d.cfg.ServiceName != "" {
		err = d.stopService(ctx, mode)
	} else {
		var running bool
		running, err = d.Running(ctx)
		switch {
		case err != nil || !running:
		case mode == StopKill:
			err = d.killPostmaster(ctx)
		default:
			_, err = d.runOwner(ctx, nil, d.pgBin("pg_ctl"), "stop", "-D", d.cfg.ConfigDir, "-m", string(mode), "-w", "-t", d.ctlSeconds(ctx))
		}
	}
	if err != nil {
		return fmt.Errorf("stop database %s (%s, mode %s): %w", d.cfg.Node, d.cfg.DataDir, mode, err)
	}
	// The connection died with the server.
	_ = d.Close(ctx)
	d.log.Info("database stopped", "mode", mode, "took", time.Since(start))
	return nil
}

func (d *DB) stopService(ctx context.Context, mode StopMode) error {
	if mode == StopKill {
		if err := d.systemctl(ctx, "kill", "--signal=SIGKILL", d.cfg.ServiceName); err != nil {
			return err
		}
	}
	if mode == StopImmediate {
		// SIGQUIT to the postmaster is PostgreSQL's immediate shutdown.
		if err := d.systemctl(ctx, "kill", "--kill-whom=main", "--signal=SIGQUIT", d.cfg.ServiceName); err != nil {
			d.log.Warn("immediate stop through systemctl kill failed; falling back to stop", "err", err)
		}
	}
	return d.systemctl(ctx, "stop", d.cfg.ServiceName)
}

// systemctl runs systemctl directly as root, through sudo -n otherwise.
func (d *DB) systemctl(ctx context.Context, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.CtlTimeout)
	defer cancel()
	argv := append([]string{"systemctl"}, args...)
	if os.Geteuid() != 0 {
		argv = append([]string{"sudo", "-n"}, argv...)
	}
	out, err := d.command(ctx, argv).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %w: %s", argv, err, tail(string(out), 500))
	}
	return nil
}

// Start starts the database (unless it already runs) and then keeps trying
// to connect for RestartConnectionTimeout, as EFM does after a start.
func (d *DB) Start(ctx context.Context) error {
	start := time.Now()
	var err error
	if d.cfg.ServiceName != "" {
		if gone, _ := d.PostmasterGone(ctx); gone {
			d.clearPlaceholdersBeforeStart(ctx)
		}
		err = d.systemctl(ctx, "start", d.cfg.ServiceName)
	} else {
		var running bool
		running, err = d.Running(ctx)
		if err == nil && !running {
			d.clearPlaceholdersBeforeStart(ctx)
			_, err = d.runOwner(ctx, nil, d.pgBin("pg_ctl"), "start", "-D", d.cfg.ConfigDir, "-w", "-t", d.ctlSeconds(ctx), "-l", d.cfg.LogFile)
		}
	}
	if err != nil {
		return fmt.Errorf("start database %s (%s): %w", d.cfg.Node, d.cfg.DataDir, err)
	}
	if err := d.WaitConnect(ctx, d.cfg.RestartConnectionTimeout); err != nil {
		return fmt.Errorf("start database %s (%s): %w", d.cfg.Node, d.cfg.DataDir, err)
	}
	d.log.Info("database started", "took", time.Since(start))
	return nil
}

// Restart restarts the database (fast shutdown) and waits for a connection.
func (d *DB) Restart(ctx context.Context) error {
	start := time.Now()
	var err error
	if d.cfg.ServiceName != "" {
		err = d.systemctl(ctx, "restart", d.cfg.ServiceName)
	} else {
		_, err = d.runOwner(ctx, nil, d.pgBin("pg_ctl"), "restart", "-D", d.cfg.ConfigDir, "-m", string(StopFast), "-w", "-t", d.ctlSeconds(ctx), "-l", d.cfg.LogFile)
	}
	_ = d.Close(ctx)
	if err != nil {
		return fmt.Errorf("restart database %s (%s): %w", d.cfg.Node, d.cfg.DataDir, err)
	}
	if err := d.WaitConnect(ctx, d.cfg.RestartConnectionTimeout); err != nil {
		return fmt.Errorf("restart database %s (%s): %w", d.cfg.Node, d.cfg.DataDir, err)
	}
	d.log.Info("database restarted", "took", time.Since(start))
	return nil
}

// WaitConnect polls Ping until it succeeds or timeout passes.
func (d *DB) WaitConnect(ctx context.Context, timeout time.Duration) error {
	var last error
	err := pollUntil(ctx, timeout, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		last = d.Ping(ctx)
		return last == nil, nil
	})
	if err != nil {
		return fmt.Errorf("no connection to %s within %s: %w (last error: %v)", d.cfg.Node, timeout, err, last)
	}
	return nil
}

// pollUntil calls cond every period until it reports done, returns an
// error, or timeout (on top of ctx) expires.
func pollUntil(ctx context.Context, timeout, period time.Duration, cond func(context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		done, err := cond(ctx)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
