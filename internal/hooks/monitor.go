package hooks

import (
	"context"
	"fmt"
	"time"
)

// MonitorConfig is script.custom.monitor with its three companion properties.
type MonitorConfig struct {
	Command  string        // script.custom.monitor
	Interval time.Duration // custom.monitor.interval: pause between the end of a run and the next
	Timeout  time.Duration // custom.monitor.timeout: a longer run is killed
	SafeMode bool          // custom.monitor.safe.mode: failures are only reported

	// Vars, if set, is called before every run for the current context
	// (the node type changes when a standby is promoted).
	Vars func() Vars
}

// MonitorOutcome classifies one custom monitor run.
type MonitorOutcome int

const (
	// MonitorOK: exit status 0.
	MonitorOK MonitorOutcome = iota
	// MonitorTimeout: killed at custom.monitor.timeout. EFM sends the WARNING
	// "Custom monitor timeout" and keeps monitoring; it is not a DB failure.
	MonitorTimeout
	// MonitorFailure: non-zero exit (or could not run). The caller treats the
	// local database as failed: failover on a primary, notify and IDLE on a
	// standby (SEVERE "Primary/Standby custom monitor failure").
	MonitorFailure
	// MonitorSafeModeFailure: non-zero exit with custom.monitor.safe.mode:
	// report only (WARNING "Custom monitor 'safe mode' failure").
	MonitorSafeModeFailure
)

func (o MonitorOutcome) String() string {
	switch o {
	case MonitorOK:
		return "ok"
	case MonitorTimeout:
		return "timeout"
	case MonitorFailure:
		return "failure"
	case MonitorSafeModeFailure:
		return "safe-mode-failure"
	}
	return fmt.Sprintf("MonitorOutcome(%d)", int(o))
}

// MonitorReport is handed to the Monitor callback after every run.
type MonitorReport struct {
	Outcome MonitorOutcome
	Result  Result
}

// Classify turns the result of one custom monitor run into its outcome.
func Classify(res Result, safeMode bool) MonitorOutcome {
	switch {
	case res.OK():
		return MonitorOK
	case res.TimedOut:
		return MonitorTimeout
	case safeMode:
		return MonitorSafeModeFailure
	default:
		return MonitorFailure
	}
}

// Monitor runs the custom monitor until ctx is done, calling report after
// every run (from Monitor's goroutine; report must not block for long). The
// first run happens one interval after the start. It returns ctx's error, or
// an error at once for a configuration it cannot run.
func (r *Runner) Monitor(ctx context.Context, cfg MonitorConfig, report func(MonitorReport)) error {
	if cfg.Command == "" {
		return fmt.Errorf("%s: no command configured", CustomMonitor)
	}
	if cfg.Interval <= 0 {
		return fmt.Errorf("custom.monitor.interval=%s: must be a positive number of seconds", cfg.Interval)
	}
	if _, err := Split(cfg.Command); err != nil {
		return fmt.Errorf("%s=%q: %w", CustomMonitor, cfg.Command, err)
	}
	run := *r // private copy: the monitor's timeout must not change other hooks'
	if cfg.Timeout > 0 {
		run.Timeout = cfg.Timeout
	}
	log := r.logger().With("script", CustomMonitor)
	timer := time.NewTimer(cfg.Interval)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		}
		var v Vars
		if cfg.Vars != nil {
			v = cfg.Vars()
		}
		res := run.Run(ctx, CustomMonitor, cfg.Command, v)
		if ctx.Err() != nil {
			// Killed because we are stopping: not a verdict on the database.
			return ctx.Err()
		}
		out := Classify(res, cfg.SafeMode)
		switch out {
		case MonitorTimeout:
			log.Warn("custom monitor timed out and was killed; monitoring continues", "timeout", run.Timeout)
		case MonitorSafeModeFailure:
			log.Warn("custom monitor failed; safe mode: reported only", "exit_code", res.ExitCode)
		case MonitorFailure:
			log.Error("custom monitor failed: local database considered failed", "exit_code", res.ExitCode)
		}
		if report != nil {
			report(MonitorReport{Outcome: out, Result: res})
		}
		timer.Reset(cfg.Interval)
	}
}
