package pg

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// Three instances: primary A, standbys B and C. A stops, B is promoted, C
// is pointed at B and sees a row written on B.
func TestRepointStandbyToNewPrimary(t *testing.T) {
	requirePG(t)
	t.Parallel()
	base := baseDir(t)
	a := startPrimary(t, base, "a")
	b := startStandby(t, base, "b", a)
	c := startStandby(t, base, "c", a)
	ctx := context.Background()
	a.mustSQL("CREATE TABLE t (v text)")
	a.mustSQL("INSERT INTO t VALUES ('from a')")
	waitReplayed(t, a, b)
	waitReplayed(t, a, c)
	// A fast shutdown streams everything, including the shutdown
	// checkpoint, to both standbys, so C is never ahead of B's fork point.
	if err := a.db.Stop(ctx, StopFast); err != nil {
		t.Fatal(err)
	}
	if err := b.db.Promote(ctx, 0); err != nil {
		t.Fatal(err)
	}

	cdb := c.newDB(func(cfg *Config) {
		cfg.ApplicationName = "node-c"
		cfg.RestoreCommand = "test -f /nonexistent/%h/%f && cp /nonexistent/%h/%f %p"
	})
	start := time.Now()
	if err := cdb.Repoint(ctx, "127.0.0.1", b.port); err != nil {
		t.Fatal(err)
	}
	t.Logf("MEASURED repoint running standby (ALTER SYSTEM + reload + streaming): %s", time.Since(start))

	// Repoint returns once C streams from B; the first stream may still be
	// timeline 1's tail up to B's fork point, then C switches to timeline 2.
	var st Status
	waitFor(t, 10*time.Second, "C streaming timeline 2 from B", func() (bool, error) {
		var err error
		st, err = cdb.Probe(ctx)
		return err == nil && st.InRecovery && st.SenderPort == b.port && st.WALReceiverStatus == "streaming" && st.Timeline == 2, err
	})
	t.Logf("MEASURED repoint until streaming timeline 2: %s", time.Since(start))
	b.mustSQL("INSERT INTO t VALUES ('from b')")
	waitFor(t, 10*time.Second, "row written on B visible on C", func() (bool, error) {
		n, err := c.sql("SELECT count(*) FROM t WHERE v = 'from b'")
		return n == "1", err
	})
	if app := b.mustSQL("SELECT application_name FROM pg_stat_replication"); app != "node-c" {
		t.Errorf("application_name seen on B = %q, want node-c", app)
	}
	rc := c.mustSQL("SHOW restore_command")
	if !strings.Contains(rc, "/nonexistent/127.0.0.1/%f") {
		t.Errorf("restore_command = %q, want %%h replaced", rc)
	}
	ci := c.mustSQL("SHOW primary_conninfo")
	if !strings.Contains(ci, "port="+itoa(b.port)) || !strings.Contains(ci, "user=postgres") {
		t.Errorf("primary_conninfo = %q: lost its other parts or kept the old port", ci)
	}
	if port := c.mustSQL("SHOW port"); port != itoa(c.port) {
		t.Errorf("C's port = %s: per-node setting clobbered", port)
	}

	// A stopped standby is edited on disk and started. Point C back at B
	// while stopped (same target, exercises the path).
	if err := cdb.Stop(ctx, StopFast); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if err := cdb.Repoint(ctx, "127.0.0.1", b.port); err != nil {
		t.Fatal(err)
	}
	t.Logf("MEASURED repoint stopped standby (file edit + start + streaming): %s", time.Since(start))
	if err := cdb.WaitStreaming(ctx, "127.0.0.1", b.port, 5*time.Second); err != nil {
		t.Error(err)
	}
}

// Switchover: the old primary A becomes a standby of the promoted B, using
// B's own replication settings.
func TestFollowAsStandby(t *testing.T) {
	requirePG(t)
	t.Parallel()
	a, b := primaryAndStandby(t)
	ctx := context.Background()
	waitReplayed(t, a, b)

	src := settingsOf(t, b)
	if !strings.Contains(src.PrimaryConninfo, "port="+itoa(a.port)) {
		t.Fatalf("B's primary_conninfo = %q", src.PrimaryConninfo)
	}
	start := time.Now()
	if err := a.db.Stop(ctx, StopFast); err != nil {
		t.Fatal(err)
	}
	if err := b.db.Promote(ctx, 0); err != nil {
		t.Fatal(err)
	}
	t.Logf("MEASURED switchover stop A + promote B: %s", time.Since(start))
	start = time.Now()
	if err := a.db.FollowAsStandby(ctx, src, "127.0.0.1", b.port); err != nil {
		t.Fatal(err)
	}
	t.Logf("MEASURED old primary follows new primary: %s", time.Since(start))

	st, err := a.db.Probe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckRole(a.name, RoleStandby, st); err != nil {
		t.Fatal(err)
	}
	if st.SenderPort != b.port {
		t.Errorf("A streams from :%d, want :%d", st.SenderPort, b.port)
	}
	b.mustSQL("INSERT INTO t VALUES ('from b')")
	waitFor(t, 10*time.Second, "row written on B visible on A", func() (bool, error) {
		n, err := a.sql("SELECT count(*) FROM t")
		return n == "1", err
	})
	if port := a.mustSQL("SHOW port"); port != itoa(a.port) {
		t.Errorf("A's port = %s: per-node setting clobbered", port)
	}
}

// Chaos seed 9136 on real servers: the cluster's first primary, stopped,
// fenced and started again in recovery, has no primary_conninfo. Re-pointing
// it would give it a host and no credentials (with scram-sha-256 it never
// streams): Repoint refuses with ErrNoPrimaryConninfo, and the settings of a
// standby, copied, make it stream.
func TestRepointWithoutConninfoRefusesAndCopiedSettingsStream(t *testing.T) {
	requirePG(t)
	t.Parallel()
	a, b := primaryAndStandby(t)
	ctx := context.Background()
	waitReplayed(t, a, b)
	src, err := b.db.ReplicationSettings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.db.Stop(ctx, StopFast); err != nil {
		t.Fatal(err)
	}
	if err := a.db.Fence(ctx, false); err != nil {
		t.Fatal(err)
	}
	if err := a.db.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.db.Promote(ctx, 2); err != nil {
		t.Fatal(err)
	}
	err = a.db.Repoint(ctx, "127.0.0.1", b.port)
	if !errors.Is(err, ErrNoPrimaryConninfo) {
		t.Fatalf("repointing a standby without primary_conninfo: %v, want ErrNoPrimaryConninfo", err)
	}
	if err := a.db.FollowAsStandbyThroughSlot(ctx, src, "127.0.0.1", b.port, ""); err != nil {
		t.Fatal(err)
	}
	b.mustSQL("INSERT INTO t VALUES ('from b')")
	waitFor(t, 10*time.Second, "b's row on a", func() (bool, error) {
		n, err := a.sql("SELECT count(*) FROM t WHERE v = 'from b'")
		return n == "1", err
	})
}
