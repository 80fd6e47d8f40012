package core

import "testing"

// TestCandidateToldOfNewerEpoch: two coordinators can elect the same
// standby in two epochs (their views disagree on who coordinates). A
// candidate that learns of the newer epoch before its database was
// promoted is still a standby: it gives its own epoch up, as when its
// lease runs out, and does not fence its database as a stale primary; so
// the promote order of the newer epoch finds a healthy standby.
func TestCandidateToldOfNewerEpoch(t *testing.T) {
	h := newHarness(t, "10.0.0.2", KindDatabase, Persisted{Epoch: 1, Primary: "10.0.0.1"}, standbyProbe,
		members(MemberDown, MemberAlive, MemberAlive, MemberAlive)...)
	promote := func(epoch uint64) []Action {
		return h.step(MessageReceived{From: "10.0.0.3", Msg: Message{Cluster: "c", Type: MsgPromote, Epoch: epoch, Target: "10.0.0.2", FailedPrimary: "10.0.0.1"}})
	}
	acts := promote(2)
	rs := rounds(acts)
	if h.n.Role() != RolePromoting || len(rs) == 0 {
		t.Fatalf("setup: role %s, renewal rounds %v; want a candidate taking its lease", h.n.Role(), rs)
	}
	h.acts = nil
	acts = h.step(MessageReceived{From: "10.0.0.3", Msg: Message{Cluster: "c", Type: MsgLeaseAck, Epoch: 3, Round: rs[0].Round, Reason: "stale epoch"}})
	if ops := fenceOps(acts); len(ops) != 0 {
		t.Errorf("the candidate fenced its standby database on a newer epoch: %v", ops)
	}
	if h.n.Role() != RoleStandby || h.n.Status().Promoting {
		t.Errorf("after a newer epoch: role %s, promoting %v; want a Standby that gave its candidacy up", h.n.Role(), h.n.Status().Promoting)
	}
	promote(3)
	if h.n.Role() != RolePromoting {
		t.Errorf("the promote order of epoch 3 left the node %s; want Promoting", h.n.Role())
	}
}
