package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openefm/efm/integration/harness"
)

// TestLoadBalancerHooks runs script.load.balancer.attach/detach as real
// scripts that append each call ("<agent> <attach|detach> <%h> <%t>") to a
// file, through a switchover, a standby whose database stops and is
// resumed, and a failover. Each change is told once, by the agent
// docs/routing.md names; an attach script that fails makes its agent send
// "Load balancer attach script error".
func TestLoadBalancerHooks(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	calls, failAttach := filepath.Join(dir, "calls"), filepath.Join(dir, "fail-attach")
	script := filepath.Join(dir, "lb.sh")
	body := fmt.Sprintf("#!/bin/sh\necho \"$EFM_NODE $1 $2 $3\" >> %s\nif [ \"$1\" = attach ] && [ -e %s ]; then echo 'load balancer refused' >&2; exit 3; fi\n", calls, failAttach)
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	c, ctx := startCluster(t, harness.ClusterOptions{Props: map[string]string{
		"script.load.balancer.attach": script + " attach %h %t",
		"script.load.balancer.detach": script + " detach %h %t",
	}})
	ip := func(host string) string { return c.Net.Host(host).Addr.String() }
	seen := 0 // lines of the calls file already judged
	// expect waits until the calls since the last phase are want (in any
	// order: different agents run them), with each %h and agent named by
	// host, and no others.
	expect := func(phase string, want ...string) {
		t.Helper()
		for i, w := range want {
			f := strings.Fields(w)
			want[i] = strings.Join([]string{ip(f[0]), f[1], ip(f[2]), f[3]}, " ")
		}
		slices.Sort(want)
		var got []string
		err := harness.Eventually(ctx, 60*time.Second, 100*time.Millisecond, func(context.Context) (bool, error) {
			b, _ := os.ReadFile(calls)
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			if len(b) == 0 {
				lines = nil
			}
			got = slices.Clone(lines[min(seen, len(lines)):])
			slices.Sort(got)
			return slices.Equal(got, want), fmt.Errorf("calls %q", got)
		})
		if err != nil {
			t.Fatalf("%s: load-balancer calls: %v; want %q", phase, err, want)
		}
		seen += len(want)
		t.Logf("%s: load-balancer calls %q", phase, got)
	}

	// A switchover: the old primary detaches itself as it hands over and
	// attaches itself as a standby once it follows; the new primary
	// attaches itself.
	out, err := c.EFM(ctx, c.Witness, "promote", c.Name, "-switchover")
	if err != nil {
		t.Fatalf("efm promote -switchover: %v\n%s", err, out)
	}
	np := newPrimary(ctx, t, c, "n1", 60*time.Second)
	checkFollows(ctx, t, c, np)
	expect("switchover", "n1 detach n1 p", np+" attach "+np+" p", "n1 attach n1 s")

	// A standby's database stops: its agent detaches it; efm resume once
	// the database is back attaches it again, and this attach fails.
	sb := "n2"
	if np == "n2" {
		sb = "n3"
	}
	if err := c.PG(sb).Stop(ctx, "fast"); err != nil {
		t.Fatal(err)
	}
	expect("standby database stopped", sb+" detach "+sb+" s")
	if err := os.WriteFile(failAttach, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.PG(sb).Start(ctx); err != nil {
		t.Fatal(err)
	}
	if out, err := c.EFM(ctx, c.Net.Host(sb), "resume", c.Name); err != nil {
		t.Fatalf("efm resume on %s: %v\n%s", sb, err, out)
	}
	expect("standby resumed", sb+" attach "+sb+" s")
	err = harness.Eventually(ctx, 30*time.Second, 100*time.Millisecond, func(context.Context) (bool, error) {
		b, _ := os.ReadFile(c.Configs[sb].NotificationsPath())
		return strings.Contains(string(b), "Load balancer attach script error"), fmt.Errorf("%s's notifications:\n%s", sb, b)
	})
	if err != nil {
		t.Errorf("a failing attach script was not notified: %v", err)
	}
	os.Remove(failAttach)

	// A failover: the new primary's postmaster is killed; its agent
	// detaches it, the next primary attaches itself.
	if _, err := c.PG(np).KillPostmaster(); err != nil {
		t.Fatal(err)
	}
	np2 := newPrimary(ctx, t, c, np, 60*time.Second)
	expect("failover", np+" detach "+np+" p", np2+" attach "+np2+" p")
	for _, h := range c.AgentHosts() {
		b, _ := os.ReadFile(c.Configs[h.Name].NotificationsPath())
		if strings.Contains(string(b), "detach script error") {
			t.Errorf("%s notified a detach script error:\n%s", h.Name, b)
		}
	}
}
