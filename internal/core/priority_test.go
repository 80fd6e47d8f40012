package core

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// promoteWith runs `efm promote` on standby 10.0.0.2 of a cluster whose
// primary 10.0.0.1 is DOWN, with standby 10.0.0.3 (reporting promotable3)
// and witness 10.0.0.4, after a view carrying prios. Both standbys have
// received and replayed the same WAL, so only the priorities can tell them
// apart. It returns the candidate the check round elected, the failover
// priority list and what the node reports as its own promotable.
func promoteWith(t *testing.T, prios map[NodeID]int, promotable3 bool) (NodeID, []NodeID, bool) {
	t.Helper()
	view := members(MemberDown, MemberAlive, MemberAlive, MemberAlive)
	h := newHarness(t, "10.0.0.2", KindDatabase, Persisted{Epoch: 1, Primary: "10.0.0.1"}, standbyProbe, view...)
	h.step(MembershipChanged{Members: view, Priorities: prios})
	if h.n.Role() != RoleStandby {
		t.Fatalf("role %s, want Standby", h.n.Role())
	}
	h.promoteAnswered(promotable3)
	var cand NodeID
	for _, s := range sent(h.acts, MsgVoteReq) {
		cand = s.Msg.Target
	}
	if cand == "" {
		h.advance(3 * time.Second) // past remote.timeout: decide on what answered
		for _, s := range sent(h.acts, MsgVoteReq) {
			cand = s.Msg.Target
		}
	}
	return cand, h.n.Status().Priority, h.n.myStatus().Promotable
}

// promoteAnswered runs `efm promote` on h (10.0.0.2) after the last
// heartbeats of standby 10.0.0.3 (promotable3, the same WAL as h) and
// witness 10.0.0.4, and answers its check round of the DOWN primary
// 10.0.0.1 from both.
func (h *harness) promoteAnswered(promotable3 bool) {
	h.t.Helper()
	st3 := NodeStatus{Role: RoleStandby, Kind: KindDatabase, DBReachable: true, InRecovery: true,
		Promotable: promotable3, ReceivedLSN: 100, ReplayLSN: 100, Timeline: 1}
	stW := NodeStatus{Role: RoleWitness, Kind: KindWitness}
	// The agents' last heartbeats, as a running cluster has them.
	for _, hb := range []struct {
		from NodeID
		st   *NodeStatus
	}{{"10.0.0.3", &st3}, {"10.0.0.4", &stW}} {
		h.step(MessageReceived{From: hb.from, Msg: Message{Cluster: "c", Type: MsgHeartbeat, Epoch: 1, Primary: "10.0.0.1", Status: hb.st}})
	}
	acts := h.step(AdminPromote{Seq: 1})
	var round uint64
	for _, a := range acts {
		switch a := a.(type) {
		case Send:
			if a.Msg.Type == MsgCheckReq {
				round = a.Msg.Round
			}
		case CheckRemoteDB:
			h.step(RemoteDBResult{Seq: a.Seq, Node: a.Node, Err: "connection refused"})
		case DoDB:
			if a.Op == OpPauseReplay {
				// The harness answers the probe of the paused positions.
				h.step(DBOpResult{Seq: a.Seq, OK: true})
			}
		}
	}
	if round == 0 {
		h.t.Fatalf("efm promote started no check round: %+v", acts)
	}
	h.acts = nil
	h.step(MessageReceived{From: "10.0.0.3", Msg: Message{Cluster: "c", Type: MsgCheckResp, Round: round, Target: "10.0.0.1", Status: &st3}})
	h.step(MessageReceived{From: "10.0.0.4", Msg: Message{Cluster: "c", Type: MsgCheckResp, Round: round, Target: "10.0.0.1", Status: &stW}})
}

// TestViewPrioritiesReachDecide: the set-priority values arrive with the
// membership view (cluster state, so a restarted agent or a new
// coordinator has them too) and are what the failover decides by.
func TestViewPrioritiesReachDecide(t *testing.T) {
	tests := []struct {
		name         string
		prios        map[NodeID]int
		promotable3  bool
		wantCand     NodeID
		wantList     []NodeID
		selfPromotes bool
	}{
		{"no priorities: equal standbys, smallest address", map[NodeID]int{}, true, "10.0.0.2", nil, true},
		{"10.0.0.3 set to 1: it goes first", map[NodeID]int{"10.0.0.3": 1}, true, "10.0.0.3", []NodeID{"10.0.0.3"}, true},
		{"10.0.0.2 set to 0: never promoted", map[NodeID]int{"10.0.0.2": 0}, true, "10.0.0.3", nil, false},
		{"1 overrides promotable=false", map[NodeID]int{"10.0.0.3": 1, "10.0.0.2": 2}, false, "10.0.0.3", []NodeID{"10.0.0.3", "10.0.0.2"}, true},
		{"both at 1: the smaller address first", map[NodeID]int{"10.0.0.3": 1, "10.0.0.2": 1}, true, "10.0.0.2", []NodeID{"10.0.0.2", "10.0.0.3"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cand, list, self := promoteWith(t, tc.prios, tc.promotable3)
			if cand != tc.wantCand {
				t.Errorf("candidate %q, want %q", cand, tc.wantCand)
			}
			if diff := cmp.Diff(tc.wantList, list); diff != "" {
				t.Errorf("priority list (-want +got):\n%s", diff)
			}
			if self != tc.selfPromotes {
				t.Errorf("10.0.0.2 reports promotable %v, want %v", self, tc.selfPromotes)
			}
		})
	}
}

// TestViewPrioritiesReplaceAndKeep: a later view's set replaces the earlier
// one (the shared state is the only source); a view without shared state
// (nil: not joined yet) keeps what the node has.
func TestViewPrioritiesReplaceAndKeep(t *testing.T) {
	view := members(MemberAlive, MemberAlive, MemberAlive, MemberAlive)
	h := newHarness(t, "10.0.0.2", KindDatabase, Persisted{Epoch: 1, Primary: "10.0.0.1"}, standbyProbe, view...)
	steps := []struct {
		prios    map[NodeID]int
		wantList []NodeID
		wantSelf bool
	}{
		{map[NodeID]int{"10.0.0.2": 0, "10.0.0.3": 1}, []NodeID{"10.0.0.3"}, false},
		{nil, []NodeID{"10.0.0.3"}, false},
		{map[NodeID]int{"10.0.0.2": 1, "10.0.0.3": 1}, []NodeID{"10.0.0.2", "10.0.0.3"}, true},
		// 10.0.0.2's value is gone: it keeps its place among the others.
		{map[NodeID]int{"10.0.0.3": 1}, []NodeID{"10.0.0.3", "10.0.0.2"}, true},
		{map[NodeID]int{}, []NodeID{"10.0.0.3", "10.0.0.2"}, true},
	}
	for i, s := range steps {
		h.step(MembershipChanged{Members: view, Priorities: s.prios})
		if diff := cmp.Diff(s.wantList, h.n.Status().Priority); diff != "" {
			t.Errorf("step %d (%v): priority list (-want +got):\n%s", i, s.prios, diff)
		}
		if got := h.n.myStatus().Promotable; got != s.wantSelf {
			t.Errorf("step %d (%v): promotable %v, want %v", i, s.prios, got, s.wantSelf)
		}
	}
}

func TestWithPriorities(t *testing.T) {
	base := []NodeID{"a", "b", "c", "d"}
	tests := []struct {
		name  string
		prios map[NodeID]int
		want  []NodeID
	}{
		{"none", nil, base},
		{"d second", map[NodeID]int{"d": 2}, []NodeID{"a", "d", "b", "c"}},
		{"two at 1: by id", map[NodeID]int{"d": 1, "c": 1}, []NodeID{"c", "d", "a", "b"}},
		{"0 takes b out", map[NodeID]int{"b": 0}, []NodeID{"a", "c", "d"}},
		{"beyond the end: last", map[NodeID]int{"a": 9}, []NodeID{"b", "c", "d", "a"}},
		{"a node not in the list yet", map[NodeID]int{"e": 1}, []NodeID{"e", "a", "b", "c", "d"}},
		{"1 and 3", map[NodeID]int{"d": 1, "c": 3}, []NodeID{"d", "a", "c", "b"}},
	}
	for _, tc := range tests {
		if diff := cmp.Diff(tc.want, withPriorities(base, tc.prios)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
}
