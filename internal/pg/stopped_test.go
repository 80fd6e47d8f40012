package pg

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// killPostmaster kill -9s in's postmaster and waits until no postmaster of
// its data directory is left.
func (in *instance) killPostmaster() {
	in.t.Helper()
	b, err := os.ReadFile(filepath.Join(in.dir, "postmaster.pid"))
	if err != nil {
		in.t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.SplitN(string(b), "\n", 2)[0])
	if err != nil {
		in.t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		in.t.Fatal(err)
	}
	waitFor(in.t, 10*time.Second, "the killed postmaster of "+in.name+" to be gone", func() (bool, error) {
		gone, _ := in.db.PostmasterGone(context.Background())
		return gone, nil
	})
}

// TestReadStoppedRealServer: what ReadStopped finds in a real PG 15 data
// directory stopped cleanly, immediately and by kill -9, as a primary, as a
// standby, and as a standby promoted and killed at once.
func TestReadStoppedRealServer(t *testing.T) {
	requirePG(t)
	base := baseDir(t)
	a := startPrimary(t, base, "stopa")
	b := startStandby(t, base, "stopb", a)
	ctx := context.Background()
	read := func(in *instance, state string) StoppedDir {
		t.Helper()
		s, err := in.db.ReadStopped(ctx)
		if err != nil {
			t.Fatalf("%s: %v", in.name, err)
		}
		t.Logf("%s stopped: %+v", in.name, s)
		if s.Control.State != state || s.BackupLabel && in.name != "stopnew" {
			t.Fatalf("%s: state %q, want %q", in.name, s.Control.State, state)
		}
		return s
	}

	if _, err := a.db.ReadStopped(ctx); err == nil || !strings.Contains(err.Error(), "may be running") {
		t.Fatalf("running primary: %v, want a refusal to read", err)
	}

	// A base backup never started: pg_control is the running primary's
	// copy ("in production"), and backup_label says so.
	nb := newInstance(t, base, "stopnew")
	if out, err := asPostgres(t, 60*time.Second, filepath.Join(pgBinDir, "pg_basebackup"), "-h", "127.0.0.1",
		"-p", strconv.Itoa(a.port), "-U", "postgres", "-D", nb.dir, "-R", "-X", "stream", "-c", "fast", "--no-sync"); err != nil {
		t.Fatalf("pg_basebackup: %v: %s", err, out)
	}
	if s := read(nb, "in production"); !s.BackupLabel {
		t.Fatalf("base backup not started: no backup_label seen")
	}

	// A clean stop of the primary: no WAL carries data past the shutdown
	// checkpoint, which starts at or after the last insert position.
	a.mustSQL("CREATE TABLE t (x int)")
	a.mustSQL("INSERT INTO t VALUES (1)")
	written := mustLSN(t, a.mustSQL("SELECT pg_current_wal_insert_lsn()"))
	waitReplayed(t, a, b)
	a.pgctl("-m", "fast", "-w", "stop")
	s := read(a, "shut down")
	if s.WALEnd != 0 || s.WALEndWhy != "not a standby" {
		t.Fatalf("primary stopped: WAL end %s (%s), want none read", s.WALEnd, s.WALEndWhy)
	}
	if s.Control.Checkpoint < written || s.Control.CheckpointTLI != 1 || s.NewestHistory != 0 {
		t.Fatalf("clean stop: checkpoint %d/%s, history %d; want timeline 1 at or past %s, no history", s.Control.CheckpointTLI, s.Control.Checkpoint, s.NewestHistory, written)
	}
	a.start()

	// The standby, stopped cleanly and immediately (no checkpoint, as a
	// crash leaves it; the kill -9 cases come last: without a reaping
	// init here, a killed postmaster's zombie blocks a restart).
	// pg_wal's valid WAL ends at or past what it received (every
	// acknowledged commit), and not past what the primary wrote.
	walEnd := func(state string, switchWAL bool) {
		t.Helper()
		a.mustSQL("INSERT INTO t SELECT generate_series(1, 1000)")
		if switchWAL {
			// The WAL ends at a segment's end: no next segment yet, or
			// a recycled one.
			a.mustSQL("SELECT pg_switch_wal()")
		}
		waitReplayed(t, a, b)
		received := mustLSN(t, b.mustSQL("SELECT pg_last_wal_receive_lsn()"))
		if state == "shut down in recovery" {
			b.pgctl("-m", "fast", "-w", "stop")
		} else {
			b.pgctl("-m", "immediate", "-w", "stop")
		}
		s := read(b, state)
		flushed := mustLSN(t, a.mustSQL("SELECT pg_current_wal_flush_lsn()"))
		if s.WALEnd == 0 || s.WALEnd < received || s.WALEnd > flushed {
			t.Fatalf("%s: WAL end %s (%s); want at or past %s received, at most %s flushed on the primary", state, s.WALEnd, s.WALEndWhy, received, flushed)
		}
		t.Logf("measured: %s: received %s, WAL end read %s, primary flushed %s", state, received, s.WALEnd, flushed)
		b.start()
	}
	walEnd("shut down in recovery", false)
	walEnd("in archive recovery", false)
	walEnd("in archive recovery", true)
	walEnd("in archive recovery", true)

	// kill -9 of the primary: "in production", its end unknown.
	waitReplayed(t, a, b)
	a.killPostmaster()
	read(a, "in production")

	// Promoted, killed before anything else: "in production" on the new
	// timeline, which the history file shows whatever pg_control's
	// checkpoint timeline still is.
	b.pgctl("-w", "promote")
	b.killPostmaster()
	s = read(b, "in production")
	if s.NewestHistory != 2 || max(s.Control.CheckpointTLI, s.NewestHistory) != 2 {
		t.Fatalf("promoted and killed: checkpoint timeline %d, newest history %d; want history 2", s.Control.CheckpointTLI, s.NewestHistory)
	}
	t.Logf("measured: promoted and killed at once, pg_control's checkpoint timeline was %d", s.Control.CheckpointTLI)
}
