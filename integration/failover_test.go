package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/openefm/efm/integration/harness"
)

// The real-failover tests: hosts n1, n2, n3 and a witness on a private
// bridge, PostgreSQL 15 with n1 primary and n2, n3 streaming, an efm agent
// on each (fast profile: node.timeout=5, local.timeout=3), a client on a
// fifth host committing every 20 ms through the VIP, and a probe inside
// every host asking its database whether it accepts a write. Then one fault,
// made for real, and assertions on what the client and the probe saw.
// Times are printed, never asserted: this machine is shared and noisy.

// startCluster builds the cluster, starts the agents and waits until
// cluster-status on the witness reports a healthy cluster.
func startCluster(t *testing.T, opts harness.ClusterOptions) (*harness.Cluster, context.Context) {
	t.Helper()
	requireHarness(t)
	ctx := context.Background()
	c, err := harness.NewCluster(ctx, t, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			dumpAgents(t, c)
		}
	})
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
	return c, ctx
}

// checkSameView requires cluster-status-json on every agent host to show the
// same members with the same types, allowed list and coordinator.
func checkSameView(ctx context.Context, t *testing.T, c *harness.Cluster) {
	t.Helper()
	type view struct {
		Nodes map[string]struct {
			Type string `json:"type"`
		} `json:"nodes"`
		Allowed     []string `json:"allowednodes"`
		Coordinator string   `json:"membershipcoordinator"`
	}
	var first string
	var firstHost string
	for _, h := range c.AgentHosts() {
		var got string
		err := harness.Eventually(ctx, 20*time.Second, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
			out, err := c.EFM(ctx, h, "cluster-status-json", c.Name)
			if err != nil {
				return false, err
			}
			var v view
			if err := json.Unmarshal([]byte(out), &v); err != nil {
				return false, fmt.Errorf("cluster-status-json on %s: %v", h.Name, err)
			}
			slices.Sort(v.Allowed)
			b, _ := json.Marshal(v)
			got = string(b)
			return len(v.Nodes) == len(c.AgentHosts()) && (first == "" || got == first), fmt.Errorf("%s sees %s, %s sees %s", h.Name, got, firstHost, first)
		})
		if err != nil {
			t.Fatalf("agents disagree on the membership: %v", err)
		}
		if first == "" {
			first, firstHost = got, h.Name
		}
	}
	t.Logf("every agent shows the same membership: %s", first)
}

// dumpAgents prints the tail of every agent's log and its notifications.
func dumpAgents(t *testing.T, c *harness.Cluster) {
	for _, h := range c.AgentHosts() {
		if p := c.Agent(h.Name); p != nil {
			log := p.Log()
			if i := len(log) - 12000; i > 0 {
				log = log[i:]
			}
			t.Logf("---- agent log of %s (tail) ----\n%s", h.Name, log)
		}
		t.Logf("---- notifications of %s ----\n%s", h.Name, strings.Join(c.Configs[h.Name].Notifications(), "\n"))
	}
}

// newPrimary waits until exactly one host other than old holds the VIP and
// returns it.
func newPrimary(ctx context.Context, t *testing.T, c *harness.Cluster, old string, timeout time.Duration) string {
	t.Helper()
	var holders []string
	err := harness.Eventually(ctx, timeout, 50*time.Millisecond, func(ctx context.Context) (bool, error) {
		var err error
		holders, err = c.VIPHolders(ctx)
		if err != nil {
			return false, err
		}
		return len(holders) == 1 && holders[0] != old, fmt.Errorf("VIP held by %v", holders)
	})
	if err != nil {
		t.Fatalf("no new primary took the VIP: %v", err)
	}
	return holders[0]
}

// checkFollows waits until every standby other than the new primary streams
// from it.
func checkFollows(ctx context.Context, t *testing.T, c *harness.Cluster, primary string, except ...string) {
	t.Helper()
	want := c.PG(primary).Host.Addr.String()
	for _, db := range c.DB {
		name := db.Host.Name
		if name == primary || slices.Contains(except, name) {
			continue
		}
		err := harness.Eventually(ctx, 60*time.Second, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
			host, err := db.QueryString(ctx, "SELECT coalesce((SELECT sender_host FROM pg_stat_wal_receiver WHERE status = 'streaming'), '')")
			return err == nil && host == want, fmt.Errorf("%s streams from %q (err %v), want %s", name, host, err, want)
		})
		if err != nil {
			t.Errorf("standby %s does not follow the new primary %s: %v", name, primary, err)
		}
	}
}

// checkNoSplitBrain: once the new primary accepted its first write, no other
// server accepted one.
func checkNoSplitBrain(t *testing.T, pr harness.ProbeReport, newPrimary, old string, fault time.Time) {
	t.Helper()
	first, ok := pr.FirstWritable(newPrimary, fault)
	if !ok {
		t.Fatalf("the probe never saw %s writable after the fault", newPrimary)
	}
	if ov := pr.OverlapsAfter(first); len(ov) > 0 {
		t.Errorf("SPLIT BRAIN: two servers accepted writes at once after %s's first write: %v", newPrimary, ov)
	}
	if last, ok := pr.LastWritable(old); ok && !last.Before(first) {
		t.Errorf("the old primary %s accepted a write at %v, after the new primary %s accepted one at %v",
			old, last.Format("15:04:05.000"), newPrimary, first.Format("15:04:05.000"))
	}
	if last, ok := pr.LastWritable(old); ok {
		t.Logf("measured: old primary %s last accepted a write %v after the fault; new primary %s first accepted one %v after it",
			old, last.Sub(fault).Round(time.Millisecond), newPrimary, first.Sub(fault).Round(time.Millisecond))
	}
}

// checkFenced starts the old primary's server by hand, as an operator or a
// reboot would, and requires it to come up read-only (in recovery).
func checkFenced(ctx context.Context, t *testing.T, old *harness.PG) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(old.DataDir, "standby.signal")); err != nil {
		t.Errorf("the old primary's data directory has no standby.signal fence: %v", err)
	}
	if ok, _ := old.Writable(ctx); !ok {
		if err := old.Start(ctx); err != nil {
			t.Logf("starting the old primary by hand: %v (it may be running already)", err)
		}
	}
	err := harness.Eventually(ctx, 30*time.Second, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		_, err := old.InRecovery(ctx)
		return err == nil, err
	})
	if err != nil {
		t.Fatalf("the old primary's server does not answer after a restart by hand: %v", err)
	}
	if rec, err := old.InRecovery(ctx); err != nil || !rec {
		t.Errorf("the old primary came back writable (in recovery %v, err %v): it was not fenced", rec, err)
	}
	if ok, _ := old.Writable(ctx); ok {
		t.Errorf("the old primary accepts writes after a restart by hand")
	}
}

// checkLost reports acknowledged commits missing on the new primary; with
// synchronous replication there must be none.
func checkLost(ctx context.Context, t *testing.T, wr harness.WriterReport, primary *harness.PG, sync bool) {
	t.Helper()
	lost, err := wr.Lost(ctx, primary)
	if err != nil {
		t.Fatalf("counting lost commits: %v", err)
	}
	t.Logf("measured: %d commits acknowledged, %d lost, %d uncertain (failed, outcome unknown)", len(wr.Acks), len(lost), len(wr.Uncertain))
	if sync && len(lost) > 0 {
		t.Errorf("synchronous replication lost %d acknowledged commits: %v", len(lost), lost)
	}
}

// n1's postmaster gets SIGKILL while its agent stays up: the agents must
// confirm the failure by connecting to it themselves, then promote the most
// advanced standby; the VIP moves, the client writes again, the other
// standby follows the new primary and the old primary stays fenced.
func TestFailoverPrimaryPostmasterKilled(t *testing.T) {
	c, ctx := startCluster(t, harness.ClusterOptions{Sync: true, HAProxy: true})
	w, p := c.StartWriter(harness.WriterOptions{}), c.StartProbe()
	if err := w.WaitAcks(ctx, 30*time.Second, time.Now(), 20); err != nil {
		t.Fatal(err)
	}
	lb := startRouted(ctx, t, c)
	pid, err := c.DB[0].KillPostmaster()
	if err != nil {
		t.Fatal(err)
	}
	fault := time.Now()
	t.Logf("killed n1's postmaster (pid %d)", pid)

	np := newPrimary(ctx, t, c, "n1", 90*time.Second)
	t.Logf("measured: the VIP reached %s %v after the kill", np, time.Since(fault).Round(time.Millisecond))
	if err := w.WaitAcks(ctx, 60*time.Second, fault, 20); err != nil {
		t.Fatalf("the client cannot write through the VIP after the failover: %v", err)
	}
	pred := predictFor(t, c, "primary database crash", "writes on a new primary")
	t.Logf("predicted (efm check-conf): %s", pred)
	checkFollows(ctx, t, c, np, "n1")
	wr, pr := w.Stop(), p.Stop()
	gap := wr.MaxGapAfter(fault.Add(-time.Second))
	t.Logf("measured: the client could not write for %v (largest gap between acknowledged commits)", gap.Duration().Round(time.Millisecond))
	checkNoSplitBrain(t, pr, np, "n1", fault)
	checkLost(ctx, t, wr, c.PG(np), true)
	lb.finish(ctx, t, c, pr, wr, np, "n1", fault)
	checkEndpoints(ctx, t, c, c.Net.Host(np), "new primary", primaryEndpoints)
	checkEndpoints(ctx, t, c, c.DB[0].Host, "fenced old primary", fencedEndpoints)
	checkFenced(ctx, t, c.DB[0])
}

// n1's link is cut with every process alive: n1's agent must fence its own
// database when its lease runs out, before the majority (n2, n3, witness)
// may promote; a probe inside n1's namespace must never find it writable
// after the new primary accepted a write.
func TestFailoverPrimaryHostIsolated(t *testing.T) {
	c, ctx := startCluster(t, harness.ClusterOptions{Sync: true, HAProxy: true})
	w, p := c.StartWriter(harness.WriterOptions{}), c.StartProbe()
	if err := w.WaitAcks(ctx, 30*time.Second, time.Now(), 20); err != nil {
		t.Fatal(err)
	}
	lb := startRouted(ctx, t, c)
	n1 := c.Net.Host("n1")
	hw := c.WatchHealth(n1, n1, "/primary")
	if err := c.Net.CutLink(ctx, n1); err != nil {
		t.Fatal(err)
	}
	fault := time.Now()
	t.Logf("cut n1's link")

	// n1 must fence itself: its server stops accepting writes.
	if err := p.WaitState(ctx, 60*time.Second, "n1", fault, false); err != nil {
		t.Fatalf("the isolated primary never stopped accepting writes: %v", err)
	}
	fenced := time.Now()
	t.Logf("measured: isolated n1 stopped accepting writes %v after the cut", fenced.Sub(fault).Round(time.Millisecond))
	// The probe can see the database refuse writes within milliseconds of
	// the agent's switch to 503 (both happen as fencing starts): keep
	// watching until the 503 has been seen, or the check below says it
	// never came.
	if err := hw.WaitCode(ctx, 503, fault, 10*time.Second); err != nil {
		t.Logf("n1's /primary: %v", err)
	}
	checkStopsVouchingFirst(t, hw.Stop(), p.Snapshot(), "n1", fault)

	var np string
	err := harness.Eventually(ctx, 90*time.Second, 50*time.Millisecond, func(ctx context.Context) (bool, error) {
		for _, name := range []string{"n2", "n3"} {
			if ok, _ := n1.Network().Host(name).HasAddr(ctx, c.VIP); ok {
				np = name
				return true, nil
			}
		}
		return false, fmt.Errorf("no standby holds the VIP yet")
	})
	if err != nil {
		t.Fatalf("the majority did not promote: %v", err)
	}
	t.Logf("measured: the VIP reached %s %v after the cut", np, time.Since(fault).Round(time.Millisecond))
	if err := w.WaitAcks(ctx, 60*time.Second, fault, 20); err != nil {
		t.Fatalf("the client cannot write through the VIP after the failover: %v", err)
	}
	checkFollows(ctx, t, c, np, "n1")

	// Heal the link: the old primary sees the higher epoch and stays fenced.
	if err := c.Net.RestoreLink(ctx, n1); err != nil {
		t.Fatal(err)
	}
	err = harness.Eventually(ctx, 60*time.Second, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		s, _ := c.EFM(ctx, c.Witness, "cluster-status-json", c.Name)
		return strings.Contains(s, `"`+n1.Addr.String()+`"`) && !strings.Contains(s, `"missingnodes": [
    "`+n1.Addr.String()), fmt.Errorf("n1 not back in the cluster: %s", s)
	})
	if err != nil {
		t.Errorf("n1 did not rejoin after the link healed: %v", err)
	}
	wr, pr := w.Stop(), p.Stop()
	if ok, _ := c.DB[0].Writable(ctx); ok {
		t.Errorf("the old primary n1 is writable again after the link healed")
	}
	gap := wr.MaxGapAfter(fault.Add(-time.Second))
	t.Logf("measured: the client could not write for %v", gap.Duration().Round(time.Millisecond))
	checkNoSplitBrain(t, pr, np, "n1", fault)
	checkLost(ctx, t, wr, c.PG(np), true)
	lb.finish(ctx, t, c, pr, wr, np, "n1", fault)
	checkEndpoints(ctx, t, c, c.Net.Host(np), "new primary", primaryEndpoints)
}

// n1's agent fails or stops while its database is healthy: killed
// (SIGKILL), stopped cleanly (SIGTERM; primary.shutdown.as.failure=false),
// or frozen (SIGSTOP, then SIGCONT after its lease ran out: it renews
// before it would fence, and carries on). The others can still connect to the
// primary database, so there is no failover (no doubt, no promotion), only
// a notification; the client keeps writing to n1.
func TestPrimaryAgentLostNoFailover(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault func(p *harness.Proc) error
		notes []string // any of these notifications, on any other agent
	}{
		{"killed", func(p *harness.Proc) error { p.Kill(); return nil },
			[]string{"primary DB is still running", "Failover has not occurred", "Primary agent exited", "Primary agent missing"}},
		{"stopped cleanly", func(p *harness.Proc) error { return p.Signal(syscall.SIGTERM) },
			[]string{"primary agent has left", "Primary agent exited", "Primary agent missing", "primary DB is still running"}},
		{"frozen", func(p *harness.Proc) error { return p.Stop() },
			[]string{"primary DB is still running", "Failover has not occurred", "Primary agent missing"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, ctx := startCluster(t, harness.ClusterOptions{})
			w, p := c.StartWriter(harness.WriterOptions{}), c.StartProbe()
			if err := w.WaitAcks(ctx, 30*time.Second, time.Now(), 20); err != nil {
				t.Fatal(err)
			}
			agent := c.Agent("n1")
			if err := tc.fault(agent); err != nil {
				t.Fatal(err)
			}
			fault := time.Now()
			t.Logf("n1's agent (pid %d) %s", agent.Pid, tc.name)

			// The agents notice the primary agent is gone, check its
			// database directly, find it up and say so.
			var note string
			err := harness.Eventually(ctx, 90*time.Second, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
				for _, name := range []string{"witness", "n2", "n3", "n1"} {
					for _, l := range c.Configs[name].Notifications() {
						for _, want := range tc.notes {
							if strings.Contains(l, want) {
								note = name + ": " + l
								return true, nil
							}
						}
					}
				}
				return false, fmt.Errorf("no notification about the lost primary agent yet")
			})
			if err != nil {
				t.Fatalf("no notification about the lost primary agent: %v", err)
			}
			t.Logf("measured: %v after the fault: %s", time.Since(fault).Round(time.Millisecond), note)

			// Watch for a promotion for three failure-detection periods
			// after the notification: a negative is observed over a window.
			deadline := time.Now().Add(3 * 5 * time.Second)
			for time.Now().Before(deadline) {
				if wr := c.Writable(ctx); slices.Contains(wr, "n2") || slices.Contains(wr, "n3") {
					t.Fatalf("a standby was promoted although the primary database was up: writable %v", wr)
				}
				if h, _ := c.VIPHolders(ctx); len(h) != 1 || h[0] != "n1" {
					t.Fatalf("the VIP moved although the primary database was up: held by %v", h)
				}
				time.Sleep(200 * time.Millisecond)
			}
			if tc.name == "frozen" {
				if err := agent.Cont(); err != nil {
					t.Fatal(err)
				}
				thawed := time.Now()
				// Whatever the thawed agent decides, writes must come back.
				if err := w.WaitAcks(ctx, 60*time.Second, thawed.Add(time.Second), 10); err != nil {
					t.Errorf("no writes after the thaw: %v", err)
				}
				out, _ := c.EFM(ctx, c.Witness, "cluster-status", c.Name)
				t.Logf("%v after SIGCONT, writable: %v; cluster-status:\n%s", time.Since(thawed).Round(time.Millisecond), c.Writable(ctx), out)
			}
			wr, pr := w.Stop(), p.Stop()
			if ov := pr.Overlaps(); len(ov) > 0 {
				t.Errorf("two servers accepted writes at once: %v", ov)
			}
			// A thawed primary agent whose lease ran out while it was frozen
			// renews first: its voters still follow it, so it carries on.
			if by := wr.AckedBy(); len(by) != 1 {
				t.Errorf("writes were acknowledged by %d servers, want only n1: %v", len(by), by)
			}
			gap := wr.MaxGapAfter(fault)
			t.Logf("measured: the client's largest gap after the fault was %v", gap.Duration().Round(time.Millisecond))
		})
	}
}

// checkVIPMonitor: a VIP removed from the primary by hand comes back, and a
// VIP added by hand to a standby is taken off it (EFM's VIP monitor).
func checkVIPMonitor(ctx context.Context, t *testing.T, c *harness.Cluster) {
	t.Helper()
	n1, n3 := c.Net.Host("n1"), c.Net.Host("n3")
	if err := n1.DelAddr(ctx, c.VIP, 32); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err := harness.Eventually(ctx, 30*time.Second, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		return n1.HasAddr(ctx, c.VIP)
	})
	if err != nil {
		t.Fatalf("the primary did not take back the VIP removed by hand: %v", err)
	}
	t.Logf("measured: the primary took its VIP back %v after it was removed by hand", time.Since(start).Round(time.Millisecond))
	if err := n3.AddAddr(ctx, c.VIP, 32); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	err = harness.Eventually(ctx, 30*time.Second, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		held, err := n3.HasAddr(ctx, c.VIP)
		return err == nil && !held, err
	})
	if err != nil {
		t.Fatalf("the VIP added by hand to standby n3 was not released: %v", err)
	}
	t.Logf("measured: standby n3 released a VIP added by hand %v later", time.Since(start).Round(time.Millisecond))
	// The notification is delivered (script.notification) after the
	// release: poll for it.
	err = harness.Eventually(ctx, 10*time.Second, 100*time.Millisecond, func(context.Context) (bool, error) {
		for _, l := range c.Configs["n3"].Notifications() {
			if strings.Contains(l, "Virtual IP address assigned to non-primary node") {
				return true, nil
			}
		}
		return false, fmt.Errorf("not among n3's notifications")
	})
	if err != nil {
		t.Errorf("n3 did not notify 'Virtual IP address assigned to non-primary node': %v", err)
	}
}

// efm promote -switchover on the witness: the most up-to-date standby
// becomes primary and takes the VIP, and the old primary becomes a standby
// of it; a planned switchover loses no acknowledged commit, even with
// asynchronous replication (the old primary's shutdown hands its last WAL
// to the standbys).
func TestSwitchover(t *testing.T) {
	c, ctx := startCluster(t, harness.ClusterOptions{})
	checkVIPMonitor(ctx, t, c)
	w, p := c.StartWriter(harness.WriterOptions{}), c.StartProbe()
	if err := w.WaitAcks(ctx, 30*time.Second, time.Now(), 20); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	out, err := c.EFM(ctx, c.Witness, "promote", c.Name, "-switchover")
	if err != nil {
		t.Fatalf("efm promote -switchover: %v\n%s", err, out)
	}
	t.Logf("efm promote -switchover: %s", strings.TrimSpace(out))
	np := newPrimary(ctx, t, c, "n1", 60*time.Second)
	t.Logf("measured: the VIP reached %s %v after the command", np, time.Since(start).Round(time.Millisecond))
	if err := w.WaitAcks(ctx, 60*time.Second, start, 20); err != nil {
		t.Fatalf("the client cannot write after the switchover: %v", err)
	}
	checkFollows(ctx, t, c, np) // n1 included: it is a standby of the new primary now
	if _, err := c.WaitHealthy(ctx, 60*time.Second); err != nil {
		t.Errorf("the cluster is not healthy after the switchover: %v", err)
	}
	wr, pr := w.Stop(), p.Stop()
	gap := wr.MaxGapAfter(start.Add(-time.Second))
	t.Logf("measured: switchover write unavailability %v", gap.Duration().Round(time.Millisecond))
	logSteps(t, c)
	checkNoSplitBrain(t, pr, np, "n1", start)
	lost, err := wr.Lost(ctx, c.PG(np))
	if err != nil {
		t.Fatal(err)
	}
	if len(lost) > 0 {
		t.Errorf("the switchover lost %d acknowledged commits: %v", len(lost), lost)
	}
}

// The operator's commands against a running cluster: set-priority reorders
// the failover list every agent shows; stop-cluster stops every agent and
// leaves the databases and the VIP alone.
func TestAdminCommands(t *testing.T) {
	c, ctx := startCluster(t, harness.ClusterOptions{})
	n3 := c.Net.Host("n3").Addr.String()
	if out, err := c.EFM(ctx, c.Witness, "set-priority", c.Name, n3, "1"); err != nil {
		t.Fatalf("set-priority: %v\n%s", err, out)
	}
	for _, h := range c.AgentHosts() {
		err := harness.Eventually(ctx, 20*time.Second, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
			out, err := c.EFM(ctx, h, "cluster-status-json", c.Name)
			var v struct {
				Priority []string `json:"failoverpriority"`
			}
			if err != nil || json.Unmarshal([]byte(out), &v) != nil {
				return false, fmt.Errorf("cluster-status-json on %s: %v", h.Name, err)
			}
			return len(v.Priority) == 2 && v.Priority[0] == n3, fmt.Errorf("%s shows the priority list %v", h.Name, v.Priority)
		})
		if err != nil {
			t.Errorf("set-priority %s 1 not shown everywhere: %v", n3, err)
		}
	}

	// A standby whose database stops goes Idle; once the database is back,
	// efm resume on it makes it a standby again.
	n3pg := c.PG("n3")
	if err := n3pg.Stop(ctx, "fast"); err != nil {
		t.Fatal(err)
	}
	typeOf := func(h *harness.Host, addr string) string {
		out, _ := c.EFM(ctx, h, "cluster-status-json", c.Name)
		var v struct {
			Nodes map[string]struct {
				Type string `json:"type"`
			} `json:"nodes"`
		}
		json.Unmarshal([]byte(out), &v)
		return v.Nodes[addr].Type
	}
	err := harness.Eventually(ctx, 60*time.Second, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		got := typeOf(c.Witness, n3)
		return got == "Idle", fmt.Errorf("n3 is %q", got)
	})
	if err != nil {
		t.Fatalf("n3's agent did not go Idle when its database stopped: %v", err)
	}
	if err := n3pg.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if out, err := c.EFM(ctx, c.Net.Host("n3"), "resume", c.Name); err != nil {
		t.Fatalf("efm resume on n3: %v\n%s", err, out)
	}
	err = harness.Eventually(ctx, 60*time.Second, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		got := typeOf(c.Witness, n3)
		return got == "Standby", fmt.Errorf("n3 is %q", got)
	})
	if err != nil {
		t.Errorf("n3 is not a standby again after efm resume: %v", err)
	}

	if out, err := c.EFM(ctx, c.Witness, "stop-cluster", c.Name); err != nil {
		t.Fatalf("stop-cluster: %v\n%s", err, out)
	}
	for _, h := range c.AgentHosts() {
		select {
		case <-c.Agent(h.Name).Done():
		case <-time.After(30 * time.Second):
			t.Errorf("the agent on %s did not stop after stop-cluster", h.Name)
		}
	}
	if w := c.Writable(ctx); !slices.Equal(w, []string{"n1"}) {
		t.Errorf("after stop-cluster the writable servers are %v, want [n1] untouched", w)
	}
	if h, _ := c.VIPHolders(ctx); !slices.Equal(h, []string{"n1"}) {
		t.Errorf("after stop-cluster the VIP is on %v, want n1 untouched", h)
	}
	out, err := c.EFM(ctx, c.Witness, "cluster-status", c.Name)
	if err == nil || !strings.Contains(out+err.Error(), "no agent is running") {
		t.Errorf("cluster-status after stop-cluster: want 'no agent is running', got err %v: %s", err, out)
	}
}

// script.custom.monitor failing on the primary is a database failure
// (efm-reference §5): the primary fences itself and a standby is promoted,
// although PostgreSQL itself was healthy.
func TestCustomMonitorFailureOnPrimary(t *testing.T) {
	requireHarness(t)
	ctx := context.Background()
	c, err := harness.NewCluster(ctx, t, harness.ClusterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			dumpAgents(t, c)
		}
	})
	for _, db := range c.DB {
		cfg := c.Configs[db.Host.Name]
		cfg.Props["script.custom.monitor"] = fmt.Sprintf("/bin/sh -c 'test ! -e %s'", filepath.Join(cfg.Dir, "unhealthy"))
		cfg.Props["custom.monitor.interval"] = "1"
		cfg.Props["custom.monitor.timeout"] = "2"
		if err := cfg.Write(); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.StartAgents(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitHealthy(ctx, 60*time.Second); err != nil {
		t.Fatalf("the cluster never became healthy: %v", err)
	}
	w := c.StartWriter(harness.WriterOptions{})
	if err := w.WaitAcks(ctx, 30*time.Second, time.Now(), 20); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.Configs["n1"].Dir, "unhealthy"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	fault := time.Now()
	np := newPrimary(ctx, t, c, "n1", 60*time.Second)
	t.Logf("measured: the custom monitor's failure moved the VIP to %s in %v", np, time.Since(fault).Round(time.Millisecond))
	if err := w.WaitAcks(ctx, 60*time.Second, fault, 10); err != nil {
		t.Fatalf("no writes after the failover: %v", err)
	}
	w.Stop()
	found := false
	for _, l := range c.Configs["n1"].Notifications() {
		found = found || strings.Contains(l, "Primary custom monitor failure")
	}
	if !found {
		t.Errorf("n1 did not notify 'Primary custom monitor failure'")
	}
	if ok, _ := c.DB[0].Writable(ctx); ok {
		t.Errorf("n1's database is still writable after its custom monitor failed")
	}
}

// walSender returns the address h's wal receiver streams from ("" when it
// does not stream).
func walSender(ctx context.Context, db *harness.PG) (string, error) {
	return db.QueryString(ctx, "SELECT coalesce((SELECT sender_host FROM pg_stat_wal_receiver WHERE status = 'streaming'), '')")
}

// A switchover and the switch back with scram-sha-256 (issue 8, defect 4):
// the old primary has no working primary_conninfo of its own, so it must
// copy one (user, passfile, sslmode; application_name from
// application.name) and stream from the new primary within
// restart.connection.timeout. The first switchover names -sourcenode, whose
// settings carry a marker; the switch back (set-priority + promote
// -switchover) uses the default source. No acknowledged commit is lost.
func TestSwitchoverAndBackWithPasswords(t *testing.T) {
	const restartTimeout = 30 * time.Second
	c, ctx := startCluster(t, harness.ClusterOptions{Props: map[string]string{
		"restart.connection.timeout": fmt.Sprint(int(restartTimeout.Seconds())),
	}})
	n1, n3 := c.PG("n1"), c.PG("n3")
	// n3 streams with one extra, harmless option: whoever copies n3's
	// settings carries it.
	const marker = "keepalives_idle=31"
	ci, err := n3.QueryString(ctx, "current_setting('primary_conninfo')")
	if err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{fmt.Sprintf("ALTER SYSTEM SET primary_conninfo = '%s %s'", ci, marker), "SELECT pg_reload_conf()"} {
		if err := n3.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.WaitStreaming(ctx, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	w := c.StartWriter(harness.WriterOptions{})
	if err := w.WaitAcks(ctx, 30*time.Second, time.Now(), 20); err != nil {
		t.Fatal(err)
	}

	// 1. Switchover, settings from -sourcenode n3.
	start := time.Now()
	out, err := c.EFM(ctx, c.Witness, "promote", c.Name, "-switchover", "-sourcenode", n3.Host.Addr.String())
	if err != nil {
		t.Fatalf("efm promote -switchover -sourcenode: %v\n%s", err, out)
	}
	np := newPrimary(ctx, t, c, "n1", 60*time.Second)
	t.Logf("measured: the VIP reached %s %v after the switchover command", np, time.Since(start).Round(time.Millisecond))
	want := c.PG(np).Host.Addr.String()
	moved := time.Now()
	err = harness.Eventually(ctx, restartTimeout, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		host, err := walSender(ctx, n1)
		return err == nil && host == want, fmt.Errorf("n1 streams from %q (err %v), want %s", host, err, want)
	})
	if err != nil {
		t.Fatalf("the old primary n1 does not stream from the new primary %s within restart.connection.timeout: %v", np, err)
	}
	t.Logf("measured: n1 streams from %s %v after the VIP moved", np, time.Since(moved).Round(time.Millisecond))
	got, err := n1.QueryString(ctx, "current_setting('primary_conninfo')")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("n1's primary_conninfo after the switchover: %s", got)
	for _, part := range []string{"host=" + want, "user=" + harness.ReplUser, "passfile=", "application_name=n1", marker} {
		if !strings.Contains(got, part) {
			t.Errorf("n1's primary_conninfo %q lacks %q (copied from -sourcenode n3, application.name n1)", got, part)
		}
	}
	checkFollows(ctx, t, c, np)
	if names, err := c.PG(np).Streaming(ctx); err != nil || len(names) != 2 || !slices.Contains(names, "n1") {
		t.Errorf("streaming from %s: %v (%v), want n1 and the other standby", np, names, err)
	}

	// 2. Switch back to n1: set-priority, then promote -switchover again
	// (efm-reference §6), default source.
	n1Addr := n1.Host.Addr.String()
	if out, err := c.EFM(ctx, c.Witness, "set-priority", c.Name, n1Addr, "1"); err != nil {
		t.Fatalf("set-priority %s 1: %v\n%s", n1Addr, err, out)
	}
	if _, err := c.WaitHealthy(ctx, 60*time.Second); err != nil {
		t.Fatalf("the cluster is not healthy after the first switchover: %v", err)
	}
	// Right after a switchover the agents' statuses of the new primary and
	// of the re-pointed old one can be a heartbeat old: the command is then
	// refused (nothing stopped) until they say a standby streams from it on
	// its timeline. An operator retries; so does the test.
	back := time.Now()
	refusals := 0
	var failed error
	err = harness.Eventually(ctx, 30*time.Second, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		out, err := c.EFM(ctx, c.Witness, "promote", c.Name, "-switchover")
		switch {
		case err == nil:
			return true, nil
		case strings.Contains(out, "Promotion has not occurred"):
			refusals++
			return false, fmt.Errorf("efm promote -switchover (back) refused: %v\n%s", err, out)
		default:
			failed = fmt.Errorf("efm promote -switchover (back): %v\n%s", err, out)
			return true, nil
		}
	})
	if err == nil {
		err = failed
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the switch back was refused %d times before it was accepted, %v after the first try", refusals, time.Since(back).Round(time.Millisecond))
	if got := newPrimary(ctx, t, c, np, 60*time.Second); got != "n1" {
		t.Fatalf("switch back promoted %s, want n1 (set-priority 1)", got)
	}
	t.Logf("measured: the VIP is back on n1 %v after the command", time.Since(back).Round(time.Millisecond))
	err = harness.Eventually(ctx, restartTimeout, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		names, err := n1.Streaming(ctx)
		return err == nil && len(names) == 2, fmt.Errorf("streaming from n1: %v (err %v), want both standbys", names, err)
	})
	if err != nil {
		t.Errorf("after the switch back: %v", err)
	}
	checkFollows(ctx, t, c, "n1")
	if err := w.WaitAcks(ctx, 60*time.Second, back, 20); err != nil {
		t.Fatalf("the client cannot write after the switch back: %v", err)
	}
	wr := w.Stop()
	lost, err := wr.Lost(ctx, n1)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("measured: %d commits acknowledged, %d lost, %d uncertain", len(wr.Acks), len(lost), len(wr.Uncertain))
	if len(lost) > 0 {
		t.Errorf("switchover and switch back lost %d acknowledged commits: %v", len(lost), lost)
	}
}
