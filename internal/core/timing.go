package core

import "time"

// Timing is every duration the safety protocol derives from Params. It is
// computed in one place, Params.Timing, so the argument below can be checked
// against one function.
//
// # The lease argument
//
// Notation: L = Lease, F = FencingAllowance, H = VoteHold, ρ = MaxClockDrift
// (every node's monotonic clock runs at a rate within [1-ρ, 1+ρ] of real
// time).
//
//  1. The primary sends a renewal round at its local time s (real time S) and
//     counts its lease from s, not from the replies. A round succeeds when at
//     least half of the voting members (itself included, DOWN members
//     counted) acknowledged it.
//  2. The primary starts fencing at local s+L-F, s being the send time of its
//     latest successful round, and fencing takes at most F; so its database
//     refuses writes by local s+L, which is real time at most S + L/(1-ρ).
//  3. A voter that acknowledged that round did so at real time T >= S (an ack
//     cannot precede the request), at its local time t. It grants no vote to
//     another candidate before local t+H, real time at least T + H/(1+ρ).
//  4. A promotion needs votes from a strict majority; the round in (1) was
//     acknowledged by at least half. The two sets intersect, so some voter in
//     the promotion's majority acknowledged the primary's last round and
//     voted no earlier than S + H/(1+ρ). With H >= L(1+ρ)/(1-ρ) that is no
//     earlier than S + L/(1-ρ): the old database already refuses writes.
//  5. Later rounds cannot succeed once a majority voted for a higher epoch: a
//     voter acknowledges renewals only for the epoch it currently follows, and
//     a vote for epoch E+1 moves it there. A granted vote also starts the
//     voter's hold for the candidate, and the candidate runs a renewal round
//     of its own (under E+1) before its database can accept a write, so the
//     argument chains from epoch to epoch.
//  6. A member that leaves cleanly keeps counting for VoteHold after it was
//     seen leaving (its hold may be what point 4 relies on); DOWN members
//     always count.
//
// The shell ticks every TickInterval, so fencing starts up to one tick late:
// FencingAllowance must cover the database stop plus one tick (the default,
// Lease/4, is five ticks).
//
// The primary does not wait for memberlist to notice it is alone (field-notes
// measured ~10 s for that): the renewal round is its own, bounded, detector.
//
// # What the lease does not cover
//
// A lease binds an agent that runs. A frozen agent (SIGSTOP, VM pause) cannot
// fence its database. Covered by: script.fence (STONITH run by the promoting
// node before promotion; a non-zero exit aborts it), the kernel watchdog
// (Params.Watchdog: the node resets at the same deadline the agent would have
// started fencing), and synchronous replication (the frozen primary cannot
// acknowledge commits once its standbys follow the new primary).
type Timing struct {
	// Lease is how long one successful renewal round keeps the primary
	// writable, counted from the round's send time: Params.Lease, by default
	// node.timeout (the isolated primary is then fenced within the time EFM
	// gives a silent peer before declaring it failed).
	Lease time.Duration
	// RenewInterval is the period of renewal rounds (and of every agent's
	// status heartbeat). Lease/5: four rounds in a row may be lost before
	// the primary must fence (with the default allowance).
	RenewInterval time.Duration
	// FencingAllowance is how long before the lease ends the primary starts
	// fencing (Params.FencingAllowance, default Lease/4).
	FencingAllowance time.Duration
	// VoteHold is how long a voter that acknowledged a renewal (or granted a
	// vote) at its local time t refuses votes to any other candidate:
	// Lease*(1+ρ)/(1-ρ), rounded up to the millisecond (point 4 above).
	VoteHold time.Duration
	// PrimarySilence is how long a standby waits without a renewal from
	// the primary before it suspects it, independent of the membership
	// layer: one lease (five renewal rounds).
	PrimarySilence time.Duration
	// FailoverBound is the longest a confirmed failover may take from the
	// moment the primary was lost with a connected majority, without retries:
	// detection (PrimarySilence) + confirmation (remote.timeout) + vote hold +
	// vote round (remote.timeout) + VIP wait (check.vip.timeout, one retry
	// period and one probe) + ping.server.ip probe + promote and recovery
	// polling (remote.timeout + 2 recovery.check.period).
	FailoverBound time.Duration
}

// Timing derives the protocol's durations from p. See the Timing type for
// the argument these numbers carry.
func (p Params) Timing() Timing {
	rho := p.MaxClockDrift
	if rho == 0 {
		rho = DefaultMaxClockDrift
	}
	l := p.NodeTimeout
	if p.Lease > 0 {
		l = p.Lease
	}
	t := Timing{
		Lease:            l,
		RenewInterval:    l / 5,
		FencingAllowance: p.FencingAllowance,
		PrimarySilence:   l,
	}
	if t.FencingAllowance == 0 {
		t.FencingAllowance = l / 4
	}
	hold := float64(l) * (1 + rho) / (1 - rho)
	t.VoteHold = time.Duration(hold).Truncate(time.Millisecond) + time.Millisecond
	t.FailoverBound = t.PrimarySilence + p.RemoteTimeout + t.VoteHold + p.RemoteTimeout +
		p.vipCheckBound() + p.pingCheckBound() + p.RemoteTimeout + 2*p.RecoveryCheckPeriod
	return t
}

// TickInterval is the period at which the shell should Step a Tick: fine
// enough that no deadline (lease, probe, renewal) is overshot by more than a
// small fraction of its own length.
func (p Params) TickInterval() time.Duration {
	d := p.Timing().RenewInterval / 4
	if lp := p.LocalPeriod / 4; lp < d {
		d = lp
	}
	if d < 10*time.Millisecond {
		d = 10 * time.Millisecond
	}
	return d
}
