package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/openefm/efm/integration/harness"
	"github.com/openefm/efm/internal/admin"
)

// n3 loses its database: its agent is killed, its data directory emptied
// and the agent restarted (Idle, no database). efm create-standby on n3
// builds it again from the primary with pg_basebackup: n3 streams from n1
// and its agent reports Standby, without anyone running efm resume. A
// second create-standby is refused: a database is there now.
func TestCreateStandby(t *testing.T) {
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
	if err := c.StartAgents(ctx); err != nil {
		t.Fatal(err)
	}
	n3 := c.Net.Host("n3")
	typeOf := func(ctx context.Context, h *harness.Host) (string, error) {
		out, err := c.EFM(ctx, c.Witness, "cluster-status-json", c.Name)
		var cs admin.ClusterStatus
		if jerr := json.Unmarshal([]byte(out), &cs); jerr != nil {
			return "", fmt.Errorf("%v (%v): %s", jerr, err, out)
		}
		return cs.Nodes[h.Addr.String()].Type, nil
	}
	waitType := func(h *harness.Host, want string) {
		t.Helper()
		var last string
		err := harness.Eventually(ctx, 60*time.Second, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
			var err error
			last, err = typeOf(ctx, h)
			return last == want, err
		})
		if err != nil {
			t.Fatalf("%s never became %s (last %q): %v", h.Name, want, last, err)
		}
	}
	waitType(n3, "Standby")

	c.Agent("n3").Kill()
	pg3 := c.PG("n3")
	if err := pg3.Stop(ctx, "fast"); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(pg3.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(pg3.DataDir + "/" + e.Name()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.StartAgent(ctx, n3); err != nil {
		t.Fatal(err)
	}
	waitType(n3, "Idle")
	// The restarted agent refuses while it has not yet heard who the
	// primary is ("wait until this agent has joined"), as it should: wait
	// for its own view to name the primary, as an operator would.
	err = harness.Eventually(ctx, 60*time.Second, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		out, err := c.EFM(ctx, n3, "cluster-status-json", c.Name)
		var cs admin.ClusterStatus
		if jerr := json.Unmarshal([]byte(out), &cs); jerr != nil {
			return false, fmt.Errorf("%v (%v): %s", jerr, err, out)
		}
		return cs.Nodes[c.Net.Host("n1").Addr.String()].Type == "Primary", fmt.Errorf("n3's view: %s", out)
	})
	if err != nil {
		t.Fatalf("n3's restarted agent never saw the primary: %v", err)
	}

	start := time.Now()
	out, err := c.EFM(ctx, n3, "create-standby", c.Name)
	t.Logf("efm create-standby on n3 (%v): %s", time.Since(start).Round(time.Millisecond), out)
	if err != nil {
		t.Fatalf("efm create-standby: %v", err)
	}
	err = harness.Eventually(ctx, 30*time.Second, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		s, err := c.PG("n1").Streaming(ctx)
		return slices.Contains(s, n3.Name), err
	})
	if err != nil {
		t.Fatalf("n1 does not stream to n3: %v", err)
	}
	waitType(n3, "Standby")
	t.Logf("MEASURED create-standby until n3's agent reports Standby: %v", time.Since(start).Round(time.Millisecond))
	if err := c.PG("n1").Exec(ctx, "CREATE TABLE after_create_standby (v int)"); err != nil {
		t.Fatal(err)
	}
	err = harness.Eventually(ctx, 30*time.Second, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		n, err := pg3.QueryString(ctx, "SELECT count(*) FROM pg_class WHERE relname = 'after_create_standby'")
		return n == "1", err
	})
	if err != nil {
		t.Errorf("a table created on n1 never reached n3: %v", err)
	}

	out, err = c.EFM(ctx, n3, "create-standby", c.Name)
	if err == nil {
		t.Errorf("a second create-standby succeeded: %s", out)
	} else {
		t.Logf("second create-standby refused: %s", out)
	}
}
