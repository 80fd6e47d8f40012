package core

import (
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestBroadcastRecipients: the core names every recipient of a broadcast,
// one Send each: every other member of its view, DOWN members included
// (DOWN is only this node's opinion), cleanly-left members excluded.
func TestBroadcastRecipients(t *testing.T) {
	view := members(MemberAlive, MemberAlive, MemberDown, MemberLeft, MemberAlive)
	h := newHarness(t, "10.0.0.2", KindDatabase, Persisted{Epoch: 1, Primary: "10.0.0.1"}, standbyProbe, view...)
	var to []NodeID
	for _, s := range sent(h.advance(5*time.Second), MsgHeartbeat) {
		if s.To == "" {
			t.Fatalf("a Send without recipient: %+v", s)
		}
		if !slices.Contains(to, s.To) {
			to = append(to, s.To)
		}
	}
	slices.Sort(to)
	if diff := cmp.Diff([]NodeID{"10.0.0.1", "10.0.0.3", "10.0.0.5"}, to); diff != "" {
		t.Errorf("heartbeat recipients (-want +got):\n%s", diff)
	}
}

// TestPauseReplayAnswer: a standby asked to pause replay for a failover
// check gets a DBOpResult for the pause like for every operation, then
// reads its positions with a probe of its own; a pause that failed leaves
// them unknown and the check answers at once.
func TestPauseReplayAnswer(t *testing.T) {
	for _, tc := range []struct {
		name      string
		pauseOK   bool
		wantProbe bool
		wantDB    bool // the check answer reports the database reachable
	}{
		{"pause done: probe, then answer", true, true, true},
		{"pause failed: answer, positions unknown", false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "10.0.0.2", KindDatabase, Persisted{Epoch: 1, Primary: "10.0.0.1"}, standbyProbe,
				members(MemberAlive, MemberAlive, MemberAlive)...)
			acts := h.step(MessageReceived{From: "10.0.0.3", Msg: Message{Cluster: "c", Type: MsgCheckReq, Target: "", Round: 7, Pause: true}})
			var pause DoDB
			for _, a := range acts {
				if d, ok := a.(DoDB); ok && d.Op == OpPauseReplay {
					pause = d
				}
			}
			if pause.Seq == 0 {
				t.Fatalf("no OpPauseReplay for a failover check: %+v", acts)
			}
			if got := sent(acts, MsgCheckResp); len(got) != 0 {
				t.Fatalf("answered before the pause: %+v", got)
			}
			h.acts = nil
			res := DBOpResult{Seq: pause.Seq, OK: tc.pauseOK}
			if !tc.pauseOK {
				res.Err = "pg_wal_replay_pause(): connection refused"
			}
			acts = h.step(res)
			probed := slices.ContainsFunc(acts, func(a Action) bool { _, ok := a.(ProbeLocalDB); return ok })
			if probed != tc.wantProbe {
				t.Errorf("probe after the pause: %v, want %v (%+v)", probed, tc.wantProbe, acts)
			}
			resp := sent(h.acts, MsgCheckResp)
			if len(resp) != 1 || resp[0].To != "10.0.0.3" || resp[0].Msg.Round != 7 {
				t.Fatalf("check answers %+v, want one to 10.0.0.3 for round 7", resp)
			}
			st := resp[0].Msg.Status
			if st.DBReachable != tc.wantDB || st.ReplayPaused != tc.pauseOK {
				t.Errorf("answer status reachable %v paused %v, want %v %v", st.DBReachable, st.ReplayPaused, tc.wantDB, tc.pauseOK)
			}
		})
	}
}
