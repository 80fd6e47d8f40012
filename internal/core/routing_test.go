package core

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/openefm/efm/internal/notify/subject"
)

// routingOf lists the load-balancer scripts and Pgpool actions of acts, in
// order, as "<what> <node> [%t]".
func routingOf(acts []Action) []string {
	var out []string
	for _, a := range acts {
		switch a := a.(type) {
		case RunScript:
			if a.Script == ScriptLoadBalancerAttach || a.Script == ScriptLoadBalancerDetach {
				out = append(out, fmt.Sprintf("%s %s %s", a.Script, a.Placeholders.Host, a.Placeholders.Type))
			}
		case Pgpool:
			out = append(out, fmt.Sprintf("pgpool-%s %s", a.Op, a.Node))
		}
	}
	return out
}

// routedStandby is a standby of 10.0.0.1 with both load-balancer scripts
// and, if pgpool, pgpool.enable.
func routedStandby(t *testing.T, pgpool bool) *harness {
	t.Helper()
	p := testParams()
	p.Self = "10.0.0.2"
	p.NodeTimeout, p.LocalPeriod, p.LocalTimeout, p.LocalTimeoutFinal, p.RemoteTimeout = 10*time.Second, time.Second, 3*time.Second, time.Second, 2*time.Second
	p.PingServerConfigured = false
	p.Scripts = map[Script]bool{ScriptLoadBalancerDetach: true, ScriptLoadBalancerAttach: true}
	p.Pgpool = pgpool
	n, err := New(p, Persisted{Epoch: 1, Primary: "10.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, n: n, now: time.Hour, probe: standbyProbe}
	h.step(MembershipChanged{Members: members(MemberAlive, MemberAlive, MemberAlive)})
	h.step(Start{})
	h.advance(time.Second)
	return h
}

// A standby's database fails (here: its custom monitor) and it is detached;
// efm resume brings it back as a standby and attaches it, its Pgpool attach
// waiting for the primary it follows. Without pgpool.enable only the
// scripts run.
func TestRoutingStandbyFailsAndResumes(t *testing.T) {
	for _, pgpool := range []bool{true, false} {
		t.Run(fmt.Sprintf("pgpool.enable=%v", pgpool), func(t *testing.T) {
			h := routedStandby(t, pgpool)
			h.acts = nil
			h.step(CustomMonitorResult{Failed: true})
			want := []string{"script.load.balancer.detach 10.0.0.2 s"}
			if pgpool {
				want = append(want, "pgpool-detach 10.0.0.2")
			}
			if diff := cmp.Diff(want, routingOf(h.acts)); diff != "" {
				t.Errorf("at the failure (-want +got):\n%s", diff)
			}
			h.acts = nil
			h.step(AdminResume{Seq: 1})
			h.advance(2 * time.Second)
			want = []string{"script.load.balancer.attach 10.0.0.2 s"}
			if pgpool {
				want = append(want, "pgpool-attach 10.0.0.2")
			}
			if diff := cmp.Diff(want, routingOf(h.acts)); diff != "" {
				t.Errorf("after efm resume (-want +got):\n%s", diff)
			}
			for _, a := range h.acts {
				if pa, ok := a.(Pgpool); ok && pa.Primary != "10.0.0.1" {
					t.Errorf("the resumed standby's Pgpool attach waits for %q, want its primary 10.0.0.1", pa.Primary)
				}
			}
		})
	}
}

// EFM is silent about a load-balancer script that succeeded and sends a
// SEVERE notification for one that failed; a failed Pgpool command is
// SEVERE "Pgpool attach/detach node error" (a promote counts as an
// attach). Nothing else changes: the agent stays as it was.
func TestRoutingFailuresNotified(t *testing.T) {
	for _, tc := range []struct {
		name string
		pick func(Action) (Event, bool) // the result to answer with, for the action it answers
		want []string
	}{
		{"detach script succeeds", func(a Action) (Event, bool) {
			r, ok := a.(RunScript)
			return ScriptResult{Seq: r.Seq, Script: r.Script}, ok && r.Script == ScriptLoadBalancerDetach
		}, nil},
		{"detach script fails", func(a Action) (Event, bool) {
			r, ok := a.(RunScript)
			return ScriptResult{Seq: r.Seq, Script: r.Script, ExitCode: 3, Output: "lb unreachable"}, ok && r.Script == ScriptLoadBalancerDetach
		}, []string{"SEVERE Load balancer detach script error"}},
		{"attach script fails", func(a Action) (Event, bool) {
			r, ok := a.(RunScript)
			return ScriptResult{Seq: r.Seq, Script: r.Script, ExitCode: 1}, ok && r.Script == ScriptLoadBalancerAttach
		}, []string{"SEVERE Load balancer attach script error"}},
		{"pgpool detach fails", func(a Action) (Event, bool) {
			p, ok := a.(Pgpool)
			return PgpoolResult{Seq: p.Seq, Err: "pcp_detach_node: connection refused"}, ok && p.Op == PgpoolDetach
		}, []string{"SEVERE Pgpool detach node error"}},
		{"pgpool attach fails", func(a Action) (Event, bool) {
			p, ok := a.(Pgpool)
			return PgpoolResult{Seq: p.Seq, Err: "timed out"}, ok && p.Op == PgpoolAttach
		}, []string{"SEVERE Pgpool attach node error"}},
		{"pgpool attach succeeds", func(a Action) (Event, bool) {
			p, ok := a.(Pgpool)
			return PgpoolResult{Seq: p.Seq, OK: true}, ok && p.Op == PgpoolAttach
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := routedStandby(t, true)
			h.step(CustomMonitorResult{Failed: true})
			h.step(AdminResume{Seq: 1})
			h.advance(2 * time.Second)
			var ev Event
			for _, a := range h.acts {
				if e, ok := tc.pick(a); ok {
					ev = e
				}
			}
			if ev == nil {
				t.Fatalf("no such action among %v", routingOf(h.acts))
			}
			role := h.n.Role()
			h.acts = nil
			h.step(ev)
			if diff := cmp.Diff(tc.want, notes(h.acts)); diff != "" {
				t.Errorf("notifications (-want +got):\n%s", diff)
			}
			if h.n.Role() != role {
				t.Errorf("role %s after the result, was %s", h.n.Role(), role)
			}
		})
	}
}

// The new primary detaches the old one it was told to (its agent did not
// answer the check round) before it attaches itself: Pgpool never has two
// primaries. A lone candidate's own coordinator never heard the old
// primary, so it names it.
func TestRoutingNewPrimaryDetachesDeadPrimaryFirst(t *testing.T) {
	h := loneCandidate(t, func(p *Params) {
		p.Pgpool = true
		p.Scripts = map[Script]bool{ScriptLoadBalancerDetach: true, ScriptLoadBalancerAttach: true}
	})
	s := &probeShell{
		vip:  func(CheckVIP, int) (VIPResult, time.Duration) { return VIPResult{}, 10 * time.Millisecond },
		ping: freePing,
	}
	for i := 0; i < 1200 && !s.promoted; i++ {
		s.run(h, 100*time.Millisecond)
	}
	if !s.promoted {
		t.Fatal("the lone candidate did not promote")
	}
	want := []string{
		"script.load.balancer.detach 10.0.0.1 p",
		"pgpool-detach 10.0.0.1",
		"script.load.balancer.attach 10.0.0.2 p",
		"pgpool-promote 10.0.0.2",
	}
	if diff := cmp.Diff(want, routingOf(h.acts)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if c := s.count(subject.FailoverCompleted); c != 1 {
		t.Errorf("%d Failover has completed notifications, want 1", c)
	}
}

// The coordinator names the old primary for the candidate to detach only
// when the old primary's agent did not answer the check round; one that
// answered (its database failed) detached itself. Here 10.0.0.1
// coordinates, 10.0.0.3 is the old primary, 10.0.0.2 the candidate and
// 10.0.0.4 a witness.
func TestRoutingCoordinatorNamesDetach(t *testing.T) {
	for _, tc := range []struct {
		name      string
		answered  bool
		wantNamed NodeID
	}{
		{"old primary's agent silent (node dead or isolated)", false, "10.0.0.3"},
		{"old primary's agent answered (its database failed)", true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "10.0.0.1", KindDatabase, Persisted{Epoch: 1, Primary: "10.0.0.3"}, standbyProbe,
				members(MemberAlive, MemberAlive, MemberAlive, MemberAlive)...)
			s := &probeShell{vip: func(CheckVIP, int) (VIPResult, time.Duration) { return VIPResult{}, 0 }, ping: freePing}
			mark := len(h.acts)
			if tc.answered {
				// The agent runs; its database failed (it says so).
				h.step(MessageReceived{From: "10.0.0.3", Msg: Message{Cluster: "c", Type: MsgDBFailed, Epoch: 1, Primary: "10.0.0.3"}})
			} else {
				h.step(MembershipChanged{Members: members(MemberAlive, MemberAlive, MemberDown, MemberAlive)})
			}
			// The check may start within that step: answer what it asked.
			for _, a := range h.acts[mark:] {
				switch a := a.(type) {
				case CheckRemoteDB:
					h.step(RemoteDBResult{Seq: a.Seq, Node: a.Node, Err: "no route to host"})
				case DoDB:
					h.step(DBOpResult{Seq: a.Seq, OK: true})
				}
			}
			var round uint64
			for i := 0; i < 400 && round == 0; i++ {
				s.run(h, 50*time.Millisecond)
				if r := sent(h.acts, MsgCheckReq); len(r) > 0 {
					round = r[0].Msg.Round
				}
			}
			if round == 0 {
				t.Fatalf("no failover check; notes %v", notes(h.acts))
			}
			ahead := NodeStatus{Role: RoleStandby, Kind: KindDatabase, DBReachable: true, InRecovery: true, ReceivedLSN: 500, ReplayLSN: 500, Timeline: 1, Promotable: true}
			h.step(MessageReceived{From: "10.0.0.2", Msg: Message{Cluster: "c", Type: MsgCheckResp, Epoch: 1, Round: round, Target: "10.0.0.3", Status: &ahead}})
			witness := NodeStatus{Role: RoleWitness, Kind: KindWitness}
			h.step(MessageReceived{From: "10.0.0.4", Msg: Message{Cluster: "c", Type: MsgCheckResp, Epoch: 1, Round: round, Target: "10.0.0.3", Status: &witness}})
			if tc.answered {
				idle := NodeStatus{Role: RoleIdle, Kind: KindDatabase}
				h.step(MessageReceived{From: "10.0.0.3", Msg: Message{Cluster: "c", Type: MsgCheckResp, Epoch: 1, Round: round, Target: "10.0.0.3", Status: &idle}})
			}
			var promote []Send
			answered := map[uint64]bool{}
			for i := 0; i < 600 && len(promote) == 0; i++ {
				s.run(h, 50*time.Millisecond)
				for _, v := range sent(h.acts, MsgVoteReq) {
					if v.To != "10.0.0.3" && !answered[v.Msg.Epoch<<8|uint64(v.To[len(v.To)-1])] {
						answered[v.Msg.Epoch<<8|uint64(v.To[len(v.To)-1])] = true
						h.step(MessageReceived{From: v.To, Msg: Message{Cluster: "c", Type: MsgVoteResp, Epoch: v.Msg.Epoch, Round: v.Msg.Epoch, Target: v.Msg.Target, OK: true, Voters: 4}})
					}
				}
				promote = sent(h.acts, MsgPromote)
			}
			if len(promote) != 1 || promote[0].To != "10.0.0.2" {
				t.Fatalf("promote orders %+v, want one to 10.0.0.2; notes %v", promote, notes(h.acts))
			}
			if got := promote[0].Msg.Detach; got != tc.wantNamed {
				t.Errorf("MsgPromote names %q to detach, want %q", got, tc.wantNamed)
			}
		})
	}
}

// One node's routing decisions, case by case (the table in routing.go).
// The primary is 10.0.0.1 unless a case says otherwise; 10.0.0.4 is a
// witness.
func TestRoutingDecisions(t *testing.T) {
	primaryProbe := LocalDBProbe{Reachable: true, CurrentLSN: 5}
	routed := func(h *harness) *harness {
		h.n.p.Pgpool = true
		h.n.p.Scripts = map[Script]bool{ScriptLoadBalancerDetach: true, ScriptLoadBalancerAttach: true}
		return h
	}
	lostStandby := func(h *harness, view []Member) {
		h.step(MembershipChanged{Members: view})
		for _, a := range h.acts {
			if c, ok := a.(CheckRemoteDB); ok && c.Node == "10.0.0.3" {
				h.step(RemoteDBResult{Seq: c.Seq, Node: c.Node, Err: "no route to host"})
			}
		}
	}
	// The lost-standby cases must reach the point where they decide: the
	// reporter notified the standby's failure.
	const standbyFailed = "WARNING Standby failed in cluster c"
	for _, tc := range []struct {
		name string
		run  func(t *testing.T) *harness
		want []string
		note string // a notification the case must have sent
	}{
		{"switchover: the old primary detaches itself as it hands over", func(t *testing.T) *harness {
			h := routed(newHarness(t, "10.0.0.1", KindDatabase, Persisted{}, primaryProbe, members(MemberAlive, MemberAlive, MemberAlive, MemberAlive)...))
			h.step(MessageReceived{From: "10.0.0.4", Msg: Message{Cluster: "c", Type: MsgSwitchover, Target: "10.0.0.1", Switchover: true}})
			// It hands over once its checkpoint is done (handover.go).
			for _, a := range h.acts {
				if d, ok := a.(DoDB); ok && d.Op == OpCheckpointDB {
					h.step(DBOpResult{Seq: d.Seq, OK: true})
				}
			}
			return h
		}, []string{"script.load.balancer.detach 10.0.0.1 p", "pgpool-detach 10.0.0.1"}, ""},
		{"isolated primary: fences itself, detaches nobody", func(t *testing.T) *harness {
			h := routed(newHarness(t, "10.0.0.1", KindDatabase, Persisted{}, primaryProbe, members(MemberAlive, MemberAlive, MemberAlive, MemberAlive)...))
			h.step(MembershipChanged{Members: members(MemberAlive, MemberDown, MemberDown, MemberDown)})
			h.advance(30 * time.Second)
			if !h.n.Persisted().Fenced {
				t.Fatalf("the isolated primary did not fence itself (role %s)", h.n.Role())
			}
			for _, id := range []NodeID{"10.0.0.3"} {
				for _, a := range h.acts {
					if c, ok := a.(CheckRemoteDB); ok && c.Node == id {
						h.step(RemoteDBResult{Seq: c.Seq, Node: c.Node, Err: "no route to host"})
					}
				}
			}
			return h
		}, nil, standbyFailed},
		{"standby node lost, seen from the majority: the reporter detaches it", func(t *testing.T) *harness {
			h := routed(newHarness(t, "10.0.0.1", KindDatabase, Persisted{Epoch: 1, Primary: "10.0.0.2"}, standbyProbe, members(MemberAlive, MemberAlive, MemberAlive, MemberAlive)...))
			lostStandby(h, members(MemberAlive, MemberAlive, MemberDown, MemberAlive))
			return h
		}, []string{"script.load.balancer.detach 10.0.0.3 s", "pgpool-detach 10.0.0.3"}, standbyFailed},
		{"standby node lost after the primary resigned: nobody detaches (it may be the new primary)", func(t *testing.T) *harness {
			// Simulator seed 42768: the primary resigned (fenced on its
			// side of a partition); the lost "standby", on the other
			// side, was being promoted. Its renewals were heard a moment
			// ago, but a resigned primary is no primary to go by.
			h := routed(newHarness(t, "10.0.0.1", KindDatabase, Persisted{Epoch: 1, Primary: "10.0.0.2"}, standbyProbe, members(MemberAlive, MemberAlive, MemberAlive, MemberAlive)...))
			h.step(MessageReceived{From: "10.0.0.2", Msg: Message{Cluster: "c", Type: MsgHeartbeat, Epoch: 1, Primary: "10.0.0.2", Round: 1}})
			h.step(MessageReceived{From: "10.0.0.2", Msg: Message{Cluster: "c", Type: MsgResign, Epoch: 1, Primary: "10.0.0.2", Reason: "database stopped and fenced"}})
			lostStandby(h, members(MemberAlive, MemberAlive, MemberDown, MemberAlive))
			return h
		}, nil, standbyFailed},
		{"standby node lost, seen from a minority: nobody detaches", func(t *testing.T) *harness {
			h := routed(newHarness(t, "10.0.0.1", KindDatabase, Persisted{Epoch: 1, Primary: "10.0.0.2"}, standbyProbe, members(MemberAlive, MemberAlive, MemberAlive, MemberAlive)...))
			lostStandby(h, members(MemberAlive, MemberAlive, MemberDown, MemberDown))
			return h
		}, nil, standbyFailed},
		{"standby node lost, seen by an Idle agent: nobody detaches", func(t *testing.T) *harness {
			h := routed(newHarness(t, "10.0.0.1", KindDatabase, Persisted{Epoch: 1, Primary: "10.0.0.2"}, standbyProbe, members(MemberAlive, MemberAlive, MemberAlive, MemberAlive)...))
			h.step(CustomMonitorResult{Failed: true}) // Idle, and detached itself
			h.acts = nil
			lostStandby(h, members(MemberAlive, MemberAlive, MemberDown, MemberAlive))
			return h
		}, nil, standbyFailed},
		{"primary database failed: it detaches itself", func(t *testing.T) *harness {
			h := routed(newHarness(t, "10.0.0.1", KindDatabase, Persisted{}, primaryProbe, members(MemberAlive, MemberAlive, MemberAlive, MemberAlive)...))
			h.probe = LocalDBProbe{Err: "connection refused"}
			h.advance(10 * time.Second) // nobody answers its ask: failure
			return h
		}, []string{"script.load.balancer.detach 10.0.0.1 p", "pgpool-detach 10.0.0.1"}, ""},
		{"standby re-pointed at a new primary: Pgpool attach only", func(t *testing.T) *harness {
			h := routed(newHarness(t, "10.0.0.2", KindDatabase, Persisted{Epoch: 1, Primary: "10.0.0.1"}, standbyProbe, members(MemberAlive, MemberAlive, MemberAlive, MemberAlive)...))
			h.step(MessageReceived{From: "10.0.0.3", Msg: Message{Cluster: "c", Type: MsgPromoted, Epoch: 2, Primary: "10.0.0.3"}})
			st := NodeStatus{Role: RolePrimary, Kind: KindDatabase, DBReachable: true}
			h.step(MessageReceived{From: "10.0.0.3", Msg: Message{Cluster: "c", Type: MsgHeartbeat, Epoch: 2, Status: &st}})
			h.advance(time.Second)
			for _, a := range h.acts {
				if f, ok := a.(FollowPrimary); ok {
					h.step(DBOpResult{Seq: f.Seq, OK: true})
				}
			}
			return h
		}, []string{"pgpool-attach 10.0.0.2"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.run(t)
			if diff := cmp.Diff(tc.want, routingOf(h.acts)); diff != "" {
				t.Errorf("(-want +got):\n%s\nnotes %v", diff, notes(h.acts))
			}
			if tc.note != "" && !contains(notes(h.acts), tc.note) {
				t.Errorf("no %q among %v", tc.note, notes(h.acts))
			}
		})
	}
}
