package pg

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// A keeps writing after B was promoted (split brain in miniature); Rewind
// makes A a standby of B: A's diverged row is gone, B's rows arrive, and A
// keeps its own port although pg_rewind copied B's configuration.
func TestRewindDivergedPrimary(t *testing.T) {
	requirePG(t)
	t.Parallel()
	if _, err := os.Stat(pgBinDir + "/pg_rewind"); err != nil {
		t.Skipf("SKIPPING: %v", err)
	}
	base := baseDir(t)
	a := startPrimary(t, base, "a")
	b := startStandby(t, base, "b", a)
	ctx := context.Background()
	a.mustSQL("CREATE TABLE t (v text)")
	waitReplayed(t, a, b)
	src := settingsOf(t, b)
	if err := b.db.Promote(ctx, 0); err != nil {
		t.Fatal(err)
	}
	a.mustSQL("INSERT INTO t VALUES ('diverged on a')")
	b.mustSQL("INSERT INTO t VALUES ('from b')")

	start := time.Now()
	if err := a.db.Rewind(ctx, "host=127.0.0.1 port="+itoa(b.port)+" user=postgres dbname=postgres passfile="+passfile); err != nil {
		t.Fatal(err)
	}
	t.Logf("MEASURED rewind (stop + dry run + rewind + restore config): %s", time.Since(start))
	if err := a.db.FollowAsStandby(ctx, src, "127.0.0.1", b.port); err != nil {
		t.Fatal(err)
	}
	t.Logf("MEASURED rewind and follow: %s", time.Since(start))
	waitFor(t, 10*time.Second, "B's row on A", func() (bool, error) {
		rows, err := a.sql("SELECT string_agg(v, ',' ORDER BY v) FROM t")
		return rows == "from b", err
	})
	if port := a.mustSQL("SHOW port"); port != itoa(a.port) {
		t.Errorf("A's port = %s after rewind, want its own %d", port, a.port)
	}
	if r := a.mustSQL("SELECT pg_is_in_recovery()"); r != "true" {
		t.Errorf("A in recovery = %s", r)
	}
}

func TestRewindRefusesWithoutSource(t *testing.T) {
	requirePG(t)
	t.Parallel()
	a := startPrimary(t, baseDir(t), "a")
	ctx := context.Background()
	a.mustSQL("CREATE TABLE t (v int)")
	err := a.db.Rewind(ctx, "host=127.0.0.1 port="+itoa(closedPort(t))+" user=postgres dbname=postgres connect_timeout=2")
	if err == nil || !strings.Contains(err.Error(), "dry run") {
		t.Fatalf("rewind from nowhere: err = %v, want a dry-run failure", err)
	}
	// Nothing changed: it starts again as the primary it was.
	if err := a.db.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if r := a.mustSQL("SELECT count(*) FROM t"); r != "0" {
		t.Errorf("table after failed rewind: %s", r)
	}
}
