package core

import (
	"errors"
	"fmt"
	"time"
)

// Params is everything the core needs from the properties file. The shell
// maps <cluster>.properties onto it; the property each field mirrors is named
// in its comment. Durations are EFM's seconds converted to time.Duration.
type Params struct {
	Self        NodeID // bind.address IP
	Kind        Kind   // is.witness
	ClusterName string

	LocalPeriod         time.Duration // local.period
	LocalTimeout        time.Duration // local.timeout
	LocalTimeoutFinal   time.Duration // local.timeout.final
	RemoteTimeout       time.Duration // remote.timeout
	NodeTimeout         time.Duration // node.timeout
	RecoveryCheckPeriod time.Duration // recovery.check.period
	CheckVIPTimeout     time.Duration // check.vip.timeout
	StandbyRestartDelay time.Duration // standby.restart.delay
	// ProbeTimeout bounds one run of ping.server.command (CheckVIP,
	// CheckPingServer). The shell derives it from what the command needs
	// (ping's -w, or -c, -i and -W), not from remote.timeout: a probe killed
	// early is in doubt and would never let a standby promote. Zero means
	// RemoteTimeout.
	ProbeTimeout time.Duration

	AutoFailover             bool     // auto.failover
	MinimumStandbys          int      // minimum.standbys
	StopIsolatedPrimary      bool     // stop.isolated.primary
	StopFailedPrimary        bool     // stop.failed.primary
	PrimaryShutdownAsFailure bool     // primary.shutdown.as.failure
	UseReplayTiebreaker      bool     // use.replay.tiebreaker
	Promotable               bool     // promotable
	PriorityStandbys         []NodeID // priority.standbys
	AutoReconfigure          bool     // auto.reconfigure
	CheckVIPBeforePromotion  bool     // check.vip.before.promotion
	EnableStopCluster        bool     // enable.stop.cluster
	DetachOnAgentFailure     bool     // detach.on.agent.failure
	Pgpool                   bool     // pgpool.enable: Pgpool actions are emitted

	// Synchronous replication (syncrep.go). CheckNumSyncPeriod 0 turns the
	// primary's check off.
	CheckNumSyncPeriod     time.Duration // check.num.sync.period
	ReconfigureNumSync     bool          // reconfigure.num.sync
	ReconfigureSyncPrimary bool          // reconfigure.sync.primary
	ReconfigureNumSyncMax  int           // reconfigure.num.sync.max; 0 = unset
	// AppName is application.name: the application_name this node's
	// standby streams with, its name in synchronous_standby_names.
	AppName string

	// UpdatePhysicalSlotsPeriod: update.physical.slots.period (slots.go);
	// 0 = off.
	UpdatePhysicalSlotsPeriod time.Duration

	// Healing (rejoin.go). AutoRewind and AutoBasebackup let the core
	// rebuild a fenced old primary as a standby of the new one (RejoinDB);
	// the AutoResume periods make an Idle agent resume by itself (0 = wait
	// for efm resume).
	AutoRewind        bool          // auto.rewind
	AutoBasebackup    bool          // auto.basebackup
	AutoResumeStartup time.Duration // auto.resume.startup.period
	AutoResumeFailure time.Duration // auto.resume.failure.period

	VIPConfigured        bool // virtual.ip is set
	PingServerConfigured bool // ping.server.ip is set
	// Scripts lists the script.* properties that are set. The core emits
	// RunScript only for these (and counts on the exit code of script.fence).
	Scripts map[Script]bool

	// Watchdog: the shell feeds a kernel watchdog (softdog) while this node
	// holds a primary lease, so a frozen agent's node is reset before its
	// lease runs out. See Timing.
	Watchdog bool

	// Lease overrides the primary lease (default node.timeout). A shorter
	// lease fails over faster (a failover waits out the old primary's lease)
	// but fences an isolated primary sooner and renews more often.
	Lease time.Duration

	// MaxClockDrift bounds how much faster or slower any node's monotonic
	// clock may run than real time, as a fraction (0.01 = 1 %). Zero means
	// DefaultMaxClockDrift.
	MaxClockDrift float64
	// FencingAllowance is how long fencing the local database (release VIP,
	// stop it, write the fence) may take; the primary starts fencing that long
	// before its lease ends. Zero means a quarter of the lease.
	FencingAllowance time.Duration

	// brokenNoLeaseWait disables the voters' lease hold; set only by tests
	// (through the unexported hook in export_test.go / the simulator) to show
	// the simulator catches the split-brain it causes.
	brokenNoLeaseWait bool
}

// DefaultMaxClockDrift is the clock-rate bound assumed when Params leaves it
// zero. Crystal oscillators are within 100 ppm; NTP slews by at most 500 ppm.
// 1 % leaves two orders of magnitude of room (VM steal time, a slewing
// clock).
const DefaultMaxClockDrift = 0.01

// DefaultParams returns EFM's defaults for a database agent.
func DefaultParams(self NodeID) Params {
	return Params{
		Self:                    self,
		Kind:                    KindDatabase,
		ClusterName:             "efm",
		LocalPeriod:             10 * time.Second,
		LocalTimeout:            60 * time.Second,
		LocalTimeoutFinal:       10 * time.Second,
		RemoteTimeout:           10 * time.Second,
		NodeTimeout:             50 * time.Second,
		RecoveryCheckPeriod:     time.Second,
		CheckVIPTimeout:         60 * time.Second,
		AutoFailover:            true,
		StopIsolatedPrimary:     true,
		StopFailedPrimary:       true,
		UseReplayTiebreaker:     true,
		Promotable:              true,
		AutoReconfigure:         true,
		CheckVIPBeforePromotion: true,
		EnableStopCluster:       true,
		PingServerConfigured:    true,
		Scripts:                 map[Script]bool{},
	}
}

// Validate reports the first unusable value, naming the property.
func (p Params) Validate() error {
	var errs []error
	if p.Self == "" {
		errs = append(errs, errors.New("bind.address: empty node id"))
	}
	if p.Kind != KindDatabase && p.Kind != KindWitness {
		errs = append(errs, fmt.Errorf("kind %v: want database or witness", p.Kind))
	}
	pos := []struct {
		key string
		d   time.Duration
	}{
		{"local.period", p.LocalPeriod},
		{"local.timeout", p.LocalTimeout},
		{"local.timeout.final", p.LocalTimeoutFinal},
		{"remote.timeout", p.RemoteTimeout},
		{"node.timeout", p.NodeTimeout},
		{"recovery.check.period", p.RecoveryCheckPeriod},
	}
	for _, d := range pos {
		if d.d <= 0 {
			errs = append(errs, fmt.Errorf("%s=%v: must be positive", d.key, d.d))
		}
	}
	if p.ProbeTimeout < 0 {
		errs = append(errs, fmt.Errorf("probe timeout %v (from ping.server.command): must not be negative", p.ProbeTimeout))
	}
	if p.Lease < 0 {
		errs = append(errs, fmt.Errorf("lease %v: must not be negative", p.Lease))
	}
	if p.CheckVIPTimeout < 0 || p.StandbyRestartDelay < 0 {
		errs = append(errs, fmt.Errorf("check.vip.timeout=%v standby.restart.delay=%v: must not be negative", p.CheckVIPTimeout, p.StandbyRestartDelay))
	}
	if p.AutoResumeStartup < 0 || p.AutoResumeFailure < 0 {
		errs = append(errs, fmt.Errorf("auto.resume.startup.period=%v auto.resume.failure.period=%v: must not be negative", p.AutoResumeStartup, p.AutoResumeFailure))
	}
	if p.MinimumStandbys < 0 {
		errs = append(errs, fmt.Errorf("minimum.standbys=%d: must not be negative", p.MinimumStandbys))
	}
	if p.MaxClockDrift < 0 || p.MaxClockDrift >= 0.2 {
		errs = append(errs, fmt.Errorf("max clock drift %v: want 0 <= drift < 0.2", p.MaxClockDrift))
	}
	if len(errs) == 0 {
		t := p.Timing()
		if t.FencingAllowance >= t.Lease-t.RenewInterval {
			errs = append(errs, fmt.Errorf("fencing allowance %v: must be below lease %v minus renew interval %v (node.timeout=%v)",
				t.FencingAllowance, t.Lease, t.RenewInterval, p.NodeTimeout))
		}
	}
	return errors.Join(errs...)
}

func (p Params) hasScript(s Script) bool { return p.Scripts[s] }

// StopClusterRefused says why efm stop-cluster is refused on this node, ""
// when it may run. The core refuses AdminStopCluster by it; the shell asks
// it too before it clears the cluster's shared state, the step that comes
// before the core's stop, so that a refused stop-cluster changes nothing.
func (p Params) StopClusterRefused() string {
	if !p.EnableStopCluster {
		return "stop-cluster is disabled on this cluster (enable.stop.cluster=false)"
	}
	return ""
}

// probeTimeout is how long one ping.server.command run may take.
// remoteDBCheckTimeout bounds one direct check of another node's database
// in a check round: half of remote.timeout, so the answer still reaches the
// coordinator within the round's remote.timeout.
func (p Params) remoteDBCheckTimeout() time.Duration { return p.RemoteTimeout / 2 }

// promoteDBTimeout bounds pg_promote and the wait out of recovery.
func (p Params) promoteDBTimeout() time.Duration { return 2 * p.RemoteTimeout }

func (p Params) probeTimeout() time.Duration {
	if p.ProbeTimeout > 0 {
		return p.ProbeTimeout
	}
	return p.RemoteTimeout
}

// vipCheckBound is the longest the candidate's VIP check may last: probes
// are retried every recovery.check.period until check.vip.timeout has
// passed, and the last one started before then still runs to its end.
// Zero when the VIP is not checked.
func (p Params) vipCheckBound() time.Duration {
	if !p.CheckVIPBeforePromotion || !p.VIPConfigured {
		return 0
	}
	return p.CheckVIPTimeout + p.RecoveryCheckPeriod + p.probeTimeout()
}

// pingCheckBound is the longest the candidate's ping.server.ip check may
// last (one probe), zero without ping.server.ip.
func (p Params) pingCheckBound() time.Duration {
	if !p.PingServerConfigured {
		return 0
	}
	return p.probeTimeout()
}

// WithBrokenLeaseWaitForTest returns p with the voters' lease hold switched
// off. It exists only so the simulator can prove it catches the split brain
// this causes; nothing maps a property onto it.
func WithBrokenLeaseWaitForTest(p Params) Params {
	p.brokenNoLeaseWait = true
	return p
}
