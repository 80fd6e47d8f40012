package core

import (
	"strings"
	"testing"
	"time"
)

// fenceOps returns the StopDB and FenceDB operations among acts.
func fenceOps(acts []Action) []DBOp {
	var out []DBOp
	for _, a := range acts {
		if d, ok := a.(DoDB); ok && (d.Op == OpStopDB || d.Op == OpFenceDB) {
			out = append(out, d.Op)
		}
	}
	return out
}

// rounds returns the renewal rounds (heartbeats with a Round) among acts.
func rounds(acts []Action) []Message {
	var out []Message
	for _, m := range broadcasts(acts, MsgHeartbeat) {
		if m.Round > 0 {
			out = append(out, m)
		}
	}
	return out
}

// answer feeds a lease answer for every renewal round in acts from each of
// the voters.
func (h *harness) answer(acts []Action, epoch uint64, ok bool, voters ...NodeID) {
	h.t.Helper()
	for _, r := range rounds(acts) {
		for _, v := range voters {
			h.step(MessageReceived{From: v, Msg: Message{Cluster: "c", Type: MsgLeaseAck, Epoch: epoch, Round: r.Round, OK: ok}})
		}
	}
}

// runPrimary starts 10.0.0.1 as the primary of epoch 1 in a cluster of two
// database nodes and a witness, and keeps its lease for ten seconds with
// both voters acknowledging every round.
func runPrimary(t *testing.T) *harness {
	t.Helper()
	h := newHarness(t, "10.0.0.1", KindDatabase, Persisted{Epoch: 1, Primary: "10.0.0.1"},
		LocalDBProbe{Reachable: true, CurrentLSN: 5, Timeline: 1}, members(MemberAlive, MemberAlive, MemberAlive)...)
	h.answer(h.acts, 1, true, "10.0.0.2", "10.0.0.3")
	for end := h.now + 10*time.Second; h.now < end; {
		h.answer(h.advance(50*time.Millisecond), 1, true, "10.0.0.2", "10.0.0.3")
	}
	if h.n.Role() != RolePrimary || !h.n.Status().HasLease || len(fenceOps(h.acts)) != 0 {
		t.Fatalf("setup: role %s lease %v fence ops %v, want a primary holding its lease", h.n.Role(), h.n.Status().HasLease, fenceOps(h.acts))
	}
	h.acts = nil
	return h
}

// TestThawedPrimary: the primary's agent does not run for a while (SIGSTOP,
// VM stall) and its first Step finds the lease deadline past. It renews at
// once and fences only if half of the voters do not acknowledge at its
// epoch within the grace.
func TestThawedPrimary(t *testing.T) {
	tests := []struct {
		name  string
		stall time.Duration
		// reply answers the rounds the thawed node sent (nil: silence).
		reply func(h *harness, acts []Action)
		// fence: "never", "at once" (in the thaw step or at the first
		// answer), or "after grace".
		fence string
	}{
		{"voters still follow", 30 * time.Second,
			func(h *harness, acts []Action) { h.answer(acts, 1, true, "10.0.0.2", "10.0.0.3") }, "never"},
		{"one voter of two still follows (half with the holder)", 30 * time.Second,
			func(h *harness, acts []Action) { h.answer(acts, 1, true, "10.0.0.3") }, "never"},
		{"voters moved to a higher epoch", 30 * time.Second,
			func(h *harness, acts []Action) { h.answer(acts, 2, false, "10.0.0.2", "10.0.0.3") }, "at once"},
		{"one voter follows, one moved to a higher epoch", 30 * time.Second,
			func(h *harness, acts []Action) {
				h.answer(acts, 1, true, "10.0.0.3")
				h.answer(acts, 2, false, "10.0.0.2")
			}, "at once"},
		{"new primary's heartbeat arrives", 30 * time.Second,
			func(h *harness, acts []Action) {
				h.step(MessageReceived{From: "10.0.0.2", Msg: Message{Cluster: "c", Type: MsgHeartbeat, Epoch: 2, Primary: "10.0.0.2", Round: 1}})
			}, "at once"},
		{"no answers", 30 * time.Second, nil, "after grace"},
		{"answers at the old epoch refused as stale are not acknowledgements", 30 * time.Second,
			func(h *harness, acts []Action) { h.answer(acts, 1, false, "10.0.0.2", "10.0.0.3") }, "after grace"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := runPrimary(t)
			tm := h.n.Timing()
			grace := h.n.thawGrace()
			h.now += tc.stall
			thawAt := h.now
			acts := h.step(Tick{})
			if got := fenceOps(acts); len(got) != 0 {
				t.Fatalf("the thawed primary fenced in its first step (%v); it must renew first", got)
			}
			rs := rounds(acts)
			if len(rs) != 1 || rs[0].Epoch != 1 {
				t.Fatalf("thaw step sent renewal rounds %+v, want exactly one in epoch 1", rs)
			}
			if tc.reply != nil {
				tc.reply(h, acts)
			}
			if tc.fence == "at once" {
				if got := fenceOps(h.acts); len(got) == 0 {
					t.Fatalf("no fence after an answer carrying a higher epoch; actions %+v", h.acts)
				}
				return
			}
			// Keep answering later rounds the same way; watch for a fence.
			var fencedAt time.Duration
			for end := thawAt + 3*tm.Lease; h.now < end && fencedAt == 0; {
				a := h.advance(50 * time.Millisecond)
				if tc.reply != nil {
					tc.reply(h, a)
				}
				if len(fenceOps(a)) > 0 {
					fencedAt = h.now
				}
			}
			switch tc.fence {
			case "never":
				if fencedAt != 0 {
					t.Fatalf("fenced %v after the thaw although half of the voters still follow", fencedAt-thawAt)
				}
				if h.n.Role() != RolePrimary || !h.n.Status().HasLease {
					t.Errorf("role %s lease %v after the thaw, want primary with a lease", h.n.Role(), h.n.Status().HasLease)
				}
				if !contains(notes(h.acts), "WARNING Primary agent was not running past its lease on 10.0.0.1") {
					t.Errorf("notifications %v lack the stall warning", notes(h.acts))
				}
			case "after grace":
				if fencedAt == 0 {
					t.Fatalf("never fenced without acknowledgements")
				}
				if fencedAt < thawAt+grace {
					t.Errorf("fenced %v after the thaw, before the grace %v ended", fencedAt-thawAt, grace)
				}
				if fencedAt > thawAt+grace+100*time.Millisecond {
					t.Errorf("fenced %v after the thaw, want within one step of the grace %v", fencedAt-thawAt, grace)
				}
				if h.n.Role() == RolePrimary {
					t.Errorf("still primary after fencing")
				}
			}
		})
	}
}

// TestStallWithoutThaw: the grace is only for a deadline that passed while
// the agent did not run. A holder that ran out of acknowledgements while
// running, or whose stall was short, fences at the deadline as before.
func TestStallWithoutThaw(t *testing.T) {
	t.Run("isolated while running", func(t *testing.T) {
		h := runPrimary(t)
		tm := h.n.Timing()
		start := h.now
		var fencedAt time.Duration
		for h.now < start+tm.Lease && fencedAt == 0 {
			if len(fenceOps(h.advance(50*time.Millisecond))) > 0 {
				fencedAt = h.now
			}
		}
		// The last acknowledged round went out at most one step before
		// start; the fence starts one step after the deadline at most.
		if fencedAt == 0 || fencedAt > start+tm.Lease-tm.FencingAllowance+100*time.Millisecond {
			t.Fatalf("isolated running primary fenced at %v after the last answers, want by %v", fencedAt-start, tm.Lease-tm.FencingAllowance)
		}
		for _, a := range h.acts {
			if l, ok := a.(Log); ok && strings.Contains(l.Msg, "not running") {
				t.Errorf("a running agent was taken for a stalled one: %s", l.Msg)
			}
		}
	})
	t.Run("short stall across the deadline", func(t *testing.T) {
		h := runPrimary(t)
		tm := h.n.Timing()
		// Isolated while running until just before the deadline, then a
		// stall no longer than thawGap: fence in the first step.
		for end := h.n.leaseDeadline() - tm.thawGap()/2; h.now < end; {
			if got := fenceOps(h.advance(50 * time.Millisecond)); len(got) > 0 {
				t.Fatalf("fenced before the deadline")
			}
		}
		h.now += tm.thawGap()
		if got := fenceOps(h.step(Tick{})); len(got) == 0 {
			t.Fatalf("a holder whose deadline passed during a stall of %v (not above %v) did not fence at once", tm.thawGap(), tm.thawGap())
		}
	})
	t.Run("stall that ends before the deadline", func(t *testing.T) {
		h := runPrimary(t)
		if gap := h.n.leaseDeadline() - 100*time.Millisecond - h.now; gap <= h.n.Timing().thawGap() {
			t.Fatalf("setup: a stall of %v is not one", gap)
		}
		h.now = h.n.leaseDeadline() - 100*time.Millisecond
		acts := h.step(Tick{})
		h.answer(acts, 1, true, "10.0.0.2", "10.0.0.3")
		if got := fenceOps(h.acts); len(got) > 0 || !h.n.Status().HasLease {
			t.Fatalf("fence ops %v lease %v after a stall within the lease", got, h.n.Status().HasLease)
		}
	})
	t.Run("second stall during the grace", func(t *testing.T) {
		h := runPrimary(t)
		h.now += 30 * time.Second
		if got := fenceOps(h.step(Tick{})); len(got) > 0 {
			t.Fatalf("fenced in the thaw step")
		}
		// Stalled again past the grace before any answer: no second grace.
		h.now += 30 * time.Second
		if got := fenceOps(h.step(Tick{})); len(got) == 0 {
			t.Fatalf("no fence after a second stall past the grace")
		}
	})
}
