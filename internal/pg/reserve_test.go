package pg

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Chaos seed 7007 on a real server: PostgreSQL would give B's promotion
// timeline 2, the ID another node's promotion may already have used; the
// agents reserved 5. B must land on timeline 5, and a standby of timeline
// 1 must still follow it: its WAL receiver fetches every history file
// from 2 to 5 from B, the placeholders included.
func TestPromoteToTheReservedTimeline(t *testing.T) {
	requirePG(t)
	t.Parallel()
	base := baseDir(t)
	a := startPrimary(t, base, "a")
	b := startStandby(t, base, "b", a)
	c := startStandby(t, base, "c", a)
	ctx := context.Background()
	a.mustSQL("CREATE TABLE t (v text)")
	waitReplayed(t, a, b)
	waitReplayed(t, a, c)
	if err := a.db.Stop(ctx, StopFast); err != nil {
		t.Fatal(err)
	}
	if err := b.db.Promote(ctx, 5); err != nil {
		t.Fatal(err)
	}
	st, err := b.db.Probe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.InRecovery || st.Timeline != 5 {
		t.Fatalf("after promote with timeline 5 reserved: %+v, want a primary on timeline 5", st)
	}
	for tli := uint32(2); tli < 5; tli++ {
		b, err := os.ReadFile(filepath.Join(b.dir, "pg_wal", historyFileName(tli)))
		if err != nil || !strings.HasPrefix(string(b), placeholderMark) {
			t.Errorf("placeholder for timeline %d: %q, %v", tli, b, err)
		}
	}
	// B's newest history is its own, not a placeholder.
	if h, err := b.db.newestLocalHistory(ctx); err != nil || h != 5 {
		t.Errorf("newest history of B: %d, %v; want 5", h, err)
	}

	if err := c.db.Repoint(ctx, "127.0.0.1", b.port); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "C streaming timeline 5 from B", func() (bool, error) {
		st, err := c.db.Probe(ctx)
		return err == nil && st.InRecovery && st.WALReceiverStatus == "streaming" && st.Timeline == 5, err
	})
	b.mustSQL("INSERT INTO t VALUES ('from b')")
	waitFor(t, 10*time.Second, "row written on B visible on C", func() (bool, error) {
		n, err := c.sql("SELECT count(*) FROM t WHERE v = 'from b'")
		return n == "1", err
	})
}

// A promotion that reserved timelines and then did not happen leaves
// placeholders on top of pg_wal; PostgreSQL would start recovery towards
// the newest and refuse it. The next start removes them, and only them.
func TestStartRemovesPlaceholdersOfAPromotionThatDidNotHappen(t *testing.T) {
	requirePG(t)
	t.Parallel()
	a, b := primaryAndStandby(t)
	ctx := context.Background()
	waitReplayed(t, a, b)
	if err := b.db.Stop(ctx, StopFast); err != nil {
		t.Fatal(err)
	}
	wrote, err := b.db.reserveTimelines(ctx, 4)
	if err != nil || len(wrote) != 2 {
		t.Fatalf("reserving timeline 4 on a standby of timeline 1: wrote %v, %v; want placeholders 2 and 3", wrote, err)
	}
	if err := b.db.Start(ctx); err != nil {
		log, _ := os.ReadFile(b.dir + ".log")
		t.Fatalf("start with leftover placeholders: %v\n%s", err, log)
	}
	for _, p := range wrote {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("placeholder %s survives the start: %v", p, err)
		}
	}
	a.mustSQL("INSERT INTO t VALUES ('after')")
	waitFor(t, 10*time.Second, "B replaying from A again", func() (bool, error) {
		n, err := b.sql("SELECT count(*) FROM t WHERE v = 'after'")
		return n == "1", err
	})
}

// Chaos seed 7007 end to end: B and then C promote from the same point of
// timeline 1, C without ever seeing B's history. With the timeline the
// agents reserve, C lands on timeline 3, and B, a primary of timeline 2 that
// wrote a row C never got, is rewound and follows C. Without it C lands on
// timeline 2 as well, and the rejoin must refuse B (its WAL would pass for
// C's): the failure that left seed 7007 unsettled.
func TestRejoinAfterTwoPromotionsFromOnePoint(t *testing.T) {
	requirePG(t)
	t.Parallel()
	for _, reserved := range []bool{true, false} {
		name := "reserved"
		if !reserved {
			name = "unreserved"
		}
		t.Run(name, func(t *testing.T) {
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
			src, err := b.db.ReplicationSettings(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := a.db.Stop(ctx, StopFast); err != nil {
				t.Fatal(err)
			}
			if err := b.db.Promote(ctx, 2); err != nil {
				t.Fatal(err)
			}
			b.mustSQL("INSERT INTO t VALUES ('only on b')")
			b.crashFenced(t)
			atLeast := uint32(3) // B's lease round told C of timeline 2
			if !reserved {
				atLeast = 0
			}
			if err := c.db.Promote(ctx, atLeast); err != nil {
				t.Fatal(err)
			}
			c.mustSQL("INSERT INTO t VALUES ('from c')")
			st, err := c.db.Probe(ctx)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := b.db.Rejoin(ctx, b.planFrom(c, src, true, false))
			t.Logf("C on timeline %d; rejoin of B: %s, %v", st.Timeline, rep, err)
			if !reserved {
				if st.Timeline != 2 || err == nil {
					t.Fatalf("without the reservation: C on timeline %d and B's rejoin error %v; want timeline 2 and a refusal", st.Timeline, err)
				}
				return
			}
			if st.Timeline != 3 {
				t.Fatalf("C promoted to timeline %d, want the reserved 3", st.Timeline)
			}
			if err != nil {
				t.Fatal(err)
			}
			assertRowsStreaming(t, b, "c", "from a,from c")
		})
	}
}
