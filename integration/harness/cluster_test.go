package harness

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeEFM is a stand-in for the efm binary: it prints what it was given and
// where it runs, and as an agent it stays up.
const fakeEFM = `#!/bin/sh
echo "args: $*"
echo "config: $EFM_CONFIG_DIR"
echo "uid: $(id -u)"
ip -o -4 addr show dev eth0
if [ "$1" = agent ]; then exec sleep 600; fi
`

// NewCluster, agents and the CLI in their hosts, run as the right user, and
// packet drops, with a fake efm so the test does not wait for the agent.
func TestClusterWithFakeAgent(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	start := time.Now()
	c, err := NewCluster(ctx, t, ClusterOptions{DBHosts: 2, AssignVIP: true, Props: map[string]string{"node.timeout": "3", "ping.server.ip": ""}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("timing: 2-node cluster with witness and client in %v", time.Since(start).Round(time.Millisecond))
	if got := c.Writable(ctx); !cmp.Equal(got, []string{"n1"}) {
		t.Errorf("writable servers = %v, want [n1]", got)
	}
	if got, err := c.VIPHolders(ctx); err != nil || !cmp.Equal(got, []string{"n1"}) {
		t.Errorf("VIP holders = %v, %v; want [n1]", got, err)
	}
	if p := c.Configs["n2"].Props; p["node.timeout"] != "3" || p["ping.server.ip"] != "" {
		t.Errorf("property overrides not applied: node.timeout=%q ping.server.ip=%q", p["node.timeout"], p["ping.server.ip"])
	}

	c.Bin = filepath.Join(t.TempDir(), "efm")
	if err := os.WriteFile(c.Bin, []byte(fakeEFM), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := c.StartAgents(ctx); err != nil {
		t.Fatal(err)
	}
	for _, h := range c.AgentHosts() {
		a := c.Agent(h.Name)
		want := []string{
			fmt.Sprintf("args: agent %s -config-dir %s", c.Name, c.Configs[h.Name].Dir),
			"config: " + c.Configs[h.Name].Dir,
			"uid: 0",
			" inet " + h.Addr.String() + "/24",
		}
		err := Eventually(ctx, 5*time.Second, 20*time.Millisecond, func(context.Context) (bool, error) {
			log := a.Log()
			for _, w := range want {
				if !strings.Contains(log, w) {
					return false, fmt.Errorf("agent log of %s lacks %q:\n%s", h.Name, w, log)
				}
			}
			return true, nil
		})
		if err != nil {
			t.Error(err)
		}
		if exited, err := a.Exited(); exited {
			t.Errorf("agent on %s exited: %v", h.Name, err)
		}
	}
	out, err := c.EFM(ctx, c.Witness, "cluster-status", c.Name)
	if err != nil || !strings.Contains(out, "args: cluster-status "+c.Name) || !strings.Contains(out, c.Witness.Addr.String()) {
		t.Errorf("efm cluster-status on the witness: %v\n%s", err, out)
	}
	out, err = c.DB[1].Host.Run(ctx, ProcOptions{AsPostgres: true}, "id", "-u")
	if u, _ := lookupPostgres(); err != nil || strings.TrimSpace(out) != fmt.Sprint(u.uid) {
		t.Errorf("AsPostgres runs as uid %q (%v), want %d", out, err, u.uid)
	}

	// A frozen agent stays frozen until continued.
	a := c.Agent("n1")
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	if st := procState(a.Pid); st != "T" && st != "t" {
		t.Errorf("agent state after Stop = %q, want T (stopped)", st)
	}
	if err := a.Cont(); err != nil {
		t.Fatal(err)
	}
	if st := procState(a.Pid); st == "T" || st == "t" {
		t.Errorf("agent still stopped after Cont")
	}

	// Killing a host leaves no process in it and cuts its link.
	w := c.Witness
	if err := c.Net.KillHost(ctx, w); err != nil {
		t.Fatal(err)
	}
	if err := Eventually(ctx, 5*time.Second, 20*time.Millisecond, func(ctx context.Context) (bool, error) {
		pids, err := w.Pids(ctx)
		return len(pids) == 0, fmt.Errorf("processes left on the killed witness: %v (%v)", pids, err)
	}); err != nil {
		t.Error(err)
	}
	if c.Client.Reachable(ctx, w.Addr) {
		t.Error("killed witness still reachable")
	}
	select {
	case <-c.Agent("witness").Done():
	case <-time.After(5 * time.Second):
		t.Error("agent of the killed witness has not exited")
	}

	// Dropping every packet makes n2 unreachable; clearing restores it.
	n2 := c.DB[1].Host
	if err := c.Net.DropPackets(ctx, n2, 1); err != nil {
		t.Fatal(err)
	}
	if c.Client.Reachable(ctx, n2.Addr) {
		t.Error("n2 reachable with 100% packet drop")
	}
	if err := c.Net.ClearDrops(ctx, n2); err != nil {
		t.Fatal(err)
	}
	if err := Eventually(ctx, 5*time.Second, 50*time.Millisecond, func(ctx context.Context) (bool, error) {
		return c.Client.Reachable(ctx, n2.Addr), nil
	}); err != nil {
		t.Errorf("n2 unreachable after ClearDrops: %v", err)
	}
}

// With Sync, commits wait for a standby: the writer's acknowledged commits
// are on n2 the moment they are acknowledged.
func TestClusterSyncReplication(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	c, err := NewCluster(ctx, t, ClusterOptions{DBHosts: 2, NoWitness: true, Sync: true, AssignVIP: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range c.DB {
		if got, err := p.QueryString(ctx, "current_setting('synchronous_standby_names')"); err != nil || got != "ANY 1 (n1, n2)" {
			t.Errorf("synchronous_standby_names on %s = %q, %v", p.Host.Name, got, err)
		}
	}
	w := c.StartWriter(WriterOptions{})
	if err := w.WaitAcks(ctx, 10*time.Second, time.Now(), 20); err != nil {
		t.Fatal(err)
	}
	// With the only synchronous standby down, commits must wait rather than
	// be acknowledged by the primary alone.
	if err := c.DB[1].Stop(ctx, "immediate"); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	if err := w.WaitAcks(ctx, time.Second, stopped, 1); err == nil {
		t.Error("a commit was acknowledged with the only synchronous standby down")
	}
	r := w.Stop()
	t.Log(r.Summary())
	lost, err := r.Lost(ctx, c.DB[0])
	if err != nil || len(lost) != 0 {
		t.Errorf("acknowledged commits missing on the primary: %v, %v", lost, err)
	}
}

// With Sync, a switched-over old primary is a synchronous standby of the
// new primary: in a 2-database cluster it is the only one, and commits on
// the new primary would otherwise wait forever.
func TestClusterSyncAfterSwitchover(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	c, err := NewCluster(ctx, t, ClusterOptions{DBHosts: 2, NoWitness: true, Sync: true})
	if err != nil {
		t.Fatal(err)
	}
	n1, n2 := c.DB[0], c.DB[1]
	// A switchover by hand: the primary stops cleanly, the standby is
	// promoted, the old primary follows it.
	if err := n1.Stop(ctx, "fast"); err != nil {
		t.Fatal(err)
	}
	if err := n2.Promote(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n1.MakeStandby(n2); err != nil {
		t.Fatal(err)
	}
	if err := n1.Start(ctx); err != nil {
		t.Fatal(err)
	}
	w := StartWriter(t, c.Client, netip.AddrPortFrom(n2.Host.Addr, PGPort), WriterOptions{})
	if err := w.WaitAcks(ctx, 30*time.Second, time.Now(), 10); err != nil {
		state, _ := n2.QueryString(ctx, "SELECT coalesce(string_agg(application_name || ':' || sync_state, ','), 'none') FROM pg_stat_replication")
		t.Fatalf("no commit on the new primary n2 with n1 streaming (standbys: %s): %v", state, err)
	}
}
