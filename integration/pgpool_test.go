package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openefm/efm/integration/harness"
	"github.com/openefm/efm/internal/pgpool"
)

// Pgpool-II in front of the cluster (Debian's pgpool2, its own failover
// disabled as examples/pgpool/pgpool.conf does), driven by the agents
// (pgpool.enable=true): after a failover the new primary's agent promotes
// its backend in Pgpool (and detaches the old primary when nobody else
// could), the failed primary's agent detaches itself when it can, and the
// other standby attaches itself again once it follows. A client through
// Pgpool writes again; one through HAProxy and one through the VIP run
// beside it, and their write gaps are logged side by side.

// TestPgpoolFailoverPostmasterKilled: n1's postmaster is killed; n1's own
// agent detaches it from Pgpool as it declares its database failed
// (EFM's failover step 1), the new primary's agent promotes itself.
func TestPgpoolFailoverPostmasterKilled(t *testing.T) {
	pgpoolFailover(t, "kill n1's postmaster", killPostmaster, nil, "n1")
}

func killPostmaster(ctx context.Context, c *harness.Cluster) error {
	_, err := c.DB[0].KillPostmaster()
	return err
}

// TestPgpoolFailoverPrimaryLinkCut: n1's link is cut with every process
// alive; n1 fences itself, the majority promotes, and the new primary's
// agent detaches n1 (whose agent did not answer the failover check) before
// it promotes itself. The link is healed at the end and n1 must stay
// fenced.
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
	}, "")
}

// startPgpoolCluster builds the cluster, starts Pgpool and only then the
// agents, configured to drive it (their start checks need the PCP pass
// file and Pgpool's programs).
func startPgpoolCluster(t *testing.T, opts harness.ClusterOptions) (*harness.Cluster, *harness.Pgpool, context.Context) {
	t.Helper()
	requireHarness(t)
	ctx := context.Background()
	opts.Pgpool = true
	c, err := harness.NewCluster(ctx, t, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			dumpAgents(t, c)
		}
	})
	pp, err := c.StartPgpool(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("---- pgpool log ----\n%s", pp.Proc.Log())
		}
	})
	prog, err := exec.LookPath("pcp_node_info")
	if err != nil {
		t.Fatalf("Pgpool's PCP programs: %v (integration/setup-host.sh installs pgpool2)", err)
	}
	for _, h := range c.AgentHosts() {
		cfg := c.Configs[h.Name]
		for k, v := range map[string]string{"pgpool.enable": "true", "pgpool.bin": filepath.Dir(prog),
			"pcp.user": harness.PCPUser, "pcp.host": pp.PCP.Addr().String(), "pcp.port": fmt.Sprint(pp.PCP.Port()),
			"pcp.pass.file": pp.PassFile} {
			cfg.Props[k] = v
		}
		if err := cfg.Write(); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.StartAgents(ctx); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	status, err := c.WaitHealthy(ctx, 60*time.Second)
	if err != nil {
		t.Fatalf("the cluster never became healthy: %v", err)
	}
	t.Logf("agents formed a healthy cluster in %v:\n%s", time.Since(start).Round(time.Millisecond), status)
	checkSameView(ctx, t, c)
	return c, pp, ctx
}

// pgpoolFailover runs a client through Pgpool, one through HAProxy and one
// through the VIP, makes the fault on n1 and waits for the agents'
// failover to reach Pgpool: the new primary its primary, n1 down, the other
// standby up again. Every commit acknowledged through Pgpool or HAProxy
// must come from the primary of the moment, no write through either may
// reach a standby. selfDetach names the host whose own agent detaches n1
// ("" = the new primary's agent does). healed, if set, runs after the
// writers stopped.
func pgpoolFailover(t *testing.T, what string, fault func(context.Context, *harness.Cluster) error,
	healed func(context.Context, *testing.T, *harness.Cluster), selfDetach string) {
	c, pp, ctx := startPgpoolCluster(t, harness.ClusterOptions{Sync: true, HAProxy: true})
	w, p := c.StartWriter(harness.WriterOptions{}), c.StartProbe()
	r := startRouted(ctx, t, c)
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
	var np string
	err := harness.Eventually(ctx, 90*time.Second, 50*time.Millisecond, func(ctx context.Context) (bool, error) {
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
	pcp, err := pp.Client(c.Net.Host(np))
	if err != nil {
		t.Fatal(err)
	}
	if err := pw.WaitAcks(ctx, 60*time.Second, start, 20); err != nil {
		t.Fatalf("the client cannot write through Pgpool after the failover: %v", err)
	}
	t.Logf("measured: writes through Pgpool again %v after the fault", time.Since(start).Round(time.Millisecond))
	if err := w.WaitAcks(ctx, 60*time.Second, start, 20); err != nil {
		t.Fatalf("the client cannot write through the VIP after the failover: %v", err)
	}
	checkFollows(ctx, t, c, np, "n1")
	checkPgpoolBackends(ctx, t, pcp, c, np, "n1")
	t.Logf("measured: Pgpool shows the whole failover (%s primary, n1 down, the other standby up) %v after the fault", np, time.Since(start).Round(time.Millisecond))

	wr, pwr, pr := w.Stop(), pw.Stop(), p.Stop()
	lwr := r.finish(ctx, t, c, pr, wr, np, "n1", start)
	if healed != nil {
		healed(ctx, t, c)
	}
	checkNoSplitBrain(t, pr, np, "n1", start)
	checkLost(ctx, t, wr, c.PG(np), true)
	checkPrimaryOnly(t, c, pwr, pr, "Pgpool", np, "n1", start)
	gap := func(r harness.WriterReport) time.Duration {
		return r.MaxGapAfter(start.Add(-time.Second)).Duration().Round(time.Millisecond)
	}
	t.Logf("measured: write gap   VIP %-8v HAProxy %-8v Pgpool %-8v", gap(wr), gap(lwr), gap(pwr))
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
	// Exactly one agent issued each PCP command, the one docs/routing.md
	// names.
	detacher := selfDetach
	if detacher == "" {
		detacher = np
	}
	old := c.DB[0].Host.Addr.String()
	want := map[string][]string{detacher: {"detach " + old}}
	want[np] = append(want[np], "promote "+c.Net.Host(np).Addr.String())
	for _, s := range c.DB[1:] {
		if s.Host.Name != np {
			want[s.Host.Name] = []string{"attach " + s.Host.Addr.String()}
		}
	}
	for _, h := range c.AgentHosts() {
		if h.Name == "n1" && selfDetach == "" {
			continue // cut off: its log is read below, after the heal
		}
		// A standby attaches itself once it follows the new primary; Pgpool
		// may show it up before that (CI under load: n3's attach came after
		// the backends check above).
		var got []string
		_ = harness.Eventually(ctx, 30*time.Second, 200*time.Millisecond, func(context.Context) (bool, error) {
			got = pgpoolOps(c.Agent(h.Name).Log())
			return len(got) >= len(want[h.Name]), nil
		})
		if !slices.Equal(got, want[h.Name]) {
			t.Errorf("%s's agent ran Pgpool operations %v, want %v", h.Name, got, want[h.Name])
		}
	}
	if selfDetach == "" {
		if got := pgpoolOps(c.Agent("n1").Log()); len(got) != 0 {
			t.Errorf("the isolated n1's agent ran Pgpool operations %v, want none", got)
		}
	}
	for _, h := range c.AgentHosts() {
		b, _ := os.ReadFile(c.Configs[h.Name].NotificationsPath())
		if strings.Contains(string(b), "Pgpool") {
			t.Errorf("%s notified a Pgpool error:\n%s", h.Name, b)
		}
	}
}

// pgpoolOps lists the Pgpool operations an agent's log reports done, as
// "<op> <node>".
func pgpoolOps(log string) []string {
	var out []string
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, "Pgpool operation") {
			continue
		}
		var op, node string
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, "op="); ok {
				op = v
			}
			if v, ok := strings.CutPrefix(f, "target="); ok {
				node = v
			}
		}
		out = append(out, op+" "+node)
	}
	return out
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
