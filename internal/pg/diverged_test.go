package pg

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestDivergedFrom on real servers: c streams from a, b is promoted (a new
// timeline forked where b's WAL ended). While c has replayed nothing past
// that fork point it is not diverged from b, and says so; once a, still
// writable, has sent it more on the old timeline and c replayed it, c is
// diverged, with the fork point named. A primary is never judged.
func TestDivergedFrom(t *testing.T) {
	requirePG(t)
	t.Parallel()
	base := baseDir(t)
	a := startPrimary(t, base, "a")
	b := startStandby(t, base, "b", a)
	c := startStandby(t, base, "c", a)
	ctx := context.Background()
	a.mustSQL("CREATE TABLE t (v int)")
	waitReplayed(t, a, b)
	waitReplayed(t, a, c)
	if err := b.db.Promote(ctx, 0); err != nil {
		t.Fatal(err)
	}
	d, why, err := c.db.DivergedFrom(ctx, b.db)
	if err != nil || d {
		t.Fatalf("before any write past the fork: diverged=%v (%s), err %v; want not diverged", d, why, err)
	}
	t.Logf("before: %s", why)
	a.mustSQL("INSERT INTO t SELECT generate_series(1, 1000)")
	waitReplayed(t, a, c)
	waitFor(t, 10*time.Second, "c judged diverged from b", func() (bool, error) {
		d, why, err = c.db.DivergedFrom(ctx, b.db)
		return d, err
	})
	if !strings.Contains(why, "fork point") {
		t.Errorf("why %q does not name the fork point", why)
	}
	t.Logf("after: %s", why)
	if d, why, err := a.db.DivergedFrom(ctx, b.db); err != nil || d {
		t.Errorf("a running primary judged diverged=%v (%s), err %v", d, why, err)
	}
}
