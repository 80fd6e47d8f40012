package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/openefm/efm/integration/harness"
	"github.com/openefm/efm/internal/pgpool"
)

// Pgpool-II in front of the cluster (Debian's pgpool2, its own failover
// disabled as examples/pgpool/pgpool.conf does): after OpenEFM's failover
// the test plays the agent's part with OpenEFM's own PCP client
// (internal/pgpool) — detach the failed node, promote the new primary's
// backend, attach the standby that now follows it — and a client through
// Pgpool writes again. The agent does not drive Pgpool yet; this proves
// the hands and the harness.

// TestPgpoolFailoverPostmasterKilled: n1's postmaster is killed; OpenEFM
// promotes a standby and moves the VIP; then detach n1 and promote the new
// primary in Pgpool.
func TestPgpoolFailoverPostmasterKilled(t *testing.T) {
	pgpoolFailover(t, "kill n1's postmaster", killPostmaster, nil, false)
}

// TestPgpoolDetachAtFailure is EFM's order: the old primary's agent
// detaches its node as soon as its database fails (EFM's failover step 1),
// before any standby is promoted; the new primary's backend is promoted in
// Pgpool after OpenEFM's promotion. Meanwhile Pgpool has no primary (it
// looks for one every second for search_primary_node_timeout) and must
// send no write anywhere.
func TestPgpoolDetachAtFailure(t *testing.T) {
	pgpoolFailover(t, "kill n1's postmaster, then detach n1 in Pgpool at once", killPostmaster, nil, true)
}

func killPostmaster(ctx context.Context, c *harness.Cluster) error {
	_, err := c.DB[0].KillPostmaster()
	return err
}

// TestPgpoolFailoverPrimaryLinkCut: n1's link is cut with every process
// alive; n1 fences itself, the majority promotes, and Pgpool, which cannot
// reach n1 any more, is told through PCP. The link is healed at the end
// and n1 must stay fenced.
func TestPgpoolFailoverPrimaryLinkCut(t *testing.T) {
	pgpoolFailover(t, "cut n1's link", func(ctx context.Context, c *harness.Cluster) error {
		return c.Net.CutLink(ctx, c.DB[0].Host)
	}, func(ctx context.Context, t *testing.T, c *harness.Cluster) {
		if err := c.Net.RestoreLink(ctx, c.DB[0].Host); err != nil {
			t.Fatal(err)
		}
		if ok, _ := c.DB[0].Writable(ctx); ok {
			t.Errorf("the old primary n1 is writable again after the link healed")
		}
	}, false)
}

// pgpoolFailover runs a client through Pgpool and one through the VIP,
// makes the fault on n1, waits for OpenEFM's failover (a standby holds the
// VIP) and then plays the agent's part from the new primary's host: detach
// n1, promote the new primary's backend, attach the other standby once it
// follows. Every commit acknowledged through Pgpool must come from the
// primary of the moment, no write through Pgpool may reach a standby, and
// the write gaps through Pgpool and the VIP are logged side by side.
// healed, if set, runs after the writers stopped. detachFirst detaches n1
// from n1's host right after the fault instead of after the promotion.
func pgpoolFailover(t *testing.T, what string, fault func(context.Context, *harness.Cluster) error,
	healed func(context.Context, *testing.T, *harness.Cluster), detachFirst bool) {
	c, ctx := startCluster(t, harness.ClusterOptions{Sync: true, Pgpool: true})
	pp, err := c.StartPgpool(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("---- pgpool log ----\n%s", pp.Proc.Log())
		}
	})
	w, p := c.StartWriter(harness.WriterOptions{}), c.StartProbe()
	pw := c.StartWriterVia(pp.Addr, harness.WriterOptions{})
	if err := w.WaitAcks(ctx, 30*time.Second, time.Now(), 20); err != nil {
		t.Fatal(err)
	}
	if err := pw.WaitAcks(ctx, 30*time.Second, time.Now(), 20); err != nil {
		t.Fatalf("no writes through Pgpool at %s: %v", pp.Addr, err)
	}

	if err := fault(ctx, c); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	t.Logf("%s", what)
	old := c.DB[0].Host.Addr.String()
	detach := func(from *harness.Host) {
		t.Helper()
		pcp, err := pp.Client(from)
		if err != nil {
			t.Fatal(err)
		}
		n, err := pcp.Detach(ctx, old, harness.PGPort)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("measured: detached n1 (Pgpool backend %d) from %s %v after the fault", n.ID, from.Name, time.Since(start).Round(time.Millisecond))
	}
	if detachFirst {
		detach(c.DB[0].Host)
	}
	var np string
	err = harness.Eventually(ctx, 90*time.Second, 50*time.Millisecond, func(ctx context.Context) (bool, error) {
		for _, s := range c.DB[1:] {
			if ok, _ := s.Host.HasAddr(ctx, c.VIP); ok {
				np = s.Host.Name
				return true, nil
			}
		}
		return false, fmt.Errorf("no standby holds the VIP yet")
	})
	if err != nil {
		t.Fatalf("no standby was promoted: %v", err)
	}
	t.Logf("measured: the VIP reached %s %v after the fault", np, time.Since(start).Round(time.Millisecond))

	// The agent's part, from the new primary's host.
	pcp, err := pp.Client(c.Net.Host(np))
	if err != nil {
		t.Fatal(err)
	}
	if !detachFirst {
		detach(c.Net.Host(np))
	}
	n, err := pcp.Promote(ctx, c.Net.Host(np).Addr.String(), harness.PGPort)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("measured: promoted %s (Pgpool backend %d) in Pgpool %v after the fault", np, n.ID, time.Since(start).Round(time.Millisecond))
	if nodes, err := pcp.Nodes(ctx); err == nil {
		t.Logf("Pgpool's backends after pcp_promote_node: %v", nodes)
	}
	if err := pw.WaitAcks(ctx, 60*time.Second, start, 20); err != nil {
		t.Fatalf("the client cannot write through Pgpool after the failover: %v", err)
	}
	if err := w.WaitAcks(ctx, 60*time.Second, start, 20); err != nil {
		t.Fatalf("the client cannot write through the VIP after the failover: %v", err)
	}

	// The other standby follows the new primary: attach it, as the agent
	// will for a standby it reconfigured (Pgpool may have marked it down
	// while failing over; attaching a backend that is up changes nothing).
	checkFollows(ctx, t, c, np, "n1")
	for _, s := range c.DB[1:] {
		if s.Host.Name == np {
			continue
		}
		if _, err := pcp.Attach(ctx, s.Host.Addr.String(), harness.PGPort); err != nil {
			t.Fatal(err)
		}
	}
	checkPgpoolBackends(ctx, t, pcp, c, np, "n1")

	wr, pwr, pr := w.Stop(), pw.Stop(), p.Stop()
	if healed != nil {
		healed(ctx, t, c)
	}
	checkNoSplitBrain(t, pr, np, "n1", start)
	checkLost(ctx, t, wr, c.PG(np), true)
	checkPrimaryOnly(t, c, pwr, pr, "Pgpool", np, "n1", start)
	vg, pg := wr.MaxGapAfter(start.Add(-time.Second)), pwr.MaxGapAfter(start.Add(-time.Second))
	t.Logf("measured: write gap   VIP %-8v Pgpool %-8v", vg.Duration().Round(time.Millisecond), pg.Duration().Round(time.Millisecond))
	t.Logf("measured: through Pgpool %d commits acknowledged %v, %d errors, %d refused as read-only", len(pwr.Acks), hostsOf(c, pwr), pwr.Errors, len(pwr.ReadOnly))
	lost, err := pwr.Lost(ctx, c.PG(np))
	if err != nil {
		t.Errorf("counting commits lost through Pgpool: %v", err)
	} else if len(lost) > 0 {
		t.Errorf("synchronous replication lost %d commits acknowledged through Pgpool: %v", len(lost), lost)
	}
	if healed == nil {
		checkFenced(ctx, t, c.DB[0])
	}
}

// checkPgpoolBackends waits until Pgpool shows the new primary as its
// primary and up, every other standby up, and the old primary down.
func checkPgpoolBackends(ctx context.Context, t *testing.T, pcp *pgpool.Client, c *harness.Cluster, np, old string) {
	t.Helper()
	var nodes []pgpool.Node
	err := harness.Eventually(ctx, 30*time.Second, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		var err error
		nodes, err = pcp.Nodes(ctx)
		if err != nil {
			return false, err
		}
		for _, n := range nodes {
			host := c.DB[n.ID].Host.Name
			ok := n.Status.Up() && (n.Role == "primary") == (host == np)
			if host == old {
				ok = n.Status == pgpool.StatusDown
			}
			if !ok {
				return false, fmt.Errorf("backends %v: want %s primary and up, %s down, the rest standbys and up", nodes, np, old)
			}
		}
		return true, nil
	})
	if err != nil {
		t.Errorf("Pgpool's backends after the failover: %v", err)
		return
	}
	t.Logf("Pgpool's backends after the failover: %v", nodes)
}

// checkPrimaryOnly: every commit acknowledged through a router came from
// the primary of the moment (old before the new one's first write, np from
// it on), and no write through it reached a server that refused it as
// read-only.
func checkPrimaryOnly(t *testing.T, c *harness.Cluster, wr harness.WriterReport, pr harness.ProbeReport, via, np, old string, fault time.Time) {
	t.Helper()
	first, ok := pr.FirstWritable(np, fault)
	if !ok {
		t.Fatalf("the probe never saw %s writable after the fault", np)
	}
	for _, a := range wr.Acks {
		host := c.HostOf(a.DataDir)
		switch {
		case host == old && a.Acked.Before(first):
		case host == np && !a.Acked.Before(first):
		default:
			t.Errorf("commit %d acknowledged through %s by %s (%s) at %s, which was not the primary then (old %s, new %s from %s)",
				a.ID, via, host, a.DataDir, a.Acked.Format("15:04:05.000"), old, np, first.Format("15:04:05.000"))
		}
	}
	for _, rf := range wr.ReadOnly {
		t.Errorf("write %d through %s reached %s (%s) at %s, which refused it as read-only: not the primary",
			rf.ID, via, c.HostOf(rf.DataDir), rf.DataDir, rf.At.Format("15:04:05.000"))
	}
}

// hostsOf counts acknowledged commits per database host.
func hostsOf(c *harness.Cluster, wr harness.WriterReport) map[string]int {
	by := map[string]int{}
	for _, a := range wr.Acks {
		by[c.HostOf(a.DataDir)]++
	}
	return by
}
