package sim

import (
	"fmt"
	"math/rand"
	"time"

	"github.com/openefm/efm/internal/core"
)

// Config is one simulated cluster and how hard to shake it.
type Config struct {
	Seed       int64
	DBs        int // database nodes; node 0 starts as primary
	Witnesses  int
	SyncK      int // synchronous_standby_names ANY k; 0 = asynchronous
	Stonith    bool
	Watchdog   bool
	Promotable []bool // per database node
	// FenceFailPct is the chance that script.fence exits non-zero.
	FenceFailPct int
	// Params is the template every agent starts from (Self and Kind are
	// set per node).
	Params     core.Params
	FaultPhase time.Duration
	NumFaults  int
	// Liveness: the schedule must end with exactly one primary.
	Liveness bool
	// Record keeps every notification (scenario tests).
	Record bool
	// BrokenNoLeaseWait makes voters ignore the lease hold (self-test).
	BrokenNoLeaseWait bool
	// BrokenAsyncIsSync books commits acknowledged under a lowered or
	// cleared num_sync as synchronous ones (self-test: the durability
	// invariant must then fail).
	BrokenAsyncIsSync bool
	// NoDetach makes the shell ignore core.OpDetachReceiver (self-test:
	// a voter then receives the old primary's last WAL after its vote,
	// and a standby ends past the new primary's fork point).
	NoDetach bool
	// NoTimelineReservation makes the shell promote without the timeline
	// the core reserved (core.DoDB.Timeline), as a bare pg_ctl promote
	// does (self-test: TestSimulationCatchesUnreservedTimelines).
	NoTimelineReservation bool
	// SilentPromoteRefusal makes the shell drop the resignation a node
	// sends when it refuses a promote order, as the core did before chaos
	// seed 9238 (self-test: TestSimulationCatchesSilentPromoteRefusal).
	SilentPromoteRefusal bool
}

func (c Config) String() string {
	p := c.Params
	return fmt.Sprintf("seed=%d dbs=%d witnesses=%d syncK=%d stonith=%v watchdog=%v promotable=%v fenceFail=%d%% faults=%d phase=%v "+
		"node.timeout=%v lease=%v local=%v/%v/%v remote=%v auto.failover=%v minimum.standbys=%d vip=%v check.vip=%v ping=%v replay.tiebreaker=%v "+
		"priority=%v auto.reconfigure=%v restart.delay=%v probe.timeout=%v liveness=%v "+
		"check.num.sync=%v reconfigure.num.sync=%v sync.primary=%v num.sync.max=%d slots=%v "+
		"auto.rewind=%v auto.basebackup=%v auto.resume=%v/%v",
		c.Seed, c.DBs, c.Witnesses, c.SyncK, c.Stonith, c.Watchdog, c.Promotable, c.FenceFailPct, c.NumFaults, c.FaultPhase,
		p.NodeTimeout, p.Lease, p.LocalPeriod, p.LocalTimeout, p.LocalTimeoutFinal, p.RemoteTimeout, p.AutoFailover, p.MinimumStandbys,
		p.VIPConfigured, p.CheckVIPBeforePromotion, p.PingServerConfigured, p.UseReplayTiebreaker, p.PriorityStandbys,
		p.AutoReconfigure, p.StandbyRestartDelay, p.ProbeTimeout, c.Liveness,
		p.CheckNumSyncPeriod, p.ReconfigureNumSync, p.ReconfigureSyncPrimary, p.ReconfigureNumSyncMax, p.UpdatePhysicalSlotsPeriod,
		p.AutoRewind, p.AutoBasebackup, p.AutoResumeStartup, p.AutoResumeFailure)
}

func nodeID(i int) core.NodeID { return core.NodeID(fmt.Sprintf("10.0.0.%d", i+1)) }

// BaseParams are fast EFM timers for simulation (the ratios matter, not
// the absolute values).
func BaseParams() core.Params {
	p := core.DefaultParams("")
	p.ClusterName = "sim"
	p.LocalPeriod = time.Second
	p.LocalTimeout = 3 * time.Second
	p.LocalTimeoutFinal = time.Second
	p.RemoteTimeout = time.Second
	p.NodeTimeout = 2 * time.Second
	p.RecoveryCheckPeriod = 250 * time.Millisecond
	p.CheckVIPTimeout = 2 * time.Second
	p.PingServerConfigured = false
	// Every agent drives a Pgpool (recorded, always succeeding): the
	// routing decisions run in every schedule, under checkDetach.
	p.Pgpool = true
	return p
}

// RandomConfig draws a cluster and a fault budget from seed.
func RandomConfig(seed int64) Config {
	r := rand.New(rand.NewSource(seed))
	c := Config{Seed: seed, Params: BaseParams()}
	c.DBs = 2 + r.Intn(3)
	c.Witnesses = r.Intn(3)
	if c.DBs+c.Witnesses < 3 && r.Intn(4) != 0 {
		c.Witnesses = 1
	}
	switch r.Intn(3) {
	case 0:
		c.Stonith = true
	case 1:
		c.Watchdog = true
	default:
		c.Stonith, c.Watchdog = true, true
	}
	voters := c.DBs + c.Witnesses
	c.Promotable = make([]bool, c.DBs)
	promotable := 0
	for i := range c.Promotable {
		c.Promotable[i] = r.Intn(6) != 0
		if c.Promotable[i] {
			promotable++
		}
	}
	autoReconfigure := r.Intn(10) != 0
	if r.Intn(5) < 2 && autoReconfigure {
		// synchronous_standby_names = ANY k (promotable standbys). Every
		// strict majority of voters must contain a standby holding the
		// commit, even one that includes the old primary (whose agent
		// cannot tell acknowledged WAL from the unacknowledged tail and
		// so votes without comparing): k >= voters - majority + 1. The
		// primary may be any promotable node, so k must fit in
		// promotable - 1.
		k := voters - (voters/2 + 1) + 1
		if k <= promotable-1 {
			c.SyncK = k
		}
	}
	p := &c.Params
	p.NodeTimeout = time.Duration(1500+r.Intn(1500)) * time.Millisecond
	p.StandbyRestartDelay = time.Duration(r.Intn(2)) * 500 * time.Millisecond
	p.AutoFailover = r.Intn(12) != 0
	if r.Intn(6) == 0 {
		p.MinimumStandbys = 1
	}
	p.UseReplayTiebreaker = r.Intn(2) == 0
	p.AutoReconfigure = autoReconfigure
	p.VIPConfigured = r.Intn(3) != 0
	p.CheckVIPBeforePromotion = r.Intn(4) != 0
	p.PingServerConfigured = r.Intn(2) == 0
	if r.Intn(3) == 0 {
		p.PriorityStandbys = []core.NodeID{nodeID(c.DBs - 1)}
	}
	p.Scripts = map[core.Script]bool{}
	if c.Stonith {
		p.Scripts[core.ScriptFence] = true
		if r.Intn(5) == 0 {
			c.FenceFailPct = 20
		}
	}
	for _, s := range []core.Script{core.ScriptPostPromotion, core.ScriptDBFailure, core.ScriptPrimaryIsolated, core.ScriptResumed} {
		if r.Intn(2) == 0 {
			p.Scripts[s] = true
		}
	}
	// The load-balancer hooks always, detach.on.agent.failure on even
	// seeds (no draw: the schedules of earlier seeds stay as they were).
	p.Scripts[core.ScriptLoadBalancerAttach] = true
	p.Scripts[core.ScriptLoadBalancerDetach] = true
	p.DetachOnAgentFailure = seed%2 == 0
	p.Watchdog = c.Watchdog
	if r.Intn(3) == 0 {
		// A lease shorter than node.timeout (faster failover).
		p.Lease = p.NodeTimeout * time.Duration(2+r.Intn(3)) / 5
	}
	c.FaultPhase = time.Duration(10+r.Intn(25)) * time.Second
	c.NumFaults = 1 + r.Intn(8)
	// Liveness needs automatic failover, a promotable standby besides any
	// fenced primary, and standbys that follow a new primary by themselves.
	c.Liveness = p.AutoFailover && p.AutoReconfigure && promotable >= 2 && p.MinimumStandbys <= c.DBs-2
	// Drawn last so the draws above stay as they were for every seed: a
	// ping.server.command slower than remote.timeout (EFM's ping -c3 -w5
	// with fast timers).
	if r.Intn(3) == 0 {
		p.ProbeTimeout = p.RemoteTimeout * time.Duration(2+r.Intn(3))
	}
	// Half of the synchronous schedules let the primary reconfigure
	// num_sync (syncrep.go): lowered or cleared when standbys are lost,
	// raised back to SyncK with reconfigure.num.sync.max. Commits
	// acknowledged meanwhile are counted as asynchronous (db.go, ackSync).
	if c.SyncK > 0 && r.Intn(2) == 0 {
		p.CheckNumSyncPeriod = time.Duration(500+r.Intn(2500)) * time.Millisecond
		p.ReconfigureNumSync = r.Intn(4) != 0
		p.ReconfigureSyncPrimary = r.Intn(3) == 0
		if r.Intn(4) != 0 {
			p.ReconfigureNumSyncMax = c.SyncK
		}
	}
	// Physical slots in half of the schedules (slots.go): positions sent,
	// standbys' copies kept, followers streaming through them.
	if r.Intn(2) == 0 {
		p.UpdatePhysicalSlotsPeriod = time.Duration(300+r.Intn(2700)) * time.Millisecond
	}
	// Healing (drawn after everything above, for the same reason): the
	// old primary rebuilt by the agents, Idle agents resuming by
	// themselves instead of by the operator.
	switch r.Intn(4) {
	case 0:
		p.AutoRewind = true
	case 1:
		p.AutoBasebackup = true
	}
	if r.Intn(3) == 0 {
		p.AutoResumeStartup = time.Duration(1+r.Intn(3)) * time.Second
		p.AutoResumeFailure = time.Duration(1+r.Intn(3)) * time.Second
	}
	return c
}
