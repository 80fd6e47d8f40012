package integration

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openefm/efm/integration/harness"
)

// An operator restarts the primary's server with pg_ctl: for a moment no
// postmaster runs and connections are refused, which the local check must
// not take for a dead postmaster (core.GoneChecks checks in a row must find
// it gone). Over the time core.Predict gives for a postmaster crash, and
// after the restart, no standby may be promoted, the VIP must stay on n1 and
// n1 must not be fenced.
func TestPgCtlRestartNoFailover(t *testing.T) {
	c, ctx := startCluster(t, harness.ClusterOptions{Sync: true})
	pred := predictFor(t, c, "primary database crash", "writes on a new primary")
	n1 := c.DB[0]
	var restarts []time.Duration
	// Several restarts, one after the other: each is a chance for a check
	// to fall between the old postmaster's exit and the new one's start.
	begin := time.Now()
	for i := range 3 {
		start := time.Now()
		out, err := n1.Host.Run(ctx, harness.ProcOptions{AsPostgres: true}, filepath.Join(n1.Bin, "pg_ctl"),
			"-D", n1.DataDir, "-l", n1.LogPath, "-m", "fast", "-w", "-t", "30", "restart")
		if err != nil {
			t.Fatalf("pg_ctl restart %d: %v\n%s", i+1, err, out)
		}
		restarts = append(restarts, time.Since(start).Round(time.Millisecond))
	}
	t.Logf("measured: pg_ctl restart took %v", restarts)
	// Watch for as long as a crash would have taken to fail over, and a
	// margin of the same again.
	window := 2 * pred.Within()
	t.Logf("watching for %v (2 x predicted crash failover %v: %s)", window, pred.Within(), pred.Formula())
	deadline := begin.Add(window)
	for time.Now().Before(deadline) {
		if w := c.Writable(ctx); slices.ContainsFunc(w, func(h string) bool { return h != "n1" }) {
			t.Fatalf("after pg_ctl restart on n1, writable servers: %v", w)
		}
		holders, err := c.VIPHolders(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(holders) != 1 || holders[0] != "n1" {
			t.Fatalf("after pg_ctl restart on n1, the VIP is on %v", holders)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(n1.DataDir, "standby.signal")); err == nil {
		t.Errorf("n1 was fenced after a pg_ctl restart")
	}
	if ok, err := n1.Writable(ctx); !ok {
		t.Errorf("n1 does not take writes after its restart: %v", err)
	}
	for _, h := range c.AgentHosts() {
		log := c.Agent(h.Name).Log()
		for _, bad := range []string{"certainly gone", "Primary database failure"} {
			if strings.Contains(log, bad) {
				t.Errorf("agent on %s logged %q after a pg_ctl restart", h.Name, bad)
			}
		}
	}
	status, err := c.WaitHealthy(ctx, 30*time.Second)
	if err != nil {
		t.Fatalf("cluster not healthy after the restarts: %v", err)
	}
	t.Logf("after the restarts:\n%s", status)
}
