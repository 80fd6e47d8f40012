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
	if _, err := p.Host.Run(ctx, ProcOptions{AsPostgres: true}, filepath.Join(p.Bin, "pg_rewind"),
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
