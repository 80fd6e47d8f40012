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
