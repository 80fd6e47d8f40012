package core

import "github.com/openefm/efm/internal/notify/subject"

// The VIP monitor (efm-reference §4, steady state): a virtual IP found on a
// node that is not the primary is released, and a primary that holds its
// lease but lost its VIP takes it back. The shell reports what it sees on
// the interface with each local probe.
//
// A probe runs concurrently with VIP operations in the shell, so one
// observation may predate an add or release the core already asked for.
// Acting only on two consecutive observations that disagree with the
// core's intent, local.period apart, makes a stale one harmless: VIP
// operations take microseconds, far less than local.period.
type vipMonitor struct {
	held      bool // the core asked for the VIP here last (not released since)
	strayHeld int  // consecutive probes that saw the VIP on a non-primary
	missing   int  // consecutive probes that saw a lease-holding primary without it
}

// vipConfirmations is how many consecutive probes must agree before the
// monitor acts.
const vipConfirmations = 2

// assignVIPIfMissing takes the VIP when this node, primary, does not hold
// it yet (at promotion, and once a primary's lease is granted).
func (n *Node) assignVIPIfMissing() {
	if n.p.VIPConfigured && !n.vip.held {
		n.doVIP(OpAddVIP)
		n.notify(subject.AssigningVIP, "")
	}
}

// doVIP asks the shell to add or release the VIP; the core's belief
// (vipHeld) follows the request at once.
func (n *Node) doVIP(op VIPOp) {
	n.vip.held = op == OpAddVIP
	n.emit(DoVIP{Seq: n.await(pendingOp{awaits: awaitOutcome, vip: op}), Op: op, Timeout: n.p.RemoteTimeout})
}

func (n *Node) reconcileVIP(e LocalDBProbe) {
	if !e.VIPChecked || !n.p.VIPConfigured || n.p.Kind == KindWitness {
		return
	}
	m := &n.vip
	primary := n.role == RolePrimary || n.role == RolePromoting || n.candidacy != nil
	switch {
	case e.VIPHeld && !primary:
		m.missing = 0
		if m.strayHeld++; m.strayHeld < vipConfirmations {
			return
		}
		m.strayHeld = 0
		n.doVIP(OpReleaseVIP)
		n.notifyOnce(subject.VIPOnNonPrimary,
			"The virtual IP was found on "+string(n.p.Self)+", which is not the primary ("+string(n.role)+"); it was released.")
	case !e.VIPHeld && n.role == RolePrimary && n.vip.held && n.leaseValid():
		m.strayHeld = 0
		if m.missing++; m.missing < vipConfirmations {
			return
		}
		m.missing = 0
		n.doVIP(OpAddVIP)
		n.notifyOnce(subject.VIPNotOnPrimary,
			"The virtual IP was missing on the primary "+string(n.p.Self)+"; it was assigned again.")
	default:
		m.strayHeld, m.missing = 0, 0
	}
}
