package core

import (
	"strings"
	"testing"
	"time"
)

// Cluster of the efm promote pre-check tests: primary 10.0.0.1 of epoch 1,
// standbys 10.0.0.2 and 10.0.0.3, witness 10.0.0.4 (the node under test,
// where the command is run).
var (
	pcPrimary = NodeStatus{Role: RolePrimary, Kind: KindDatabase, DBReachable: true, CurrentLSN: 300, Timeline: 1}
	pcStandby = NodeStatus{Role: RoleStandby, Kind: KindDatabase, DBReachable: true, InRecovery: true, Promotable: true,
		ReceivedLSN: 300, ReplayLSN: 300, Timeline: 1, Following: "10.0.0.1", WALReceiver: "streaming"}
)

// hear delivers one heartbeat carrying st from each member; the primary's
// is a lease renewal, so the primary counts as alive.
func (h *harness) hear(sts map[NodeID]NodeStatus) {
	h.t.Helper()
	for _, id := range []NodeID{"10.0.0.1", "10.0.0.2", "10.0.0.3"} {
		st, ok := sts[id]
		if !ok {
			continue
		}
		m := Message{Cluster: "c", Type: MsgHeartbeat, Epoch: 1, Primary: "10.0.0.1", Status: &st}
		if id == "10.0.0.1" {
			m.Round = uint64(h.now / time.Millisecond)
		}
		h.step(MessageReceived{From: id, Msg: m})
	}
}

func replyTo(acts []Action, seq uint64) (AdminReply, bool) {
	for _, a := range acts {
		if r, ok := a.(AdminReply); ok && r.Seq == seq {
			return r, true
		}
	}
	return AdminReply{}, false
}

// TestPromotePrecheck: efm promote [-switchover [-sourcenode]] is refused,
// before the primary is asked to stop, when the statuses the agents sent
// show nobody who could take over; otherwise it goes ahead as before.
func TestPromotePrecheck(t *testing.T) {
	with := func(f func(*NodeStatus)) NodeStatus {
		s := pcStandby
		f(&s)
		return s
	}
	notPromotable := with(func(s *NodeStatus) { s.Promotable = false })
	tests := []struct {
		name string
		sts  map[NodeID]NodeStatus
		prep func(h *harness)
		cmd  AdminPromote
		// wantErr: substrings of the refusal; nil = accepted.
		wantErr []string
	}{
		{
			name:    "two standbys with promotable=false: promote refused",
			sts:     map[NodeID]NodeStatus{"10.0.0.1": pcPrimary, "10.0.0.2": notPromotable, "10.0.0.3": notPromotable},
			wantErr: []string{"Promotion has not occurred: No promotable standby for cluster c", "10.0.0.2: not promotable (promotable=false or priority 0)", "10.0.0.3: not promotable"},
		},
		{
			name:    "two standbys with promotable=false: switchover refused",
			sts:     map[NodeID]NodeStatus{"10.0.0.1": pcPrimary, "10.0.0.2": notPromotable, "10.0.0.3": notPromotable},
			cmd:     AdminPromote{Switchover: true},
			wantErr: []string{"Promotion has not occurred: No promotable standby", "10.0.0.2: not promotable", "10.0.0.3: not promotable"},
		},
		{
			name: "one standby Idle, the other's database unreachable: refused",
			sts: map[NodeID]NodeStatus{"10.0.0.1": pcPrimary, "10.0.0.2": with(func(s *NodeStatus) { s.Role = RoleIdle }),
				"10.0.0.3": with(func(s *NodeStatus) { s.DBReachable = false })},
			wantErr: []string{"10.0.0.2: agent is Idle", "10.0.0.3: its agent cannot reach its database"},
		},
		{
			name: "the only promotable standby was given priority 0: refused",
			sts:  map[NodeID]NodeStatus{"10.0.0.1": pcPrimary, "10.0.0.2": notPromotable, "10.0.0.3": pcStandby},
			prep: func(h *harness) {
				h.step(MembershipChanged{Members: members(MemberAlive, MemberAlive, MemberAlive, MemberAlive), Priorities: map[NodeID]int{"10.0.0.3": 0}})
			},
			wantErr: []string{"10.0.0.3: not promotable"},
		},
		{
			name: "promoting would leave fewer than minimum.standbys: refused",
			sts:  map[NodeID]NodeStatus{"10.0.0.1": pcPrimary, "10.0.0.2": pcStandby, "10.0.0.3": pcStandby},
			prep: func(h *harness) {
				h.n.p.MinimumStandbys = 2
			},
			wantErr: []string{"Promotion has not occurred: No standbys available for promotion (at minimum.standbys)"},
		},
		{
			name: "standby agents not heard for a lease: refused",
			sts:  map[NodeID]NodeStatus{"10.0.0.1": pcPrimary, "10.0.0.2": pcStandby, "10.0.0.3": pcStandby},
			prep: func(h *harness) {
				for end := h.now + 2*h.n.tm.PrimarySilence; h.now < end; {
					h.advance(time.Second)
					h.hear(map[NodeID]NodeStatus{"10.0.0.1": pcPrimary})
				}
			},
			wantErr: []string{"10.0.0.2: no status from its agent for", "10.0.0.3: no status from its agent for"},
		},
		{
			name: "switchover, no standby streams: refused",
			sts: map[NodeID]NodeStatus{"10.0.0.1": pcPrimary, "10.0.0.2": with(func(s *NodeStatus) { s.WALReceiver = "" }),
				"10.0.0.3": with(func(s *NodeStatus) { s.WALReceiver = "waiting" })},
			cmd: AdminPromote{Switchover: true},
			wantErr: []string{"no promotable standby is caught up with the primary 10.0.0.1",
				"10.0.0.2: not caught up with the primary: no WAL receiver is running",
				"10.0.0.3: not caught up with the primary: its WAL receiver is waiting, not streaming"},
		},
		{
			name: "switchover, the streaming standby is not promotable, the promotable one does not stream: refused",
			sts: map[NodeID]NodeStatus{"10.0.0.1": pcPrimary, "10.0.0.2": notPromotable,
				"10.0.0.3": with(func(s *NodeStatus) { s.WALReceiver = "" })},
			cmd:     AdminPromote{Switchover: true},
			wantErr: []string{"no promotable standby is caught up", "10.0.0.2: not promotable", "10.0.0.3: not caught up"},
		},
		{
			name: "switchover, standbys on an older timeline or streaming from another standby: refused",
			sts: map[NodeID]NodeStatus{"10.0.0.1": with(func(s *NodeStatus) { *s = pcPrimary; s.Timeline = 2 }),
				"10.0.0.2": with(func(s *NodeStatus) { s.Timeline = 2; s.Following = "10.0.0.3" }),
				"10.0.0.3": pcStandby},
			cmd: AdminPromote{Switchover: true},
			wantErr: []string{"10.0.0.2: not caught up with the primary: it streams from 10.0.0.3, not from the primary 10.0.0.1",
				"10.0.0.3: not caught up with the primary: it receives timeline 1, the primary 10.0.0.1 is on timeline 2"},
		},
		{
			name: "switchover, WAL receiver state hidden from db.user: refused, saying so",
			sts: map[NodeID]NodeStatus{"10.0.0.1": pcPrimary, "10.0.0.2": with(func(s *NodeStatus) { s.WALReceiver = WALReceiverHidden }),
				"10.0.0.3": with(func(s *NodeStatus) { s.WALReceiver = WALReceiverHidden })},
			cmd:     AdminPromote{Switchover: true},
			wantErr: []string{"10.0.0.2: not caught up with the primary: its WAL receiver's state is not visible to db.user (grant it pg_read_all_stats)"},
		},
		{
			name:    "switchover, -sourcenode not a member: refused",
			sts:     map[NodeID]NodeStatus{"10.0.0.1": pcPrimary, "10.0.0.2": pcStandby, "10.0.0.3": pcStandby},
			cmd:     AdminPromote{Switchover: true, SourceNode: "10.0.0.9"},
			wantErr: []string{"-sourcenode 10.0.0.9 is not a running standby of cluster c (no member has this address", "Running standbys: 10.0.0.2, 10.0.0.3."},
		},
		{
			name:    "switchover, -sourcenode is the primary: refused",
			sts:     map[NodeID]NodeStatus{"10.0.0.1": pcPrimary, "10.0.0.2": pcStandby, "10.0.0.3": pcStandby},
			cmd:     AdminPromote{Switchover: true, SourceNode: "10.0.0.1"},
			wantErr: []string{"-sourcenode 10.0.0.1 is not a running standby of cluster c (its agent is Primary)"},
		},
		{
			name:    "switchover, -sourcenode is the witness: refused",
			sts:     map[NodeID]NodeStatus{"10.0.0.1": pcPrimary, "10.0.0.2": pcStandby, "10.0.0.3": pcStandby},
			cmd:     AdminPromote{Switchover: true, SourceNode: "10.0.0.4"},
			wantErr: []string{"-sourcenode 10.0.0.4 is not a running standby of cluster c (it is a witness)"},
		},
		{
			name: "switchover, -sourcenode Idle: refused",
			sts: map[NodeID]NodeStatus{"10.0.0.1": pcPrimary, "10.0.0.2": pcStandby,
				"10.0.0.3": with(func(s *NodeStatus) { s.Role = RoleIdle })},
			cmd:     AdminPromote{Switchover: true, SourceNode: "10.0.0.3"},
			wantErr: []string{"-sourcenode 10.0.0.3 is not a running standby of cluster c (its agent is Idle). Running standbys: 10.0.0.2."},
		},
		{
			name:    "-sourcenode without -switchover: refused",
			sts:     map[NodeID]NodeStatus{"10.0.0.1": pcPrimary, "10.0.0.2": pcStandby, "10.0.0.3": pcStandby},
			cmd:     AdminPromote{SourceNode: "10.0.0.2"},
			wantErr: []string{"-sourcenode is only valid with -switchover"},
		},
		{
			name: "promote with one promotable standby: accepted",
			sts:  map[NodeID]NodeStatus{"10.0.0.1": pcPrimary, "10.0.0.2": notPromotable, "10.0.0.3": pcStandby},
		},
		{
			name: "switchover, one promotable standby streaming from the primary: accepted",
			sts: map[NodeID]NodeStatus{"10.0.0.1": pcPrimary, "10.0.0.2": with(func(s *NodeStatus) { s.WALReceiver = "" }),
				"10.0.0.3": pcStandby},
			cmd: AdminPromote{Switchover: true},
		},
		{
			name: "switchover, -sourcenode a running standby that may not be promoted itself: accepted",
			sts:  map[NodeID]NodeStatus{"10.0.0.1": pcPrimary, "10.0.0.2": notPromotable, "10.0.0.3": pcStandby},
			cmd:  AdminPromote{Switchover: true, SourceNode: "10.0.0.2"},
		},
		{
			name: "switchover, standbys streaming through the VIP (an address that is no member): accepted",
			sts: map[NodeID]NodeStatus{"10.0.0.1": pcPrimary, "10.0.0.2": with(func(s *NodeStatus) { s.Following = "10.0.0.100" }),
				"10.0.0.3": with(func(s *NodeStatus) { s.Following = "10.0.0.100" })},
			cmd: AdminPromote{Switchover: true},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "10.0.0.4", KindWitness, Persisted{Epoch: 1, Primary: "10.0.0.1"}, LocalDBProbe{},
				members(MemberAlive, MemberAlive, MemberAlive, MemberAlive)...)
			h.hear(tc.sts)
			if tc.prep != nil {
				tc.prep(h)
			}
			h.acts = nil
			cmd := tc.cmd
			cmd.Seq = 7
			h.step(cmd)
			h.advance(time.Second)
			r, ok := replyTo(h.acts, 7)
			if !ok {
				t.Fatalf("no reply to %+v; actions %+v", cmd, h.acts)
			}
			asked := sent(h.acts, MsgSwitchover)
			checks := sent(h.acts, MsgCheckReq)
			if tc.wantErr == nil {
				if r.Err != "" {
					t.Fatalf("refused: %s", r.Err)
				}
				if len(asked) != 1 || asked[0].To != "10.0.0.1" {
					t.Errorf("accepted, but the primary was not asked to hand over: %+v", asked)
				}
				return
			}
			if r.Err == "" {
				t.Fatalf("accepted (%q), want a refusal", r.Text)
			}
			t.Logf("refusal: %s", r.Err)
			for _, w := range tc.wantErr {
				if !strings.Contains(r.Err, w) {
					t.Errorf("refusal does not say %q", w)
				}
			}
			if len(asked) != 0 || len(checks) != 0 {
				t.Errorf("refused, but the primary was asked to hand over (%+v) or a failover check started (%+v)", asked, checks)
			}
		})
	}
}

// The command run on the primary's own agent: a refused promote or
// switchover leaves its database running and its lease held (no fencing,
// no stop, no VIP release).
func TestPromotePrecheckOnThePrimary(t *testing.T) {
	for _, sw := range []bool{false, true} {
		h := runPrimary(t)
		st := pcStandby
		st.Promotable = false
		h.step(MessageReceived{From: "10.0.0.2", Msg: Message{Cluster: "c", Type: MsgHeartbeat, Epoch: 1, Primary: "10.0.0.1", Status: &st}})
		h.step(AdminPromote{Seq: 3, Switchover: sw})
		h.answer(h.advance(2*time.Second), 1, true, "10.0.0.2", "10.0.0.3")
		r, ok := replyTo(h.acts, 3)
		if !ok || r.Err == "" {
			t.Errorf("switchover=%v: reply %+v (found %v), want a refusal", sw, r, ok)
		}
		if ops := fenceOps(h.acts); len(ops) != 0 || h.n.Role() != RolePrimary || !h.n.Status().HasLease {
			t.Errorf("switchover=%v: after a refused promote the primary is %s, lease %v, fence ops %v; want untouched",
				sw, h.n.Role(), h.n.Status().HasLease, ops)
		}
		for _, a := range h.acts {
			if d, ok := a.(DoVIP); ok && d.Op == OpReleaseVIP {
				t.Errorf("switchover=%v: the primary released its VIP after a refused promote", sw)
			}
		}
	}
}
