package pg

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestProbePrimaryAndStandby(t *testing.T) {
	requirePG(t)
	t.Parallel()
	base := baseDir(t)
	a := startPrimary(t, base, "a")
	b := startStandby(t, base, "b", a)
	ctx := context.Background()

	a.mustSQL("CREATE TABLE t (v int)")
	a.mustSQL("INSERT INTO t SELECT generate_series(1, 1000)")
	waitReplayed(t, a, b)

	pst, err := a.db.Probe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("primary: %+v", pst)
	if pst.InRecovery || pst.CurrentLSN == 0 || pst.Timeline != 1 || pst.ReplayPaused {
		t.Errorf("primary status wrong: %+v", pst)
	}
	if pst.DataDirectory != a.dir {
		t.Errorf("DataDirectory = %q, want %q", pst.DataDirectory, a.dir)
	}
	if err := CheckRole(a.name, RolePrimary, pst); err != nil {
		t.Error(err)
	}

	sst, err := b.db.Probe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("standby: %+v", sst)
	if !sst.InRecovery || sst.ReceivedLSN == 0 || sst.ReplayLSN == 0 || sst.CurrentLSN != 0 {
		t.Errorf("standby status wrong: %+v", sst)
	}
	if sst.ReplayLSN > pst.CurrentLSN || sst.Position() < sst.ReplayLSN {
		t.Errorf("standby positions inconsistent with primary %s: %+v", pst.CurrentLSN, sst)
	}
	if sst.WALReceiverStatus != "streaming" || sst.SenderHost != "127.0.0.1" || sst.SenderPort != a.port {
		t.Errorf("wal receiver = %q from %s:%d, want streaming from 127.0.0.1:%d", sst.WALReceiverStatus, sst.SenderHost, sst.SenderPort, a.port)
	}
	if sst.Timeline != 1 || sst.RecoveryTargetTimeline != "latest" {
		t.Errorf("timeline %d / recovery_target_timeline %q", sst.Timeline, sst.RecoveryTargetTimeline)
	}
	if err := CheckRole(b.name, RolePrimary, sst); !errors.Is(err, ErrWrongState) {
		t.Errorf("standby checked as primary: err = %v, want wrong state", err)
	}

	// Slots for standbys that will follow this primary: idempotent.
	for range 2 {
		if err := a.db.EnsurePhysicalSlot(ctx, "node_c"); err != nil {
			t.Fatal(err)
		}
	}
	if n := a.mustSQL("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'node_c' AND restart_lsn IS NOT NULL"); n != "1" {
		t.Errorf("slot node_c: %s rows with reserved WAL, want 1", n)
	}
	if err := a.db.EnsurePhysicalSlot(ctx, "Bad-Name"); err == nil {
		t.Error("invalid slot name accepted")
	}
}

// backendPID is a health check that reports which backend served it.
func backendPID(t *testing.T, d *DB) uint32 {
	t.Helper()
	var pid uint32
	err := d.withConn(context.Background(), true, func(ctx context.Context, c *pgx.Conn) error {
		return c.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid)
	})
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func TestReuseConnectionCount(t *testing.T) {
	requirePG(t)
	t.Parallel()
	a := startPrimary(t, baseDir(t), "a")

	fresh := a.newDB(nil) // db.reuse.connection.count=0
	seen := map[uint32]bool{}
	for range 3 {
		seen[backendPID(t, fresh)] = true
	}
	if len(seen) != 3 {
		t.Errorf("count 0: %d distinct backends over 3 checks, want 3", len(seen))
	}

	calls := 0
	reuse := a.newDB(func(c *Config) {
		c.ReuseConnectionCount = 2
		c.PasswordFunc = func(context.Context) (string, error) { calls++; return testPassword, nil }
	})
	var pids []uint32
	for range 5 {
		pids = append(pids, backendPID(t, reuse))
	}
	t.Logf("count 2: backends %v", pids)
	if pids[0] != pids[1] || pids[1] == pids[2] || pids[2] != pids[3] || pids[3] == pids[4] {
		t.Errorf("count 2: backends %v, want pairs", pids)
	}
	if calls != 1 {
		t.Errorf("password func called %d times with working connections, want 1 (cached)", calls)
	}

	// A restart breaks the cached connection; the next health check must
	// not report the database down because of it.
	a.pgctl("-m", "fast", "-w", "-l", a.dir+".log", "restart")
	if _, err := reuse.Probe(context.Background()); err != nil {
		t.Errorf("probe on a connection broken by a restart: %v", err)
	}
}

// A failed connection asks the password script again: it may have rotated.
func TestPasswordFuncRetriedAfterFailure(t *testing.T) {
	calls := 0
	d, err := New(Config{Host: "127.0.0.1", Port: closedPort(t), User: "u", Database: "d", ConnectTimeout: time.Second,
		PasswordFunc: func(context.Context) (string, error) { calls++; return "x", nil }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := d.Ping(context.Background()); err == nil {
			t.Fatal("ping of a closed port succeeded")
		}
	}
	if calls != 2 {
		t.Errorf("password func called %d times over 2 failed connects, want 2", calls)
	}
}

func TestSSLModeAgainstServerWithoutSSL(t *testing.T) {
	requirePG(t)
	t.Parallel()
	a := startPrimary(t, baseDir(t), "a")
	ctx := context.Background()
	for _, mode := range []string{"require", "verify-ca", "verify-full"} {
		d := a.newDB(func(c *Config) { c.SSLMode = mode })
		err := d.Ping(ctx)
		if err == nil || !strings.Contains(err.Error(), "server refused TLS") {
			t.Errorf("sslmode=%s against a server without SSL: err = %v, want an SSL refusal", mode, err)
		}
	}
	if err := a.newDB(func(c *Config) { c.SSLMode = "disable" }).Ping(ctx); err != nil {
		t.Errorf("sslmode=disable: %v", err)
	}
}

// A role without pg_read_all_stats sees the WAL receiver's pid but not its
// state: the probe must say a receiver runs (so the agent reports its state
// as hidden, not as "not streaming").
func TestProbeWALReceiverHiddenFromUnprivilegedRole(t *testing.T) {
	requirePG(t)
	t.Parallel()
	base := baseDir(t)
	a := startPrimary(t, base, "a")
	b := startStandby(t, base, "b", a)
	a.mustSQL("CREATE ROLE efm_plain LOGIN PASSWORD '" + testPassword + "'")
	waitReplayed(t, a, b)
	ctx := context.Background()

	st, err := b.newDB(func(c *Config) { c.User = "efm_plain" }).Probe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.WALReceiverPID == 0 || st.WALReceiverStatus != "" {
		t.Errorf("unprivileged probe: wal receiver pid %d status %q, want a pid and no status", st.WALReceiverPID, st.WALReceiverStatus)
	}
	st, err = b.db.Probe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.WALReceiverPID == 0 || st.WALReceiverStatus != "streaming" {
		t.Errorf("superuser probe: wal receiver pid %d status %q, want a pid and streaming", st.WALReceiverPID, st.WALReceiverStatus)
	}
	st, err = a.db.Probe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.WALReceiverPID != 0 || st.WALReceiverStatus != "" {
		t.Errorf("primary: wal receiver pid %d status %q, want none", st.WALReceiverPID, st.WALReceiverStatus)
	}
}

// A standby whose upstream is gone still reports its timeline: the WAL
// receiver's row is empty then, and a 0 made every voter that knew its own
// timeline refuse the candidate, leaving the cluster with no primary (found
// by the chaos runner). Here c streams from b by cascading; b is promoted
// (c follows it to timeline 2), then b stops: c's agent-side DB still says
// 2, and a DB that never saw c stream reads the control file, not 0.
func TestProbeStandbyTimelineWithoutUpstream(t *testing.T) {
	requirePG(t)
	t.Parallel()
	base := baseDir(t)
	a := startPrimary(t, base, "a")
	b := startStandby(t, base, "b", a)
	c := startStandby(t, base, "c", b)
	ctx := context.Background()

	b.pgctl("-w", "promote")
	b.mustSQL("CREATE TABLE t2 (v int)")
	waitFor(t, 60*time.Second, "c streaming on timeline 2", func() (bool, error) {
		st, err := c.db.Probe(ctx)
		return err == nil && st.Timeline == 2 && st.WALReceiverStatus == "streaming", err
	})
	b.pgctl("-w", "-m", "immediate", "stop")
	waitFor(t, 60*time.Second, "c's WAL receiver gone", func() (bool, error) {
		st, err := c.db.Probe(ctx)
		return err == nil && st.WALReceiverStatus == "", err
	})
	st, err := c.db.Probe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Timeline != 2 {
		t.Errorf("standby without upstream: timeline %d, want 2 (seen while it streamed)", st.Timeline)
	}
	fresh, err := c.newDB(nil).Probe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("a probe that never saw c stream reads timeline %d from the control file", fresh.Timeline)
	if fresh.Timeline == 0 {
		t.Errorf("standby without upstream, first probe: timeline 0, want the control file's")
	}
}
