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

// The cluster heals itself: ten failures in a row, nobody rebuilding
// anything by hand. Five kinds of fault, alternating, twice: the primary's
// postmaster killed, the primary's link cut and healed, a planned
// switchover, the primary's agent killed (restarted as a service manager
// would), a standby's whole host lost (link cut, every process killed;
// the host then boots again: link back, database and agent started as at
// boot). After each, the cluster must settle by itself: one primary
// holding the VIP, the two other databases streaming from it through
// their efm_ slots, the failed node included (rejoined by pg_rewind where
// it was the primary). A client commits through the VIP throughout, with
// synchronous replication (ANY 1): at the end no acknowledged commit is
// lost and the probe never saw two writable servers. Every step's write
// gap, settle time and rejoin (cause, method, duration) is printed.
//
// Two defects it found are why a voter detaches its WAL receiver before it
// votes and why a standby whose WAL diverged is fenced and rebuilt
// (docs/healing.md, "A standby with WAL the primary lacks"). It runs in
// make test: about 90 s.
func TestTenFailuresInARow(t *testing.T) {
	c, ctx := startCluster(t, harness.ClusterOptions{Sync: true, Props: map[string]string{
		"auto.rewind":                  "true",
		"update.physical.slots.period": "1",
		"check.num.sync.period":        "1",
		"reconfigure.num.sync":         "true",
	}})
	if err := harness.GrantRewind(ctx, c.DB[0]); err != nil {
		t.Fatal(err)
	}
	w, p := c.StartWriter(harness.WriterOptions{}), c.StartProbe()
	if err := w.WaitAcks(ctx, 30*time.Second, time.Now(), 20); err != nil {
		t.Fatal(err)
	}
	primary := "n1"
	// The first primary has no efm_ slots: the standbys were cloned by hand.
	settle(ctx, t, c, primary, time.Now(), false)

	type step struct {
		n        int
		fault    string
		at       time.Time
		primary  string // after the step
		settled  time.Duration
		rejoined []string
	}
	var steps []step
	kinds := []string{"postmaster kill", "link cut and heal", "switchover", "primary agent kill", "standby host loss"}
	for i := range 10 {
		kind := kinds[i%len(kinds)]
		notes := notificationCounts(c)
		var at time.Time
		var failed string
		switch kind {
		case "postmaster kill":
			failed = primary
			if _, err := c.PG(primary).KillPostmaster(); err != nil {
				t.Fatal(err)
			}
			at = time.Now()
			primary = newPrimary(ctx, t, c, failed, 90*time.Second)
		case "link cut and heal":
			failed = primary
			h := c.Net.Host(primary)
			if err := c.Net.CutLink(ctx, h); err != nil {
				t.Fatal(err)
			}
			at = time.Now()
			primary = newPrimary(ctx, t, c, failed, 90*time.Second)
			if err := c.Net.RestoreLink(ctx, h); err != nil {
				t.Fatal(err)
			}
		case "switchover":
			failed = primary
			at = time.Now()
			// Right after the cluster settled, the agents' view of a
			// standby may still be the one from before it streamed (a
			// probe period late): the switchover is then refused, changing
			// nothing, and the operator asks again, as this does.
			var out string
			var err error
			if werr := harness.Eventually(ctx, 30*time.Second, 500*time.Millisecond, func(ctx context.Context) (bool, error) {
				out, err = c.EFM(ctx, c.Witness, "promote", c.Name, "-switchover")
				return err == nil || !strings.Contains(out, "Promotion has not occurred"), err
			}); werr != nil && err == nil {
				err = werr
			}
			if err != nil {
				t.Fatalf("step %d: efm promote -switchover: %v\n%s", i+1, err, out)
			}
			primary = newPrimary(ctx, t, c, failed, 60*time.Second)
		case "primary agent kill":
			agent := c.Agent(primary)
			agent.Kill()
			at = time.Now()
			// The others check the database, find it running and say so;
			// then the service manager starts the agent again.
			waitNote(ctx, t, c, notes, 90*time.Second, "primary DB is still running", "Failover has not occurred", "Primary agent exited", "Primary agent missing")
			if _, err := c.StartAgent(ctx, c.Net.Host(primary)); err != nil {
				t.Fatal(err)
			}
		case "standby host loss":
			for _, db := range c.DB {
				if db.Host.Name != primary {
					failed = db.Host.Name
					break
				}
			}
			h := c.Net.Host(failed)
			if err := c.Net.KillHost(ctx, h); err != nil {
				t.Fatal(err)
			}
			at = time.Now()
			// Commits go on through the other synchronous standby.
			if err := w.WaitAcks(ctx, 60*time.Second, at, 20); err != nil {
				t.Fatalf("step %d: no commits while standby %s is lost: %v", i+1, failed, err)
			}
			if err := c.Net.RestoreLink(ctx, h); err != nil {
				t.Fatal(err)
			}
			if err := c.PG(failed).Start(ctx); err != nil {
				t.Fatalf("step %d: booting %s's database again: %v", i+1, failed, err)
			}
			if _, err := c.StartAgent(ctx, h); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("step %d: %s (%s); primary now %s", i+1, kind, failed, primary)
		if err := w.WaitAcks(ctx, 60*time.Second, at, 20); err != nil {
			t.Fatalf("step %d (%s): the client cannot write: %v", i+1, kind, err)
		}
		settled := settle(ctx, t, c, primary, at, true)
		s := step{n: i + 1, fault: kind + " " + failed, at: at, primary: primary, settled: settled.Sub(at)}
		rejoins := func() []string {
			var out []string
			for _, name := range []string{"n1", "n2", "n3"} {
				for _, l := range c.Configs[name].Notifications()[notes[name]:] {
					if strings.Contains(l, "now streams from the primary") {
						out = append(out, name+": "+l)
					}
				}
			}
			return out
		}
		if kind == "postmaster kill" || kind == "link cut and heal" {
			// The notification script runs after the rejoin's last step:
			// its line may land a moment after the node streams.
			err := harness.Eventually(ctx, 30*time.Second, 100*time.Millisecond, func(context.Context) (bool, error) {
				s.rejoined = rejoins()
				return len(s.rejoined) > 0, nil
			})
			if err != nil {
				t.Errorf("step %d: the old primary %s streams again but no rejoin was reported", i+1, failed)
			}
		} else {
			s.rejoined = rejoins()
		}
		steps = append(steps, s)
	}

	wr, pr := w.Stop(), p.Stop()
	if ov := pr.Overlaps(); len(ov) > 0 {
		t.Errorf("SPLIT BRAIN: two servers accepted writes at once: %v", ov)
	}
	checkLost(ctx, t, wr, c.PG(primary), true)
	var b strings.Builder
	fmt.Fprintf(&b, "%-4s %-32s %-8s %-10s %-10s\n", "step", "fault", "primary", "write gap", "settled")
	for i, s := range steps {
		end := wr.Stopped
		if i+1 < len(steps) {
			end = steps[i+1].at
		}
		fmt.Fprintf(&b, "%-4d %-32s %-8s %-10v %-10v\n", s.n, s.fault, s.primary,
			gapBetween(wr, s.at, end).Round(time.Millisecond), s.settled.Round(time.Millisecond))
		for _, r := range s.rejoined {
			fmt.Fprintf(&b, "       rejoin: %s\n", r)
		}
	}
	t.Logf("measured, ten failures in a row (%d commits acknowledged):\n%s", len(wr.Acks), b.String())
}

// settle waits until primary alone holds the VIP and every other database
// streams from it (through its efm_ slot with slots), and returns when it
// saw that.
func settle(ctx context.Context, t *testing.T, c *harness.Cluster, primary string, since time.Time, slots bool) time.Time {
	t.Helper()
	want := c.PG(primary).Host.Addr.String()
	err := harness.Eventually(ctx, 180*time.Second, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		holders, err := c.VIPHolders(ctx)
		if err != nil || len(holders) != 1 || holders[0] != primary {
			return false, fmt.Errorf("VIP held by %v (err %v), want %s", holders, err, primary)
		}
		for _, db := range c.DB {
			name := db.Host.Name
			if name == primary {
				continue
			}
			host, err := db.QueryString(ctx, "SELECT coalesce((SELECT sender_host FROM pg_stat_wal_receiver WHERE status = 'streaming'), '')")
			if err != nil || host != want {
				return false, fmt.Errorf("%s streams from %q (err %v), want %s", name, host, err, want)
			}
			// On the primary's timeline, not stuck at the end of an older
			// one (a receiver past the fork point reconnects to stream the
			// old timeline again and again, 'streaming' for a moment each
			// time).
			ptl, err1 := c.PG(primary).QueryString(ctx, "SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int::text")
			stl, err2 := db.QueryString(ctx, "SELECT coalesce((SELECT received_tli::text FROM pg_stat_wal_receiver WHERE status = 'streaming'), '')")
			if err1 != nil || err2 != nil || stl != ptl {
				return false, fmt.Errorf("%s receives timeline %q, the primary %s is on %q (errs %v, %v)", name, stl, primary, ptl, err1, err2)
			}
			if !slots {
				continue
			}
			slot := slotOf(db.Host)
			active, err := c.PG(primary).QueryString(ctx, "SELECT coalesce((SELECT active::text FROM pg_replication_slots WHERE slot_name = $1), 'missing')", slot)
			if err != nil || active != "true" {
				return false, fmt.Errorf("%s's slot %s on %s: %s (err %v)", name, slot, primary, active, err)
			}
		}
		return true, nil
	})
	if err != nil {
		dumpAgents(t, c)
		dumpServerLogs(t, c)
		t.Fatalf("the cluster did not settle with %s primary %v after the fault: %v", primary, time.Since(since).Round(time.Millisecond), err)
	}
	return time.Now()
}

// notificationCounts is how many notifications each agent host has sent
// so far, so a step looks only at its own.
func notificationCounts(c *harness.Cluster) map[string]int {
	m := map[string]int{}
	for _, h := range c.AgentHosts() {
		m[h.Name] = len(c.Configs[h.Name].Notifications())
	}
	return m
}

// waitNote waits until some agent sent, since the counts in from, a
// notification containing one of wants.
func waitNote(ctx context.Context, t *testing.T, c *harness.Cluster, from map[string]int, timeout time.Duration, wants ...string) {
	t.Helper()
	err := harness.Eventually(ctx, timeout, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		for _, h := range c.AgentHosts() {
			notes := c.Configs[h.Name].Notifications()
			for _, l := range notes[min(from[h.Name], len(notes)):] {
				if slices.ContainsFunc(wants, func(w string) bool { return strings.Contains(l, w) }) {
					return true, nil
				}
			}
		}
		return false, fmt.Errorf("none of %q notified", wants)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// gapBetween is the longest stretch without an acknowledged commit within
// [from, to].
func gapBetween(r harness.WriterReport, from, to time.Time) time.Duration {
	last, best := from, time.Duration(0)
	for _, a := range r.Acks {
		if a.Acked.Before(from) {
			continue
		}
		if a.Acked.After(to) {
			break
		}
		best = max(best, a.Acked.Sub(last))
		last = a.Acked
	}
	return max(best, to.Sub(last))
}

// dumpServerLogs prints the tail of every database's server logs: the
// harness's (pg_ctl -l at start) and the agent's (when it restarted it),
// without the write probe's refusals, which fill them on a standby.
func dumpServerLogs(t *testing.T, c *harness.Cluster) {
	for _, db := range c.DB {
		for _, p := range []string{db.LogPath, filepath.Join(db.DataDir, "openefm-pg_ctl.log")} {
			b, err := os.ReadFile(p)
			if err != nil {
				continue
			}
			var keep []string
			for _, l := range strings.Split(string(b), "\n") {
				if !strings.Contains(l, "efmi_probe") && !strings.Contains(l, "read-only transaction") {
					keep = append(keep, l)
				}
			}
			keep = keep[max(0, len(keep)-60):]
			t.Logf("---- %s server log %s (tail) ----\n%s", db.Host.Name, p, strings.Join(keep, "\n"))
		}
	}
}
