package core

import (
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	oldPrimary NodeID = "10.0.0.1"
	newPrimary NodeID = "10.0.0.2"
	thirdNode  NodeID = "10.0.0.3"
)

// healHarness is an old primary (10.0.0.1) with its persisted state st
// and its database answering probe, in a cluster with 10.0.0.2 (database)
// and 10.0.0.3 (witness), params changed by mut.
func healHarness(t *testing.T, st Persisted, probe LocalDBProbe, mut func(*Params)) *harness {
	t.Helper()
	p := testParams()
	p.Self = oldPrimary
	p.NodeTimeout = 10 * time.Second
	p.LocalPeriod = time.Second
	p.LocalTimeout = 3 * time.Second
	p.LocalTimeoutFinal = time.Second
	p.RemoteTimeout = 2 * time.Second
	p.PingServerConfigured = false
	p.AutoRewind = true
	if mut != nil {
		mut(&p)
	}
	n, err := New(p, st)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, n: n, now: time.Hour, probe: probe}
	h.step(MembershipChanged{Members: []Member{
		{ID: oldPrimary, Kind: KindDatabase, State: MemberAlive},
		{ID: newPrimary, Kind: KindDatabase, State: MemberAlive},
		{ID: thirdNode, Kind: KindWitness, State: MemberAlive},
	}})
	h.step(Start{})
	h.advance(100 * time.Millisecond)
	return h
}

// renewal is a lease renewal from `from` in epoch, its status saying role.
func renewal(from NodeID, epoch uint64, role Role, inRecovery bool) MessageReceived {
	return MessageReceived{From: from, Msg: Message{V: ProtocolVersion, Cluster: "c", Type: MsgHeartbeat, From: from, Epoch: epoch,
		Primary: from, Round: 1, Status: &NodeStatus{Role: role, Kind: KindDatabase, DBReachable: true, InRecovery: inRecovery, Timeline: 2}}}
}

func rejoins(acts []Action) []RejoinDB {
	var out []RejoinDB
	for _, a := range acts {
		if r, ok := a.(RejoinDB); ok {
			out = append(out, r)
		}
	}
	return out
}

var (
	fencedAfterFailover = Persisted{Epoch: 2, Primary: newPrimary, Fenced: true}
	dbDown              = LocalDBProbe{Err: "connection refused"}
)

// TestRejoinStartsOnlyForANewerPrimary: a fenced old primary is rebuilt as
// a standby only when another node reports itself Primary, writable, in
// the epoch this node follows; each refusal below is one condition.
func TestRejoinStartsOnlyForANewerPrimary(t *testing.T) {
	cases := []struct {
		name  string
		st    Persisted
		probe LocalDBProbe
		mut   func(*Params)
		ev    []Event
		want  bool
	}{
		{name: "after a failover, the new primary renews", st: fencedAfterFailover, probe: dbDown,
			ev: []Event{renewal(newPrimary, 2, RolePrimary, false)}, want: true},
		{name: "auto.basebackup alone allows it", st: fencedAfterFailover, probe: dbDown,
			mut: func(p *Params) { p.AutoRewind, p.AutoBasebackup = false, true },
			ev:  []Event{renewal(newPrimary, 2, RolePrimary, false)}, want: true},
		{name: "refused: auto.rewind and auto.basebackup false", st: fencedAfterFailover, probe: dbDown,
			mut: func(p *Params) { p.AutoRewind = false },
			ev:  []Event{renewal(newPrimary, 2, RolePrimary, false)}},
		{name: "refused: not fenced (never a failed primary)", st: Persisted{Epoch: 2, Primary: newPrimary}, probe: dbDown,
			ev: []Event{renewal(newPrimary, 2, RolePrimary, false)}},
		{name: "refused: still the primary of its own epoch 0 (first start: every writable database claims it)", st: Persisted{Epoch: 0, Primary: oldPrimary, Fenced: true}, probe: dbDown,
			ev: []Event{renewal(newPrimary, 0, RolePrimary, false)}},
		{name: "rebuilt: another node won the epoch its own candidacy lost (it missed the announcement)", st: Persisted{Epoch: 2, Primary: oldPrimary, Fenced: true}, probe: dbDown,
			ev: []Event{renewal(newPrimary, 2, RolePrimary, false)}, want: true},
		{name: "refused: a candidate that has not promoted yet", st: fencedAfterFailover, probe: dbDown,
			ev: []Event{renewal(newPrimary, 2, RolePromoting, true)}},
		{name: "refused: the primary's database is in recovery", st: fencedAfterFailover, probe: dbDown,
			ev: []Event{renewal(newPrimary, 2, RolePrimary, true)}},
		{name: "refused: a primary of an older epoch", st: fencedAfterFailover, probe: dbDown,
			ev: []Event{renewal(newPrimary, 1, RolePrimary, false)}},
		{name: "refused: another node than the primary of the epoch claims it", st: fencedAfterFailover, probe: dbDown,
			ev: []Event{MessageReceived{From: thirdNode, Msg: Message{V: ProtocolVersion, Cluster: "c", Type: MsgHeartbeat, From: thirdNode, Epoch: 2,
				Status: &NodeStatus{Role: RolePrimary, Kind: KindDatabase, DBReachable: true}}}}},
		{name: "refused: the primary not heard for longer than PrimarySilence", st: fencedAfterFailover, probe: dbDown,
			ev: []Event{renewal(newPrimary, 2, RolePrimary, false), advanceBy(11 * time.Second)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mut := c.mut
			if strings.Contains(c.name, "PrimarySilence") {
				// Start the rejoin only after the silence: switch it on then.
				mut = func(p *Params) { p.AutoRewind = false }
			}
			h := healHarness(t, c.st, c.probe, mut)
			for _, ev := range c.ev {
				if a, ok := ev.(advance); ok {
					h.advance(time.Duration(a))
					h.n.p.AutoRewind = true
					continue
				}
				h.step(ev)
			}
			h.advance(time.Second)
			got := rejoins(h.acts)
			if c.want != (len(got) > 0) {
				t.Fatalf("RejoinDB emitted: %v, want %v (role %s, persisted %+v)", got, c.want, h.n.Role(), h.n.Persisted())
			}
			if c.want {
				if len(got) != 1 || got[0].Primary != newPrimary || got[0].Epoch != 2 {
					t.Fatalf("want one RejoinDB for %s in epoch 2, got %+v", newPrimary, got)
				}
				if got[0].Rewind != h.n.p.AutoRewind || got[0].BaseBackup != h.n.p.AutoBasebackup {
					t.Errorf("knobs not carried: %+v", got[0])
				}
			}
		})
	}
}

// advance is a pseudo-event of the table: let time pass.
type advance time.Duration

func (advance) isEvent()                     {}
func advanceBy(d time.Duration) advance      { return advance(d) }
func (h *harness) keepPrimaryAlive(e uint64) { h.step(renewal(newPrimary, e, RolePrimary, false)) }

// TestRejoinSuccessMakesAStandby: once the shell reports the rebuild, the
// node is no longer fenced (persisted), says so, and becomes a Standby from
// its next probe.
func TestRejoinSuccessMakesAStandby(t *testing.T) {
	h := healHarness(t, fencedAfterFailover, dbDown, nil)
	h.keepPrimaryAlive(2)
	h.advance(100 * time.Millisecond)
	rj := rejoins(h.acts)
	if len(rj) != 1 {
		t.Fatalf("want one RejoinDB, got %v", rj)
	}
	// While it runs: no second one, whatever the probes say.
	h.probe = LocalDBProbe{Reachable: true, InRecovery: true, Timeline: 2}
	h.keepPrimaryAlive(2)
	h.advance(3 * time.Second)
	if n := len(rejoins(h.acts)); n != 1 {
		t.Fatalf("%d RejoinDB while one is in flight", n)
	}
	if h.n.Role() != RoleIdle {
		t.Fatalf("role %s while rebuilding, want Idle", h.n.Role())
	}
	if r := h.step(AdminResume{Seq: 3}); len(r) != 1 || !strings.Contains(r[0].(AdminReply).Err, "being rebuilt") {
		t.Fatalf("efm resume during the rebuild: %v, want a refusal", r)
	}
	start := len(h.acts)
	h.step(RejoinResult{Seq: rj[0].Seq, OK: true, Method: "rewound", Reason: "diverged at 0/3000000", Took: 4 * time.Second})
	h.advance(2 * time.Second)
	acts := h.acts[start:]
	if h.n.Role() != RoleStandby {
		t.Fatalf("role %s after the rejoin, want Standby", h.n.Role())
	}
	if h.n.Persisted().Fenced {
		t.Error("still persisted as fenced after the rejoin")
	}
	ns := notes(acts)
	if !slices.ContainsFunc(ns, func(s string) bool { return strings.Contains(s, "Failed primary rejoined as a standby on 10.0.0.1") }) {
		t.Errorf("no rejoin notification: %v", ns)
	}
	for _, a := range acts {
		if n, ok := a.(Notify); ok && strings.Contains(n.Title(), "rejoined") && !strings.Contains(n.Text, "rewound in 4s") {
			t.Errorf("notification does not say how and how long: %q", n.Text)
		}
	}
}

// TestRejoinFailureRetryPolicy: a failed rebuild leaves the node fenced and
// Idle, says why (SEVERE), and is not retried until
// auto.resume.failure.period has passed, or efm resume when it is 0.
func TestRejoinFailureRetryPolicy(t *testing.T) {
	for _, period := range []time.Duration{0, 30 * time.Second} {
		t.Run("auto.resume.failure.period="+period.String(), func(t *testing.T) {
			h := healHarness(t, fencedAfterFailover, dbDown, func(p *Params) { p.AutoResumeFailure = period })
			h.keepPrimaryAlive(2)
			h.advance(100 * time.Millisecond)
			rj := rejoins(h.acts)
			start := len(h.acts)
			h.step(RejoinResult{Seq: rj[0].Seq, Method: "refused", Reason: "pg_rewind failed and auto.basebackup is false: no WAL"})
			ns := notes(h.acts[start:])
			if !slices.ContainsFunc(ns, func(s string) bool {
				return strings.HasPrefix(s, "SEVERE") && strings.Contains(s, "could not be rebuilt")
			}) {
				t.Fatalf("no SEVERE notification: %v", ns)
			}
			if !h.n.Persisted().Fenced || h.n.Role() != RoleIdle {
				t.Fatalf("after a failed rejoin: role %s fenced %v, want Idle and fenced", h.n.Role(), h.n.Persisted().Fenced)
			}
			// Not in a tight loop: nothing for 29 s while the primary renews.
			for i := 0; i < 29; i++ {
				h.keepPrimaryAlive(2)
				h.advance(time.Second)
			}
			if n := len(rejoins(h.acts)); n != 1 {
				t.Fatalf("%d RejoinDB within 29 s of a failure, want 1", n)
			}
			h.keepPrimaryAlive(2)
			h.advance(2 * time.Second)
			n := len(rejoins(h.acts))
			if period > 0 && n != 2 {
				t.Fatalf("%d RejoinDB after auto.resume.failure.period, want 2", n)
			}
			if period == 0 {
				if n != 1 {
					t.Fatalf("%d RejoinDB without efm resume, want 1", n)
				}
				h.step(AdminResume{Seq: 7})
				h.keepPrimaryAlive(2)
				h.advance(time.Second)
				if n := len(rejoins(h.acts)); n != 2 {
					t.Fatalf("%d RejoinDB after efm resume, want 2", n)
				}
			}
		})
	}
}

// TestRejoinAtStartWhenAnotherPrimaryExists: EFM §4 item 3 — an agent that
// starts on a writable database while another node is the primary fences
// it and, with auto.rewind, rebuilds it as a standby.
func TestRejoinAtStartWhenAnotherPrimaryExists(t *testing.T) {
	h := healHarness(t, Persisted{Epoch: 2, Primary: newPrimary}, LocalDBProbe{Reachable: true, Timeline: 1, CurrentLSN: 900}, nil)
	if h.n.Role() != RoleIdle || !h.n.Persisted().Fenced {
		t.Fatalf("writable at start beside another primary: role %s fenced %v", h.n.Role(), h.n.Persisted().Fenced)
	}
	h.keepPrimaryAlive(2)
	h.advance(100 * time.Millisecond)
	if n := len(rejoins(h.acts)); n != 1 {
		t.Fatalf("%d RejoinDB, want 1", n)
	}
}

// TestFencedOldPrimaryInRecoveryWaitsForRejoin: a fenced old primary whose
// database came back in recovery (standby.signal) still holds divergent
// WAL; with auto.rewind it is not taken for a standby but left to the
// rejoin (without, it becomes a Standby as before: the operator's rebuild).
func TestFencedOldPrimaryInRecoveryWaitsForRejoin(t *testing.T) {
	inRec := LocalDBProbe{Reachable: true, InRecovery: true, Timeline: 1, ReceivedLSN: 900}
	h := healHarness(t, fencedAfterFailover, inRec, nil)
	if h.n.Role() != RoleIdle {
		t.Fatalf("role %s, want Idle until rejoined", h.n.Role())
	}
	h.keepPrimaryAlive(2)
	h.advance(100 * time.Millisecond)
	if n := len(rejoins(h.acts)); n != 1 {
		t.Fatalf("%d RejoinDB, want 1", n)
	}
	off := healHarness(t, fencedAfterFailover, inRec, func(p *Params) { p.AutoRewind = false })
	if off.n.Role() != RoleStandby {
		t.Fatalf("auto.rewind=false: role %s, want Standby", off.n.Role())
	}
}

// TestAutoResume: auto.resume.startup.period for an agent Idle since it
// started, auto.resume.failure.period for one Idle after its database
// failed; 0 waits for efm resume.
func TestAutoResume(t *testing.T) {
	resumes := func(acts []Action) int {
		c := 0
		for _, s := range notes(acts) {
			if strings.Contains(s, "Starting auto resume check") {
				c++
			}
		}
		return c
	}
	standby := Persisted{Epoch: 2, Primary: newPrimary}
	for _, period := range []time.Duration{0, 20 * time.Second} {
		t.Run("startup period "+period.String(), func(t *testing.T) {
			// Idle since start-up: its database does not answer. The
			// failure period must not apply.
			h := healHarness(t, standby, dbDown, func(p *Params) {
				p.AutoRewind = false
				p.AutoResumeStartup = period
				p.AutoResumeFailure = 5 * time.Second
			})
			if h.n.Role() != RoleIdle {
				t.Fatalf("role %s, want Idle", h.n.Role())
			}
			h.advance(19 * time.Second)
			if n := resumes(h.acts); n != 0 {
				t.Fatalf("%d auto resumes within 19 s", n)
			}
			h.advance(2 * time.Second)
			want := 0
			if period > 0 {
				want = 1
			}
			if n := resumes(h.acts); n != want {
				t.Fatalf("%d auto resumes after 21 s, want %d", n, want)
			}
		})
		t.Run("failure period "+period.String(), func(t *testing.T) {
			h := healHarness(t, standby, standbyProbe, func(p *Params) {
				p.AutoRewind = false
				p.AutoResumeStartup = time.Second
				p.AutoResumeFailure = period
			})
			if h.n.Role() != RoleStandby {
				t.Fatalf("role %s, want Standby", h.n.Role())
			}
			h.probe = dbDown
			// local.timeout, the last attempt, nobody else reaches it.
			for i := 0; i < 200 && h.n.Role() != RoleIdle; i++ {
				h.advance(50 * time.Millisecond)
			}
			if h.n.Role() != RoleIdle {
				t.Fatalf("role %s after the database failed, want Idle", h.n.Role())
			}
			failedAt := h.now
			h.probe = standbyProbe // repaired, but nobody said efm resume
			for h.now < failedAt+19*time.Second {
				h.advance(time.Second)
			}
			if n := resumes(h.acts); n != 0 || h.n.Role() != RoleIdle {
				t.Fatalf("%d auto resumes (role %s) within 19 s of the failure", n, h.n.Role())
			}
			h.advance(2 * time.Second)
			if period == 0 {
				if n := resumes(h.acts); n != 0 || h.n.Role() != RoleIdle {
					t.Fatalf("period 0: %d auto resumes, role %s; want none, Idle", n, h.n.Role())
				}
				return
			}
			if n := resumes(h.acts); n != 1 || h.n.Role() != RoleStandby {
				t.Fatalf("%d auto resumes, role %s; want 1, Standby", n, h.n.Role())
			}
		})
	}
}

// TestFencedNodeVotesByItsLastProbe: a fenced node is not exempt from the
// standbys' WAL rule as such. A fenced old primary is exempt because its
// last probe saw it out of recovery (it cannot tell acknowledged WAL from
// its tail); a fenced node whose last probe saw it in recovery, or that
// has no probe at all, may be a candidate fenced while it promoted, holding
// acknowledged commits: it refuses while it cannot read its WAL
// (simulator seeds 53420, 53502, 69827 elected a standby without them when
// every fenced node was exempt). The older-timeline rule always applies.
func TestFencedNodeVotesByItsLastProbe(t *testing.T) {
	f := voterFacts{self: oldPrimary, kind: KindDatabase, role: RoleIdle, promotable: true, now: time.Hour, epoch: 1, primary: newPrimary, fenced: true}
	m := Message{Type: MsgVoteReq, Epoch: 2, Target: newPrimary, Status: &NodeStatus{Role: RoleStandby, Kind: KindDatabase, InRecovery: true, ReceivedLSN: 10, Timeline: 2}}
	if v := voteDecision(f, m, time.Hour); v.answer != voteReadWALFirst {
		t.Fatalf("fenced, no probe: %s (%s), want a probe first", v.answer, v.rule)
	}
	f.probedAt = time.Hour // it answered, with neither a position nor a stopped data directory
	if v := voteDecision(f, m, time.Hour); v.answer != voteRefuse || v.rule != ruleWALUnreadable {
		t.Fatalf("fenced, probed, no position: %s (%s), want the standby's refusal", v.answer, v.rule)
	}
	f.wal = LocalDBProbe{Reachable: false, InRecovery: false, Timeline: 1} // last seen writable, now stopped
	if v := voteDecision(f, m, time.Hour); v.answer != voteGrant {
		t.Fatalf("fenced old primary: %s (%s: %s), want a grant", v.answer, v.rule, v.why)
	}
	f.wal = LocalDBProbe{Reachable: true, InRecovery: true, Timeline: 3}
	if v := voteDecision(f, m, time.Hour); v.answer != voteRefuse || v.rule != ruleOlderTimeline {
		t.Fatalf("fenced, on a newer timeline than the candidate: %s (%s), want the older-timeline refusal", v.answer, v.rule)
	}
}

// TestRejoinTakesOverAStalledSwitchoverFollow: the old primary of a
// switchover follows the new primary by FollowPrimary; when that never
// starts (its agent believed it already followed that node: simulator seed
// 10223 of 20,000), the rejoin does it. While a FollowPrimary runs, no
// rejoin starts.
func TestRejoinTakesOverAStalledSwitchoverFollow(t *testing.T) {
	h := healHarness(t, fencedAfterFailover, dbDown, nil)
	h.n.handover.follow = true
	h.n.standby.following = newPrimary // stale: the cause of the stall
	h.keepPrimaryAlive(2)
	h.advance(100 * time.Millisecond)
	if n := len(rejoins(h.acts)); n != 1 {
		t.Fatalf("%d RejoinDB for a switchover's old primary whose follow never started, want 1", n)
	}
	h2 := healHarness(t, fencedAfterFailover, dbDown, nil)
	h2.n.handover.follow = true
	h2.n.standby.followIssued = true
	h2.keepPrimaryAlive(2)
	h2.advance(100 * time.Millisecond)
	if n := len(rejoins(h2.acts)); n != 0 {
		t.Fatalf("%d RejoinDB while FollowPrimary runs, want 0", n)
	}
}

// With update.physical.slots.period a rejoining node streams through its
// efm_ slot, as every follower does; without, through none. (A standby
// only copies the primary's own slot when it exists, so after a failover
// the new primary has none for its predecessor: the rejoin must ask for
// it, or the rejoined node is the one standby without a slot.)
func TestRejoinAsksForItsSlotWithSlotsOn(t *testing.T) {
	for _, tc := range []struct {
		period time.Duration
		want   bool
	}{{0, false}, {time.Second, true}} {
		h := healHarness(t, fencedAfterFailover, dbDown, func(p *Params) { p.UpdatePhysicalSlotsPeriod = tc.period })
		h.keepPrimaryAlive(2)
		h.advance(100 * time.Millisecond)
		rj := rejoins(h.acts)
		if len(rj) != 1 || rj[0].Slot != tc.want {
			t.Errorf("update.physical.slots.period=%v: RejoinDB %+v, want one with Slot %v", tc.period, rj, tc.want)
		}
	}
}

// A rejoin that failed before it changed anything (the new primary not
// reachable yet: on real hosts the first attempt came right as a cut link
// healed, and the node stayed fenced for good) is asked again after
// max(node.timeout, 10 s), whatever auto.resume.failure.period says, and
// the same reason is notified once, not at every attempt.
func TestRejoinUntouchedFailureIsAskedAgain(t *testing.T) {
	h := healHarness(t, fencedAfterFailover, dbDown, nil)
	h.keepPrimaryAlive(2)
	h.advance(100 * time.Millisecond)
	why := "no replication settings to copy: 10.0.0.2: connect: no route to host"
	for attempt := 1; attempt <= 3; attempt++ {
		rj := rejoins(h.acts)
		if len(rj) != attempt {
			t.Fatalf("attempt %d: %d RejoinDB so far", attempt, len(rj))
		}
		h.step(RejoinResult{Seq: rj[attempt-1].Seq, Method: "refused", Reason: why, Untouched: true})
		for i := 0; i < 9; i++ { // node.timeout is 10 s here
			h.keepPrimaryAlive(2)
			h.advance(time.Second)
		}
		if n := len(rejoins(h.acts)); n != attempt {
			t.Fatalf("attempt %d: asked again within 9 s (%d RejoinDB)", attempt, n)
		}
		h.keepPrimaryAlive(2)
		h.advance(2 * time.Second)
	}
	severe := 0
	for _, s := range notes(h.acts) {
		if strings.HasPrefix(s, "SEVERE") && strings.Contains(s, "could not be rebuilt") {
			severe++
		}
	}
	if severe != 1 {
		t.Errorf("%d SEVERE notifications for three failures with one reason, want 1", severe)
	}
}

// TestRestartedOldPrimaryThatHeardTheNewPrimaryFirstIsRebuilt: chaos seed
// 5007. An old primary's host came back with its database left stopped;
// its agent heard the new primary (epoch 3) before its first probe, so its
// state names the other node. Only pg_control shows that the database is
// an old primary: it must be fenced and rebuilt, not left down for good.
// The same agent with a stopped standby's directory, or one it could not
// read, fences nothing.
func TestRestartedOldPrimaryThatHeardTheNewPrimaryFirstIsRebuilt(t *testing.T) {
	heard := Persisted{Epoch: 3, Primary: newPrimary}
	stopped := func(state string) LocalDBProbe {
		return LocalDBProbe{Err: "connection refused", Gone: true,
			Stopped: StoppedDB{Read: true, State: state, CheckpointLSN: 800, CheckpointTimeline: 2}}
	}
	fenceOps := func(acts []Action) int {
		c := 0
		for _, a := range acts {
			if d, ok := a.(DoDB); ok && d.Op == OpFenceDB {
				c++
			}
		}
		return c
	}
	for _, state := range []string{ClusterInProduction, ClusterShutDown} {
		t.Run(state, func(t *testing.T) {
			h := healHarness(t, heard, stopped(state), nil)
			if fenceOps(h.acts) != 1 || !h.n.Persisted().Fenced || h.n.Role() != RoleIdle {
				t.Fatalf("fence ops %d, persisted %+v, role %s: want the database fenced and the agent Idle", fenceOps(h.acts), h.n.Persisted(), h.n.Role())
			}
			h.keepPrimaryAlive(3)
			h.advance(100 * time.Millisecond)
			if n := len(rejoins(h.acts)); n != 1 {
				t.Fatalf("%d RejoinDB, want 1: the fenced old primary is rebuilt", n)
			}
		})
	}
	for name, probe := range map[string]LocalDBProbe{
		"a stopped standby":           stopped(ClusterShutDownInRecovery),
		"a directory not read":        {Err: "connection refused", Gone: true},
		"a server not certainly gone": {Err: "timeout", Stopped: StoppedDB{Read: true, State: ClusterInProduction, CheckpointTimeline: 2}},
	} {
		t.Run(name, func(t *testing.T) {
			h := healHarness(t, heard, probe, nil)
			if n := fenceOps(h.acts); n != 0 || h.n.Persisted().Fenced {
				t.Fatalf("fence ops %d, persisted %+v: want nothing fenced", n, h.n.Persisted())
			}
		})
	}
}
