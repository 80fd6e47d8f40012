package agent

import (
	"time"

	"github.com/openefm/efm/internal/config"
	"github.com/openefm/efm/internal/core"
)

// coreParams maps the properties file onto the failover core's parameters.
func coreParams(cfg *config.Config) core.Params {
	p := core.Params{
		Self:                      core.NodeID(cfg.BindAddress.Host),
		Kind:                      coreKind(cfg),
		ClusterName:               cfg.Cluster,
		LocalPeriod:               cfg.LocalPeriod,
		LocalTimeout:              cfg.LocalTimeout,
		LocalTimeoutFinal:         cfg.LocalTimeoutFinal,
		RemoteTimeout:             cfg.RemoteTimeout,
		NodeTimeout:               cfg.NodeTimeout,
		RecoveryCheckPeriod:       cfg.RecoveryCheckPeriod,
		CheckVIPTimeout:           cfg.CheckVIPTimeout,
		StandbyRestartDelay:       cfg.StandbyRestartDelay,
		AutoFailover:              cfg.AutoFailover,
		MinimumStandbys:           cfg.MinimumStandbys,
		StopIsolatedPrimary:       cfg.StopIsolatedPrimary,
		StopFailedPrimary:         cfg.StopFailedPrimary,
		PrimaryShutdownAsFailure:  cfg.PrimaryShutdownAsFailure,
		UseReplayTiebreaker:       cfg.UseReplayTiebreaker,
		Promotable:                cfg.Promotable,
		AutoReconfigure:           cfg.AutoReconfigure,
		CheckVIPBeforePromotion:   cfg.CheckVIPBeforePromotion,
		EnableStopCluster:         cfg.EnableStopCluster,
		VIPConfigured:             cfg.VirtualIP != "",
		PingServerConfigured:      cfg.PingServerIP != "",
		Scripts:                   map[core.Script]bool{},
		CheckNumSyncPeriod:        cfg.CheckNumSyncPeriod,
		ReconfigureNumSync:        cfg.ReconfigureNumSync,
		ReconfigureSyncPrimary:    cfg.ReconfigureSyncPrimary,
		ReconfigureNumSyncMax:     cfg.ReconfigureNumSyncMax,
		UpdatePhysicalSlotsPeriod: cfg.UpdatePhysicalSlotsPeriod,
		AppName:                   cfg.ApplicationName,
		DetachOnAgentFailure:      cfg.DetachOnAgentFailure,
		Pgpool:                    cfg.PgpoolEnable,
		AutoRewind:                cfg.AutoRewind,
		AutoBasebackup:            cfg.AutoBasebackup,
		AutoResumeStartup:         cfg.AutoResumeStartupPeriod,
		AutoResumeFailure:         cfg.AutoResumeFailurePeriod,
	}
	// A probe's deadline is what ping.server.command needs, not
	// remote.timeout (a probe killed early is in doubt and blocks the
	// promotion). The shell's bound is a second beyond the one fencing
	// kills the command at, so a hung command is reported as such rather
	// than as a cancelled context.
	p.ProbeTimeout = cfg.PingProbeDeadline() + time.Second
	for _, s := range cfg.PriorityStandbys {
		p.PriorityStandbys = append(p.PriorityStandbys, core.NodeID(s))
	}
	for script, command := range scriptCommands(cfg) {
		if command != "" {
			p.Scripts[script] = true
		}
	}
	return p
}
