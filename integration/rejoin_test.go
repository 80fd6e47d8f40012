package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/openefm/efm/integration/harness"
)

// waitRejoined waits until old's database streams from primary and old's
// agent reported the rejoin; it prints the rejoin's notification (method,
// cause, duration) and how long it took from the fault.
func waitRejoined(ctx context.Context, t *testing.T, c *harness.Cluster, old, primary string, fault time.Time) {
	t.Helper()
	want := c.PG(primary).Host.Addr.String()
	err := harness.Eventually(ctx, 180*time.Second, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		host, err := c.PG(old).QueryString(ctx, "SELECT coalesce((SELECT sender_host FROM pg_stat_wal_receiver WHERE status = 'streaming'), '')")
		return err == nil && host == want, fmt.Errorf("%s streams from %q (err %v), want %s", old, host, err, want)
	})
	if err != nil {
		t.Fatalf("the old primary %s did not rejoin as a standby of %s by itself: %v", old, primary, err)
	}
	t.Logf("measured: %s streams from the new primary %s %v after the fault", old, primary, time.Since(fault).Round(time.Millisecond))
	var note string
	err = harness.Eventually(ctx, 30*time.Second, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		// The body's line: "<node> now streams from the primary <p>
		// (<method> in <duration>): <cause>".
		for _, l := range c.Configs[old].Notifications() {
			if strings.Contains(l, "now streams from the primary") {
				note = l
			}
		}
		return note != "", fmt.Errorf("no rejoin notification on %s", old)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rejoin of %s: %s", old, note)
	if rec, err := c.PG(old).InRecovery(ctx); err != nil || !rec {
		t.Errorf("%s after the rejoin: in recovery %v (err %v)", old, rec, err)
	}
}

// With auto.rewind=true, an old primary rebuilds itself as a standby of
// the new primary, twice: after its postmaster is killed (n1), and after
// the new primary's link is cut and healed (isolated, fenced, replaced).
// A client commits through the VIP throughout; synchronous replication
// loses nothing, and the probe never sees two writable servers.
func TestOldPrimaryRejoinsByItself(t *testing.T) {
	c, ctx := startCluster(t, harness.ClusterOptions{Sync: true, Props: map[string]string{"auto.rewind": "true"}})
	if err := harness.GrantRewind(ctx, c.DB[0]); err != nil {
		t.Fatal(err)
	}
	w, p := c.StartWriter(harness.WriterOptions{}), c.StartProbe()
	if err := w.WaitAcks(ctx, 30*time.Second, time.Now(), 20); err != nil {
		t.Fatal(err)
	}

	// 1. postmaster kill -9 on n1.
	if _, err := c.DB[0].KillPostmaster(); err != nil {
		t.Fatal(err)
	}
	fault := time.Now()
	np := newPrimary(ctx, t, c, "n1", 90*time.Second)
	t.Logf("measured: the VIP reached %s %v after the kill", np, time.Since(fault).Round(time.Millisecond))
	if err := w.WaitAcks(ctx, 60*time.Second, fault, 20); err != nil {
		t.Fatalf("the client cannot write after the failover: %v", err)
	}
	waitRejoined(ctx, t, c, "n1", np, fault)
	checkFollows(ctx, t, c, np)

	// 2. the new primary's link is cut: it fences itself, the majority
	// promotes another, the link heals, and it rejoins as a standby.
	isolated := c.Net.Host(np)
	if err := c.Net.CutLink(ctx, isolated); err != nil {
		t.Fatal(err)
	}
	cut := time.Now()
	t.Logf("cut %s's link", np)
	if err := p.WaitState(ctx, 60*time.Second, np, cut, false); err != nil {
		t.Fatalf("the isolated primary %s never stopped accepting writes: %v", np, err)
	}
	np2 := newPrimary(ctx, t, c, np, 90*time.Second)
	t.Logf("measured: the VIP reached %s %v after the cut", np2, time.Since(cut).Round(time.Millisecond))
	if err := w.WaitAcks(ctx, 60*time.Second, cut, 20); err != nil {
		t.Fatalf("the client cannot write after the second failover: %v", err)
	}
	if err := c.Net.RestoreLink(ctx, isolated); err != nil {
		t.Fatal(err)
	}
	waitRejoined(ctx, t, c, np, np2, cut)
	checkFollows(ctx, t, c, np2)

	wr, pr := w.Stop(), p.Stop()
	checkNoSplitBrain(t, pr, np2, np, cut)
	checkLost(ctx, t, wr, c.PG(np2), true)
}

// EFM 4.5's rule: with auto.failover=false nobody may promote while n1's
// link is cut; n1 fences itself when its lease runs out, and once the link
// heals it wins a vote in a new epoch (every voter's newest epoch is still
// n1's) and resumes as primary: writable again, the VIP back, the
// standbys streaming from it, no acknowledged commit lost.
func TestIsolatedPrimaryResumesAsPrimary(t *testing.T) {
	c, ctx := startCluster(t, harness.ClusterOptions{Sync: true, Props: map[string]string{"auto.failover": "false"}})
	w, p := c.StartWriter(harness.WriterOptions{}), c.StartProbe()
	if err := w.WaitAcks(ctx, 30*time.Second, time.Now(), 20); err != nil {
		t.Fatal(err)
	}
	n1 := c.Net.Host("n1")
	if err := c.Net.CutLink(ctx, n1); err != nil {
		t.Fatal(err)
	}
	cut := time.Now()
	if err := p.WaitState(ctx, 60*time.Second, "n1", cut, false); err != nil {
		t.Fatalf("the isolated primary never stopped accepting writes: %v", err)
	}
	t.Logf("measured: isolated n1 stopped accepting writes %v after the cut", time.Since(cut).Round(time.Millisecond))
	// Fenced: stopped, standby.signal written (the agent's fence).
	err := harness.Eventually(ctx, 30*time.Second, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		for _, l := range c.Configs["n1"].Notifications() {
			if strings.Contains(l, "Primary database being fenced off") {
				return true, nil
			}
		}
		return false, fmt.Errorf("n1 did not notify its fencing")
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Net.RestoreLink(ctx, n1); err != nil {
		t.Fatal(err)
	}
	healed := time.Now()
	if err := p.WaitState(ctx, 90*time.Second, "n1", healed, true); err != nil {
		t.Fatalf("n1 did not resume as primary after the link healed: %v", err)
	}
	t.Logf("measured: n1 writable again %v after the link healed", time.Since(healed).Round(time.Millisecond))
	if np := newPrimary(ctx, t, c, "", 60*time.Second); np != "n1" {
		t.Fatalf("the VIP is on %s, want n1", np)
	}
	if err := w.WaitAcks(ctx, 60*time.Second, healed, 20); err != nil {
		t.Fatalf("the client cannot write after n1 resumed: %v", err)
	}
	checkFollows(ctx, t, c, "n1")
	var note string
	err = harness.Eventually(ctx, 10*time.Second, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		for _, l := range c.Configs["n1"].Notifications() {
			if strings.Contains(l, "Node no longer isolated") {
				note = l
			}
		}
		return note != "", fmt.Errorf("n1 did not notify that it resumed")
	})
	if err != nil {
		t.Error(err)
	}
	t.Logf("n1: %s", note)
	wr, pr := w.Stop(), p.Stop()
	for _, name := range []string{"n2", "n3"} {
		if _, ok := pr.FirstWritable(name, cut); ok {
			t.Errorf("%s accepted a write although auto.failover=false", name)
		}
	}
	gap := wr.MaxGapAfter(cut.Add(-time.Second))
	t.Logf("measured: the client could not write for %v", gap.Duration().Round(time.Millisecond))
	checkLost(ctx, t, wr, c.PG("n1"), true)
}

// A rewind that cannot work falls back to a base backup only when
// auto.basebackup allows it. The replication role lacks pg_rewind's
// functions here (no grantRewind: a common production setup), so pg_rewind
// fails on the source. With auto.basebackup=true the isolated old primary
// is rebuilt from a base backup and streams, the notification saying both
// why the rewind failed and that a base backup was taken; with it false it
// stays fenced, and SEVERE says why. Nothing acknowledged is lost either
// way.
func TestRejoinFallsBackToBaseBackup(t *testing.T) {
	for _, tc := range []struct {
		name       string
		basebackup bool
	}{
		{name: "auto.basebackup=true", basebackup: true},
		{name: "auto.basebackup=false", basebackup: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, ctx := startCluster(t, harness.ClusterOptions{Sync: true, Props: map[string]string{
				"auto.rewind": "true", "auto.basebackup": fmt.Sprint(tc.basebackup)}})
			w := c.StartWriter(harness.WriterOptions{})
			if err := w.WaitAcks(ctx, 30*time.Second, time.Now(), 20); err != nil {
				t.Fatal(err)
			}
			// The primary's link is cut, and a session on it commits with
			// synchronous_commit=local before it fences itself: WAL only
			// n1 has, so it must be rewound or rebuilt to follow.
			isolated := c.Net.Host("n1")
			if err := c.Net.CutLink(ctx, isolated); err != nil {
				t.Fatal(err)
			}
			cut := time.Now()
			if err := c.PG("n1").Exec(ctx, "SET synchronous_commit = local; CREATE TABLE n1_only (v int); INSERT INTO n1_only VALUES (1)"); err != nil {
				t.Fatalf("a local-only commit on the isolated n1: %v", err)
			}
			np := newPrimary(ctx, t, c, "n1", 90*time.Second)
			if err := w.WaitAcks(ctx, 60*time.Second, cut, 20); err != nil {
				t.Fatalf("the client cannot write after the failover: %v", err)
			}
			if err := c.Net.RestoreLink(ctx, isolated); err != nil {
				t.Fatal(err)
			}
			if tc.basebackup {
				waitRejoined(ctx, t, c, "n1", np, cut)
				notes := strings.Join(c.Configs["n1"].Notifications(), "\n")
				for _, want := range []string{"was rebuilt from a base backup", "pg_rewind failed"} {
					if !strings.Contains(notes, want) {
						t.Errorf("n1's notifications do not say %q:\n%s", want, notes)
					}
				}
				checkFollows(ctx, t, c, np)
			} else {
				var note string
				err := harness.Eventually(ctx, 120*time.Second, 200*time.Millisecond, func(context.Context) (bool, error) {
					for _, l := range c.Configs["n1"].Notifications() {
						if strings.Contains(l, "could not be rebuilt as a standby") {
							note = l
						}
					}
					return note != "", fmt.Errorf("no SEVERE rejoin failure notified on n1")
				})
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("rejoin refused as it should be: %s", note)
				if all := strings.Join(c.Configs["n1"].Notifications(), "\n"); !strings.Contains(all, "pg_rewind failed and auto.basebackup is false") {
					t.Errorf("n1's notifications do not say the rewind failed and a base backup was not allowed:\n%s", all)
				}
				if rec, err := c.PG("n1").InRecovery(ctx); err == nil && !rec {
					t.Errorf("n1 is writable after a failed rejoin")
				}
			}
			wr := w.Stop()
			checkLost(ctx, t, wr, c.PG(np), true)
		})
	}
}
