package core

import (
	"testing"
	"time"
)

// Chaos seed 7007 in the core: this standby acknowledged the lease round of
// a candidate (10.0.0.2) that reserved timeline 3, and never streamed its
// history. Elected itself later from timeline 2, it must ask for a
// timeline above 3, or PostgreSQL picks 3 a second time for another
// history. The reservation is persisted before the acknowledgement goes
// out: the acknowledgement is what lets the other candidate promote.
func TestCandidateReservesATimelineAboveOneItAcknowledged(t *testing.T) {
	probe := standbyProbe
	probe.Timeline = 2
	h := newHarness(t, "10.0.0.3", KindDatabase, Persisted{Epoch: 2, Primary: "10.0.0.1"}, probe, members(MemberAlive, MemberAlive, MemberAlive, MemberAlive)...)
	h.advance(h.n.Timing().VoteHold)

	h.acts = nil
	h.step(MessageReceived{From: "10.0.0.2", Msg: Message{Cluster: "c", Type: MsgHeartbeat, Epoch: 3, Round: 1, Timeline: 3}})
	persisted, acked := false, false
	for i, a := range h.acts {
		if p, ok := a.(Persist); ok && p.State.Timeline == 3 {
			persisted = true
		}
		if s, ok := a.(Send); ok && s.Msg.Type == MsgLeaseAck && s.Msg.OK {
			acked = true
			if !persisted {
				t.Errorf("lease acknowledged (action %d) before the reserved timeline 3 was persisted", i)
			}
		}
	}
	if !acked {
		t.Fatalf("lease round of epoch 3 not acknowledged: %v", h.acts)
	}
	if got := h.n.Persisted().Timeline; got != 3 {
		t.Fatalf("persisted timeline %d after the lease round, want 3", got)
	}

	// 10.0.0.2 is gone; a coordinator elects this node in epoch 4.
	h.advance(h.n.Timing().VoteHold)
	h.acts = nil
	h.step(MessageReceived{From: "10.0.0.4", Msg: Message{Cluster: "c", Type: MsgPromote, Epoch: 4, Target: "10.0.0.3", FailedPrimary: "10.0.0.2"}})
	var promote *DoDB
	// The witness acknowledges every lease round; scripts succeed.
	for done := 0; promote == nil && h.now < time.Hour+time.Minute; {
		for ; done < len(h.acts); done++ {
			switch a := h.acts[done].(type) {
			case Send:
				if a.Msg.Type != MsgHeartbeat || a.Msg.Round == 0 {
					continue
				}
				if a.Msg.Timeline < 4 {
					t.Fatalf("the candidate's lease round names timeline %d, want its reservation 4", a.Msg.Timeline)
				}
				if a.To == "10.0.0.4" {
					h.step(MessageReceived{From: "10.0.0.4", Msg: Message{Cluster: "c", Type: MsgLeaseAck, Epoch: 4, Round: a.Msg.Round, OK: true}})
				}
			case RunScript:
				h.step(ScriptResult{Seq: a.Seq, Script: a.Script})
			case DoDB:
				if a.Op == OpPromoteDB {
					promote = &a
				}
			}
		}
		h.now += 50 * time.Millisecond
		h.step(Tick{})
	}
	if promote == nil {
		t.Fatal("the candidate never promoted")
	}
	if promote.Timeline != 4 {
		t.Errorf("promotion asks for timeline %d, want 4: above the timeline 3 it acknowledged for 10.0.0.2", promote.Timeline)
	}
	if got := h.n.Persisted().Timeline; got != 4 {
		t.Errorf("persisted timeline %d, want the reservation 4", got)
	}
}
