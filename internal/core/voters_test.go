package core

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// isolatedShell answers the actions of a node cut off from every other
// agent: remote databases and the VIP are unreachable, the ping server
// answers, local operations and scripts succeed. It reports every
// PromoteDB and FenceDB it was asked for.
func (h *harness) isolatedShell(d time.Duration) (promoted, fenced bool) {
	h.t.Helper()
	end := h.now + d
	done := len(h.acts)
	for h.now < end {
		h.now += 50 * time.Millisecond
		h.step(Tick{})
		for done < len(h.acts) {
			a := h.acts[done]
			done++
			switch a := a.(type) {
			case CheckRemoteDB:
				h.step(RemoteDBResult{Seq: a.Seq, Node: a.Node, Err: "no route to host"})
			case CheckVIP:
				h.step(VIPResult{Seq: a.Seq})
			case CheckPingServer:
				h.step(PingResult{Seq: a.Seq, Reachable: true})
			case RunScript:
				h.step(ScriptResult{Seq: a.Seq, Script: a.Script})
			case DoDB:
				promoted = promoted || a.Op == OpPromoteDB
				fenced = fenced || a.Op == OpFenceDB
				h.step(DBOpResult{Seq: a.Seq, OK: true})
			}
		}
	}
	return promoted, fenced
}

// threeVoters as persisted by any member (a node's own entry is ignored).
var threeVoters = []Voter{{ID: "10.0.0.1", Kind: KindDatabase}, {ID: "10.0.0.2", Kind: KindDatabase}, {ID: "10.0.0.3", Kind: KindWitness}}

func selfOnly(id NodeID) []Member { return []Member{{ID: id, Kind: KindDatabase, State: MemberAlive}} }

// TestRestartedStandbyAlone: a standby agent restarts cut off from every
// other agent (its membership view is itself only). With the voters it knew
// persisted it cannot win a majority and must not promote; with nothing
// persisted (a cluster's first start) it counts itself only, as before.
func TestRestartedStandbyAlone(t *testing.T) {
	for _, tc := range []struct {
		name        string
		voters      []Voter
		wantPromote bool
	}{
		{"voters persisted: no promotion", threeVoters, false},
		{"nothing persisted: one voter of one (first-start behaviour)", nil, true},
		{"the primary agent had left: no failover (as when it is seen leaving)",
			[]Voter{{ID: "10.0.0.1", Kind: KindDatabase, Left: true}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := standbyProbe
			h := newHarness(t, "10.0.0.2", KindDatabase, Persisted{Epoch: 1, Primary: "10.0.0.1", Voters: tc.voters}, p, selfOnly("10.0.0.2")...)
			promoted, _ := h.isolatedShell(3 * time.Minute)
			if promoted != tc.wantPromote {
				t.Errorf("promoted %v, want %v (role %s, %d voters)", promoted, tc.wantPromote, h.n.Role(), h.n.numVoters())
			}
			want := 1
			for _, v := range tc.voters {
				if !v.Left && v.ID != "10.0.0.2" {
					want++
				}
			}
			if h.n.numVoters() != want {
				t.Errorf("counts %d voters, want %d", h.n.numVoters(), want)
			}
		})
	}
}

// TestRestartedPrimaryAlone: a primary agent restarts alone. With persisted
// voters its own acknowledgement is not half of them: it never holds a
// valid lease and fences within one lease of its start. On a first start it
// keeps its lease alone, which is how a cluster bootstraps.
func TestRestartedPrimaryAlone(t *testing.T) {
	for _, tc := range []struct {
		name      string
		voters    []Voter
		wantFence bool
	}{
		{"voters persisted: fenced within one lease", threeVoters, true},
		{"first start alone: keeps its lease", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			probe := LocalDBProbe{Reachable: true, CurrentLSN: 5, Timeline: 1}
			h := newHarness(t, "10.0.0.1", KindDatabase, Persisted{Epoch: 1, Primary: "10.0.0.1", Voters: tc.voters}, probe, selfOnly("10.0.0.1")...)
			start := h.now
			lease := h.n.Timing().Lease
			everValid := false
			var fencedAt time.Duration
			for h.now < start+3*lease {
				_, f := h.isolatedShell(50 * time.Millisecond)
				everValid = everValid || h.n.Status().HasLease
				if f && fencedAt == 0 {
					fencedAt = h.now
				}
			}
			if got := fencedAt != 0; got != tc.wantFence {
				t.Fatalf("fenced %v (at %v after start), want %v", got, fencedAt-start, tc.wantFence)
			}
			if tc.wantFence {
				if everValid {
					t.Error("held a valid lease with only its own acknowledgement")
				}
				if fencedAt-start > lease {
					t.Errorf("fenced %v after start, want within one lease (%v)", fencedAt-start, lease)
				}
			} else if h.n.Role() != RolePrimary || !h.n.Status().HasLease {
				t.Errorf("role %s lease %v, want a primary holding its lease", h.n.Role(), h.n.Status().HasLease)
			}
		})
	}
}

// TestVoterSet: how views, clean leaves and reset-members change the
// persisted voter set and the voter count.
func TestVoterSet(t *testing.T) {
	m := func(id NodeID, k Kind, s MemberState) Member { return Member{ID: id, Kind: k, State: s} }
	self := m("10.0.0.1", KindDatabase, MemberAlive)
	all := []Voter{{ID: "10.0.0.2", Kind: KindDatabase}, {ID: "10.0.0.3", Kind: KindDatabase}, {ID: "10.0.0.4", Kind: KindWitness}}
	tests := []struct {
		name        string
		persisted   []Voter
		view        MembershipChanged
		wantVoters  []Voter
		wantCount   int
		wantPersist bool
	}{
		{"first view is learnt and persisted", nil,
			MembershipChanged{Members: []Member{self, m("10.0.0.2", KindDatabase, MemberAlive), m("10.0.0.3", KindDatabase, MemberDown), m("10.0.0.4", KindWitness, MemberAlive)}},
			all, 4, true},
		{"absent voters count DOWN", all,
			MembershipChanged{Members: []Member{self}}, all, 4, false},
		{"reset drops the voters it removed from the view", all,
			MembershipChanged{Members: []Member{self, m("10.0.0.2", KindDatabase, MemberAlive)}, ResetGen: 1},
			[]Voter{{ID: "10.0.0.2", Kind: KindDatabase}}, 2, true},
		{"a reset already applied is not applied again", all,
			MembershipChanged{Members: []Member{self, m("10.0.0.2", KindDatabase, MemberAlive)}, ResetGen: 1},
			all, 4, false},
		{"without reset the same view drops nobody", all,
			MembershipChanged{Members: []Member{self, m("10.0.0.2", KindDatabase, MemberAlive)}},
			all, 4, false},
		{"clean leave drops one (it counts for its vote hold)", all,
			MembershipChanged{Members: []Member{self, m("10.0.0.2", KindDatabase, MemberAlive), m("10.0.0.3", KindDatabase, MemberLeft), m("10.0.0.4", KindWitness, MemberAlive)}},
			[]Voter{{ID: "10.0.0.2", Kind: KindDatabase}, {ID: "10.0.0.3", Kind: KindDatabase, Left: true}, {ID: "10.0.0.4", Kind: KindWitness}}, 4, true},
		{"a voter known as left stays left when absent", []Voter{{ID: "10.0.0.2", Kind: KindDatabase}, {ID: "10.0.0.3", Kind: KindDatabase, Left: true}},
			MembershipChanged{Members: []Member{self}},
			[]Voter{{ID: "10.0.0.2", Kind: KindDatabase}, {ID: "10.0.0.3", Kind: KindDatabase, Left: true}}, 3, false},
		{"a left voter seen again counts again", []Voter{{ID: "10.0.0.2", Kind: KindDatabase, Left: true}},
			MembershipChanged{Members: []Member{self, m("10.0.0.2", KindDatabase, MemberAlive)}},
			[]Voter{{ID: "10.0.0.2", Kind: KindDatabase}}, 2, true},
		{"reset drops a left voter too", []Voter{{ID: "10.0.0.2", Kind: KindDatabase}, {ID: "10.0.0.3", Kind: KindDatabase, Left: true}},
			MembershipChanged{Members: []Member{self, m("10.0.0.2", KindDatabase, MemberAlive)}, ResetGen: 1},
			[]Voter{{ID: "10.0.0.2", Kind: KindDatabase}}, 2, true},
	}
	// appliedGen: the reset generation persisted before the view (0 if
	// not listed).
	appliedGen := map[string]uint64{"a reset already applied is not applied again": 1}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := testParams()
			p.Self = "10.0.0.1"
			n, err := New(p, Persisted{Voters: tc.persisted, ResetGen: appliedGen[tc.name]})
			if err != nil {
				t.Fatal(err)
			}
			now := time.Hour
			n.Step(now, Start{})
			acts := n.Step(now, tc.view)
			if diff := cmp.Diff(tc.wantVoters, n.Persisted().Voters); diff != "" {
				t.Errorf("persisted voters (-want +got):\n%s", diff)
			}
			var persisted []Voter
			gotPersist := false
			for _, a := range acts {
				if p, ok := a.(Persist); ok {
					gotPersist, persisted = true, p.State.Voters
				}
			}
			if gotPersist != tc.wantPersist {
				t.Errorf("Persist emitted %v, want %v", gotPersist, tc.wantPersist)
			} else if gotPersist {
				if diff := cmp.Diff(tc.wantVoters, persisted); diff != "" {
					t.Errorf("Persist action voters (-want +got):\n%s", diff)
				}
			}
			if got := n.numVoters(); got != tc.wantCount {
				t.Errorf("counts %d voters, want %d", got, tc.wantCount)
			}
			// After a vote hold, a member that left no longer counts; the
			// others keep counting whatever views follow.
			n.Step(now+n.Timing().VoteHold+time.Millisecond, tc.view)
			want := 1
			for _, v := range tc.wantVoters {
				if !v.Left {
					want++
				}
			}
			if got := n.numVoters(); got != want {
				t.Errorf("after a vote hold: counts %d voters, want %d", got, want)
			}
		})
	}
}

// TestPersistedJSONCompatible: the voter set is a new, omitted-when-empty
// field; state written before it existed still loads.
func TestPersistedJSONCompatible(t *testing.T) {
	var old Persisted
	if err := json.Unmarshal([]byte(`{"epoch":4,"primary":"10.0.0.1","voted_epoch":4,"voted_for":"10.0.0.1"}`), &old); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Persisted{Epoch: 4, Primary: "10.0.0.1", VotedEpoch: 4, VotedFor: "10.0.0.1"}, old); diff != "" {
		t.Errorf("old state (-want +got):\n%s", diff)
	}
	b, err := json.Marshal(Persisted{Epoch: 1})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"epoch":1,"voted_epoch":0}`; string(b) != want {
		t.Errorf("marshalled %s, want %s", b, want)
	}
	in := Persisted{Epoch: 2, Voters: []Voter{{ID: "10.0.0.2", Kind: KindWitness}}}
	b, err = json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out Persisted
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, out); diff != "" {
		t.Errorf("round trip of %s (-want +got):\n%s", b, diff)
	}
}

// TestPersistDoesNotAlias: a Persist the shell still holds must not change
// when a later view edits the voter set.
func TestPersistDoesNotAlias(t *testing.T) {
	p := testParams()
	p.Self = "10.0.0.1"
	n, err := New(p, Persisted{})
	if err != nil {
		t.Fatal(err)
	}
	view := func(s MemberState) MembershipChanged {
		return MembershipChanged{Members: []Member{{ID: "10.0.0.1", Kind: KindDatabase, State: MemberAlive}, {ID: "10.0.0.2", Kind: KindDatabase, State: s}}}
	}
	var first *Persist
	for _, a := range n.Step(time.Hour, view(MemberAlive)) {
		if p, ok := a.(Persist); ok {
			first = &p
		}
	}
	if first == nil {
		t.Fatal("no Persist for the first view")
	}
	n.Step(time.Hour, view(MemberLeft))
	if diff := cmp.Diff([]Voter{{ID: "10.0.0.2", Kind: KindDatabase}}, first.State.Voters); diff != "" {
		t.Errorf("earlier Persist changed (-want +got):\n%s", diff)
	}
	if !n.Persisted().Voters[0].Left {
		t.Errorf("persisted %+v, want 10.0.0.2 left", n.Persisted().Voters)
	}
}

// TestHeardWhileLeft: a member the view still shows left but that sends a
// message is running again; it counts as a voter until a view reports it.
func TestHeardWhileLeft(t *testing.T) {
	p := testParams()
	p.Self = "10.0.0.1"
	n, err := New(p, Persisted{})
	if err != nil {
		t.Fatal(err)
	}
	view := func(s MemberState) MembershipChanged {
		return MembershipChanged{Members: []Member{{ID: "10.0.0.1", Kind: KindDatabase, State: MemberAlive}, {ID: "10.0.0.2", Kind: KindDatabase, State: s}}}
	}
	now := time.Hour
	n.Step(now, view(MemberAlive))
	n.Step(now, view(MemberLeft))
	now += n.Timing().VoteHold + time.Millisecond
	n.Step(now, Tick{})
	if got := n.numVoters(); got != 1 {
		t.Fatalf("left member: %d voters, want 1", got)
	}
	n.Step(now, MessageReceived{From: "10.0.0.2", Msg: Message{Cluster: "c", Type: MsgHeartbeat}})
	n.Step(now, view(MemberLeft)) // the same view again: nothing new about it
	if got := n.numVoters(); got != 2 {
		t.Errorf("left member heard from: %d voters, want 2", got)
	}
	n.Step(now, view(MemberAlive))
	n.Step(now, view(MemberLeft))
	now += n.Timing().VoteHold + time.Millisecond
	n.Step(now, Tick{})
	if got := n.numVoters(); got != 1 {
		t.Errorf("left again, hold over: %d voters, want 1", got)
	}
}
