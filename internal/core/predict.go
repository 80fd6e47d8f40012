package core

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// # Predicted times
//
// Predict walks the core's own chains of timers for the events an operator
// plans for, so `efm check-conf` can say before a failure what a set of
// timers gives. Every step is a Term naming where its duration comes from.
// A step has two durations:
//
//   - Wait: how long the chain waits there when nothing ends it early: a
//     timer that must run out (the lease, local.timeout), a probe that runs
//     to its deadline (a connection to a host that is gone, a ping of an
//     address nobody holds), a tick of lateness.
//   - Max: the longest the step may take before the core gives up on it (its
//     timeout). Work that normally takes milliseconds (a round trip, reading
//     the WAL position, pg_promote, adding the VIP) has Wait 0 and its
//     timeout as Max.
//
// Within (the sum of the Waits) is what to expect when the chain runs
// without retries; AtMost (the sum of the Maxes) is the bound if every step
// ran to its timeout and still succeeded. Network delay and the run time
// of scripts (script.fence, post-promotion) are not counted.

// Term is one step of a predicted chain.
type Term struct {
	// Name says what happens and which properties set the duration.
	Name string
	Wait time.Duration
	Max  time.Duration
}

// Prediction is the predicted timing of one event.
type Prediction struct {
	// Event is what happened ("primary host lost"), Outcome what the
	// durations lead to ("writes on a new primary").
	Event, Outcome string
	Terms          []Term
	// Tolerance: the durations are the longest fault tolerated (Within is
	// guaranteed; Terms may subtract), not the time to an outcome.
	Tolerance bool
	// Note is what the numbers do not say ("" when nothing).
	Note string
}

// Within is the sum of the terms' waits.
func (p Prediction) Within() time.Duration {
	var d time.Duration
	for _, t := range p.Terms {
		d += t.Wait
	}
	return d
}

// AtMost is the sum of the terms' maxima.
func (p Prediction) AtMost() time.Duration {
	var d time.Duration
	for _, t := range p.Terms {
		d += t.Max
	}
	return d
}

// Formula writes the waits as a sum, every term named ("lease 50s + ...");
// terms that wait for nothing are left out. Negative terms are subtracted.
func (p Prediction) Formula() string {
	var b strings.Builder
	for _, t := range p.Terms {
		if t.Wait == 0 {
			continue
		}
		switch {
		case b.Len() == 0 && t.Wait < 0:
			b.WriteString("- ")
		case t.Wait < 0:
			b.WriteString(" - ")
		case b.Len() > 0:
			b.WriteString(" + ")
		}
		fmt.Fprintf(&b, "%s %s", t.Name, seconds(t.Wait.Abs()))
	}
	return b.String()
}

// String is one line: the event, the outcome, the expected duration with
// its formula, and the bound when it differs.
func (p Prediction) String() string {
	var b strings.Builder
	if p.Tolerance {
		fmt.Fprintf(&b, "%s: %s %s (%s)", p.Event, p.Outcome, seconds(p.Within()), p.Formula())
	} else {
		fmt.Fprintf(&b, "%s: %s within %s (%s)", p.Event, p.Outcome, seconds(p.Within()), p.Formula())
		if at := p.AtMost(); at != p.Within() {
			fmt.Fprintf(&b, ", at most %s if every step runs to its timeout", seconds(at))
		}
	}
	if p.Note != "" {
		b.WriteString("; " + p.Note)
	}
	return b.String()
}

// seconds formats d as seconds to the millisecond, without trailing zeros
// ("63.5 s", "0.25 s", "51.011 s").
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Round(time.Millisecond).Seconds(), 'f', -1, 64) + " s"
}

// Predict returns the predicted timing of each event for the node whose
// parameters are p (every node of a cluster shares the timers):
//
//   - primary host lost: writes on a new primary;
//   - primary isolated: when the old primary stops taking writes, and when
//     the new one takes them;
//   - primary database crash (postmaster gone, its agent running) and
//     primary database not answering (hung, or in doubt): writes on a new
//     primary;
//   - standby lost: when it is reported;
//   - the longest network stall, primary agent pause and standby agent
//     pause tolerated without a failover.
func Predict(p Params) []Prediction {
	tm := p.Timing()
	tick := p.TickInterval()
	rt := p.RemoteTimeout
	lease := tm.Lease
	hb := heartbeatOf(p.NodeTimeout)

	// Detection of a lost primary: its renewals stop (PrimarySilence, one
	// lease, counted from the last renewal the coordinator answered, at
	// the latest when the host was lost) and the coordinator must see it
	// DOWN in the membership before it counts as the smallest alive id
	// (node.timeout, membership.Timing.IsolationBound).
	detect := []Term{{Name: "no renewal for one lease (lease = node.timeout unless set)", Wait: tm.PrimarySilence, Max: tm.PrimarySilence}}
	if p.NodeTimeout > tm.PrimarySilence {
		extra := p.NodeTimeout - tm.PrimarySilence
		detect = append(detect, Term{Name: "membership DOWN after node.timeout", Wait: extra, Max: extra})
	}
	detect = append(detect, Term{Name: "one tick", Wait: tick, Max: tick})
	// The check round: every agent connects to the primary's database;
	// with the host gone the connection runs to its timeout
	// (remote.timeout/2); the round gives up after remote.timeout.
	checkGone := Term{Name: "connect to its database times out (remote.timeout/2)", Wait: p.remoteDBCheckTimeout(), Max: rt}
	upToCheck := sumWait(detect) + checkGone.Wait
	upToCheckMax := sumMax(detect) + checkGone.Max

	lost := Prediction{Event: "primary host lost", Outcome: "writes on a new primary"}
	lost.Terms = append(lost.Terms, detect...)
	lost.Terms = append(lost.Terms, checkGone)
	// The voters' lease hold counts from their last acknowledgement, no
	// later than the loss: it adds only what is left of it.
	hold := holdLeft(tm.VoteHold, tick, upToCheck, upToCheckMax)
	lost.Terms = append(lost.Terms, hold)
	// The candidate's probes started with the check round (early.go).
	lost.Terms = append(lost.Terms, promotionChain(p, checkGone.Wait+hold.Wait)...)

	// Isolation: the primary's last successful round was sent no later
	// than the cut; it starts fencing (VIP released first) at
	// lease - fencing allowance after it, up to a tick late, and its
	// database refuses writes once the fencing ends, within the allowance.
	oldStops := Prediction{Event: "primary isolated", Outcome: "old primary stops taking writes",
		Terms: []Term{
			{Name: "lease", Wait: lease, Max: lease},
			{Name: "fencing allowance (fencing starts: VIP released, database stopped)", Wait: -tm.FencingAllowance, Max: -tm.FencingAllowance},
			{Name: "one tick", Wait: tick, Max: tick},
			{Name: "fencing (at most the allowance)", Max: tm.FencingAllowance},
		},
		Note: "a frozen agent cannot fence: script.fence or the watchdog covers that",
	}
	if !p.StopIsolatedPrimary {
		oldStops.Note = "stop.isolated.primary=false: only the VIP is released, the database is left running; " + oldStops.Note
	}
	newTakes := lost
	newTakes.Event, newTakes.Outcome = "primary isolated", "writes on a new primary"
	newTakes.Note = fmt.Sprintf("after the old primary refused writes: the vote hold %s outlasts its lease %s", seconds(tm.VoteHold), seconds(lease))

	crash := crashPrediction(p, tm, tick, false)
	hung := crashPrediction(p, tm, tick, true)

	standby := Prediction{Event: "standby lost", Outcome: "reported (Standby agent failed) and dropped from the priority list",
		Terms: []Term{
			{Name: "membership DOWN after node.timeout", Wait: p.NodeTimeout, Max: p.NodeTimeout},
			{Name: "its database checked (remote.timeout)", Max: rt},
		},
		Note: "no failover: the primary keeps its lease while at least half of the voting members answer",
	}

	// A network stall: the last round acknowledged before it was sent up to
	// one renewal interval before (the round in flight loses its answers);
	// fencing starts lease - allowance after that round.
	stall := Prediction{Event: "network stall", Outcome: "tolerated without a failover up to", Tolerance: true,
		Terms: []Term{
			{Name: "lease", Wait: lease},
			{Name: "fencing allowance", Wait: -tm.FencingAllowance},
			{Name: "renewal interval (lease/5)", Wait: -tm.RenewInterval},
		},
		Note: "longer: the primary fences itself and the majority fails over",
	}
	// A paused primary agent keeps its database writable; the thaw rule
	// renews at once when the agent runs again and fences only if half of
	// the voters do not answer within the thaw grace. The others find its
	// database reachable, so they do not fail over.
	pause := Prediction{Event: "primary agent pause", Outcome: "keeps its lease without a thaw round up to", Tolerance: true,
		Terms: []Term{
			{Name: "lease", Wait: lease},
			{Name: "fencing allowance", Wait: -tm.FencingAllowance},
			{Name: "renewal interval (lease/5)", Wait: -tm.RenewInterval},
		},
		Note: fmt.Sprintf("longer: it renews on waking and stays primary if half of the voters answer within the thaw grace %s (min(lease/5, remote.timeout)); "+
			"meanwhile no failover while the other agents reach its database", seconds(thawGrace(tm, p))),
	}
	if p.Watchdog {
		pause.Note = "longer: the kernel watchdog resets the node and the cluster fails over"
	}
	// A paused standby agent: the membership counts it reachable while its
	// newest acknowledged heartbeat was sent less than node.timeout - h ago;
	// that heartbeat may be one period old when the pause starts.
	sbPause := Prediction{Event: "standby agent pause", Outcome: "tolerated without being reported failed up to", Tolerance: true,
		Terms: []Term{
			{Name: "node.timeout", Wait: p.NodeTimeout},
			{Name: "2 membership heartbeats (node.timeout/10, 10ms-1s)", Wait: -2 * hb},
		},
		Note: "longer: reported failed, no failover",
	}
	return []Prediction{lost, oldStops, newTakes, crash, hung, standby, stall, pause, sbPause}
}

// holdLeft is the rest of the voters' lease hold once the check round is
// over: VoteHold counts from the voter's last acknowledgement, at the
// latest when the primary was lost, and the vote is answered at the first
// Step after it (a tick late at most).
func holdLeft(hold, tick, elapsed, elapsedMax time.Duration) Term {
	t := Term{Name: "rest of the vote hold (lease*(1+drift)/(1-drift))"}
	if hold > elapsed {
		t.Wait = hold - elapsed + tick
	}
	if hold > elapsedMax {
		t.Max = hold - elapsedMax + tick
	}
	return t
}

// promotionChain is the elected candidate's way to a writable database
// behind the VIP, from the vote request on. Its VIP and ping.server.ip
// probes started side by side with the check round (early.go), overlapped
// ago: only what is left of the longer one is waited for.
func promotionChain(p Params, overlapped time.Duration) []Term {
	rt := p.RemoteTimeout
	out := []Term{
		{Name: "votes: each standby reads its WAL position (local.period)", Max: p.LocalPeriod},
		{Name: "candidate's own lease round (remote.timeout)", Max: rt},
	}
	vip := p.CheckVIPBeforePromotion && p.VIPConfigured
	if !vip && !p.PingServerConfigured {
		out = append(out, Term{Name: "pg_promote (2*remote.timeout)", Max: p.promoteDBTimeout()})
		if p.VIPConfigured {
			out = append(out, Term{Name: "VIP added (remote.timeout)", Max: rt})
		}
		return append(out, repointTerm(p))
	}
	// The VIP left with the old primary: its probe runs to its deadline
	// (a VIP that still answers is probed again every
	// recovery.check.period until check.vip.timeout); the ping probe is
	// counted to its deadline too.
	left := max(0, p.probeTimeout()-overlapped)
	var names []string
	if vip {
		names = append(names, "VIP probe runs to its deadline")
	}
	if p.PingServerConfigured {
		names = append(names, "ping.server.ip probe")
	}
	name := strings.Join(names, " and ") + " (ping.server.command), started with the check round"
	if overlapped > 0 {
		name += fmt.Sprintf(", its deadline %s less the %s already waited:", seconds(p.probeTimeout()), seconds(overlapped))
	}
	t := Term{Name: name, Wait: left}
	if vip {
		t.Max = p.vipCheckBound()
	}
	if p.PingServerConfigured {
		t.Max = max(t.Max, p.probeTimeout())
	}
	out = append(out, t)
	out = append(out, Term{Name: "pg_promote (2*remote.timeout)", Max: p.promoteDBTimeout()})
	if p.VIPConfigured {
		out = append(out, Term{Name: "VIP added (remote.timeout)", Max: rt})
	}
	return append(out, repointTerm(p))
}

// repointTerm: with synchronous replication a commit on the new primary
// waits until a standby streams from it again. The standbys that were not
// promoted re-point as soon as the promotion is announced (its message
// carries the new primary's status), after standby.restart.delay; the
// restart itself is work (Wait 0), bounded by the follow's timeout
// (followBound). Counted for every client: without synchronous replication
// it only overstates by standby.restart.delay.
func repointTerm(p Params) Term {
	return Term{Name: "a synchronous standby streams again: the other standbys re-point (standby.restart.delay)",
		Wait: p.StandbyRestartDelay, Max: p.StandbyRestartDelay + 6*p.RemoteTimeout}
}

// crashPrediction is a primary database whose postmaster is gone while its
// agent runs (hung=false), or that does not answer (hung): the local
// monitor's chain (local.go), then a failover that does not wait for the
// lease when the old primary stopped and resigned.
func crashPrediction(p Params, tm Timing, tick time.Duration, hung bool) Prediction {
	rt := p.RemoteTimeout
	pr := Prediction{Event: "primary database crash", Outcome: "writes on a new primary"}
	// No answer: the last successful check was at the latest at the
	// fault; local.timeout without one, then the last attempt runs to its
	// deadline (a check that gets no answer waits for it).
	noAnswer := []Term{
		{Name: "local.timeout without a successful check", Wait: p.LocalTimeout, Max: p.LocalTimeout},
		{Name: "one tick", Wait: tick, Max: tick},
		{Name: "last attempt (local.timeout.final)", Wait: p.LocalTimeoutFinal, Max: p.LocalTimeoutFinal},
	}
	// Certainly gone (connection refused, no postmaster): GoneChecks checks
	// in a row, the first up to a period after the crash; or the chain
	// above if that is shorter.
	gone := []Term{{Name: fmt.Sprintf("%d checks find no postmaster (%d*local.period)", GoneChecks, GoneChecks),
		Wait: GoneChecks * p.LocalPeriod, Max: GoneChecks * p.LocalPeriod}}
	switch {
	case hung:
		pr.Event = "primary database not answering"
		pr.Terms = noAnswer
	case sumWait(gone) < sumWait(noAnswer):
		pr.Terms = gone
	default:
		pr.Terms = noAnswer
	}
	pr.Terms = append(pr.Terms, Term{Name: "the other agents try its database (remote.timeout)", Max: rt})
	if p.StopFailedPrimary {
		// fenceSelf stops the database, then resigns: the voters drop
		// their hold and the coordinator starts at its next Step.
		pr.Terms = append(pr.Terms,
			Term{Name: "database stopped, primary resigns (fencing allowance)", Max: tm.FencingAllowance},
			Term{Name: "check round (remote.timeout)", Max: rt},
		)
	} else {
		// No resignation: the voters wait their hold out, counted from
		// the last renewal they answered, no later than the fencing.
		pr.Terms = append(pr.Terms,
			Term{Name: "check round (remote.timeout)", Max: rt},
			Term{Name: "vote hold, stop.failed.primary=false (lease*(1+drift)/(1-drift))", Wait: tm.VoteHold, Max: tm.VoteHold},
		)
	}
	pr.Terms = append(pr.Terms, Term{Name: "coordinator's next tick", Wait: tick, Max: tick})
	pr.Terms = append(pr.Terms, promotionChain(p, 0)...)
	var notes []string
	if hung {
		notes = append(notes, "a check that times out, fails to authenticate or finds the server shutting down or starting up")
	} else {
		notes = append(notes, "postmaster gone (kill -9, OOM killer): connections refused and no postmaster behind postmaster.pid")
	}
	if p.CheckVIPBeforePromotion && p.VIPConfigured {
		notes = append(notes, "the VIP probe waits its deadline because the old primary released the VIP")
	}
	pr.Note = strings.Join(notes, "; ")
	return pr
}

// heartbeatOf is the membership heartbeat period for nodeTimeout
// (membership.TimingFor: node.timeout/10 within 10ms-1s; the core does not
// import the membership package).
func heartbeatOf(nodeTimeout time.Duration) time.Duration {
	return max(10*time.Millisecond, min(nodeTimeout/10, time.Second))
}

func sumWait(ts []Term) time.Duration {
	var d time.Duration
	for _, t := range ts {
		d += t.Wait
	}
	return d
}

func sumMax(ts []Term) time.Duration {
	var d time.Duration
	for _, t := range ts {
		d += t.Max
	}
	return d
}
