package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openefm/efm/integration/harness"
)

// Both standbys have promotable=false, so nobody can take over: efm promote
// and efm promote -switchover (each on a cluster of its own), run on the
// witness and then on the primary's own node, are refused with exit 1
// before anything is stopped. The primary
// keeps its postmaster, its VIP and its writes: the client goes on
// committing through the VIP and loses nothing.
func TestPromoteRefusedWithoutCandidate(t *testing.T) {
	for _, flags := range [][]string{nil, {"-switchover"}} {
		t.Run("promote"+strings.Join(flags, ""), func(t *testing.T) { checkPromoteRefused(t, flags) })
	}
}

func checkPromoteRefused(t *testing.T, flags []string) {
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
	for _, name := range []string{"n2", "n3"} {
		cfg := c.Configs[name]
		cfg.Props["promotable"] = "false"
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
	pid, err := c.DB[0].PostmasterPID()
	if err != nil {
		t.Fatal(err)
	}
	w := c.StartWriter(harness.WriterOptions{})
	if err := w.WaitAcks(ctx, 30*time.Second, time.Now(), 20); err != nil {
		t.Fatal(err)
	}

	args := append([]string{"promote", c.Name}, flags...)
	for _, host := range []*harness.Host{c.Witness, c.Net.Host("n1")} {
		out, err := c.EFM(ctx, host, args...)
		var ee *exec.ExitError
		code := 0
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
		t.Logf("efm %s on %s: exit %d: %s", strings.Join(args, " "), host.Name, code, strings.TrimSpace(out))
		if code != 1 {
			t.Errorf("efm %s on %s: err %v, want exit status 1", strings.Join(args, " "), host.Name, err)
		}
		for _, want := range []string{"Received error from local agent: Promotion has not occurred",
			c.Net.Host("n2").Addr.String() + ": not promotable", c.Net.Host("n3").Addr.String() + ": not promotable"} {
			if !strings.Contains(out, want) {
				t.Errorf("efm %s on %s does not say %q", strings.Join(args, " "), host.Name, want)
			}
		}
	}
	refused := time.Now()

	// Had the primary been told to hand over, it would be stopping now: the
	// client committing again through the VIP after the refusals shows it
	// was not.
	if err := w.WaitAcks(ctx, 30*time.Second, refused, 50); err != nil {
		t.Errorf("the client stopped committing after the refused promotes: %v", err)
	}
	wr := w.Stop()
	if got, err := c.DB[0].PostmasterPID(); err != nil || got != pid {
		t.Errorf("n1's postmaster is %d (err %v), was %d: the primary was restarted or stopped", got, err, pid)
	}
	if h, err := c.VIPHolders(ctx); err != nil || !slices.Equal(h, []string{"n1"}) {
		t.Errorf("the VIP is on %v (err %v), want n1 untouched", h, err)
	}
	if ws := c.Writable(ctx); !slices.Equal(ws, []string{"n1"}) {
		t.Errorf("writable servers %v, want [n1]", ws)
	}
	if by := wr.AckedBy(); len(by) != 1 {
		t.Errorf("writes were acknowledged by %d servers, want only n1: %v", len(by), by)
	}
	lost, err := wr.Lost(ctx, c.PG("n1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("measured: %d commits acknowledged, %d lost; largest gap %v", len(wr.Acks), len(lost), wr.MaxGap().Duration().Round(time.Millisecond))
	if len(lost) > 0 {
		t.Errorf("%d acknowledged commits lost: %v", len(lost), lost)
	}
	for _, h := range c.AgentHosts() {
		for _, l := range c.Configs[h.Name].Notifications() {
			if strings.Contains(l, "Promotion has started") || strings.Contains(l, "Switchover has") {
				t.Errorf("%s notified %q after a refused promote", h.Name, l)
			}
		}
	}
}

// efmRun runs efm on h and returns its output and exit status.
func efmRun(ctx context.Context, c *harness.Cluster, h *harness.Host, args ...string) (string, int) {
	out, err := c.EFM(ctx, h, args...)
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return out, ee.ExitCode()
	case err != nil:
		return out + err.Error(), -1
	}
	return out, 0
}

// setConninfo points a standby's WAL receiver at conninfo and reloads.
func setConninfo(ctx context.Context, t *testing.T, pg *harness.PG, conninfo string) {
	t.Helper()
	if err := pg.Exec(ctx, "ALTER SYSTEM SET primary_conninfo = '"+strings.ReplaceAll(conninfo, "'", "''")+"'"); err != nil {
		t.Fatal(err)
	}
	if err := pg.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		t.Fatal(err)
	}
}

// Both standbys are promotable, but neither streams (their primary_conninfo
// points at a port nobody listens on): efm promote -switchover is refused
// with exit 1, nothing is stopped, and the client keeps committing. Once
// they stream again the same command is accepted and the switchover loses
// nothing. A -sourcenode that is no standby is refused too.
func TestSwitchoverRefusedUntilAStandbyStreams(t *testing.T) {
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
	orig := map[string]string{}
	for _, name := range []string{"n2", "n3"} {
		pg := c.PG(name)
		if orig[name], err = pg.QueryString(ctx, "current_setting('primary_conninfo')"); err != nil {
			t.Fatal(err)
		}
		setConninfo(ctx, t, pg, orig[name]+" port=1")
	}
	err = harness.Eventually(ctx, 30*time.Second, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		s, err := c.DB[0].Streaming(ctx)
		return err == nil && len(s) == 0, fmt.Errorf("still streaming from n1: %v (err %v)", s, err)
	})
	if err != nil {
		t.Fatal(err)
	}
	// The agents start with the standbys not streaming: once every agent
	// shows n1 Primary and n2, n3 Standby, the statuses it holds are ones
	// taken without a WAL receiver streaming.
	if err := c.StartAgents(ctx); err != nil {
		t.Fatal(err)
	}
	addr := func(name string) string { return c.Net.Host(name).Addr.String() }
	want := map[string]string{addr("n1"): "Primary", addr("n2"): "Standby", addr("n3"): "Standby"}
	for _, h := range []*harness.Host{c.Witness, c.Net.Host("n1")} {
		err := harness.Eventually(ctx, 60*time.Second, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
			out, err := c.EFM(ctx, h, "cluster-status-json", c.Name)
			var v struct {
				Nodes map[string]struct {
					Type string `json:"type"`
				} `json:"nodes"`
			}
			if err != nil || json.Unmarshal([]byte(out), &v) != nil {
				return false, fmt.Errorf("cluster-status-json on %s: %v", h.Name, err)
			}
			for a, typ := range want {
				if v.Nodes[a].Type != typ {
					return false, fmt.Errorf("%s shows %s as %q, want %s", h.Name, a, v.Nodes[a].Type, typ)
				}
			}
			return true, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	pid, err := c.DB[0].PostmasterPID()
	if err != nil {
		t.Fatal(err)
	}
	w := c.StartWriter(harness.WriterOptions{})
	if err := w.WaitAcks(ctx, 30*time.Second, time.Now(), 20); err != nil {
		t.Fatal(err)
	}

	for _, h := range []*harness.Host{c.Witness, c.Net.Host("n1")} {
		out, code := efmRun(ctx, c, h, "promote", c.Name, "-switchover")
		t.Logf("efm promote -switchover on %s, standbys not streaming: exit %d: %s", h.Name, code, strings.TrimSpace(out))
		if code != 1 || !strings.Contains(out, "Promotion has not occurred: no promotable standby is caught up with the primary") ||
			!strings.Contains(out, addr("n2")+": not caught up") {
			t.Errorf("efm promote -switchover on %s with no standby streaming: exit %d, want 1 and 'no promotable standby is caught up'", h.Name, code)
		}
	}
	refused := time.Now()
	if err := w.WaitAcks(ctx, 30*time.Second, refused, 50); err != nil {
		t.Errorf("the client stopped committing after the refused switchover: %v", err)
	}
	if got, err := c.DB[0].PostmasterPID(); err != nil || got != pid {
		t.Errorf("n1's postmaster is %d (err %v), was %d: the primary was stopped", got, err, pid)
	}
	if h, err := c.VIPHolders(ctx); err != nil || !slices.Equal(h, []string{"n1"}) {
		t.Fatalf("the VIP is on %v (err %v), want n1 untouched", h, err)
	}

	for _, name := range []string{"n2", "n3"} {
		setConninfo(ctx, t, c.PG(name), orig[name])
	}
	if err := c.WaitStreaming(ctx, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	witness := c.Witness.Addr.String()
	out, code := efmRun(ctx, c, c.Witness, "promote", c.Name, "-switchover", "-sourcenode", witness)
	t.Logf("efm promote -switchover -sourcenode %s: exit %d: %s", witness, code, strings.TrimSpace(out))
	if code != 1 || !strings.Contains(out, "-sourcenode "+witness+" is not a running standby") {
		t.Errorf("-sourcenode naming the witness: exit %d, want 1 and 'is not a running standby'", code)
	}

	// Streaming again: the same command goes through once the agents have
	// seen it (a refusal in between changes nothing).
	start := time.Now()
	refusals := 0
	err = harness.Eventually(ctx, 30*time.Second, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		out, code := efmRun(ctx, c, c.Witness, "promote", c.Name, "-switchover")
		if code != 0 {
			refusals++
		}
		return code == 0, fmt.Errorf("exit %d: %s", code, out)
	})
	if err != nil {
		t.Fatalf("efm promote -switchover with both standbys streaming again: %v", err)
	}
	t.Logf("switchover accepted %v after streaming resumed (%d refusals before the agents saw it)", time.Since(start).Round(time.Millisecond), refusals)
	np := newPrimary(ctx, t, c, "n1", 60*time.Second)
	if err := w.WaitAcks(ctx, 60*time.Second, time.Now(), 20); err != nil {
		t.Fatalf("the client cannot write after the switchover: %v", err)
	}
	wr := w.Stop()
	lost, err := wr.Lost(ctx, c.PG(np))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("measured: new primary %s; %d commits acknowledged, %d lost", np, len(wr.Acks), len(lost))
	if len(lost) > 0 {
		t.Errorf("the switchover lost %d acknowledged commits: %v", len(lost), lost)
	}
}
