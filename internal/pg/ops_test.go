package pg

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestPauseResumeReplay(t *testing.T) {
	requirePG(t)
	t.Parallel()
	base := baseDir(t)
	a := startPrimary(t, base, "a")
	b := startStandby(t, base, "b", a)
	ctx := context.Background()
	a.mustSQL("CREATE TABLE t (v int)")
	waitReplayed(t, a, b)

	if err := b.db.PauseReplay(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := b.db.Probe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !st.ReplayPaused {
		t.Fatalf("replay not paused: %+v", st)
	}
	a.mustSQL("INSERT INTO t SELECT generate_series(1, 1000)")
	target := mustLSN(t, a.mustSQL("SELECT pg_current_wal_lsn()::text"))
	// Received moves on while replay holds still: positions are stable for
	// the candidate comparison.
	waitFor(t, 10*time.Second, "standby receiving "+target.String(), func() (bool, error) {
		st, err = b.db.Probe(ctx)
		return err == nil && st.ReceivedLSN >= target, err
	})
	if st.ReplayLSN >= target {
		t.Errorf("replay advanced to %s while paused (target %s)", st.ReplayLSN, target)
	}
	if n := b.mustSQL("SELECT count(*) FROM t"); n != "0" {
		t.Errorf("paused standby shows %s rows", n)
	}

	if err := b.db.ResumeReplay(ctx); err != nil {
		t.Fatal(err)
	}
	waitReplayed(t, a, b)
	if st, err := b.db.Probe(ctx); err != nil || st.ReplayPaused {
		t.Errorf("after resume: %+v, %v", st, err)
	}
	if n := b.mustSQL("SELECT count(*) FROM t"); n != "1000" {
		t.Errorf("resumed standby shows %s rows, want 1000", n)
	}
	if err := a.db.PauseReplay(ctx); err == nil {
		t.Error("pausing replay on a primary succeeded")
	}
}

func TestPromote(t *testing.T) {
	requirePG(t)
	t.Parallel()
	base := baseDir(t)
	a := startPrimary(t, base, "a")
	b := startStandby(t, base, "b", a)
	ctx := context.Background()
	a.mustSQL("CREATE TABLE t (v int)")
	waitReplayed(t, a, b)
	if err := a.db.Stop(ctx, StopFast); err != nil {
		t.Fatal(err)
	}
	// Promotion must also work from a paused standby (the promoter pauses
	// replay while choosing).
	if err := b.db.PauseReplay(ctx); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	if err := b.db.Promote(ctx, 0); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	t.Logf("MEASURED promote (pg_promote + wait + CHECKPOINT): %s", took)
	if took > time.Second {
		log, _ := os.ReadFile(b.dir + ".log")
		t.Logf("slow promotion; server log of %s:\n%s", b.name, log)
	}

	st, err := b.db.Probe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.InRecovery || st.Timeline != 2 {
		t.Errorf("after promote: %+v, want primary on timeline 2", st)
	}
	// The CHECKPOINT put the new timeline into the control file.
	if tli := b.mustSQL("SELECT timeline_id FROM pg_control_checkpoint()"); tli != "2" {
		t.Errorf("control file checkpoint timeline = %s, want 2", tli)
	}
	b.mustSQL("INSERT INTO t VALUES (1)")
	if ok, err := b.db.HasStandbySignal(ctx); err != nil || ok {
		t.Errorf("standby.signal after promote: %v, %v", ok, err)
	}
	// Promoting a primary is an error, not a silent success.
	if err := b.db.Promote(ctx, 0); err == nil {
		t.Error("promoting a primary succeeded")
	}
	// So is repointing one: it would stay writable until a restart.
	if err := b.db.Repoint(ctx, "127.0.0.1", a.port); !errors.Is(err, ErrWrongState) {
		t.Errorf("repointing a running primary: err = %v, want wrong state", err)
	}
	if ok, _ := b.db.HasStandbySignal(ctx); ok {
		t.Error("refused repoint left a standby.signal behind")
	}
}

// The fence test is the safety property: after Stop + Fence, a start by
// hand (an operator, a boot script) comes up read-only.
func TestFenceThenManualStartStaysReadOnly(t *testing.T) {
	requirePG(t)
	t.Parallel()
	a := startPrimary(t, baseDir(t), "a")
	ctx := context.Background()
	a.mustSQL("CREATE TABLE t (v int)")
	a.mustSQL("INSERT INTO t VALUES (1)")
	a.mustSQL("ALTER SYSTEM SET primary_conninfo = 'host=10.231.9.9 port=5432 user=rep'")

	start := time.Now()
	if err := a.db.Stop(ctx, StopImmediate); err != nil {
		t.Fatal(err)
	}
	// A stale promote signal would end the fenced node's recovery at once.
	stale := filepath.Join(a.dir, "promote")
	if err := os.WriteFile(stale, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.db.Fence(ctx, true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale promote file survived fencing: %v", err)
	}
	t.Logf("MEASURED stop immediate + fence: %s", time.Since(start))
	if err := a.db.Fence(ctx, true); err != nil {
		t.Fatalf("fencing twice: %v", err)
	}
	fi, err := os.Stat(filepath.Join(a.dir, "standby.signal"))
	if err != nil {
		t.Fatal(err)
	}
	if uid := fi.Sys().(*syscall.Stat_t).Uid; uid == 0 {
		t.Errorf("standby.signal owned by root")
	}

	a.start() // by hand, pg_ctl as postgres
	if r := a.mustSQL("SELECT pg_is_in_recovery()"); r != "true" {
		t.Fatalf("fenced database came back with pg_is_in_recovery() = %s", r)
	}
	_, err = a.sql("INSERT INTO t VALUES (2)")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "25006" { // read_only_sql_transaction
		t.Fatalf("write on fenced database: err = %v, want read-only error 25006", err)
	}
	if ci := a.mustSQL("SHOW primary_conninfo"); ci != "" {
		t.Errorf("primary_conninfo = %q, want blank", ci)
	}
	if port := a.mustSQL("SHOW port"); port != itoa(a.port) {
		t.Errorf("port = %s: per-node setting clobbered", port)
	}
	st, err := a.db.Probe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckRole(a.name, RolePrimary, st); !errors.Is(err, ErrWrongState) {
		t.Errorf("fenced node checked as primary: %v", err)
	}
}

func TestStopStartRestart(t *testing.T) {
	requirePG(t)
	t.Parallel()
	a := startPrimary(t, baseDir(t), "a")
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
	}{
		{"credentials", nil},
		{"runuser prefix", func(c *Config) { c.SudoUserCommand = "runuser -u %u --" }},
		// EFM's default prefix on a root agent of a machine without sudo.
		{"sudo default without sudo", func(c *Config) { c.SudoUserCommand = "no-such-sudo-openefm -u %u" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := a.newDB(tc.mutate)
			steps := []struct {
				name        string
				op          func() error
				wantRunning bool
			}{
				{"stop", func() error { return d.Stop(ctx, StopFast) }, false},
				{"stop again", func() error { return d.Stop(ctx, StopImmediate) }, false},
				{"start", func() error { return d.Start(ctx) }, true},
				{"start again", func() error { return d.Start(ctx) }, true},
				{"restart", func() error { return d.Restart(ctx) }, true},
			}
			for _, s := range steps {
				start := time.Now()
				if err := s.op(); err != nil {
					t.Fatalf("%s: %v", s.name, err)
				}
				t.Logf("MEASURED %s: %s", s.name, time.Since(start))
				running, err := d.Running(ctx)
				if err != nil || running != s.wantRunning {
					t.Fatalf("after %s: running = %v, %v; want %v", s.name, running, err, s.wantRunning)
				}
				if err := d.Ping(ctx); (err == nil) != s.wantRunning {
					t.Fatalf("after %s: ping err = %v", s.name, err)
				}
			}
		})
	}
	bad := a.newDB(func(c *Config) { c.BinDir = "/nonexistent" })
	if err := bad.Stop(ctx, StopFast); err == nil {
		t.Error("stop with a missing pg_ctl succeeded")
	} else {
		t.Logf("missing pg_ctl: %v", err)
	}
}

// Debian-style layout: postgresql.conf lives in db.config.dir, not PGDATA.
// pg_ctl is driven by the config dir; signal files still go to PGDATA.
func TestConfigDirLayout(t *testing.T) {
	requirePG(t)
	t.Parallel()
	base := baseDir(t)
	a := startPrimary(t, base, "a")
	a.pgctl("-m", "fast", "-w", "stop")
	etc := filepath.Join(base, "a-etc")
	if err := os.Mkdir(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	chownPostgres(t, etc)
	for _, f := range []string{"postgresql.conf", "pg_hba.conf", "pg_ident.conf"} {
		if err := os.Rename(filepath.Join(a.dir, f), filepath.Join(etc, f)); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.OpenFile(filepath.Join(etc, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString("data_directory = '" + a.dir + "'\nhba_file = '" + etc + "/pg_hba.conf'\nident_file = '" + etc + "/pg_ident.conf'\n")
	f.Close()
	if err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	d := a.newDB(func(c *Config) { c.ConfigDir = etc })
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if running, err := d.Running(ctx); err != nil || !running {
		t.Fatalf("running = %v, %v", running, err)
	}
	if err := d.Fence(ctx, false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(a.dir, "standby.signal")); err != nil {
		t.Fatalf("standby.signal not in the data directory: %v", err)
	}
	if err := d.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := d.Probe(ctx)
	if err != nil || !st.InRecovery {
		t.Fatalf("after fence + restart: %+v, %v", st, err)
	}
	if err := d.Stop(ctx, StopFast); err != nil {
		t.Fatal(err)
	}
	if running, err := d.Running(ctx); err != nil || running {
		t.Fatalf("after stop: running = %v, %v", running, err)
	}
}

// A frozen postmaster ignores an immediate shutdown; StopKill still ends
// it, and the database then starts normally (crash recovery).
func TestStopKillFrozenPostmaster(t *testing.T) {
	requirePG(t)
	t.Parallel()
	a := startPrimary(t, baseDir(t), "a")
	ctx := context.Background()
	a.mustSQL("CREATE TABLE t (v int)")
	a.mustSQL("INSERT INTO t VALUES (1)")
	pidFile, err := os.ReadFile(filepath.Join(a.dir, "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid := atoiFirstLine(t, pidFile)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })

	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	err = a.db.Stop(short, StopImmediate)
	cancel()
	t.Logf("immediate stop of a frozen postmaster: %v", err)
	if err == nil {
		t.Fatal("immediate stop of a frozen postmaster reported success")
	}
	start := time.Now()
	if err := a.db.Stop(ctx, StopKill); err != nil {
		t.Fatal(err)
	}
	t.Logf("MEASURED kill of a frozen postmaster: %s", time.Since(start))
	if running, err := a.db.Running(ctx); err != nil || running {
		t.Fatalf("after kill: running = %v, %v", running, err)
	}
	if err := a.db.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if n := a.mustSQL("SELECT count(*) FROM t"); n != "1" {
		t.Errorf("rows after crash recovery: %s", n)
	}
}

func atoiFirstLine(t *testing.T, b []byte) int {
	t.Helper()
	var pid int
	if _, err := fmt.Sscanf(string(b), "%d", &pid); err != nil {
		t.Fatal(err)
	}
	return pid
}
