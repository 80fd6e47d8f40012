package agent

import (
	"context"

	"github.com/openefm/efm/internal/config"
	"github.com/openefm/efm/internal/core"
	"github.com/openefm/efm/internal/hooks"
)

// startCustomMonitor runs script.custom.monitor every
// custom.monitor.interval and hands each verdict to the core, which decides
// what a failure means (primary: database failure and failover; standby:
// Idle; safe mode: a notification only).
func (s *shell) startCustomMonitor(ctx context.Context, cfg *config.Config, r *hooks.Runner) {
	if cfg.ScriptCustomMonitor == "" || !hasLocalDB(cfg) {
		return
	}
	mc := hooks.MonitorConfig{
		Command: cfg.ScriptCustomMonitor, Interval: cfg.CustomMonitorInterval,
		Timeout: cfg.CustomMonitorTimeout, SafeMode: cfg.CustomMonitorSafeMode,
		Vars: func() hooks.Vars { return hooks.Vars{NodeType: s.nodeType()} },
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		err := r.Monitor(ctx, mc, func(rep hooks.MonitorReport) {
			ev := core.CustomMonitorResult{SafeMode: mc.SafeMode, Output: rep.Result.Output}
			switch rep.Outcome {
			case hooks.MonitorOK:
				return
			case hooks.MonitorTimeout:
				ev.TimedOut = true
			default:
				ev.Failed = true
			}
			s.post(ctx, ev)
		})
		if err != nil && ctx.Err() == nil {
			s.log.Error("custom monitor stopped", "err", err)
		}
	}()
}
