package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/openefm/efm/integration/harness"
)

// TestSetPriorityIsClusterState: efm set-priority is cluster state. After
// every agent was restarted, one at a time (the witness that took the
// command first; the coordinator moves on the way), no agent keeps the
// command in memory, yet every one still puts n3 first, and a failover
// promotes n3 although n2, equally caught up, has the smaller address.
func TestSetPriorityIsClusterState(t *testing.T) {
	c, ctx := startCluster(t, harness.ClusterOptions{})
	n2, n3 := c.Net.Host("n2").Addr.String(), c.Net.Host("n3").Addr.String()
	if n2 > n3 {
		t.Fatalf("test setup: n2's address %s should sort before n3's %s", n2, n3)
	}
	if out, err := c.EFM(ctx, c.Witness, "set-priority", c.Name, n3, "1"); err != nil {
		t.Fatalf("set-priority: %v\n%s", err, out)
	}
	want := []string{n3, n2}
	checkPriorityList(ctx, t, c, want)

	hosts := c.AgentHosts() // n1, n2, n3, witness
	order := append([]*harness.Host{hosts[len(hosts)-1]}, hosts[1:len(hosts)-1]...)
	order = append(order, hosts[0])
	moved := 0
	for _, h := range order {
		if before, after := restartAgent(ctx, t, c, h); before != after {
			moved++
		}
	}
	if moved == 0 {
		t.Errorf("the membership coordinator never changed while every agent restarted")
	}
	checkPriorityList(ctx, t, c, want)

	pid, err := c.DB[0].KillPostmaster()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("killed n1's postmaster (pid %d)", pid)
	if np := newPrimary(ctx, t, c, "n1", 90*time.Second); np != "n3" {
		t.Errorf("the failover promoted %s, want n3 (set-priority %s 1)", np, n3)
	}
}

// restartAgent stops h's agent cleanly, starts it again and waits until
// cluster-status on h reports a healthy cluster. It returns the membership
// coordinator before and after.
func restartAgent(ctx context.Context, t *testing.T, c *harness.Cluster, h *harness.Host) (before, after string) {
	t.Helper()
	p := c.Agent(h.Name)
	coord := coordinator(ctx, c, h)
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	case <-time.After(30 * time.Second):
		t.Fatalf("the agent on %s did not stop on SIGTERM", h.Name)
	}
	if _, err := c.StartAgent(ctx, h); err != nil {
		t.Fatal(err)
	}
	var out string
	err := harness.Eventually(ctx, 60*time.Second, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		var err error
		out, err = c.EFM(ctx, h, "cluster-status", c.Name)
		return err == nil, err
	})
	if err != nil {
		t.Fatalf("the cluster is not healthy after restarting the agent on %s: %v\n%s", h.Name, err, out)
	}
	after = coordinator(ctx, c, h)
	t.Logf("restarted the agent on %s; coordinator %s before, %s after", h.Name, coord, after)
	return coord, after
}

func coordinator(ctx context.Context, c *harness.Cluster, h *harness.Host) string {
	out, _ := c.EFM(ctx, h, "cluster-status-json", c.Name)
	var v struct {
		Coordinator string `json:"membershipcoordinator"`
	}
	json.Unmarshal([]byte(out), &v)
	return v.Coordinator
}

// checkPriorityList waits until every agent shows want as its standby
// priority host list.
func checkPriorityList(ctx context.Context, t *testing.T, c *harness.Cluster, want []string) {
	t.Helper()
	for _, h := range c.AgentHosts() {
		err := harness.Eventually(ctx, 20*time.Second, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
			out, err := c.EFM(ctx, h, "cluster-status-json", c.Name)
			var v struct {
				Priority []string `json:"failoverpriority"`
			}
			if err != nil || json.Unmarshal([]byte(out), &v) != nil {
				return false, fmt.Errorf("cluster-status-json on %s: %v", h.Name, err)
			}
			return slices.Equal(v.Priority, want), fmt.Errorf("%s shows the priority list %v", h.Name, v.Priority)
		})
		if err != nil {
			t.Errorf("want the priority list %v on every agent: %v", want, err)
		}
	}
}
