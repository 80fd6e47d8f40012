package integration

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openefm/efm/integration/harness"
)

// TestBenchSweep (make bench): how the cluster's cost and failover time
// grow with its size. For each size in EFM_BENCH_SWEEP (database hosts,
// "3,5,7"; "0" skips the sweep), a fresh cluster of that many PostgreSQL
// hosts (shared_buffers 16MB, synchronous ANY 1) and a witness with the
// example's timers: the agents' traffic over EFM_BENCH_SWEEP_IDLE (30s)
// idle, counted by iptables on the agents' port in every host (memberlist
// gossip, probes and push/pull, the membership heartbeats and the agents'
// messages: all of it travels there), then a primary host killed and the
// client's write gap through the VIP. Printed, never asserted.
func TestBenchSweep(t *testing.T) {
	if os.Getenv("EFM_BENCH") != "1" {
		t.Skip("SKIPPING: the benchmark runs with EFM_BENCH=1 (make bench)")
	}
	spec := os.Getenv("EFM_BENCH_SWEEP")
	if spec == "" {
		spec = "3,5,7"
	}
	if spec == "0" {
		t.Skip("EFM_BENCH_SWEEP=0: no cluster-size sweep")
	}
	var sizes []int
	for _, f := range strings.Split(spec, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 2 || n > 9 {
			t.Fatalf("EFM_BENCH_SWEEP=%q: want database host counts from 2 to 9, comma-separated", spec)
		}
		sizes = append(sizes, n)
	}
	idle := 30 * time.Second
	if s := os.Getenv("EFM_BENCH_SWEEP_IDLE"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			t.Fatalf("EFM_BENCH_SWEEP_IDLE=%q: want a duration", s)
		}
		idle = d
	}
	hostKilled := benchFaults[slices.IndexFunc(benchFaults, func(f benchFault) bool { return f.name == "host killed" })]
	var rows []string
	for _, n := range sizes {
		t.Run(fmt.Sprintf("%d databases", n), func(t *testing.T) {
			rows = append(rows, sweepOnce(t, n, idle, hostKilled))
		})
	}
	fmt.Printf("\nOpenEFM cluster-size sweep, %s, load average %s (1, 5, 15 min) at the end; fast profile, shared_buffers 16MB, synchronous ANY 1; "+
		"traffic = bytes per second on the agents' port (iptables counters in each host, IP headers included) over %v idle; gap = the client's write gap through the VIP after the primary host is killed\n"+
		"| database hosts + witness | agents | traffic sent per agent (median / max) | traffic received per agent (median / max) | witness sent / received | gap (host killed) | predicted within | lost commits | 1-min load at the fault |\n"+
		"|---|---|---|---|---|---|---|---|---|\n%s\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), loadAvg(), idle, strings.Join(rows, "\n"))
}

// sweepOnce measures one cluster size and returns its table row.
func sweepOnce(t *testing.T, dbs int, idle time.Duration, f benchFault) string {
	c, ctx := startCluster(t, harness.ClusterOptions{DBHosts: dbs, Sync: true, Props: benchFast.props,
		PG: harness.PGOptions{Conf: []string{"shared_buffers = '16MB'"}}})
	hosts := c.AgentHosts()
	for _, h := range hosts {
		if err := c.Net.CountAgentTraffic(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	type bytes struct{ in, out int64 }
	read := func() map[string]bytes {
		m := map[string]bytes{}
		for _, h := range hosts {
			in, out, err := c.Net.AgentTraffic(ctx, h)
			if err != nil {
				t.Fatal(err)
			}
			m[h.Name] = bytes{in, out}
		}
		return m
	}
	before, start := read(), time.Now()
	time.Sleep(idle) // a measurement window, not a synchronisation
	after, el := read(), time.Since(start).Seconds()
	var ins, outs []float64
	var witness string
	for _, h := range hosts {
		in := float64(after[h.Name].in-before[h.Name].in) / el
		out := float64(after[h.Name].out-before[h.Name].out) / el
		t.Logf("%s: sent %.0f B/s, received %.0f B/s", h.Name, out, in)
		if h == c.Witness {
			witness = fmt.Sprintf("%s / %s", rate(out), rate(in))
		}
		ins, outs = append(ins, in), append(outs, out)
	}
	slices.Sort(ins)
	slices.Sort(outs)
	r, pred, _ := benchMeasure(ctx, t, c, benchFast, f)
	within := "n/a"
	if pred != nil {
		within = fmt.Sprintf("%.2f s", pred.Within().Seconds())
		if r.gap > pred.Within() {
			within += " (exceeded)"
		}
	}
	return fmt.Sprintf("| %d + 1 | %d | %s / %s | %s / %s | %s | %.2f s | %s | %d | %.2f |", dbs, len(hosts),
		rate(outs[len(outs)/2]), rate(outs[len(outs)-1]), rate(ins[len(ins)/2]), rate(ins[len(ins)-1]), witness,
		r.gap.Seconds(), within, r.lost, r.load)
}

// rate formats bytes per second.
func rate(b float64) string {
	if b >= 1024 {
		return fmt.Sprintf("%.1f KiB/s", b/1024)
	}
	return fmt.Sprintf("%.0f B/s", b)
}
