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

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's CPU times (100 on
// every Linux this runs on).
const clockTicks = 100

// procCPU is a process's user+system CPU time so far.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	f := strings.Fields(s[i+2:])
	// After the command: state is field 3, utime 14 and stime 15 (1-based).
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parsing /proc/%d/stat: %v %v", pid, err1, err2)
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// procRSS is a process's resident set (VmRSS) in KiB.
func procRSS(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			return strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// TestBenchIdle (make bench): what an idle cluster's agents cost, over
// EFM_BENCH_IDLE (1m) with the fast profile, and how long `efm
// cluster-status` takes. Printed, never asserted.
func TestBenchIdle(t *testing.T) {
	if os.Getenv("EFM_BENCH") != "1" {
		t.Skip("SKIPPING: the benchmark runs with EFM_BENCH=1 (make bench)")
	}
	idle := time.Minute
	if s := os.Getenv("EFM_BENCH_IDLE"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			t.Fatalf("EFM_BENCH_IDLE=%q: want a duration", s)
		}
		idle = d
	}
	c, ctx := startCluster(t, harness.ClusterOptions{Sync: true, Props: benchFast.props})
	hosts := c.AgentHosts()
	cpu0 := map[string]time.Duration{}
	for _, h := range hosts {
		d, err := procCPU(c.Agent(h.Name).Pid)
		if err != nil {
			t.Fatal(err)
		}
		cpu0[h.Name] = d
	}
	start := time.Now()
	time.Sleep(idle) // a measurement window, not a synchronisation
	el := time.Since(start)
	var rows []string
	for _, h := range hosts {
		pid := c.Agent(h.Name).Pid
		d, err := procCPU(pid)
		if err != nil {
			t.Fatal(err)
		}
		rss, err := procRSS(pid)
		if err != nil {
			t.Fatal(err)
		}
		kind := "database agent"
		if h == c.Witness {
			kind = "witness agent"
		}
		rows = append(rows, fmt.Sprintf("| %s (%s) | %.2f %% | %.1f MiB |", h.Name, kind,
			100*(d-cpu0[h.Name]).Seconds()/el.Seconds(), float64(rss)/1024))
	}
	var lat []time.Duration
	for range 10 {
		s := time.Now()
		if out, err := c.EFM(ctx, c.Witness, "cluster-status", c.Name); err != nil {
			t.Fatalf("efm cluster-status: %v\n%s", err, out)
		}
		lat = append(lat, time.Since(s))
	}
	slices.Sort(lat)
	fmt.Printf("\nOpenEFM idle cost over %v (fast profile), %s, load average %s (1, 5, 15 min) at the end\n| agent | CPU (of one core) | RSS |\n|---|---|---|\n%s\n"+
		"| efm cluster-status on the witness, 10 runs | median %v | max %v |\n",
		el.Round(time.Second), time.Now().UTC().Format("2006-01-02 15:04 UTC"), loadAvg(), strings.Join(rows, "\n"),
		lat[len(lat)/2].Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
}
