package core

import (
	"testing"
	"time"
)

// TestHandoverCheckpointsBeforeRefusingWrites: asked to hand over, the
// primary first runs CHECKPOINT while it keeps its VIP, database and lease;
// only once that finished (or failed) does it release the VIP and stop.
func TestHandoverCheckpointsBeforeRefusingWrites(t *testing.T) {
	for _, ok := range []bool{true, false} {
		h := newHarness(t, "10.0.0.1", KindDatabase, Persisted{}, LocalDBProbe{Reachable: true, CurrentLSN: 5}, members(MemberAlive, MemberAlive, MemberAlive)...)
		h.n.p.VIPConfigured = true
		for _, s := range sent(h.acts, MsgHeartbeat) {
			if s.Msg.Round > 0 {
				for _, v := range []NodeID{"10.0.0.2", "10.0.0.3"} {
					h.step(MessageReceived{From: v, Msg: Message{Cluster: "c", Type: MsgLeaseAck, Epoch: s.Msg.Epoch, Round: s.Msg.Round, OK: true}})
				}
			}
		}
		if !h.n.lease.holder {
			t.Fatal("no lease to hand over")
		}
		h.acts = nil
		h.step(MessageReceived{From: "10.0.0.3", Msg: Message{Cluster: "c", Type: MsgSwitchover, Target: "10.0.0.1", Switchover: true}})
		var ckpt *DoDB
		for _, a := range h.acts {
			switch a := a.(type) {
			case DoDB:
				if a.Op == OpCheckpointDB {
					ckpt = &a
				} else {
					t.Errorf("database operation %v before the checkpoint finished", a.Op)
				}
			case DoVIP:
				t.Errorf("VIP operation %v before the checkpoint finished", a.Op)
			}
		}
		if ckpt == nil {
			t.Fatalf("no CHECKPOINT asked for; actions %+v", h.acts)
		}
		if ckpt.Timeout != h.n.p.RemoteTimeout {
			t.Errorf("checkpoint timeout %v, want remote.timeout %v", ckpt.Timeout, h.n.p.RemoteTimeout)
		}
		// Asked again while it runs: one checkpoint.
		h.acts = nil
		h.step(MessageReceived{From: "10.0.0.3", Msg: Message{Cluster: "c", Type: MsgSwitchover, Target: "10.0.0.1", Switchover: true}})
		for _, a := range h.acts {
			if d, isDB := a.(DoDB); isDB {
				t.Errorf("second switchover request: %v", d.Op)
			}
		}
		if !h.n.lease.holder || h.n.Role() != RolePrimary {
			t.Errorf("during the checkpoint: lease %v role %s, want the primary's", h.n.lease.holder, h.n.Role())
		}
		h.acts = nil
		h.now += 300 * time.Millisecond
		res := DBOpResult{Seq: ckpt.Seq, OK: ok}
		if !ok {
			res.Err = "CHECKPOINT on 10.0.0.1: timeout"
		}
		h.step(res)
		var got []string
		for _, a := range h.acts {
			switch a := a.(type) {
			case DoDB:
				got = append(got, a.Op.String())
			case DoVIP:
				got = append(got, a.Op.String())
			}
		}
		if len(got) < 2 || got[0] != "release-vip" || got[1] != "stop-db" {
			t.Errorf("checkpoint ok=%v: then %v, want release-vip, stop-db first", ok, got)
		}
	}
}
