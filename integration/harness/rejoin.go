package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Rewind turns a stopped old primary into a standby of source with
// pg_rewind (run inside p's host, over the network) and starts it. It runs
// CHECKPOINT on source first, so the control file shows the new timeline
// (field-notes: pg_rewind otherwise sees no divergence). The server's
// settings survive because postgresql.conf is the same on every host.
func (p *PG) Rewind(ctx context.Context, source *PG) error {
	start := time.Now()
	if err := source.Exec(ctx, "CHECKPOINT"); err != nil {
		return fmt.Errorf("rewinding %s: %w", p.Host.Name, err)
	}
	if _, err := p.Host.Run(ctx, p.pgEnv(), filepath.Join(p.Bin, "pg_rewind"),
		"--target-pgdata="+p.DataDir,
		"--source-server=host="+source.Host.Addr.String()+" port="+strconv.Itoa(PGPort)+" user=postgres dbname=postgres"); err != nil {
		return fmt.Errorf("pg_rewind of %s from %s: %w", p.Host.Name, source.Host.Name, err)
	}
	if err := p.MakeStandby(source); err != nil {
		return err
	}
	if err := p.Start(ctx); err != nil {
		return err
	}
	p.tb.Logf("harness: %s rewound from %s and started as its standby in %v", p.Host.Name, source.Host.Name, time.Since(start).Round(time.Millisecond))
	return nil
}

// MakeStandby writes standby.signal and a primary_conninfo following
// primary; the server must be stopped and becomes a standby at its next
// start.
func (p *PG) MakeStandby(primary *PG) error {
	sig := filepath.Join(p.DataDir, "standby.signal")
	if err := os.WriteFile(sig, nil, 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", sig, err)
	}
	if err := chownPostgres(sig); err != nil {
		return err
	}
	return p.SetPrimaryConninfo(primary.Host.Addr)
}

// WALPosition returns the server's WAL position as text: the current write
// LSN on a primary, the last received LSN on a standby (what decides which
// standby is the most up to date).
func (p *PG) WALPosition(ctx context.Context) (string, error) {
	return p.QueryString(ctx, "CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() ELSE pg_current_wal_lsn() END")
}

// Timeline returns the timeline of the last checkpoint (pg_control): a
// promoted server shows its new timeline once it has run CHECKPOINT.
func (p *PG) Timeline(ctx context.Context) (int, error) {
	s, err := p.QueryString(ctx, "SELECT timeline_id FROM pg_control_checkpoint()")
	if err != nil {
		return 0, err
	}
	tl, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("timeline of %s: %q: %w", p.Host.Name, s, err)
	}
	return tl, nil
}
