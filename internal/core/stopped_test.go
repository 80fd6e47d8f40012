package core

import (
	"testing"
	"time"
)

// TestStoppedVoterReadsItsDataDirectory: two databases, no witness. The
// fenced old primary 10.0.0.1, its agent restarted (Idle, no WAL position
// of its own) and its database stopped, is asked for its vote by the
// standby. It reads its database first; the probe finds the server gone and
// what its data directory says decides: a server that last ran out of
// recovery is an old primary and grants (a stall for good before: simulator
// seed 47938), anything else refuses.
func TestStoppedVoterReadsItsDataDirectory(t *testing.T) {
	gone := LocalDBProbe{Err: "connection refused", Gone: true}
	tests := []struct {
		name    string
		stopped StoppedDB
		granted bool
		// known: the routine probe's read decides, no new read needed.
		known bool
	}{
		{name: "crashed as the primary: grant", granted: true,
			stopped: StoppedDB{Read: true, State: ClusterInProduction, CheckpointLSN: 90, CheckpointTimeline: 1}},
		{name: "stopped cleanly as the primary: grant", granted: true,
			stopped: StoppedDB{Read: true, State: ClusterShutDown, CheckpointLSN: 200, CheckpointTimeline: 1}},
		{name: "promoted to a timeline the candidate is not on, crashed before its checkpoint: refuse", known: true,
			stopped: StoppedDB{Read: true, State: ClusterInProduction, CheckpointLSN: 90, CheckpointTimeline: 1, NewestHistory: 2}},
		{name: "stopped as a standby: refuse",
			stopped: StoppedDB{Read: true, State: ClusterShutDownInRecovery, CheckpointLSN: 90, CheckpointTimeline: 1}},
		{name: "data directory not read: refuse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			probe := gone
			probe.Stopped = tt.stopped
			h := newHarness(t, "10.0.0.1", KindDatabase, Persisted{Epoch: 1, Primary: "10.0.0.1", Fenced: true}, probe,
				Member{ID: "10.0.0.1", Kind: KindDatabase, State: MemberAlive}, Member{ID: "10.0.0.2", Kind: KindDatabase, State: MemberAlive})
			if h.n.Role() != RoleIdle {
				t.Fatalf("role %s, want Idle", h.n.Role())
			}
			// As if the restart hold had run out, and the last routine
			// probe answered before the request.
			h.n.voter.holdUntil = h.now
			h.now += 10 * time.Millisecond
			h.acts = nil
			h.step(MessageReceived{From: "10.0.0.2", Msg: Message{Cluster: "c", Type: MsgVoteReq, Epoch: 2, Target: "10.0.0.2",
				Status: &NodeStatus{Role: RoleStandby, Kind: KindDatabase, InRecovery: true, ReceivedLSN: 50, Timeline: 1}}})
			h.advance(200 * time.Millisecond)
			probed, answered := false, false
			var resp []Send
			for _, a := range h.acts {
				switch a := a.(type) {
				case ProbeLocalDB:
					probed = probed || !answered
				case Send:
					if a.Msg.Type == MsgVoteResp {
						resp, answered = append(resp, a), true
					}
				}
			}
			if !probed && !tt.known {
				t.Error("answered without reading its database first")
			}
			if len(resp) != 1 || resp[0].Msg.OK != tt.granted {
				t.Fatalf("answers %+v, want one with OK=%v", resp, tt.granted)
			}
		})
	}
}

// TestStoppedReadTimedAtItsProbe: a stopped directory counts as read when
// the probe that read it was issued, not when it answered (pg_waldump may
// take a while): a vote request that arrived in between needs a new read.
func TestStoppedReadTimedAtItsProbe(t *testing.T) {
	h := newHarness(t, "10.0.0.1", KindDatabase, Persisted{Epoch: 1, Primary: "10.0.0.1", Fenced: true}, LocalDBProbe{Err: "connection refused", Gone: true},
		Member{ID: "10.0.0.1", Kind: KindDatabase, State: MemberAlive}, Member{ID: "10.0.0.2", Kind: KindDatabase, State: MemberAlive})
	h.n.probeForVote()
	issued, seq := h.now, h.n.local.voteSeq
	h.now += time.Second
	h.n.Step(h.now, LocalDBProbe{Seq: seq, Err: "connection refused", Gone: true,
		Stopped: StoppedDB{Read: true, State: ClusterInProduction, CheckpointTimeline: 1}})
	if f := h.n.voterFacts(); f.stoppedAt != issued || f.probedAt != issued || !f.stopped.Read {
		t.Fatalf("read at %v, probed at %v (stopped %+v); want both at the issue time %v", f.stoppedAt, f.probedAt, f.stopped, issued)
	}
}
