package core

import (
	"fmt"

	"github.com/openefm/efm/internal/notify/subject"
)

// onCustomMonitor applies script.custom.monitor's verdict (efm-reference
// §1.10, §5): a failure on the primary is a database failure, so the
// cluster fails over exactly as if the database had died (the primary fences
// itself and resigns); on a standby the agent notifies and goes Idle; in
// safe mode, and on a timeout, it only notifies.
func (n *Node) onCustomMonitor(e CustomMonitorResult) {
	if n.p.Kind != KindDatabase || n.role == RoleIdle || n.role == RoleUnknown {
		return
	}
	what, failure := "Standby", subject.StandbyCustomMonitorFailure
	if n.isPrimary() {
		what, failure = "Primary", subject.PrimaryCustomMonitorFailure
	}
	switch {
	case e.TimedOut:
		n.notify(subject.CustomMonitorTimeout,
			fmt.Sprintf("script.custom.monitor on %s did not finish within custom.monitor.timeout and was killed.\n%s", n.p.Self, e.Output))
		return
	case !e.Failed:
		return
	case e.SafeMode:
		n.notify(subject.CustomMonitorSafeModeFailure,
			fmt.Sprintf("script.custom.monitor failed on %s; custom.monitor.safe.mode=true, so nothing else happens.\n%s", n.p.Self, e.Output))
		return
	}
	n.notify(failure,
		fmt.Sprintf("script.custom.monitor failed on %s.\n%s", n.p.Self, e.Output))
	n.dbFailed(what)
}
