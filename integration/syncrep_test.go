package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/openefm/efm/integration/harness"
)

// waitSyncNames waits until the primary's synchronous_standby_names reads
// want and returns when it did.
func waitSyncNames(ctx context.Context, t *testing.T, p *harness.PG, want string, timeout time.Duration) time.Time {
	t.Helper()
	var got string
	err := harness.Eventually(ctx, timeout, 50*time.Millisecond, func(ctx context.Context) (bool, error) {
		var err error
		got, err = p.QueryString(ctx, "SELECT current_setting('synchronous_standby_names')")
		return err == nil && got == want, fmt.Errorf("synchronous_standby_names on %s is %q (err %v), want %q", p.Host.Name, got, err, want)
	})
	if err != nil {
		t.Fatal(err)
	}
	return time.Now()
}

// Two synchronous standbys required (ANY 2 (n2, n3)), n3's postmaster
// killed: every commit waits for a standby that is gone until n1's agent,
// with reconfigure.num.sync=true, lowers num_sync to 1; the client commits
// again. n3 started again and streaming: num_sync goes back up to
// reconfigure.num.sync.max=2. Then both standbys' postmasters killed: with
// reconfigure.sync.primary=true n1 goes asynchronous rather than block,
// and stays so (EFM). Each change notified.
func TestSyncStandbyLostNumSyncLoweredAndRestored(t *testing.T) {
	c, ctx := startCluster(t, harness.ClusterOptions{Sync: true, Props: map[string]string{
		"check.num.sync.period":    "1",
		"reconfigure.num.sync":     "true",
		"reconfigure.num.sync.max": "2",
		"reconfigure.sync.primary": "true",
	}})
	n1, n3 := c.DB[0], c.PG("n3")
	if err := n1.Exec(ctx, "ALTER SYSTEM SET synchronous_standby_names = 'ANY 2 (n2, n3)'"); err != nil {
		t.Fatal(err)
	}
	if err := n1.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		t.Fatal(err)
	}
	waitSyncNames(ctx, t, n1, "ANY 2 (n2, n3)", 10*time.Second)
	w := c.StartWriter(harness.WriterOptions{})
	if err := w.WaitAcks(ctx, 30*time.Second, time.Now(), 20); err != nil {
		t.Fatal(err)
	}
	pid, err := n3.KillPostmaster()
	if err != nil {
		t.Fatal(err)
	}
	fault := time.Now()
	t.Logf("killed n3's postmaster (pid %d); n1 requires 2 synchronous standbys", pid)
	lowered := waitSyncNames(ctx, t, n1, "ANY 1 (n2, n3)", 30*time.Second)
	t.Logf("measured: n1's agent lowered num_sync to 1 %v after the kill", lowered.Sub(fault).Round(time.Millisecond))
	if err := w.WaitAcks(ctx, 30*time.Second, lowered, 20); err != nil {
		t.Fatalf("the client does not commit after num_sync was lowered: %v", err)
	}

	if err := n3.Start(ctx); err != nil {
		t.Fatalf("starting n3 again: %v", err)
	}
	back := time.Now()
	raised := waitSyncNames(ctx, t, n1, "ANY 2 (n2, n3)", 60*time.Second)
	t.Logf("measured: num_sync back at 2 %v after n3 was started again", raised.Sub(back).Round(time.Millisecond))
	if err := w.WaitAcks(ctx, 30*time.Second, raised, 20); err != nil {
		t.Fatalf("the client does not commit after num_sync was raised: %v", err)
	}
	gap := w.Stop().MaxGapAfter(fault.Add(-time.Second))
	t.Logf("measured: the client could not commit for %v (largest gap between acknowledged commits, from the kill on)", gap.Duration().Round(time.Millisecond))

	// No synchronous standby left: cleared, commits go on without one.
	w = c.StartWriter(harness.WriterOptions{})
	if err := w.WaitAcks(ctx, 30*time.Second, time.Now(), 20); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*harness.PG{c.PG("n2"), n3} {
		if _, err := p.KillPostmaster(); err != nil {
			t.Fatal(err)
		}
	}
	both := time.Now()
	cleared := waitSyncNames(ctx, t, n1, "", 30*time.Second)
	t.Logf("measured: n1's agent cleared synchronous_standby_names %v after both standbys' postmasters were killed", cleared.Sub(both).Round(time.Millisecond))
	if err := w.WaitAcks(ctx, 30*time.Second, cleared, 20); err != nil {
		t.Fatalf("the client does not commit after synchronous replication was cleared: %v", err)
	}
	wr := w.Stop()
	t.Logf("measured: the client could not commit for %v with no standby left", wr.MaxGapAfter(both.Add(-time.Second)).Duration().Round(time.Millisecond))
	checkLost(ctx, t, wr, n1, true)

	// The agent may also have raised the operator's ANY 1 to ANY 2 itself
	// before the test set it (reconfigure.num.sync.max=2): count the
	// lowering and the raise that follow the kill by their reasons.
	all := strings.Join(c.Configs["n1"].Notifications(), "\n")
	for _, want := range []string{"lowered to 1 (reconfigure.num.sync=true)", "raised to 2 (reconfigure.num.sync.max=2)",
		"Synchronous replication has been disabled", "cleared (reconfigure.sync.primary=true)"} {
		if !strings.Contains(all, want) {
			t.Errorf("n1 did not notify %q:\n%s", want, all)
		}
	}
	if !strings.Contains(all, "Synchronous replication has been reconfigured") {
		t.Errorf("no \"Synchronous replication has been reconfigured\" notification on n1:\n%s", all)
	}
}
