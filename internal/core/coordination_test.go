package core

import (
	"testing"
	"time"
)

// A node that held off because someone else coordinated a promotion (here
// a switchover's) coordinates the next failover as soon as that promotion
// is over, not when the hold-off window (several remote.timeouts and the
// promotion budget) ends: a new primary can fail seconds after it was
// promoted. Found by the integration test TestLoadBalancerHooks, where
// the switched-over old primary, the smallest id, held the next failover
// back for over a minute.
func TestCoordinatesRightAfterAnotherPromotion(t *testing.T) {
	h := newHarness(t, "10.0.0.1", KindDatabase, Persisted{Epoch: 1, Primary: "10.0.0.2"}, standbyProbe,
		members(MemberAlive, MemberAlive, MemberAlive, MemberAlive)...)
	// 10.0.0.4 coordinates a switchover: it asks everyone to check.
	h.step(MessageReceived{From: "10.0.0.4", Msg: Message{Cluster: "c", Type: MsgCheckReq, Epoch: 1, Target: "10.0.0.2", Round: 7, Pause: true}})
	h.advance(time.Second)
	// 10.0.0.3 is promoted, then its database fails at once.
	h.step(MessageReceived{From: "10.0.0.3", Msg: Message{Cluster: "c", Type: MsgPromoted, Epoch: 2, Primary: "10.0.0.3"}})
	h.advance(time.Second)
	h.acts = nil
	h.step(MessageReceived{From: "10.0.0.3", Msg: Message{Cluster: "c", Type: MsgDBFailed, Epoch: 2, Primary: "10.0.0.3"}})
	h.advance(500 * time.Millisecond)
	if reqs := sent(h.acts, MsgCheckReq); len(reqs) == 0 || reqs[0].Msg.Target != "10.0.0.3" {
		t.Errorf("the coordinator did not start the failover check of 10.0.0.3 within a tick; sent %+v", reqs)
	}
}

// A coordinator that gives its failover up (here a switchover's election
// without a majority) ends the hold its check round set on the others: the
// next coordinator acts when the primary is suspected, not a failover
// window later. Chaos seed 7043: the witness's switchover election failed
// and the old primary, the smallest id, suspected the never-promoted
// candidate for 82 s before it could coordinate. The same message from
// another node ends nothing.
func TestCoordinatesRightAfterAnotherGivesUp(t *testing.T) {
	check := Message{Cluster: "c", Type: MsgCheckReq, Epoch: 1, Target: "10.0.0.2", Round: 7, Pause: true}
	abort := Message{Cluster: "c", Type: MsgResumeReplay, Aborted: true}
	for _, tc := range []struct {
		name      string
		abortFrom NodeID
		want      bool
	}{{"given up by its coordinator", "10.0.0.4", true}, {"an abort from another node", "10.0.0.3", false}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "10.0.0.1", KindDatabase, Persisted{Epoch: 1, Primary: "10.0.0.2"}, standbyProbe,
				members(MemberAlive, MemberAlive, MemberAlive, MemberAlive)...)
			h.step(MessageReceived{From: "10.0.0.4", Msg: check})
			h.advance(time.Second)
			h.step(MessageReceived{From: tc.abortFrom, Msg: abort})
			// The primary resigns: this node, the smallest id, is the
			// coordinator of the failover.
			if got, reqs := h.checksFailedPrimaryAtOnce(); got != tc.want {
				t.Errorf("failover check of 10.0.0.2 started within a tick: %v, want %v (sent %+v)", got, tc.want, reqs)
			}
		})
	}
}

// A hold ends with its own coordinator: when the membership reports that
// coordinator DOWN (its failover died with its agent), and when that
// coordinator gives up, whatever another coordinator does. Chaos seed 9331:
// the witness started a switchover's election and was killed; a second
// coordinator's failed election ended nothing because the witness's hold
// was the one recorded, and the smallest id waited out the failover window
// (88 s without a primary).
func TestHoldEndsWithItsCoordinator(t *testing.T) {
	check := func(round uint64) Message {
		return Message{Cluster: "c", Type: MsgCheckReq, Epoch: 1, Target: "10.0.0.2", Round: round, Pause: true}
	}
	abort := Message{Cluster: "c", Type: MsgResumeReplay, Aborted: true}
	witnessDown := members(MemberAlive, MemberAlive, MemberAlive, MemberDown)
	for _, tc := range []struct {
		name string
		// after both 10.0.0.3 and the witness 10.0.0.4 started check rounds
		then func(h *harness)
		want bool
	}{
		{"both still coordinate", func(h *harness) {}, false},
		{"the witness DOWN, 10.0.0.3 still coordinates", func(h *harness) {
			h.step(MembershipChanged{Members: witnessDown})
		}, false},
		{"the witness DOWN and 10.0.0.3 gave up", func(h *harness) {
			h.step(MembershipChanged{Members: witnessDown})
			h.step(MessageReceived{From: "10.0.0.3", Msg: abort})
		}, true},
		{"10.0.0.3 gave up, the witness still coordinates", func(h *harness) {
			h.step(MessageReceived{From: "10.0.0.3", Msg: abort})
		}, false},
		{"both gave up", func(h *harness) {
			h.step(MessageReceived{From: "10.0.0.3", Msg: abort})
			h.step(MessageReceived{From: "10.0.0.4", Msg: abort})
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "10.0.0.1", KindDatabase, Persisted{Epoch: 1, Primary: "10.0.0.2"}, standbyProbe,
				members(MemberAlive, MemberAlive, MemberAlive, MemberAlive)...)
			h.step(MessageReceived{From: "10.0.0.3", Msg: check(7)})
			h.step(MessageReceived{From: "10.0.0.4", Msg: check(8)})
			h.advance(time.Second)
			tc.then(h)
			// The primary fails: this node, the smallest id, coordinates
			// its failover unless a hold keeps it back.
			if got, reqs := h.checksFailedPrimaryAtOnce(); got != tc.want {
				t.Errorf("failover check of 10.0.0.2 started within a tick: %v, want %v (sent %+v)", got, tc.want, reqs)
			}
		})
	}
}

// checksFailedPrimaryAtOnce: the primary 10.0.0.2 of epoch 1 reports its
// database failed; does this node start the failover check within a tick?
// It returns the check requests sent meanwhile.
func (h *harness) checksFailedPrimaryAtOnce() (bool, []Send) {
	h.acts = nil
	h.step(MessageReceived{From: "10.0.0.2", Msg: Message{Cluster: "c", Type: MsgDBFailed, Epoch: 1, Primary: "10.0.0.2"}})
	h.advance(500 * time.Millisecond)
	reqs := sent(h.acts, MsgCheckReq)
	return len(reqs) > 0 && reqs[0].Msg.Target == "10.0.0.2", reqs
}
