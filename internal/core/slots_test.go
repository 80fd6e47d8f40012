package core

import (
	"maps"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/openefm/efm/internal/notify/subject"
)

func TestSlotTargets(t *testing.T) {
	r := SlotPositions{
		CurrentLSN: 900,
		SlotLSN:    map[NodeID]LSN{"b": 500, "c": 0},
		ReplayLSN:  map[NodeID]LSN{"b": 800, "c": 700},
	}
	got := SlotTargets("a", []NodeID{"b", "c", "d"}, r)
	// b: its slot's restart_lsn (what it still needs), not its replay;
	// c: a slot without WAL reserved counts as none, its replay position;
	// d: nothing known, left out; a: the primary's current position.
	want := map[NodeID]LSN{"a": 900, "b": 500, "c": 700}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("SlotTargets (-want +got):\n%s", diff)
	}
}

func TestSlotsMessageRoundTrip(t *testing.T) {
	m := Message{Cluster: "c", Type: MsgSlots, Epoch: 3, Primary: "a", Slots: map[NodeID]LSN{"a": 0x1_0000_0010, "b": 42}}
	got, err := Decode(Encode(m), "c")
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got.Slots, m.Slots) {
		t.Errorf("decoded slots %v, want %v", got.Slots, m.Slots)
	}
}

func TestPrimarySendsSlotPositionsWhenChanged(t *testing.T) {
	const period = 2 * time.Second
	h := syncPrimary(t, 0, false, false, 0)
	h.n.p.UpdatePhysicalSlotsPeriod = period
	h.advanceAcking(time.Second)
	reads := actionsOf[ReadSlotPositions](h.acts)
	if len(reads) != 1 {
		t.Fatalf("%d position reads in the first second, want 1", len(reads))
	}
	// members(): 10.0.0.1 (self), .2 database, .3 witness.
	if diff := cmp.Diff([]NodeID{"10.0.0.2"}, reads[0].Nodes); diff != "" {
		t.Errorf("positions read for (-want +got):\n%s", diff)
	}
	r := SlotPositions{Seq: reads[0].Seq, CurrentLSN: 100, ReplayLSN: map[NodeID]LSN{"10.0.0.2": 90}}
	sends := sent(h.step(r), MsgSlots)
	if len(sends) != 1 || sends[0].To != "10.0.0.2" {
		t.Fatalf("positions sent %+v, want one to the database standby 10.0.0.2 (not the witness)", sends)
	}
	if want := (map[NodeID]LSN{"10.0.0.1": 100, "10.0.0.2": 90}); !maps.Equal(sends[0].Msg.Slots, want) {
		t.Errorf("positions %v, want %v", sends[0].Msg.Slots, want)
	}
	// Unchanged: not sent again; asked by a (re)joining standby: sent to it.
	reads = actionsOf[ReadSlotPositions](h.advanceAcking(period))
	r.Seq = reads[0].Seq
	if s := sent(h.step(r), MsgSlots); len(s) != 0 {
		t.Errorf("unchanged positions sent again: %+v", s)
	}
	s := sent(h.step(MessageReceived{From: "10.0.0.2", Msg: Message{Cluster: "c", Type: MsgSlotsReq, Epoch: sends[0].Msg.Epoch}}), MsgSlots)
	if len(s) != 1 || s[0].To != "10.0.0.2" {
		t.Errorf("answer to a standby's request: %+v", s)
	}
	// Changed: sent.
	reads = actionsOf[ReadSlotPositions](h.advanceAcking(period))
	r.Seq, r.CurrentLSN = reads[0].Seq, 200
	if s := sent(h.step(r), MsgSlots); len(s) != 1 {
		t.Errorf("changed positions sent %d times, want 1", len(s))
	}
}

func TestStandbyKeepsSlotsFromItsPrimary(t *testing.T) {
	for _, promotable := range []bool{true, false} {
		h := newHarness(t, "10.0.0.2", KindDatabase, Persisted{Epoch: 1, Primary: "10.0.0.1"}, standbyProbe, members(MemberAlive, MemberAlive, MemberAlive)...)
		h.n.p.UpdatePhysicalSlotsPeriod = time.Second
		h.n.p.Promotable = promotable
		h.step(MessageReceived{From: "10.0.0.1", Msg: Message{Cluster: "c", Type: MsgHeartbeat, Epoch: 1, Primary: "10.0.0.1"}})
		acts := h.advance(1500 * time.Millisecond)
		if reqs := sent(acts, MsgSlotsReq); len(reqs) == 0 || reqs[0].To != "10.0.0.1" {
			t.Fatalf("a standby without positions did not ask its primary: %+v", reqs)
		}
		pos := map[NodeID]LSN{"10.0.0.1": 100, "10.0.0.2": 95, "10.0.0.4": 80}
		acts = h.step(MessageReceived{From: "10.0.0.1", Msg: Message{Cluster: "c", Type: MsgSlots, Epoch: 1, Primary: "10.0.0.1", Slots: pos}})
		syncs := actionsOf[SyncSlots](acts)
		if len(syncs) != 1 || syncs[0].Primary != "10.0.0.1" || syncs[0].Create != promotable || !maps.Equal(syncs[0].Positions, pos) {
			t.Fatalf("promotable=%v: %+v, want one SyncSlots from 10.0.0.1 with Create=%v", promotable, syncs, promotable)
		}
		// Positions from a node that is not its primary: ignored.
		if s := actionsOf[SyncSlots](h.step(MessageReceived{From: "10.0.0.4", Msg: Message{Cluster: "c", Type: MsgSlots, Epoch: 1, Slots: pos}})); len(s) != 0 {
			t.Errorf("kept slots from a node that is not its primary: %+v", s)
		}
		// Asks no more; a problem is a WARNING.
		if reqs := sent(h.advance(3*time.Second), MsgSlotsReq); len(reqs) != 0 {
			t.Errorf("asked again after positions arrived: %d", len(reqs))
		}
		got := actionsOf[Notify](h.step(SlotsSynced{Seq: syncs[0].Seq, Problems: []string{"advance efm_10_0_0_4: boom"}}))
		if len(got) != 1 || got[0].Subject != subject.ReplicationSlotAdvanceProblem {
			t.Errorf("notifications for a slot problem: %+v", got)
		}
	}
}

func TestFollowerStreamsThroughItsSlot(t *testing.T) {
	for _, on := range []bool{false, true} {
		h := newHarness(t, "10.0.0.2", KindDatabase, Persisted{Epoch: 1, Primary: "10.0.0.1"}, standbyProbe, members(MemberAlive, MemberAlive, MemberAlive, MemberAlive)...)
		if on {
			h.n.p.UpdatePhysicalSlotsPeriod = time.Second
		}
		st := &NodeStatus{Role: RolePrimary, Kind: KindDatabase, DBReachable: true}
		acts := h.step(MessageReceived{From: "10.0.0.3", Msg: Message{Cluster: "c", Type: MsgPromoted, Epoch: 2, Primary: "10.0.0.3", Status: st}})
		acts = append(acts, h.advance(time.Second)...)
		fps := actionsOf[FollowPrimary](acts)
		if len(fps) != 1 || fps[0].Primary != "10.0.0.3" || fps[0].Slot != on {
			t.Errorf("slots on=%v: %+v, want one FollowPrimary to 10.0.0.3 with Slot=%v", on, fps, on)
		}
	}
}

func TestResetMembersDropsSlotsOfMembersGone(t *testing.T) {
	h := newHarness(t, "10.0.0.2", KindDatabase, Persisted{Epoch: 1, Primary: "10.0.0.1"}, standbyProbe, members(MemberAlive, MemberAlive, MemberAlive, MemberAlive)...)
	h.n.p.UpdatePhysicalSlotsPeriod = time.Second
	ms := members(MemberAlive, MemberAlive, MemberDown, MemberAlive)
	acts := h.step(MembershipChanged{Members: append(ms[:2:2], ms[3]), ResetGen: 1})
	drops := actionsOf[DropSlots](acts)
	if len(drops) != 1 {
		t.Fatalf("reset-members: %d DropSlots, want 1", len(drops))
	}
	if diff := cmp.Diff([]NodeID{"10.0.0.1", "10.0.0.2", "10.0.0.4"}, drops[0].Keep); diff != "" {
		t.Errorf("slots kept for (-want +got):\n%s", diff)
	}
}
