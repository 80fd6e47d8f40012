package core

import (
	"strings"
	"testing"
	"time"
)

// predictEFMDefaults is what the agent builds from an EFM properties file that
// sets no timer: DefaultParams, and the probe deadline the shell derives
// from EFM's ping.server.command (/bin/ping -q -c3 -w5: 5 s + 1 s).
func predictEFMDefaults() Params {
	p := DefaultParams("10.0.0.1")
	p.ProbeTimeout = 6 * time.Second
	return p
}

// predictFastProfile is the fast profile of docs/configuration.md ("Timers").
func predictFastProfile() Params {
	p := predictEFMDefaults()
	p.LocalPeriod = 1 * time.Second
	p.LocalTimeout = 3 * time.Second
	p.LocalTimeoutFinal = 1 * time.Second
	p.RemoteTimeout = 2 * time.Second
	p.NodeTimeout = 5 * time.Second
	return p
}

func findPrediction(t *testing.T, ps []Prediction, event, outcome string) Prediction {
	t.Helper()
	for _, p := range ps {
		if p.Event == event && strings.HasPrefix(p.Outcome, outcome) {
			return p
		}
	}
	t.Fatalf("no prediction for %q / %q in %v", event, outcome, ps)
	return Prediction{}
}

// TestPredict checks every prediction against the chain computed by hand
// for EFM's defaults and the fast profile. The expected values are written
// out term by term, in the order the core runs them, so a change to a
// timing rule in the core (or in Predict) shows here as a mismatch.
func TestPredict(t *testing.T) {
	const ms, s = time.Millisecond, time.Second
	withVIP := func(p Params) Params { p.VIPConfigured = true; return p }
	noStopFailed := func(p Params) Params { p.StopFailedPrimary = false; return p }
	shortLease := func(p Params) Params { p.Lease = 3 * s; return p }
	bigDrift := func(p Params) Params { p.MaxClockDrift = 0.19; return p }
	restartDelay := func(p Params) Params { p.StandbyRestartDelay = 5 * s; return p }
	// Every chain to a new primary ends with the other standbys
	// re-pointing (a synchronous commit waits for one): no wait without
	// standby.restart.delay, bounded by the follow's timeout,
	// 6*remote.timeout.
	const efmRepoint, fastRepoint = 60 * s, 12 * s

	type want struct {
		event, outcome  string
		within, atMost  time.Duration
		formulaContains string
	}
	// EFM defaults: lease = node.timeout = 50 s, renewal interval 10 s,
	// fencing allowance 12.5 s, vote hold 50*1.01/0.99 = 51.0101 s ->
	// 51.011 s, tick min(10 s/4, local.period/4) = 2.5 s, remote.timeout 10 s,
	// local.period 10 s, local.timeout 60 s, local.timeout.final 10 s,
	// probes 6 s, heartbeat 1 s.
	// Fast profile: lease 5 s, renewal 1 s, allowance 1.25 s, hold
	// 5*1.01/0.99 = 5.10101 s -> 5.102 s, tick 250 ms, remote.timeout 2 s,
	// local.period 1 s, local.timeout 3 s, final 1 s, probes 6 s,
	// heartbeat 500 ms.
	cases := []struct {
		name string
		p    Params
		want []want
	}{
		{"EFM defaults", predictEFMDefaults(), []want{
			// detection 50 + tick 2.5 + connect timeout 10/2; the hold
			// (51.011) ended before; ping probe 6, started with the check
			// round: 1 left. Bound: check round 10, WAL read 10, candidate
			// lease round 10, ping 6, pg_promote 20.
			{"primary host lost", "writes on a new primary", 50*s + 2500*ms + 5*s + 1*s,
				50*s + 2500*ms + 10*s + 10*s + 10*s + 6*s + 20*s + efmRepoint, "no renewal for one lease"},
			// lease 50 - allowance 12.5 + tick 2.5; the fencing itself up to 12.5.
			{"primary isolated", "old primary stops taking writes", 50*s - 12500*ms + 2500*ms, 50*s + 2500*ms, "50 s - fencing allowance"},
			{"primary isolated", "writes on a new primary", 58500 * ms, 108500*ms + efmRepoint, ""},
			// Postmaster gone: 3 checks, local.period 10 apart, + the
			// coordinator's tick + ping 6. Bound: + ask 10 + stop 12.5 +
			// check 10 + WAL 10 + lease round 10 + pg_promote 20.
			{"primary database crash", "writes on a new primary", 30*s + 2500*ms + 6*s,
				30*s + 10*s + 12500*ms + 10*s + 2500*ms + 10*s + 10*s + 6*s + 20*s + efmRepoint, "3 checks find no postmaster (3*local.period) 30 s"},
			// Not answering: local.timeout 60 + tick + final attempt 10 +
			// the coordinator's tick + ping 6; bound as above.
			{"primary database not answering", "writes on a new primary", 60*s + 2500*ms + 10*s + 2500*ms + 6*s,
				60*s + 2500*ms + 10*s + 10*s + 12500*ms + 10*s + 2500*ms + 10*s + 10*s + 6*s + 20*s + efmRepoint, "local.timeout without a successful check 60 s"},
			{"standby lost", "reported", 50 * s, 60 * s, ""},
			{"network stall", "tolerated", 50*s - 12500*ms - 10*s, 0, "renewal interval (lease/5) 10 s"},
			{"primary agent pause", "keeps its lease", 27500 * ms, 0, ""},
			{"standby agent pause", "tolerated", 50*s - 2*s, 0, ""},
		}},
		{"EFM defaults with a VIP", withVIP(predictEFMDefaults()), []want{
			// The VIP probe runs beside the ping probe: still 1 s left of
			// both; bound: the ping's 6 becomes check.vip.timeout 60 +
			// recovery.check.period 1 + probe 6, + VIP added 10.
			{"primary host lost", "writes on a new primary", 58500 * ms, 108500*ms - 6*s + 60*s + 1*s + 6*s + 10*s + efmRepoint, "VIP probe"},
		}},
		{"EFM defaults, stop.failed.primary=false", noStopFailed(predictEFMDefaults()), []want{
			// The voters wait their hold out instead of the resignation.
			{"primary database crash", "writes on a new primary", 30*s + 51011*ms + 2500*ms + 6*s,
				30*s + 10*s + 10*s + 51011*ms + 2500*ms + 10*s + 10*s + 6*s + 20*s + efmRepoint, "vote hold"},
			{"primary database not answering", "writes on a new primary", 60*s + 2500*ms + 10*s + 51011*ms + 2500*ms + 6*s,
				60*s + 2500*ms + 10*s + 10*s + 10*s + 51011*ms + 2500*ms + 10*s + 10*s + 6*s + 20*s + efmRepoint, "vote hold"},
		}},
		{"fast profile", predictFastProfile(), []want{
			{"primary host lost", "writes on a new primary", 5*s + 250*ms + 1*s + 5*s,
				5*s + 250*ms + 2*s + 1*s + 2*s + 6*s + 4*s + fastRepoint, ""},
			{"primary isolated", "old primary stops taking writes", 5*s - 1250*ms + 250*ms, 5*s + 250*ms, ""},
			// 3 checks (3 s) beat local.timeout 3 + tick + final 1.
			{"primary database crash", "writes on a new primary", 3*s + 250*ms + 6*s,
				3*s + 2*s + 1250*ms + 2*s + 250*ms + 1*s + 2*s + 6*s + 4*s + fastRepoint, "3 checks find no postmaster"},
			{"primary database not answering", "writes on a new primary", 3*s + 250*ms + 1*s + 250*ms + 6*s,
				3*s + 250*ms + 1*s + 2*s + 1250*ms + 2*s + 250*ms + 1*s + 2*s + 6*s + 4*s + fastRepoint, "last attempt"},
			{"standby lost", "reported", 5 * s, 7 * s, ""},
			{"network stall", "tolerated", 5*s - 1250*ms - 1*s, 0, ""},
			{"standby agent pause", "tolerated", 5*s - 2*500*ms, 0, ""},
		}},
		{"fast profile, standby.restart.delay=5", restartDelay(predictFastProfile()), []want{
			// The other standbys wait 5 s before re-pointing: a
			// synchronous commit on the new primary waits with them.
			{"primary host lost", "writes on a new primary", 5*s + 250*ms + 1*s + 5*s + 5*s,
				5*s + 250*ms + 2*s + 1*s + 2*s + 6*s + 4*s + 5*s + fastRepoint, "re-point (standby.restart.delay) 5 s"},
			{"primary database crash", "writes on a new primary", 3*s + 250*ms + 6*s + 5*s, 0, "re-point"},
		}},
		{"fast profile, lease below node.timeout", shortLease(predictFastProfile()), []want{
			// Lease 3: renewals silent for 3 s, but the coordinator needs the
			// membership DOWN (node.timeout 5 s). Tick: min(600 ms/4, 250 ms)
			// = 150 ms. Hold 3*1.01/0.99 = 3.0606 -> 3.061 s, over by then.
			{"primary host lost", "writes on a new primary", 3*s + 2*s + 150*ms + 1*s + 5*s,
				3*s + 2*s + 150*ms + 2*s + 1*s + 2*s + 6*s + 4*s + fastRepoint, "membership DOWN after node.timeout 2 s"},
			{"network stall", "tolerated", 3*s - 750*ms - 600*ms, 0, ""},
		}},
		{"fast profile, 19 % clock drift", bigDrift(predictFastProfile()), []want{
			// Hold 5*1.19/0.81 = 7.34568 -> 7.346 s; detection and check
			// took 5 + 0.25 + 1 = 6.25 s: 1.096 s of hold left plus a tick.
			// In the bound the check round took 2 s: 7.25 s, 0.096 s left.
			// The probes started with the check round: 6 - 1 - 1.346 left.
			{"primary host lost", "writes on a new primary", 6250*ms + (7346*ms - 6250*ms + 250*ms) + (6*s - 1*s - 1346*ms),
				7250*ms + (7346*ms - 7250*ms + 250*ms) + 1*s + 2*s + 6*s + 4*s + fastRepoint, "rest of the vote hold"},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ps := Predict(c.p)
			for _, w := range c.want {
				got := findPrediction(t, ps, w.event, w.outcome)
				if got.Within() != w.within {
					t.Errorf("%s / %s: within %v, want %v\n%s", w.event, w.outcome, got.Within(), w.within, got)
				}
				if w.atMost != 0 && got.AtMost() != w.atMost {
					t.Errorf("%s / %s: at most %v, want %v\n%s", w.event, w.outcome, got.AtMost(), w.atMost, got)
				}
				if f := got.Formula(); !strings.Contains(f, w.formulaContains) {
					t.Errorf("%s / %s: formula %q does not contain %q", w.event, w.outcome, f, w.formulaContains)
				}
			}
		})
	}
}

// TestPredictConsistent checks what must hold for any timers: every bound
// is at least its expectation, every term is named, and the new primary
// never takes writes before the isolated old one stopped (the lease
// argument: the vote hold outlasts the lease).
func TestPredictConsistent(t *testing.T) {
	for name, p := range map[string]Params{"EFM defaults": predictEFMDefaults(), "fast profile": predictFastProfile()} {
		t.Run(name, func(t *testing.T) {
			ps := Predict(p)
			for _, pr := range ps {
				if !pr.Tolerance && pr.AtMost() < pr.Within() {
					t.Errorf("%s: at most %v below within %v", pr.Event, pr.AtMost(), pr.Within())
				}
				if pr.Within() <= 0 {
					t.Errorf("%s: non-positive prediction %v", pr.Event, pr.Within())
				}
				for _, term := range pr.Terms {
					if term.Name == "" {
						t.Errorf("%s: unnamed term %+v", pr.Event, term)
					}
				}
			}
			old := findPrediction(t, ps, "primary isolated", "old primary stops")
			nu := findPrediction(t, ps, "primary isolated", "writes on a new primary")
			if nu.Within() <= old.AtMost() {
				t.Errorf("new primary within %v, not after the old one stopped (at most %v)", nu.Within(), old.AtMost())
			}
		})
	}
}

func TestPredictionString(t *testing.T) {
	pr := findPrediction(t, Predict(predictEFMDefaults()), "primary host lost", "writes")
	got := pr.String()
	want := "primary host lost: writes on a new primary within 58.5 s (no renewal for one lease (lease = node.timeout unless set) 50 s + one tick 2.5 s + " +
		"connect to its database times out (remote.timeout/2) 5 s + ping.server.ip probe (ping.server.command), started with the check round, " +
		"its deadline 6 s less the 5 s already waited: 1 s), at most 168.5 s if every step runs to its timeout"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	stall := findPrediction(t, Predict(predictEFMDefaults()), "network stall", "tolerated")
	if got, want := stall.Formula(), "lease 50 s - fencing allowance 12.5 s - renewal interval (lease/5) 10 s"; got != want {
		t.Errorf("stall formula %q, want %q", got, want)
	}
}

// When local.timeout and the last attempt are shorter than GoneChecks
// checks, a dead postmaster is answered by that chain: the prediction
// takes the shorter one, as the monitor does.
func TestPredictCrashTakesTheShorterChain(t *testing.T) {
	p := predictFastProfile()
	p.LocalPeriod = 2 * time.Second // 3 checks: 6 s; local.timeout 3 + tick + final 1 shorter
	got := findPrediction(t, Predict(p), "primary database crash", "writes on a new primary")
	if !strings.Contains(got.Formula(), "local.timeout without a successful check") {
		t.Errorf("formula %q: want the local.timeout chain", got.Formula())
	}
}
