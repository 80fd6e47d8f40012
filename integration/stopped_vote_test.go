package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openefm/efm/integration/harness"
)

// Two databases, no witness: n1's postmaster and its agent are killed at
// once, and the agent is started again. It finds its database down, fences
// it and goes Idle with no WAL position of its own; n2 needs its vote (two
// voters). n1 reads its stopped data directory (pg_control: "in
// production", it was the primary) and grants as an old primary, so n2 is
// promoted. Before, n1 refused every vote ("cannot read its own WAL
// position") and nothing was ever promoted.
func TestTwoDatabasesRestartedOldPrimaryVotes(t *testing.T) {
	c, ctx := startCluster(t, harness.ClusterOptions{DBHosts: 2, NoWitness: true})
	n1 := c.DB[0]
	agent := c.Agent("n1")
	agent.Kill()
	pid, err := n1.KillPostmaster()
	if err != nil {
		t.Fatal(err)
	}
	fault := time.Now()
	t.Logf("killed n1's agent (pid %d) and postmaster (pid %d)", agent.Pid, pid)
	// The agent comes back once its old incarnation is gone for good.
	select {
	case <-agent.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("n1's killed agent did not exit")
	}
	if _, err := c.StartAgent(ctx, n1.Host); err != nil {
		t.Fatal(err)
	}
	t.Logf("n1's agent started again %v after the fault", time.Since(fault).Round(time.Millisecond))

	np := newPrimary(ctx, t, c, "n1", 90*time.Second)
	if np != "n2" {
		t.Fatalf("new primary %s, want n2", np)
	}
	t.Logf("measured: the VIP reached n2 %v after the fault", time.Since(fault).Round(time.Millisecond))
	err = harness.Eventually(ctx, 30*time.Second, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		ok, err := c.DB[1].Writable(ctx)
		return ok, fmt.Errorf("n2 writable %v: %v", ok, err)
	})
	if err != nil {
		t.Fatal(err)
	}
	log := c.Agent("n1").Log()
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "vote") {
			t.Logf("n1: %s", l)
		}
	}
	if !strings.Contains(log, "vote granted") {
		t.Errorf("n1's restarted agent logged no granted vote")
	}
	if ok, _ := n1.Writable(ctx); ok {
		t.Errorf("the old primary n1 takes writes")
	}
	if _, err := os.Stat(filepath.Join(n1.DataDir, "standby.signal")); err != nil {
		t.Errorf("the old primary's data directory has no standby.signal fence: %v", err)
	}
}

// Three databases, no witness: n3's standby postmaster is killed (its agent
// goes Idle, its database down), then n1's postmaster and agent are killed.
// n2 needs n3's vote. n3 reads where its WAL ends in pg_wal (pg_waldump) and,
// n2 having received at least as much, grants; before, a standby whose
// database was down refused every vote (issue 11) and nothing was promoted.
func TestStoppedStandbyVotesByItsWALEnd(t *testing.T) {
	// No VIP: n1's killed agent would leave it on n1's live host, and
	// check.vip.before.promotion would (rightly) stop the promotion.
	c, ctx := startCluster(t, harness.ClusterOptions{DBHosts: 3, NoWitness: true,
		Props: map[string]string{"virtual.ip": "", "virtual.ip.interface": "", "virtual.ip.prefix": ""}})
	n1, n2, n3 := c.DB[0], c.DB[1], c.DB[2]
	if _, err := n3.KillPostmaster(); err != nil {
		t.Fatal(err)
	}
	// n3's agent finds its database failed and goes Idle.
	err := harness.Eventually(ctx, 60*time.Second, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		for _, l := range c.Configs["n3"].Notifications() {
			if strings.Contains(l, "Standby database failure") {
				return true, nil
			}
		}
		return false, fmt.Errorf("no standby database failure notification from n3 yet")
	})
	if err != nil {
		t.Fatal(err)
	}
	agent := c.Agent("n1")
	agent.Kill()
	if _, err := n1.KillPostmaster(); err != nil {
		t.Fatal(err)
	}
	fault := time.Now()
	err = harness.Eventually(ctx, 90*time.Second, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		ok, err := n2.Writable(ctx)
		return ok, fmt.Errorf("n2 writable %v: %v", ok, err)
	})
	if err != nil {
		t.Fatalf("n2 was not promoted: %v", err)
	}
	t.Logf("measured: n2 took writes %v after the fault", time.Since(fault).Round(time.Millisecond))
	log := c.Agent("n3").Log()
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "vote") {
			t.Logf("n3: %s", l)
		}
	}
	if !strings.Contains(log, "vote granted") {
		t.Errorf("n3, its database stopped, logged no granted vote")
	}
}
