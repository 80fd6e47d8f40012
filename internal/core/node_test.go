package core

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// harness drives one Node the way a shell would, answering local probes
// with probe.
type harness struct {
	t     *testing.T
	n     *Node
	now   time.Duration
	probe LocalDBProbe
	acts  []Action
}

func newHarness(t *testing.T, self NodeID, kind Kind, st Persisted, probe LocalDBProbe, members ...Member) *harness {
	t.Helper()
	p := testParams()
	p.Self = self
	p.Kind = kind
	p.NodeTimeout = 10 * time.Second
	p.LocalPeriod = time.Second
	p.LocalTimeout = 3 * time.Second
	p.LocalTimeoutFinal = time.Second
	p.RemoteTimeout = 2 * time.Second
	p.PingServerConfigured = false
	n, err := New(p, st)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, n: n, now: time.Hour, probe: probe}
	h.step(MembershipChanged{Members: members})
	h.step(Start{})
	h.advance(100 * time.Millisecond)
	return h
}

func (h *harness) step(ev Event) []Action {
	acts := h.n.Step(h.now, ev)
	h.acts = append(h.acts, acts...)
	for _, a := range acts {
		if pr, ok := a.(ProbeLocalDB); ok {
			r := h.probe
			r.Seq = pr.Seq
			h.step(r)
		}
	}
	return acts
}

// advance ticks for d and returns every action emitted meanwhile.
func (h *harness) advance(d time.Duration) []Action {
	start := len(h.acts)
	end := h.now + d
	for h.now < end {
		h.now += 50 * time.Millisecond
		h.step(Tick{})
	}
	return h.acts[start:]
}

func notes(acts []Action) []string {
	var out []string
	for _, a := range acts {
		if n, ok := a.(Notify); ok {
			out = append(out, n.Level().String()+" "+n.Title())
		}
	}
	return out
}

func sent(acts []Action, typ MsgType) []Send {
	var out []Send
	for _, a := range acts {
		if s, ok := a.(Send); ok && s.Msg.Type == typ {
			out = append(out, s)
		}
	}
	return out
}

// broadcasts is the messages of type typ in acts, a message sent to several
// members counted once: the core emits one Send per recipient.
func broadcasts(acts []Action, typ MsgType) []Message {
	var out []Message
	for _, s := range sent(acts, typ) {
		if len(out) == 0 || !cmp.Equal(out[len(out)-1], s.Msg) {
			out = append(out, s.Msg)
		}
	}
	return out
}

// logged reports whether acts hold a Log line with message msg.
func logged(acts []Action, msg string) bool {
	for _, a := range acts {
		if l, ok := a.(Log); ok && l.Msg == msg {
			return true
		}
	}
	return false
}

func members(states ...MemberState) []Member {
	var ms []Member
	for i, s := range states {
		k := KindDatabase
		if i == len(states)-1 {
			k = KindWitness
		}
		ms = append(ms, Member{ID: NodeID("10.0.0." + string(rune('1'+i))), Kind: k, State: s})
	}
	return ms
}

var standbyProbe = LocalDBProbe{Reachable: true, InRecovery: true, ReceivedLSN: 100, ReplayLSN: 100, Timeline: 1, Upstream: "10.0.0.1"}

func TestScenarioPrimaryAgentStoppedCleanly(t *testing.T) {
	// Primary agent stopped cleanly, primary.shutdown.as.failure=false: no
	// failover, a notification instead.
	h := newHarness(t, "10.0.0.2", KindDatabase, Persisted{Primary: "10.0.0.1"}, standbyProbe, members(MemberAlive, MemberAlive, MemberAlive)...)
	h.step(MembershipChanged{Members: members(MemberLeft, MemberAlive, MemberAlive)})
	acts := h.advance(40 * time.Second)
	got := notes(h.acts)
	want := []string{"INFO Standby agent running on 10.0.0.2 for cluster c", "WARNING Cluster c notified that primary agent has left", "WARNING Primary agent missing for cluster c"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("notifications (-want +got):\n%s", diff)
	}
	if c := sent(acts, MsgCheckReq); len(c) != 0 {
		t.Errorf("a cleanly stopped primary agent started a failover check: %+v", c)
	}
}

func TestScenarioStandbyNodeLost(t *testing.T) {
	// Standby node lost: the reporting agent checks its database directly.
	h := newHarness(t, "10.0.0.1", KindWitness, Persisted{Primary: "10.0.0.2"}, LocalDBProbe{}, members(MemberAlive, MemberAlive, MemberAlive, MemberAlive)...)
	h.step(MembershipChanged{Members: members(MemberAlive, MemberAlive, MemberDown, MemberAlive)})
	var chk CheckRemoteDB
	for _, a := range h.acts {
		if c, ok := a.(CheckRemoteDB); ok {
			chk = c
		}
	}
	if chk.Node != "10.0.0.3" {
		t.Fatalf("no direct check of the lost standby's database; actions %+v", h.acts)
	}
	h.acts = nil
	h.step(RemoteDBResult{Seq: chk.Seq, Node: chk.Node, Reachable: false})
	if diff := cmp.Diff([]string{"WARNING Standby failed in cluster c"}, notes(h.acts)); diff != "" {
		t.Errorf("notifications (-want +got):\n%s", diff)
	}
}

func TestScenarioWitnessAndIdleLost(t *testing.T) {
	h := newHarness(t, "10.0.0.1", KindDatabase, Persisted{Primary: "10.0.0.1"}, LocalDBProbe{Reachable: true, CurrentLSN: 5}, members(MemberAlive, MemberAlive, MemberAlive, MemberAlive)...)
	// 10.0.0.2 reports Idle.
	h.step(MessageReceived{From: "10.0.0.2", Msg: Message{Cluster: "c", Type: MsgHeartbeat, Status: &NodeStatus{Role: RoleIdle, Kind: KindDatabase}}})
	h.acts = nil
	h.step(MembershipChanged{Members: members(MemberAlive, MemberDown, MemberAlive, MemberDown)})
	want := []string{"WARNING Idle agent failure for cluster c", "WARNING Witness failure for cluster c",
		"WARNING Cluster c has dropped below three nodes"}
	if diff := cmp.Diff(want, notes(h.acts)); diff != "" {
		t.Errorf("notifications (-want +got):\n%s", diff)
	}
}

func TestScenarioPrimaryDBDownNobodyReachesIt(t *testing.T) {
	h := newHarness(t, "10.0.0.1", KindDatabase, Persisted{}, LocalDBProbe{Reachable: true, CurrentLSN: 5}, members(MemberAlive, MemberAlive, MemberAlive)...)
	// Keep the lease: acknowledge every renewal from both voters.
	ack := func(acts []Action) {
		for _, s := range sent(acts, MsgHeartbeat) {
			if s.Msg.Round > 0 {
				for _, v := range []NodeID{"10.0.0.2", "10.0.0.3"} {
					h.step(MessageReceived{From: v, Msg: Message{Cluster: "c", Type: MsgLeaseAck, Epoch: s.Msg.Epoch, Round: s.Msg.Round, OK: true}})
				}
			}
		}
	}
	ack(h.acts)
	h.probe = LocalDBProbe{Err: "connection refused"}
	var acts []Action
	for i := 0; i < 200 && len(sent(acts, MsgCheckReq)) == 0; i++ {
		a := h.advance(50 * time.Millisecond)
		ack(a)
		acts = append(acts, a...)
	}
	asks := sent(acts, MsgCheckReq)
	if len(asks) != 2 {
		t.Fatalf("after local.timeout and the final attempt the primary must ask both agents to reach its database; sent %+v", asks)
	}
	// Nobody answers within remote.timeout: database failure.
	acts = h.advance(2100 * time.Millisecond)
	var ops []DBOp
	var stop DoDB
	for _, a := range acts {
		if d, ok := a.(DoDB); ok {
			ops = append(ops, d.Op)
			if d.Op == OpStopDB {
				stop = d
			}
		}
	}
	if diff := cmp.Diff([]DBOp{OpStopDB, OpFenceDB}, ops); diff != "" {
		t.Errorf("database operations (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"SEVERE Primary database failure for cluster c"}, notes(acts)); diff != "" {
		t.Errorf("notifications (-want +got):\n%s", diff)
	}
	if len(sent(acts, MsgResign)) != 0 {
		t.Errorf("resigned before the database was confirmed stopped")
	}
	h.acts = nil
	h.step(DBOpResult{Seq: stop.Seq, OK: true})
	if len(broadcasts(h.acts, MsgResign)) != 1 {
		t.Errorf("no resignation after the stop completed: %+v", h.acts)
	}
	if h.n.Role() != RoleIdle || !h.n.Persisted().Fenced {
		t.Errorf("role %s fenced %v, want Idle and fenced", h.n.Role(), h.n.Persisted().Fenced)
	}
}

func TestScenarioIsolatedPrimaryFencesBeforeLeaseEnds(t *testing.T) {
	h := newHarness(t, "10.0.0.1", KindDatabase, Persisted{}, LocalDBProbe{Reachable: true, CurrentLSN: 5}, members(MemberAlive, MemberAlive, MemberAlive)...)
	start := h.now
	// One successful round, then silence (isolation).
	var first Send
	for _, s := range sent(h.acts, MsgHeartbeat) {
		if s.Msg.Round > 0 {
			first = s
			break
		}
	}
	sentAt := h.now - 100*time.Millisecond // the round went out at the first step
	h.step(MessageReceived{From: "10.0.0.2", Msg: Message{Cluster: "c", Type: MsgLeaseAck, Epoch: first.Msg.Epoch, Round: first.Msg.Round, OK: true}})
	tm := h.n.Timing()
	var fencedAt time.Duration
	for h.now < start+2*tm.Lease && fencedAt == 0 {
		for _, a := range h.advance(50 * time.Millisecond) {
			if d, ok := a.(DoDB); ok && d.Op == OpStopDB {
				fencedAt = h.now
			}
		}
	}
	if fencedAt == 0 {
		t.Fatal("isolated primary never stopped its database")
	}
	// The stop must be issued at least FencingAllowance before the lease
	// counted from the round's send time runs out.
	if deadline := sentAt + tm.Lease - tm.FencingAllowance + 100*time.Millisecond; fencedAt > deadline {
		t.Errorf("stop issued at %v after the round, want by %v (lease %v, allowance %v)", fencedAt-sentAt, deadline-sentAt, tm.Lease, tm.FencingAllowance)
	}
	if got := notes(h.acts); !contains(got, "SEVERE Primary database being fenced off for cluster c") {
		t.Errorf("notifications %v lack the fencing notice", got)
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func TestVotePersistedBeforeGrantedOncePerEpochAfterHold(t *testing.T) {
	h := newHarness(t, "10.0.0.3", KindWitness, Persisted{Epoch: 1, Primary: "10.0.0.1"}, LocalDBProbe{}, members(MemberAlive, MemberAlive, MemberAlive)...)
	// Wait out the restart hold, then acknowledge a renewal.
	h.advance(h.n.Timing().VoteHold)
	h.step(MessageReceived{From: "10.0.0.1", Msg: Message{Cluster: "c", Type: MsgHeartbeat, Epoch: 1, Round: 7}})
	ackAt := h.now
	h.acts = nil
	req := func(cand NodeID) {
		h.step(MessageReceived{From: "10.0.0.2", Msg: Message{Cluster: "c", Type: MsgVoteReq, Epoch: 2, Target: cand}})
	}
	req("10.0.0.2")
	if v := sent(h.acts, MsgVoteResp); len(v) != 0 {
		t.Fatalf("vote answered %+v while the primary's lease may be valid", v)
	}
	acts := h.advance(h.n.Timing().VoteHold + 100*time.Millisecond)
	var grantAt time.Duration
	persisted := false
	for i, a := range acts {
		if p, ok := a.(Persist); ok && p.State.VotedEpoch == 2 {
			persisted = true
		}
		if s, ok := a.(Send); ok && s.Msg.Type == MsgVoteResp && s.Msg.OK {
			if !persisted {
				t.Errorf("vote sent before it was persisted (action %d)", i)
			}
			grantAt = h.now
		}
	}
	if grantAt == 0 {
		t.Fatal("vote never granted after the hold")
	}
	if grantAt < ackAt+h.n.Timing().VoteHold {
		t.Errorf("vote granted %v after acknowledging a renewal, want >= VoteHold %v", grantAt-ackAt, h.n.Timing().VoteHold)
	}
	if h.n.Persisted().VotedFor != "10.0.0.2" {
		t.Fatalf("persisted %+v", h.n.Persisted())
	}
	h.acts = nil
	req("10.0.0.4")
	for _, s := range sent(h.acts, MsgVoteResp) {
		if s.Msg.OK {
			t.Errorf("second vote in epoch 2 granted to %s", s.Msg.Target)
		}
	}
}

func TestScenarioRestartedPrimaryAgentFencesItsDownDatabase(t *testing.T) {
	// The primary agent restarts and finds its database down: it writes the
	// fence so that whatever restarts the database brings it up in recovery.
	h := newHarness(t, "10.0.0.1", KindDatabase, Persisted{Epoch: 3, Primary: "10.0.0.1"}, LocalDBProbe{Err: "connection refused"},
		members(MemberAlive, MemberAlive, MemberAlive)...)
	var ops []DBOp
	for _, a := range h.acts {
		if d, ok := a.(DoDB); ok {
			ops = append(ops, d.Op)
		}
	}
	if diff := cmp.Diff([]DBOp{OpFenceDB}, ops); diff != "" {
		t.Errorf("database operations (-want +got):\n%s", diff)
	}
	if !h.n.Persisted().Fenced || h.n.Role() != RoleIdle {
		t.Errorf("persisted %+v role %s, want fenced and Idle", h.n.Persisted(), h.n.Role())
	}
}
