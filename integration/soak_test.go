package integration

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/openefm/efm/agent"
	"github.com/openefm/efm/integration/harness"
	"github.com/openefm/efm/internal/config"
	"github.com/openefm/efm/internal/core"
)

// exampleTimers are the timers efm.properties.example sets: what a new user
// starts with, and what the soak must prove.
func exampleTimers(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "efm.properties.example"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		switch {
		case !ok:
		case k == "local.period", k == "local.timeout", k == "local.timeout.final", k == "remote.timeout", k == "node.timeout":
			out[k] = v
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// The false-failover soak (EFM_SOAK=1, make soak): the example's timers
// under 5 % packet loss on every host's link (each way), CPU starvation
// (busy loops at twice the cores) and a standby agent frozen (SIGSTOP) for
// half the pause core.Predict says it tolerates, again and again, for
// EFM_SOAK_DURATION (10m). No failover, no isolation, no fencing may
// happen; the run prints how close it came: the least time the primary had
// left before it would fence itself, and the suspicions the agents logged.
func TestSoak(t *testing.T) {
	if os.Getenv("EFM_SOAK") != "1" {
		t.Skip("SKIPPING: the false-failover soak runs with EFM_SOAK=1 (make soak)")
	}
	dur := 10 * time.Minute
	if s := os.Getenv("EFM_SOAK_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			t.Fatalf("EFM_SOAK_DURATION=%q: want a duration such as 10m or 90s", s)
		}
		dur = d
	}
	timers := exampleTimers(t)
	t.Logf("timers of efm.properties.example: %v", timers)
	props := map[string]string{"primary.health.check.port": strconv.Itoa(harness.HealthPort)}
	for k, v := range timers {
		props[k] = v
	}
	c, ctx := startCluster(t, harness.ClusterOptions{Sync: true, Props: props})
	cfg, _, err := config.LoadFile(c.Configs["n2"].PropsPath())
	if err != nil {
		t.Fatal(err)
	}
	params := agent.CoreParams(cfg)
	tm := params.Timing()
	var sbPause core.Prediction
	for _, p := range core.Predict(params) {
		if p.Event == "standby agent pause" {
			sbPause = p
		}
	}
	freeze := sbPause.Within() / 2
	t.Logf("lease %v, fencing starts %v after the last acknowledged renewal; standby agent pause tolerated %v, frozen for %v",
		tm.Lease, tm.Lease-tm.FencingAllowance, sbPause.Within(), freeze)

	// Load: packet loss on every link, busy loops.
	for _, h := range c.AgentHosts() {
		if err := c.Net.DropPackets(ctx, h, 0.05); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 2 * runtime.NumCPU() {
		cmd := exec.Command("sh", "-c", "while :; do :; done")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pid := cmd.Process.Pid
		t.Cleanup(func() { _ = syscall.Kill(-pid, syscall.SIGKILL); _ = cmd.Wait() })
		t.Logf("busy loop %d: pid %d", i+1, pid)
	}

	// The primary's lease as its own health endpoint reports it, asked
	// from inside n1 (its loopback: the loss is on the link).
	n1 := c.Net.Host("n1")
	leaseLeft := regexp.MustCompile(`lease good for another ([0-9.]+m?s)`)
	minLeft, samples, noAnswer := time.Duration(1<<62), 0, 0
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{
		DialContext: n1.DialContext, DisableKeepAlives: true}}
	url := "http://" + net.JoinHostPort(n1.Addr.String(), strconv.Itoa(harness.HealthPort)) + "/primary"
	sample := func() {
		resp, err := client.Get(url)
		if err != nil {
			noAnswer++
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if m := leaseLeft.FindStringSubmatch(string(b)); m != nil {
			if d, err := time.ParseDuration(m[1]); err == nil {
				samples++
				minLeft = min(minLeft, d)
				return
			}
		}
		t.Errorf("n1's /primary answered %d %q: not a primary holding its lease", resp.StatusCode, b)
	}

	start := time.Now()
	deadline := start.Add(dur)
	standbys := []string{"n2", "n3"}
	freezes := 0
	nextFreeze := start.Add(5 * time.Second)
	for time.Now().Before(deadline) && !t.Failed() {
		if time.Now().After(nextFreeze) {
			name := standbys[freezes%2]
			p := c.Agent(name)
			if err := p.Stop(); err != nil {
				t.Fatal(err)
			}
			frozenAt := time.Now()
			for time.Since(frozenAt) < freeze {
				sample()
				time.Sleep(100 * time.Millisecond)
			}
			if err := p.Cont(); err != nil {
				t.Fatal(err)
			}
			freezes++
			nextFreeze = time.Now().Add(10 * time.Second)
		}
		sample()
		if holders, err := c.VIPHolders(ctx); err != nil || len(holders) != 1 || holders[0] != "n1" {
			t.Errorf("%v into the soak the VIP is on %v (err %v), want n1 alone", time.Since(start).Round(time.Second), holders, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, h := range c.AgentHosts() {
		if err := c.Net.ClearDrops(ctx, h); err != nil {
			t.Error(err)
		}
	}
	t.Logf("soak: %v, %d standby agent freezes of %v, %d lease samples (%d unanswered)",
		time.Since(start).Round(time.Second), freezes, freeze, samples, noAnswer)
	if samples > 0 {
		// /primary's "lease good for another" is the time until fencing
		// would start (the lease's end less the fencing allowance).
		t.Logf("margin: the primary never had less than %v left before it would fence itself (of %v after a renewal: lease %v less the fencing allowance %v; sampled every ~100 ms)",
			minLeft, tm.Lease-tm.FencingAllowance, tm.Lease, tm.FencingAllowance)
	}

	// Nothing may have happened: every agent's log.
	bad := []string{"failover check started", "candidate elected", "lease resigned", "being fenced off",
		"Promotion has started", "Failover has completed", "Standby agent failed", "Primary database failure", "role=Idle"}
	watch := []string{"primary suspected", "lease deadline passed", "message not delivered"}
	for _, h := range c.AgentHosts() {
		log := c.Agent(h.Name).Log()
		for _, b := range bad {
			if n := strings.Count(log, b); n > 0 {
				t.Errorf("agent on %s logged %q %d times", h.Name, b, n)
			}
		}
		var seen []string
		for _, w := range watch {
			if n := strings.Count(log, w); n > 0 {
				seen = append(seen, fmt.Sprintf("%q x%d", w, n))
			}
		}
		t.Logf("agent on %s: %s", h.Name, strings.Join(append(seen, "(suspicions and near misses logged)"), ", "))
	}
	if rec, err := c.PG("n1").InRecovery(context.Background()); err != nil || rec {
		t.Errorf("n1 after the soak: in recovery %v, err %v; want a running primary", rec, err)
	}
	for _, name := range standbys {
		if rec, err := c.PG(name).InRecovery(context.Background()); err != nil || !rec {
			t.Errorf("%s after the soak: in recovery %v, err %v; want a standby", name, rec, err)
		}
	}
}
