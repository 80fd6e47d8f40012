package core

import (
	"testing"
	"time"
)

// TestStatusLeaseUntil: the view carries the end of the lease as the send
// time of the latest acknowledged round plus Lease, so that a reader on
// another goroutine (the health endpoints) can stop vouching for the
// primary at LeaseUntil-FencingAllowance without waiting for the core to
// run: that is the moment the core itself starts fencing, and HasLease
// turns false there.
func TestStatusLeaseUntil(t *testing.T) {
	h := newHarness(t, "10.0.0.1", KindDatabase, Persisted{Epoch: 1, Primary: "10.0.0.1"},
		LocalDBProbe{Reachable: true, CurrentLSN: 5, Timeline: 1}, members(MemberAlive, MemberAlive, MemberAlive)...)
	tm := h.n.Timing()
	// The first round went out at the harness's first step; acknowledge
	// it and every round for two renewal intervals, noting when each was sent.
	sentAt := map[uint64]time.Duration{}
	for _, r := range rounds(h.acts) {
		sentAt[r.Round] = h.now - 100*time.Millisecond
	}
	h.answer(h.acts, 1, true, "10.0.0.2")
	var last uint64
	for end := h.now + 2*tm.RenewInterval; h.now < end; {
		acts := h.advance(50 * time.Millisecond)
		for _, r := range rounds(acts) {
			sentAt[r.Round] = h.now
			last = r.Round
		}
		h.answer(acts, 1, true, "10.0.0.2")
	}
	if last == 0 {
		t.Fatal("setup: no renewal round within two renewal intervals")
	}
	v := h.n.Status()
	if !v.HasLease || v.LeaseUntil != sentAt[last]+tm.Lease {
		t.Fatalf("lease %v until %v, want a lease until %v (round %d sent at %v + lease %v)",
			v.HasLease, v.LeaseUntil, sentAt[last]+tm.Lease, last, sentAt[last], tm.Lease)
	}

	// Silence: the view keeps that deadline and drops it exactly when the
	// core starts fencing, FencingAllowance before the lease ends.
	until := v.LeaseUntil
	for h.n.Status().HasLease {
		if h.now >= until-tm.FencingAllowance {
			t.Fatalf("still holding the lease at %v, past LeaseUntil-FencingAllowance %v", h.now, until-tm.FencingAllowance)
		}
		if got := h.n.Status().LeaseUntil; got != until {
			t.Fatalf("LeaseUntil moved to %v without an acknowledged round, want %v", got, until)
		}
		h.advance(50 * time.Millisecond)
	}
	if got := h.n.Status().LeaseUntil; got != 0 {
		t.Errorf("LeaseUntil %v without a lease, want 0", got)
	}
	if len(fenceOps(h.acts)) == 0 {
		t.Error("the lease ended without fencing")
	}
}

// TestStatusLeaseUntilZeroOnStandby: only a lease holder has a deadline.
func TestStatusLeaseUntilZeroOnStandby(t *testing.T) {
	h := newHarness(t, "10.0.0.2", KindDatabase, Persisted{Epoch: 1, Primary: "10.0.0.1"}, standbyProbe,
		members(MemberAlive, MemberAlive, MemberAlive)...)
	h.advance(time.Second)
	if v := h.n.Status(); v.HasLease || v.LeaseUntil != 0 {
		t.Errorf("standby: lease %v until %v, want none", v.HasLease, v.LeaseUntil)
	}
}
