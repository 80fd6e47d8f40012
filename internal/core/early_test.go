package core

import (
	"testing"
	"time"
)

// TestEarlyProbesOverlapTheCheckRound: a standby asked to check the primary
// for a failover starts the VIP and ping.server.ip probes at once; elected,
// it uses their answers (or waits for them) instead of probing again. A
// VIP that answered, or answers older than the last renewal heard, are
// probed again as before.
func TestEarlyProbesOverlapTheCheckRound(t *testing.T) {
	const ms = time.Millisecond
	cases := []struct {
		name string
		// vipFree: the early VIP answer; answerAfter: when the early
		// answers come, after the check request (the promote order comes
		// 300 ms after it).
		vipFree     bool
		answerAfter time.Duration
		// heardAfter: a renewal from the primary heard this long after the
		// check request (0: none).
		heardAfter time.Duration
		// wantProbes: CheckVIP + CheckPingServer after the promote order.
		wantProbes int
	}{
		{"early answers in, VIP free", true, 100 * ms, 0, 0},
		{"early answers still running", true, 1000 * ms, 0, 0},
		{"early VIP answered: probed again", false, 100 * ms, 0, 1},
		{"renewal heard after the early probes: probed again", true, 100 * ms, 200 * ms, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := testParams()
			p.Self = "10.0.0.2"
			p.NodeTimeout = 10 * time.Second
			p.LocalPeriod = time.Second
			p.LocalTimeout = 3 * time.Second
			p.RemoteTimeout = 2 * time.Second
			p.VIPConfigured = true
			p.CheckVIPBeforePromotion = true
			p.PingServerConfigured = true
			n, err := New(p, Persisted{Epoch: 1, Primary: "10.0.0.1"})
			if err != nil {
				t.Fatal(err)
			}
			h := &harness{t: t, n: n, now: time.Hour, probe: standbyProbe}
			h.step(MembershipChanged{Members: []Member{
				{ID: "10.0.0.1", Kind: KindDatabase, State: MemberDown},
				{ID: "10.0.0.2", Kind: KindDatabase, State: MemberAlive},
				{ID: "10.0.0.3", Kind: KindWitness, State: MemberAlive}}})
			h.step(Start{})
			h.advance(time.Second)
			if h.n.Role() != RoleStandby {
				t.Fatalf("role %s", h.n.Role())
			}
			type due struct {
				at time.Duration
				ev Event
			}
			var queue []due
			var probesAfterOrder int
			promoted := false
			ordered := false
			check := h.now
			done := len(h.acts)
			h.step(MessageReceived{From: "10.0.0.3", Msg: Message{Cluster: "c", Type: MsgCheckReq, Target: "10.0.0.1", Round: 7, Pause: true}})
			for h.now < check+5*time.Second && !promoted {
				for done < len(h.acts) {
					a := h.acts[done]
					done++
					switch a := a.(type) {
					case CheckVIP:
						if ordered {
							probesAfterOrder++
						}
						queue = append(queue, due{h.now + c.answerAfter, VIPResult{Seq: a.Seq, Reachable: !c.vipFree && !ordered}})
					case CheckPingServer:
						if ordered {
							probesAfterOrder++
						}
						queue = append(queue, due{h.now + c.answerAfter, PingResult{Seq: a.Seq, Reachable: true}})
					case DoDB:
						promoted = promoted || a.Op == OpPromoteDB
						queue = append(queue, due{h.now + 10*ms, DBOpResult{Seq: a.Seq, OK: true}})
					case CheckRemoteDB:
						queue = append(queue, due{h.now + 10*ms, RemoteDBResult{Seq: a.Seq, Node: a.Node, Err: "no route to host"}})
					case Send:
						if a.Msg.Type == MsgHeartbeat && a.Msg.Round > 0 && a.To == "10.0.0.3" {
							queue = append(queue, due{h.now + 10*ms, MessageReceived{From: "10.0.0.3",
								Msg: Message{Cluster: "c", Type: MsgLeaseAck, Epoch: a.Msg.Epoch, Round: a.Msg.Round, OK: true}}})
						}
					}
				}
				h.now += 10 * ms
				if c.heardAfter != 0 && h.now == check+c.heardAfter {
					// A renewal from the primary, acknowledged.
					h.step(MessageReceived{From: "10.0.0.1", Msg: Message{Cluster: "c", Type: MsgHeartbeat, Epoch: 1, Round: 99}})
					if h.n.early.renewalAt != h.now {
						t.Fatalf("the renewal was not acknowledged")
					}
				}
				if h.now == check+300*ms {
					ordered = true
					// The candidate voted for itself (which counts as
					// hearing from a primary, but not as a renewal).
					h.n.watch.heardAt = h.now
					h.step(MessageReceived{From: "10.0.0.3", Msg: Message{Cluster: "c", Type: MsgPromote, Epoch: 2, Target: "10.0.0.2", FailedPrimary: "10.0.0.1"}})
					continue
				}
				var later []due
				for _, q := range queue {
					if q.at <= h.now {
						h.step(q.ev)
					} else {
						later = append(later, q)
					}
				}
				queue = later
				h.step(Tick{})
			}
			if !promoted {
				t.Fatalf("not promoted; role %s", h.n.Role())
			}
			if probesAfterOrder != c.wantProbes {
				t.Errorf("%d probes after the promote order, want %d", probesAfterOrder, c.wantProbes)
			}
		})
	}
}
