package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openefm/efm/agent"
	"github.com/openefm/efm/integration/harness"
	"github.com/openefm/efm/internal/config"
	"github.com/openefm/efm/internal/core"
)

// `make bench` (EFM_BENCH=1; not part of `make test`): per fault and per
// timer set, EFM_BENCH_RUNS fresh clusters (default 3), each with the
// client committing every 20 ms through the VIP and the probe in every
// host; then one table: the write gap the client saw (median and max),
// commits lost, split-brain intervals the probe saw, and what efm
// check-conf predicts for the same timers. Nothing here passes or fails on
// time (the machine is shared): the table says whether each measurement
// stayed within its prediction. Both timer sets run: the example's (fast)
// EFM_BENCH_RUNS times and EFM's defaults EFM_BENCH_SLOW_RUNS times (1;
// over a minute each); EFM_BENCH_SLOW=0 leaves EFM's defaults out. The
// machine's load average is printed beside every figure: on a shared
// machine the times are only as good as the load lets them be.

// benchProfile is a timer set: overrides of the harness's properties.
type benchProfile struct {
	name  string
	props map[string]string
}

var benchFast = benchProfile{name: "fast", props: map[string]string{}} // the harness's own: docs/configuration.md's fast profile

// EFM's defaults: the harness's timer keys deleted.
var benchEFM = benchProfile{name: "EFM defaults", props: map[string]string{
	"local.period": "", "local.timeout": "", "local.timeout.final": "", "remote.timeout": "", "node.timeout": "",
}}

// benchFault is one fault and what it is compared with.
type benchFault struct {
	name string
	// event and outcome select the core.Prediction ("" for none).
	event, outcome string
	// oldStops: the fault leaves n1's database running, which must stop
	// taking writes by itself (the isolated primary fences).
	oldStops bool
	// inject makes the fault and returns its time; the primary is n1.
	inject func(ctx context.Context, t *testing.T, c *harness.Cluster) time.Time
}

var benchFaults = []benchFault{
	{"postmaster kill -9", "primary database crash", "writes on a new primary", false, func(ctx context.Context, t *testing.T, c *harness.Cluster) time.Time {
		if _, err := c.DB[0].KillPostmaster(); err != nil {
			t.Fatal(err)
		}
		return time.Now()
	}},
	{"host killed", "primary host lost", "writes on a new primary", false, func(ctx context.Context, t *testing.T, c *harness.Cluster) time.Time {
		if err := c.Net.KillHost(ctx, c.Net.Host("n1")); err != nil {
			t.Fatal(err)
		}
		return time.Now()
	}},
	{"host isolated", "primary isolated", "writes on a new primary", true, func(ctx context.Context, t *testing.T, c *harness.Cluster) time.Time {
		if err := c.Net.CutLink(ctx, c.Net.Host("n1")); err != nil {
			t.Fatal(err)
		}
		return time.Now()
	}},
	{"switchover", "", "", false, func(ctx context.Context, t *testing.T, c *harness.Cluster) time.Time {
		start := time.Now()
		if out, err := c.EFM(ctx, c.Witness, "promote", c.Name, "-switchover"); err != nil {
			t.Fatalf("efm promote -switchover: %v\n%s", err, out)
		}
		return start
	}},
}

// benchRun is what one run measured.
type benchRun struct {
	gap        time.Duration // largest gap between acknowledged commits around the fault
	lost       int           // acknowledged commits missing on the new primary
	splits     int           // intervals in which two servers accepted writes
	splitTotal time.Duration
	oldStopped time.Duration // isolation: the old primary's last accepted write after the fault
	load       float64       // 1-minute load average at the fault
}

// loadAvg is /proc/loadavg's first three fields ("1.05 0.98 0.90"), or
// why it could not be read.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// load1 is the 1-minute load average (0 when unreadable).
func load1() float64 {
	l, _ := strconv.ParseFloat(strings.Fields(loadAvg() + " 0")[0], 64)
	return l
}

// envRuns reads a positive run count from env (def when unset).
func envRuns(t *testing.T, env string, def int) int {
	s := os.Getenv(env)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive number of runs", env, s)
	}
	return n
}

func TestBench(t *testing.T) {
	if os.Getenv("EFM_BENCH") != "1" {
		t.Skip("SKIPPING: the benchmark runs with EFM_BENCH=1 (make bench)")
	}
	runs := envRuns(t, "EFM_BENCH_RUNS", 3)
	profiles := []benchProfile{benchFast}
	profileRuns := map[string]int{benchFast.name: runs}
	if os.Getenv("EFM_BENCH_SLOW") != "0" {
		profiles = append(profiles, benchEFM)
		profileRuns[benchEFM.name] = envRuns(t, "EFM_BENCH_SLOW_RUNS", 1)
	}
	only := os.Getenv("EFM_BENCH_FAULTS") // comma-separated subset of fault names, for a quick look
	var rows []string
	for _, prof := range profiles {
		for _, f := range benchFaults {
			if only != "" && !slices.Contains(strings.Split(only, ","), f.name) {
				continue
			}
			var ms []benchRun
			var pred, old *core.Prediction
			for i := 0; i < profileRuns[prof.name]; i++ {
				t.Run(fmt.Sprintf("%s/%s/%d", prof.name, f.name, i+1), func(t *testing.T) {
					r, p, o := benchOnce(t, prof, f)
					ms = append(ms, r)
					pred, old = p, o
				})
			}
			rows = append(rows, benchRow(prof, f, ms, pred, old))
		}
	}
	host, _ := os.Hostname()
	var perProfile []string
	for _, prof := range profiles {
		perProfile = append(perProfile, fmt.Sprintf("%s %d", prof.name, profileRuns[prof.name]))
	}
	table := fmt.Sprintf("OpenEFM bench, %s, host %s, %d CPUs, load average %s (1, 5, 15 min) at the end; run(s) per line: %s; gap = largest gap between the client's acknowledged commits through the VIP (commit every 20 ms, synchronous replication)\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), host, runtime.NumCPU(), loadAvg(), strings.Join(perProfile, ", ")) +
		"| timers | fault | gap median | gap max | lost commits | split-brain intervals | predicted (within / at most) | max gap <= predicted | isolated primary's last write (max) / predicted | 1-min load at the faults (max) |\n" +
		"|---|---|---|---|---|---|---|---|---|---|\n" + strings.Join(rows, "\n")
	t.Log("\n" + table)
	fmt.Println(table)
}

// benchOnce builds a fresh cluster with the profile's timers, makes the
// fault once and measures it.
func benchOnce(t *testing.T, prof benchProfile, f benchFault) (r benchRun, pred, old *core.Prediction) {
	c, ctx := startCluster(t, harness.ClusterOptions{Sync: true, Props: prof.props})
	return benchMeasure(ctx, t, c, prof, f)
}

// benchMeasure makes the fault once on a started cluster (n1 the primary)
// and measures it.
func benchMeasure(ctx context.Context, t *testing.T, c *harness.Cluster, prof benchProfile, f benchFault) (r benchRun, pred, old *core.Prediction) {
	if dir := os.Getenv("EFM_BENCH_LOGS"); dir != "" {
		// Registered after startCluster's: runs first, while the agents'
		// logs still exist.
		t.Cleanup(func() { keepAgentLogs(t, c, dir) })
	}
	pred = predictFor(t, c, f.event, f.outcome)
	if f.oldStops {
		old = predictFor(t, c, f.event, "old primary stops taking writes")
	}
	w, p := c.StartWriter(harness.WriterOptions{}), c.StartProbe()
	if err := w.WaitAcks(ctx, 60*time.Second, time.Now(), 20); err != nil {
		t.Fatal(err)
	}
	r.load = load1()
	fault := f.inject(ctx, t, c)
	t.Logf("fault %q injected at %s (the agents' log times are UTC)", f.name, fault.UTC().Format("15:04:05.000"))
	np := benchNewPrimary(ctx, t, c)
	if err := w.WaitAcks(ctx, 5*time.Minute, fault, 20); err != nil {
		t.Fatalf("the client cannot write through the VIP after the %s: %v", f.name, err)
	}
	wr, pr := w.Stop(), p.Stop()
	r.gap = wr.MaxGapAfter(fault.Add(-time.Second)).Duration()
	lost, err := wr.Lost(ctx, c.PG(np))
	if err != nil {
		t.Fatalf("counting lost commits: %v", err)
	}
	r.lost = len(lost)
	for _, o := range pr.Overlaps() {
		r.splits++
		r.splitTotal += o.To.Sub(o.From)
	}
	if last, ok := pr.LastWritable("n1"); ok {
		r.oldStopped = last.Sub(fault)
	}
	t.Logf("measured: %s with %s timers: new primary %s, write gap %v, %d lost, %d split-brain intervals; predicted %v",
		f.name, prof.name, np, r.gap.Round(time.Millisecond), r.lost, r.splits, pred)
	logSteps(t, c) // per-step times from the agents' logs
	return r, pred, old
}

// keepAgentLogs copies every agent's log to dir (EFM_BENCH_LOGS), named
// after the run, to see where a run's time went.
func keepAgentLogs(t *testing.T, c *harness.Cluster, dir string) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Logf("EFM_BENCH_LOGS: %v", err)
		return
	}
	name := strings.NewReplacer("/", "-", " ", "_").Replace(t.Name())
	for _, h := range c.AgentHosts() {
		if p := c.Agent(h.Name); p != nil {
			path := filepath.Join(dir, name+"-"+h.Name+".log")
			if err := os.WriteFile(path, []byte(p.Log()), 0o644); err != nil {
				t.Logf("EFM_BENCH_LOGS: %v", err)
			}
		}
	}
}

// benchNewPrimary waits until a standby holds the VIP. A killed or
// isolated n1 keeps the address on its own interface (newPrimary wants one
// holder), but nobody reaches it there.
func benchNewPrimary(ctx context.Context, t *testing.T, c *harness.Cluster) string {
	t.Helper()
	var np string
	err := harness.Eventually(ctx, 10*time.Minute, 50*time.Millisecond, func(ctx context.Context) (bool, error) {
		for _, db := range c.DB[1:] {
			if ok, _ := db.Host.HasAddr(ctx, c.VIP); ok {
				np = db.Host.Name
				return true, nil
			}
		}
		return false, fmt.Errorf("no standby holds the VIP yet")
	})
	if err != nil {
		t.Fatalf("no standby took the VIP: %v", err)
	}
	return np
}

// predictFor is check-conf's prediction for the fault, from n2's
// configuration (the candidate's; every node has the same timers).
func predictFor(t *testing.T, c *harness.Cluster, event, outcome string) *core.Prediction {
	t.Helper()
	if event == "" {
		return nil
	}
	cfg, _, err := config.LoadFile(c.Configs["n2"].PropsPath())
	if err != nil {
		t.Fatalf("loading n2's configuration: %v", err)
	}
	for _, pr := range core.Predict(agent.CoreParams(cfg)) {
		if pr.Event == event && pr.Outcome == outcome {
			return &pr
		}
	}
	t.Fatalf("core.Predict has no %q / %q", event, outcome)
	return nil
}

func benchRow(prof benchProfile, f benchFault, ms []benchRun, pred, old *core.Prediction) string {
	if len(ms) == 0 {
		return fmt.Sprintf("| %s | %s | (no run: filtered out, or none completed) | | | | | | | |", prof.name, f.name)
	}
	gaps := make([]time.Duration, len(ms))
	lost, splits := 0, 0
	var splitTotal time.Duration
	var load float64
	for i, m := range ms {
		load = max(load, m.load)
		gaps[i] = m.gap
		lost += m.lost
		splits += m.splits
		splitTotal += m.splitTotal
	}
	slices.Sort(gaps)
	med, mx := gaps[len(gaps)/2], gaps[len(gaps)-1]
	if len(gaps)%2 == 0 {
		med = (gaps[len(gaps)/2-1] + gaps[len(gaps)/2]) / 2
	}
	predicted, within := "n/a", "n/a"
	if pred != nil {
		predicted = fmt.Sprintf("%.2f s / %.2f s", pred.Within().Seconds(), pred.AtMost().Seconds())
		within = "yes"
		if mx > pred.Within() {
			within = "NO (above within)"
			if mx <= pred.AtMost() {
				within = "above within, below at most"
			}
		}
	}
	split := "0"
	if splits > 0 {
		split = fmt.Sprintf("%d (%v)", splits, splitTotal.Round(time.Millisecond))
	}
	oldCol := "n/a"
	if old != nil {
		var last time.Duration
		for _, m := range ms {
			last = max(last, m.oldStopped)
		}
		oldCol = fmt.Sprintf("%.2f s / %.2f s (at most %.2f s)", last.Seconds(), old.Within().Seconds(), old.AtMost().Seconds())
	}
	return fmt.Sprintf("| %s | %s | %.2f s | %.2f s | %d | %s | %s | %s | %s | %.2f |", prof.name, f.name, med.Seconds(), mx.Seconds(), lost, split, predicted, within, oldCol, load)
}
