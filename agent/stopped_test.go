package agent

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/openefm/efm/internal/core"
	"github.com/openefm/efm/internal/pg"
)

// stoppedDB is a database nobody listens for: the connection is refused,
// gone says whether a postmaster is certainly absent, and ReadStopped
// answers dir or err.
type stoppedDB struct {
	noDB
	gone  bool
	dir   core.StoppedDB
	err   error
	reads int
}

func (d *stoppedDB) Probe(context.Context) (dbStatus, error) {
	return dbStatus{}, &net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}
}
func (d *stoppedDB) PostmasterGone(context.Context) (bool, string) { return d.gone, "test" }
func (d *stoppedDB) ReadStopped(context.Context) (core.StoppedDB, error) {
	d.reads++
	return d.dir, d.err
}

// TestProbeReadsStoppedDirectory: a probe for a vote that finds the server
// certainly gone reports what its data directory says; one in doubt, or a
// routine check, does not read it, and a failed read is reported as
// nothing known, with the error.
func TestProbeReadsStoppedDirectory(t *testing.T) {
	dir := core.StoppedDB{Read: true, State: core.ClusterShutDown, CheckpointLSN: 0x818080, CheckpointTimeline: 1}
	tests := []struct {
		name    string
		db      *stoppedDB
		routine bool // a routine check, not one for a vote
		want    core.StoppedDB
		reads   int
		errPart string
	}{
		{name: "gone: read", db: &stoppedDB{gone: true, dir: dir}, want: dir, reads: 1},
		{name: "gone, a routine check: not read (too slow for every check)", db: &stoppedDB{gone: true, dir: dir}, routine: true, reads: 0},
		{name: "postmaster in doubt: not read", db: &stoppedDB{gone: false, dir: dir}, reads: 0},
		{name: "gone, read failed: nothing known", db: &stoppedDB{gone: true, err: errors.New("pg_controldata: boom")}, reads: 1, errPart: "pg_controldata: boom"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &shell{log: slog.New(slog.DiscardHandler), db: tc.db}
			ev := s.probeLocal(context.Background(), core.ProbeLocalDB{Seq: 7, ReadStopped: !tc.routine}).(core.LocalDBProbe)
			if ev.Reachable || ev.Gone != tc.db.gone || ev.Stopped != tc.want || tc.db.reads != tc.reads {
				t.Fatalf("probe %+v after %d reads; want gone %v, stopped %+v, %d reads", ev, tc.db.reads, tc.db.gone, tc.want, tc.reads)
			}
			if !strings.Contains(ev.Err, tc.errPart) {
				t.Fatalf("error %q, want it to name %q", ev.Err, tc.errPart)
			}
		})
	}
}

// TestToStopped: every pg_control field the core reads is carried over.
func TestToStopped(t *testing.T) {
	got := toStopped(pg.StoppedDir{NewestHistory: 3, BackupLabel: true, WALEnd: 30, WALEndWhy: "why", Control: pg.ControlData{State: "in production",
		Checkpoint: 10, CheckpointTLI: 2, MinRecoveryEnd: 20, MinRecoveryEndTLI: 1}})
	want := core.StoppedDB{Read: true, State: core.ClusterInProduction, CheckpointLSN: 10, CheckpointTimeline: 2,
		MinRecoveryLSN: 20, MinRecoveryTimeline: 1, NewestHistory: 3, BackupLabel: true, WALEnd: 30, WALEndWhy: "why"}
	if got != want {
		t.Fatalf("%+v, want %+v", got, want)
	}
}
