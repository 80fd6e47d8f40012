package chaos

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/openefm/efm/integration/harness"
)

// Options configure one run of a schedule against a fresh cluster.
type Options struct {
	Schedule Schedule
	// Bin is the efm binary the agents run; "" builds ./cmd/efm (or takes
	// EFM_BIN). The negative control passes a binary built with
	// -tags efm_unsafe_nofence.
	Bin string
	// Props override keys of every agent's properties, e.g.
	// {"auto.rewind": "true"} once rejoin works.
	Props map[string]string
	// Async leaves replication asynchronous: lost commits are then counted
	// (AsyncLost) instead of failing the run.
	Async bool
	// Rejoin: the agents rejoin failed old primaries (auto.rewind and
	// auto.basebackup set), so settling needs every database streaming
	// from the primary, none fenced.
	Rejoin bool
	// SettleTimeout bounds the wait for the cluster to settle after the
	// final heal; 90 s.
	SettleTimeout time.Duration
	// KeepLogs keeps the logs of a schedule that passed too (a failed
	// one's are always kept).
	KeepLogs bool
	// Stonith configures script.fence with a STONITH that kills the
	// server of any database it is asked to fence that runs out of
	// recovery, as a power fence would its host (writeStonith). A lease
	// binds only a running agent: a primary agent frozen while its
	// database is cut off from the others cannot stop that database, and
	// script.fence (or a watchdog) is what covers it (docs/design.md, "What
	// a lease does not cover"; seed 6027).
	Stonith bool
	// AutostartPrimary models a database service enabled at boot, against
	// the installation rule (docs/chaos.md, "Who starts a killed
	// database"): a killed old primary without a fence is started writable
	// when, at that instant, no other database takes writes. That races a
	// failover in progress (seed 4011), a limit of every failover manager
	// that does not own the database's start. Off: such a database is left
	// to the agents (failover, then rejoin).
	AutostartPrimary bool
}

// Event is one line of a run's timeline.
type Event struct {
	At   time.Duration // from the schedule's start
	What string
}

// Result is what one schedule did and what the checker found.
type Result struct {
	Schedule Schedule
	Timeline []Event
	Injected int // faults made
	Skipped  int // faults the runner left out (see the timeline for why)
	// Failovers counts changes of the writable database the probes saw.
	Failovers int
	// MaxGap is the longest stretch without an acknowledged commit through
	// the VIP; MaxGapMulti through the multi-host connection string.
	MaxGap, MaxGapMulti time.Duration
	Acked, AckedMulti   int
	Lost                []int64 // acknowledged commits missing on the final primary (synchronous: a failure)
	AsyncLost           int     // the same count when replication was asynchronous (reported only)
	ReadOnly            int     // commits refused as read-only (fail closed, reported only)
	SplitBrain          []harness.Overlap
	Linearizable        string // porcupine's verdict on the commit history
	Settled             bool
	SettleTime          time.Duration // from the final heal to settled
	Final               string        // the settled cluster: primary, streaming, fenced
	Fenced              int           // old primaries left fenced (rejoin off)
	Problems            []string      // what fails the run
	LogDir              string        // where the logs were kept (a failed run's, a long gap's, or KeepLogs)
}

// OK reports whether the checker found nothing wrong.
func (r Result) OK() bool { return len(r.Problems) == 0 }

// TimelineString is the timeline, one event a line, for a failing seed.
func (r Result) TimelineString() string {
	var b strings.Builder
	for _, e := range r.Timeline {
		fmt.Fprintf(&b, "  +%7.2fs %s\n", e.At.Seconds(), e.What)
	}
	return b.String()
}

// runner is one run's state.
type runner struct {
	tb    harness.TB
	c     *harness.Cluster
	o     Options
	start time.Time

	mu       sync.Mutex
	timeline []Event
	busy     map[string]int // host+"/"+resource -> active faults holding it
	// killedPG: postmasters this run killed and has not started again,
	// true for one that was a standby (standby.signal) when killed.
	killedPG map[string]bool
	injected int
	skipped  int
}

func (r *runner) logf(format string, args ...any) {
	e := Event{At: time.Since(r.start), What: fmt.Sprintf(format, args...)}
	r.mu.Lock()
	r.timeline = append(r.timeline, e)
	r.mu.Unlock()
	r.tb.Logf("chaos +%.2fs: %s", e.At.Seconds(), e.What)
}

// Run builds a fresh cluster for o.Schedule, starts the agents, the two
// writers and the probes, plays the schedule, heals everything, waits for
// the cluster to settle and checks the history. The error is for a run
// that could not be made (the cluster never formed); what the checker
// finds is in Result.Problems.
func Run(ctx context.Context, tb harness.TB, o Options) (Result, error) {
	s := o.Schedule
	res := Result{Schedule: s}
	if o.SettleTimeout == 0 {
		o.SettleTimeout = 90 * time.Second
	}
	props := o.Props
	var fenceScript string
	if o.Stonith {
		// Named as the harness names its scratch directories, so that
		// the sweep removes it after a run that was killed.
		dir, err := os.MkdirTemp("", fmt.Sprintf("efmi-%d-stonith-", os.Getpid()))
		if err != nil {
			return res, err
		}
		tb.Cleanup(func() { os.RemoveAll(dir) })
		fenceScript = filepath.Join(dir, "stonith.sh")
		props = maps.Clone(o.Props)
		if props == nil {
			props = map[string]string{}
		}
		props["script.fence"] = fenceScript + " %p %f"
	}
	c, err := harness.NewCluster(ctx, tb, harness.ClusterOptions{Name: "chaos", DBHosts: s.DBHosts, Sync: !o.Async, Props: props})
	if err != nil {
		return res, err
	}
	if o.Stonith {
		if err := writeStonith(fenceScript, c); err != nil {
			return res, err
		}
	}
	if o.Bin != "" {
		c.Bin = o.Bin
	}
	if o.Rejoin {
		// As an operator who sets auto.rewind does: without these a
		// replication role that is not a superuser cannot run pg_rewind.
		if err := harness.GrantRewind(ctx, c.DB[0]); err != nil {
			return res, err
		}
	}
	if err := c.StartAgents(ctx); err != nil {
		return res, err
	}
	if out, err := c.WaitHealthy(ctx, 60*time.Second); err != nil {
		return res, fmt.Errorf("the cluster never formed: %w\n%s", err, out)
	}
	var addrs []netip.Addr
	for _, db := range c.DB {
		addrs = append(addrs, db.Host.Addr)
	}
	probe := c.StartProbe()
	vip := c.StartWriter(harness.WriterOptions{})
	multi := harness.StartWriter(tb, c.Client, netip.AddrPortFrom(c.VIP, harness.PGPort), harness.WriterOptions{Hosts: addrs})
	if err := vip.WaitAcks(ctx, 30*time.Second, time.Now(), 5); err != nil {
		return res, fmt.Errorf("the VIP writer never committed: %w", err)
	}
	if err := multi.WaitAcks(ctx, 30*time.Second, time.Now(), 5); err != nil {
		return res, fmt.Errorf("the multi-host writer never committed: %w", err)
	}

	r := &runner{tb: tb, c: c, o: o, start: time.Now(), busy: map[string]int{}, killedPG: map[string]bool{}}
	r.logf("start: %d databases + witness, primary n1, synchronous=%v, props %v", s.DBHosts, !o.Async, o.Props)
	var wg sync.WaitGroup
	for _, f := range s.Faults {
		if !sleepUntil(ctx, r.start.Add(f.At)) {
			break
		}
		h, peer, why := r.choose(ctx, f)
		if h == nil && f.Kind != Switchover || why != "" {
			r.logf("skip   %s: %s", f, why)
			r.mu.Lock()
			r.skipped++
			r.mu.Unlock()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.play(ctx, f, h, peer)
		}()
	}
	wg.Wait()

	heal := time.Now()
	r.healAll(ctx)
	r.logf("healed everything; waiting for the cluster to settle")
	primary, final, fenced, err := r.settle(ctx, probe)
	res.Settled = err == nil
	res.SettleTime = time.Since(heal)
	res.Final, res.Fenced = final, fenced
	if err != nil {
		res.Problems = append(res.Problems, fmt.Sprintf("the cluster did not settle within %v: %v", o.SettleTimeout, err))
		// The commits are still checked against the one writable
		// database, when there is one.
		if w := c.Writable(ctx); len(w) == 1 {
			primary = w[0]
			res.Final = "NOT SETTLED; writable: " + primary
		}
	} else {
		r.logf("settled in %v: %s", res.SettleTime.Round(time.Millisecond), final)
		// With a synchronous standby streaming, writes must flow again
		// through both paths; without one, synchronous commits wait by design.
		if strings.Contains(final, "streaming") || o.Async {
			since := time.Now()
			for _, w := range []*harness.Writer{vip, multi} {
				if err := w.WaitAcks(ctx, 30*time.Second, since, 5); err != nil {
					res.Problems = append(res.Problems, fmt.Sprintf("no commits after settling on %s: %v", primary, err))
				}
			}
		}
	}
	vr, mr := vip.Stop(), multi.Stop()
	readAt := time.Now()
	pr := probe.Stop()
	r.logf("stopped the writers and the probes")

	res.Timeline, res.Injected, res.Skipped = r.timeline, r.injected, r.skipped
	res.MaxGap, res.MaxGapMulti = vr.MaxGap().Duration(), mr.MaxGap().Duration()
	res.Acked, res.AckedMulti = len(vr.Acks), len(mr.Acks)
	res.ReadOnly = len(vr.ReadOnly) + len(mr.ReadOnly)
	res.SplitBrain = pr.Overlaps()
	res.Failovers = failovers(pr)
	for _, o := range res.SplitBrain {
		res.Problems = append(res.Problems, "SPLIT BRAIN: "+o.String())
	}
	if primary != "" {
		have, err := harness.CommittedIDs(ctx, c.PG(primary))
		readDone := time.Now()
		if err != nil {
			res.Problems = append(res.Problems, fmt.Sprintf("reading the commits on the final primary %s: %v", primary, err))
		} else {
			for _, wr := range []harness.WriterReport{vr, mr} {
				for _, a := range wr.Acks {
					if !have[a.ID] {
						res.Lost = append(res.Lost, a.ID)
					}
				}
			}
			sort.Slice(res.Lost, func(i, j int) bool { return res.Lost[i] < res.Lost[j] })
			if o.Async {
				res.AsyncLost, res.Lost = len(res.Lost), nil
			} else if len(res.Lost) > 0 {
				res.Problems = append(res.Problems, fmt.Sprintf("LOST COMMITS: %d acknowledged commits are not on the final primary %s: %v",
					len(res.Lost), primary, head(res.Lost, 20)))
			}
			verdict, detail := checkLinearizable([]harness.WriterReport{vr, mr}, have, readAt, readDone)
			res.Linearizable = verdict
			if verdict != "Ok" && !o.Async {
				res.Problems = append(res.Problems, "NOT LINEARIZABLE: "+detail)
			}
		}
	}
	if !res.OK() || o.KeepLogs || max(res.MaxGap, res.MaxGapMulti) > keepLogsGap {
		res.LogDir = keepLogs(c, s.Seed)
	}
	return res, nil
}

// keepLogsGap: a schedule that passed but kept clients from writing for
// longer than this keeps its logs too, to be read (not a failure: with
// synchronous replication and one standby, commits rightly wait while the
// standby is away). A schedule rarely replays exactly (faults are aimed at
// roles, and the roles depend on timing), so the logs of the run itself
// are what explains a long gap.
const keepLogsGap = 30 * time.Second

// keepLogs copies every agent's and server's log and notifications to
// <tmp>/efm-chaos-seed-<seed>, which outlives the cluster's teardown.
func keepLogs(c *harness.Cluster, seed uint64) string {
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("efm-chaos-seed-%d", seed))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "(logs not kept: " + err.Error() + ")"
	}
	for _, h := range c.AgentHosts() {
		// Every agent this run started on h: efm-agent.log, efm-agent.1.log, ...
		logs, _ := filepath.Glob(filepath.Join(h.Dir, "efm-agent*.log"))
		for _, l := range logs {
			if b, err := os.ReadFile(l); err == nil {
				_ = os.WriteFile(filepath.Join(dir, h.Name+"-"+filepath.Base(l)), b, 0o644)
			}
		}
		_ = os.WriteFile(filepath.Join(dir, h.Name+"-notifications.log"), []byte(strings.Join(c.Configs[h.Name].Notifications(), "\n")+"\n"), 0o644)
		if db := c.PG(h.Name); db != nil {
			if b, err := os.ReadFile(db.LogPath); err == nil {
				_ = os.WriteFile(filepath.Join(dir, h.Name+"-postgres.log"), b, 0o644)
			}
			// The servers the agent started log to pg_ctl's -l in the
			// data directory; and what pg_wal held at the end.
			if b, err := os.ReadFile(filepath.Join(db.DataDir, "openefm-pg_ctl.log")); err == nil {
				_ = os.WriteFile(filepath.Join(dir, h.Name+"-openefm-pg_ctl.log"), b, 0o644)
			}
			if ents, err := os.ReadDir(filepath.Join(db.DataDir, "pg_wal")); err == nil {
				var names []string
				for _, e := range ents {
					names = append(names, e.Name())
				}
				_ = os.WriteFile(filepath.Join(dir, h.Name+"-pg_wal.txt"), []byte(strings.Join(names, "\n")+"\n"), 0o644)
			}
		}
	}
	return dir
}

func head(ids []int64, n int) []int64 {
	if len(ids) > n {
		return ids[:n]
	}
	return ids
}

// sleepUntil waits for t or ctx's end (false).
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-tm.C:
		return true
	}
}

// primaryNow returns the one database that commits a write now, or "".
func (r *runner) primaryNow(ctx context.Context) string {
	w := r.c.Writable(ctx)
	if len(w) != 1 {
		return ""
	}
	return w[0]
}

// healthy counts the databases that can serve now: the primary and every
// standby streaming from it, leaving out hosts under an active fault.
func (r *runner) healthy(ctx context.Context, primary string) int {
	n := 0
	for _, db := range r.c.DB {
		name := db.Host.Name
		r.mu.Lock()
		busy := r.busyHost(name)
		r.mu.Unlock()
		if busy {
			continue
		}
		if name == primary {
			n++
			continue
		}
		if streamsFrom(ctx, db, r.c.PG(primary)) {
			n++
		}
	}
	return n
}

func streamsFrom(ctx context.Context, db, primary *harness.PG) bool {
	if primary == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	host, err := db.QueryString(ctx, "SELECT coalesce((SELECT sender_host FROM pg_stat_wal_receiver WHERE status = 'streaming'), '')")
	return err == nil && host == primary.Host.Addr.String()
}

// choose resolves f's hosts against the cluster now; why says why the
// fault is left out ("" to make it).
func (r *runner) choose(ctx context.Context, f Fault) (h, peer *harness.Host, why string) {
	primary := r.primaryNow(ctx)
	hostsOf := func(role Role) []*harness.Host {
		switch role {
		case RoleWitness:
			return []*harness.Host{r.c.Witness}
		case RolePrimary:
			if primary == "" {
				return nil
			}
			return []*harness.Host{r.c.PG(primary).Host}
		default:
			var hs []*harness.Host
			if primary == "" {
				return nil
			}
			for _, db := range r.c.DB {
				if db.Host.Name != primary {
					hs = append(hs, db.Host)
				}
			}
			return hs
		}
	}
	pick := func(role Role, k int, not *harness.Host) *harness.Host {
		hs := hostsOf(role)
		r.mu.Lock()
		defer r.mu.Unlock()
		for i := range hs {
			c := hs[(k+i)%len(hs)]
			if r.free(c.Name, f.Kind) && c != not {
				return c
			}
		}
		return nil
	}
	if primary == "" && f.Target != RoleWitness {
		return nil, nil, "no single writable database now (mid-failover or none)"
	}
	killing := f.Target == RolePrimary && primaryKilling(f)
	if f.Kind == Switchover {
		if n := r.healthy(ctx, primary); n < 2 {
			return nil, nil, fmt.Sprintf("%d healthy database(s): nothing to switch over to", n)
		}
		return nil, nil, ""
	}
	h = pick(f.Target, f.Pick, nil)
	if h == nil {
		return nil, nil, fmt.Sprintf("no free %s host", f.Target)
	}
	if f.Kind == OneWayLoss {
		if peer = pick(f.Peer, f.PeerPick, h); peer == nil {
			// The peer may be busy; any other host will do.
			for _, role := range []Role{RoleStandby, RolePrimary, RoleWitness} {
				if peer = pick(role, 0, h); peer != nil {
					break
				}
			}
		}
		if peer == nil {
			return nil, nil, "no peer for a one-way loss"
		}
		if peer.Name == primary {
			killing = true
		}
	}
	if killing {
		// Without rejoin a failed primary stays fenced: a primary fault
		// needs a healthy standby to fail over to, else it only ends the
		// schedule's usefulness.
		if n := r.healthy(ctx, primary); n < 2 {
			return nil, nil, fmt.Sprintf("%d healthy database(s): a primary fault now leaves none to fail over to (rejoin off?)", n)
		}
	}
	if f.Kind == FreezeShort || f.Kind == FreezeLong || f.Kind == KillAgent || f.Kind == RestartAgent || f.Kind == WitnessDown {
		if p := r.c.Agent(h.Name); p == nil {
			return nil, nil, "no agent on " + h.Name
		} else if done, _ := p.Exited(); done {
			return nil, nil, "the agent of " + h.Name + " is not running"
		}
	}
	if f.Kind == KillPostmaster {
		if _, err := r.c.PG(h.Name).PostmasterPID(); err != nil {
			return nil, nil, "no postmaster running on " + h.Name
		}
	}
	return h, peer, ""
}

// resources are the parts of a host a fault takes and heals: two faults
// on one host overlap only when they take different parts (a healed link
// must not end a host kill that is still on).
func resources(k Kind) []string {
	switch k {
	case KillPostmaster:
		return []string{"pg"}
	case KillAgent, FreezeShort, FreezeLong, WitnessDown, RestartAgent:
		return []string{"agent"}
	case KillHost:
		return []string{"pg", "agent", "link"}
	case CutLink:
		return []string{"link"}
	case OneWayLoss, PacketLoss:
		// Separate iptables rules, deleted one by one.
		return []string{"filter"}
	}
	return nil
}

// free reports whether k can be made on host now (r.mu held).
func (r *runner) free(host string, k Kind) bool {
	for _, res := range resources(k) {
		if r.busy[host+"/"+res] > 0 {
			return false
		}
	}
	return true
}

// busyHost reports whether any fault is active on host (r.mu held).
func (r *runner) busyHost(host string) bool {
	for k, n := range r.busy {
		if n > 0 && strings.HasPrefix(k, host+"/") {
			return true
		}
	}
	return false
}

// play makes f on h, waits its duration and heals it.
func (r *runner) play(ctx context.Context, f Fault, h, peer *harness.Host) {
	name := ""
	if h != nil {
		name = h.Name
		r.mu.Lock()
		for _, res := range resources(f.Kind) {
			r.busy[name+"/"+res]++
		}
		r.injected++
		r.mu.Unlock()
		defer func() {
			r.mu.Lock()
			for _, res := range resources(f.Kind) {
				r.busy[name+"/"+res]--
			}
			r.mu.Unlock()
		}()
	} else {
		r.mu.Lock()
		r.injected++
		r.mu.Unlock()
	}
	c := r.c
	var heal func() error
	var err error
	what := fmt.Sprintf("%s on %s", f.Kind, name)
	switch f.Kind {
	case KillPostmaster:
		standby := hasFence(c.PG(name))
		_, err = c.PG(name).KillPostmaster()
		r.mu.Lock()
		r.killedPG[name] = standby
		r.mu.Unlock()
		heal = func() error { return r.startPG(ctx, name) }
	case KillAgent, WitnessDown:
		c.Agent(name).Kill()
		heal = func() error { return r.startAgent(ctx, h) }
	case KillHost:
		standby := c.PG(name) != nil && hasFence(c.PG(name))
		err = c.Net.KillHost(ctx, h)
		if c.PG(name) != nil {
			r.mu.Lock()
			r.killedPG[name] = standby
			r.mu.Unlock()
		}
		heal = func() error {
			if err := c.Net.RestoreLink(ctx, h); err != nil {
				return err
			}
			return errors.Join(r.startPG(ctx, name), r.startAgent(ctx, h))
		}
	case FreezeShort, FreezeLong:
		p := c.Agent(name)
		err = p.Stop()
		heal = p.Cont
	case CutLink:
		err = c.Net.CutLink(ctx, h)
		heal = func() error { return c.Net.RestoreLink(ctx, h) }
	case OneWayLoss:
		what = fmt.Sprintf("%s: %s drops everything from %s", f.Kind, name, peer.Name)
		rule := []string{"INPUT", "-s", peer.Addr.String(), "-j", "DROP"}
		err = iptables(ctx, h, "-I", rule...)
		heal = func() error { return iptables(ctx, h, "-D", rule...) }
	case PacketLoss:
		what = fmt.Sprintf("%s: %s drops %.0f%% of its packets both ways", f.Kind, name, f.Loss*100)
		p := fmt.Sprintf("%.4f", f.Loss)
		in := []string{"INPUT", "-i", harness.HostIface, "-m", "statistic", "--mode", "random", "--probability", p, "-j", "DROP"}
		out := []string{"OUTPUT", "-o", harness.HostIface, "-m", "statistic", "--mode", "random", "--probability", p, "-j", "DROP"}
		err = errors.Join(iptables(ctx, h, "-I", in...), iptables(ctx, h, "-I", out...))
		heal = func() error { return errors.Join(iptables(ctx, h, "-D", in...), iptables(ctx, h, "-D", out...)) }
	case RestartAgent:
		err = r.restartAgent(ctx, h)
	case Switchover:
		what = "efm promote -switchover (on the witness)"
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		var out string
		out, err = c.EFM(cctx, c.Witness, "promote", c.Name, "-switchover")
		cancel()
		if err != nil {
			// Refused mid-fault is an answer, not a harness failure.
			r.logf("inject %s: refused: %s", what, oneLine(out))
			return
		}
	}
	if err != nil {
		r.logf("inject %s: FAILED: %v", what, err)
	} else {
		r.logf("inject %s%s", what, forText(f))
	}
	if heal == nil {
		return
	}
	sleepUntil(ctx, time.Now().Add(f.For))
	if err := heal(); err != nil {
		r.logf("heal   %s: FAILED: %v", what, err)
		return
	}
	r.logf("heal   %s", what)
}

func forText(f Fault) string {
	if f.For == 0 {
		return ""
	}
	return fmt.Sprintf(" for %.2fs", f.For.Seconds())
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// iptables runs one iptables command in h's namespace.
func iptables(ctx context.Context, h *harness.Host, op string, rule ...string) error {
	args := append([]string{"iptables", "-w", op}, rule...)
	if _, err := h.Run(ctx, harness.ProcOptions{}, args...); err != nil {
		return fmt.Errorf("iptables %s on %s: %w", strings.Join(args[2:], " "), h.Name, err)
	}
	return nil
}

// startAgent starts h's agent unless one runs.
func (r *runner) startAgent(ctx context.Context, h *harness.Host) error {
	if p := r.c.Agent(h.Name); p != nil {
		if done, _ := p.Exited(); !done {
			return nil
		}
	}
	_, err := r.c.StartAgent(ctx, h)
	return err
}

// restartAgent stops h's agent as systemd would (SIGTERM, SIGKILL after
// 10 s) and starts it again.
func (r *runner) restartAgent(ctx context.Context, h *harness.Host) error {
	p := r.c.Agent(h.Name)
	if err := p.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		p.Kill()
	}
	_, err := r.c.StartAgent(ctx, h)
	return err
}

// startPG starts a postmaster this run killed, as the service owner would,
// unless it runs already. One that was a standby when killed
// (standby.signal) comes up in recovery and is safe to start. One that was
// the primary is left stopped, even once its agent has fenced it: the
// installation rule (EFM's, and ours) disables the database's automatic
// start, and bringing it back is the agents' job (a failover, then the
// rejoin). Started writable behind the agents' back it would race a
// failover in progress (seed 4011: two writable databases for 140 ms);
// started after its agent fenced it, it races the agent's pg_rewind of the
// same directory (seed 6026: a rewind cut short, pg_filenode.map left
// empty). AutostartPrimary keeps the old model, which started it whenever
// no other database took writes at that instant.
func (r *runner) startPG(ctx context.Context, name string) error {
	db := r.c.PG(name)
	if db == nil {
		return nil
	}
	r.mu.Lock()
	wasStandby, killed := r.killedPG[name]
	r.mu.Unlock()
	if !killed {
		return nil
	}
	if _, err := db.PostmasterPID(); err == nil {
		r.forgetKilled(name)
		return nil
	}
	if !wasStandby && !r.o.AutostartPrimary {
		r.logf("left %s's database stopped: it was the primary when killed, and is the agents' to bring back", name)
		r.forgetKilled(name)
		return nil
	}
	if !hasFence(db) {
		if others := slices.DeleteFunc(r.c.Writable(ctx), func(s string) bool { return s == name }); len(others) > 0 {
			r.logf("left %s's database stopped: an old primary without a fence while %v takes writes", name, others)
			r.forgetKilled(name)
			return nil
		}
	}
	if err := db.Start(ctx); err != nil {
		return err
	}
	r.forgetKilled(name)
	r.logf("started %s's database", name)
	return nil
}

// hasFence: db's data directory has standby.signal (a standby, or an old
// primary its agent fenced), so it starts in recovery.
func hasFence(db *harness.PG) bool {
	_, err := os.Stat(filepath.Join(db.DataDir, "standby.signal"))
	return err == nil
}

func (r *runner) forgetKilled(name string) {
	r.mu.Lock()
	delete(r.killedPG, name)
	r.mu.Unlock()
}

// healAll undoes whatever is left: links up, iptables rules gone, agents
// running again, killed postmasters started.
func (r *runner) healAll(ctx context.Context) {
	for _, h := range r.c.AgentHosts() {
		if err := r.c.Net.RestoreLink(ctx, h); err != nil {
			r.logf("final heal: %v", err)
		}
		if _, err := h.Run(ctx, harness.ProcOptions{}, "iptables", "-w", "-F"); err != nil {
			r.logf("final heal: flushing iptables on %s: %v", h.Name, err)
		}
		if p := r.c.Agent(h.Name); p != nil {
			if done, _ := p.Exited(); !done {
				_ = p.Cont()
			}
		}
		if err := r.startAgent(ctx, h); err != nil {
			r.logf("final heal: starting the agent of %s: %v", h.Name, err)
		}
	}
	for _, db := range r.c.DB {
		if err := r.startPG(ctx, db.Host.Name); err != nil {
			r.logf("final heal: %v", err)
		}
	}
}

// settle waits until one database takes writes and every other one streams
// from it, or, when rejoin is off, is an old primary that is fenced (not
// writable). It returns the primary and a description.
func (r *runner) settle(ctx context.Context, probe *harness.Probe) (primary, final string, fenced int, err error) {
	// The same state must hold for settleHold: a cluster that is settled
	// for one poll and then changes (a healed old primary coming back, a
	// late failover) has not settled.
	const settleHold = 3 * time.Second
	var since time.Time
	var last string
	err = harness.Eventually(ctx, r.o.SettleTimeout, 500*time.Millisecond, func(ctx context.Context) (bool, error) {
		var err error
		primary, final, fenced, err = r.settledNow(ctx, probe)
		if err != nil {
			since, last = time.Time{}, ""
			return false, err
		}
		if final != last {
			since, last = time.Now(), final
		}
		if time.Since(since) < settleHold {
			return false, fmt.Errorf("%s for %v only", final, time.Since(since).Round(time.Millisecond))
		}
		return true, nil
	})
	return primary, final, fenced, err
}

// settledNow is one poll of settle: the primary and a description, or
// why the cluster has not settled.
func (r *runner) settledNow(ctx context.Context, probe *harness.Probe) (primary, final string, fenced int, err error) {
	w := r.c.Writable(ctx)
	if len(w) != 1 {
		return "", "", 0, fmt.Errorf("writable databases: %v", w)
	}
	primary = w[0]
	snap := probe.Snapshot()
	parts := []string{primary + " primary"}
	for _, db := range r.c.DB {
		name := db.Host.Name
		if name == primary {
			continue
		}
		if streamsFrom(ctx, db, r.c.PG(primary)) {
			parts = append(parts, name+" streaming")
			continue
		}
		if len(snap.Intervals(name)) > 0 && !r.o.Rejoin {
			// An old primary: fenced is all that can be asked without rejoin.
			fenced++
			parts = append(parts, name+" fenced (old primary, rejoin off)")
			continue
		}
		return "", "", 0, fmt.Errorf("%s is neither streaming from %s nor a fenced old primary", name, primary)
	}
	return primary, strings.Join(parts, ", "), fenced, nil
}

// failovers counts how often the writable database changed, from the
// probes' writable intervals in time order.
func failovers(pr harness.ProbeReport) int {
	var ivs []harness.Interval
	for h := range pr.Samples {
		ivs = append(ivs, pr.Intervals(h)...)
	}
	sort.Slice(ivs, func(i, j int) bool { return ivs[i].From.Before(ivs[j].From) })
	n := 0
	for i := 1; i < len(ivs); i++ {
		if ivs[i].Host != ivs[i-1].Host {
			n++
		}
	}
	return n
}

// writeStonith writes the chaos cluster's script.fence. Called as
// "stonith.sh <new primary> <address to fence>", it kills the whole process
// group of the server at that address when it runs and pg_controldata says
// it is out of recovery ("in production"): the fence of a database that may
// take writes. A standby, a stopped server, or no address (nothing to
// fence) exit 0; an address it does not know exits 1, which aborts the
// promotion as an unconfigured fence should.
func writeStonith(path string, c *harness.Cluster) error {
	var cases strings.Builder
	for _, db := range c.DB {
		fmt.Fprintf(&cases, "%s) dir='%s'; bin='%s' ;;\n", db.Host.Addr, db.DataDir, db.Bin)
	}
	script := `#!/bin/sh
# STONITH for the chaos runner (integration/chaos/runner.go, writeStonith).
f="$2"
[ -n "$f" ] || exit 0
case "$f" in
` + cases.String() + `*) echo "stonith: no database known at $f"; exit 1 ;;
esac
pid=$(head -n 1 "$dir/postmaster.pid" 2>/dev/null)
if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
	echo "stonith: no server runs at $f"; exit 0
fi
state=$("$bin/pg_controldata" -D "$dir" | sed -n 's/^Database cluster state: *//p')
case "$state" in
"in archive recovery"|"shut down in recovery") echo "stonith: $f is a standby ($state)"; exit 0 ;;
esac
kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid"
echo "stonith: killed the server at $f (pid $pid, $state)"
`
	return os.WriteFile(path, []byte(script), 0o755)
}
