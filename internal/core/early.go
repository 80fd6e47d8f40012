package core

import "time"

// # Early probes: the candidate's checks overlap the check round
//
// A standby asked to check the primary for a failover (a check round,
// MsgCheckReq with Pause) may be the one elected. The probes its promotion
// starts with, the VIP must not answer (check.vip.before.promotion) and
// ping.server.ip must, each run to the ping command's deadline when the
// answer is "no reply", and they used to start only once the standby was
// elected and held its lease: after the check round and the vote. They
// now start with the check round, side by side, and the candidate uses
// their answers, or waits for them if they are still running, instead of
// probing again.
//
// Safety is the same as probing later. An early answer counts only if the
// probe started after the last renewal this node acknowledged (so after
// the primary went silent, or stopped renewing to fence itself, which
// releases the VIP first), and only within earlyProbeWindow of it. A VIP that answers, or
// a probe in doubt, is retried as before (every recovery.check.period up
// to check.vip.timeout): only "free" and "reachable" answers are taken
// early, and the lease and the votes, not the probe, are what keep two
// primaries apart. An answer is used once.

type earlyProbe struct {
	inflight, done bool
	reachable      bool
	err            string
}

type earlyProbes struct {
	at        time.Duration // when they started; 0 = none
	vip, ping earlyProbe
	// renewalAt: the last renewal this node acknowledged (watch.heardAt
	// also moves on a vote or a resignation, which say nothing of the VIP).
	renewalAt time.Duration
	// waitVIP, waitPing: the candidacy waits for this early answer.
	waitVIP, waitPing bool
}

// earlyProbeWindow: how old early answers may be when the candidacy asks:
// the check round and the vote (at most remote.timeout and vote hold +
// remote.timeout), the candidate's lease round, and the probe itself.
func (n *Node) earlyProbeWindow() time.Duration {
	return 3*n.p.RemoteTimeout + n.tm.VoteHold + n.p.probeTimeout()
}

// startEarlyProbes: a failover check round reached this standby.
func (n *Node) startEarlyProbes() {
	e := &n.early
	if n.p.Kind != KindDatabase || n.role != RoleStandby || e.vip.inflight || e.ping.inflight {
		return
	}
	*e = earlyProbes{at: n.now, renewalAt: e.renewalAt}
	if n.p.CheckVIPBeforePromotion && n.p.VIPConfigured {
		e.vip.inflight = true
		n.emit(CheckVIP{Seq: n.await(pendingOp{awaits: awaitEarlyProbe}), Timeout: n.p.probeTimeout()})
	}
	if n.p.PingServerConfigured {
		e.ping.inflight = true
		n.emit(CheckPingServer{Seq: n.await(pendingOp{awaits: awaitEarlyProbe}), Timeout: n.p.probeTimeout()})
	}
}

// earlyUsable: early answers may stand in for the candidacy's probes.
func (n *Node) earlyUsable() bool {
	e := &n.early
	return e.at != 0 && e.at >= e.renewalAt && n.now-e.at <= n.earlyProbeWindow()
}

func (n *Node) earlyVIPAnswered(r VIPResult) {
	e := &n.early
	e.vip = earlyProbe{done: true, reachable: r.Reachable, err: r.Err}
	if c := n.candidacy; c != nil && c.phase == probingVIP && e.waitVIP {
		e.waitVIP = false
		e.vip.done = false // used
		n.vipProbed(r)
	}
}

func (n *Node) earlyPingAnswered(r PingResult) {
	e := &n.early
	e.ping = earlyProbe{done: true, reachable: r.Reachable, err: r.Err}
	if c := n.candidacy; c != nil && c.phase == pingingServer && e.waitPing {
		e.waitPing = false
		e.ping.done = false
		n.pingServerAnswered(r)
	}
}

// useEarlyVIP: the candidacy entered its VIP phase; true when an early
// probe answers it (now, or when it ends).
func (n *Node) useEarlyVIP() bool {
	e := &n.early
	e.waitVIP = false
	if !n.earlyUsable() {
		return false
	}
	switch {
	case e.vip.inflight:
		e.waitVIP = true
		return true
	case e.vip.done && e.vip.err == "" && !e.vip.reachable:
		e.vip.done = false
		n.vipProbed(VIPResult{})
		return true
	}
	return false
}

// useEarlyPing: as useEarlyVIP, for ping.server.ip.
func (n *Node) useEarlyPing() bool {
	e := &n.early
	e.waitPing = false
	if !n.earlyUsable() {
		return false
	}
	switch {
	case e.ping.inflight:
		e.waitPing = true
		return true
	case e.ping.done && e.ping.err == "" && e.ping.reachable:
		e.ping.done = false
		n.pingServerAnswered(PingResult{Reachable: true})
		return true
	}
	return false
}
