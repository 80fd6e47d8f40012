package core

import (
	"slices"
	"testing"
	"time"
)

// vipHarness is newHarness with virtual.ip configured.
func vipHarness(t *testing.T, self NodeID, probe LocalDBProbe, members ...Member) *harness {
	t.Helper()
	p := testParams()
	p.Self = self
	p.NodeTimeout = 10 * time.Second
	p.LocalPeriod = time.Second
	p.LocalTimeout = 3 * time.Second
	p.LocalTimeoutFinal = time.Second
	p.RemoteTimeout = 2 * time.Second
	p.PingServerConfigured = false
	p.VIPConfigured = true
	n, err := New(p, Persisted{})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, n: n, now: time.Hour, probe: probe}
	h.step(MembershipChanged{Members: members})
	h.step(Start{})
	h.advance(100 * time.Millisecond)
	return h
}

func vipOps(acts []Action) []VIPOp {
	var out []VIPOp
	for _, a := range acts {
		if d, ok := a.(DoVIP); ok {
			out = append(out, d.Op)
		}
	}
	return out
}

func TestScenarioVIPFoundOnStandbyIsReleased(t *testing.T) {
	standby := LocalDBProbe{Reachable: true, InRecovery: true, ReceivedLSN: 100, ReplayLSN: 100, VIPChecked: true, VIPHeld: true}
	h := vipHarness(t, "10.0.0.2", standby,
		Member{ID: "10.0.0.1", Kind: KindDatabase, State: MemberAlive},
		Member{ID: "10.0.0.2", Kind: KindDatabase, State: MemberAlive},
		Member{ID: "10.0.0.3", Kind: KindWitness, State: MemberAlive})
	// At start a non-primary releases the VIP blindly (detectRole); the
	// monitor itself waits for a second observation.
	if ops := vipOps(h.acts); !slices.Equal(ops, []VIPOp{OpReleaseVIP}) {
		t.Fatalf("VIP ops at start = %v, want the start-up release only", ops)
	}
	if ns := notes(h.acts); slices.Contains(ns, "WARNING Virtual IP address assigned to non-primary node") {
		t.Fatalf("warned on a single observation: %v", ns)
	}
	// The VIP is still (or again) there: someone added it by hand.
	acts := h.advance(1500 * time.Millisecond)
	if ops := vipOps(acts); !slices.Equal(ops, []VIPOp{OpReleaseVIP}) {
		t.Fatalf("VIP ops after two observations on a standby = %v, want [release-vip]", ops)
	}
	if ns := notes(acts); !slices.Contains(ns, "WARNING Virtual IP address assigned to non-primary node") {
		t.Errorf("notifications = %v", ns)
	}
}

func TestScenarioPrimaryMissingItsVIPTakesItBack(t *testing.T) {
	primary := LocalDBProbe{Reachable: true, CurrentLSN: 100, VIPChecked: true, VIPHeld: true}
	h := vipHarness(t, "10.0.0.1", primary, Member{ID: "10.0.0.1", Kind: KindDatabase, State: MemberAlive})
	h.advance(3 * time.Second)
	if ops := vipOps(h.acts); !slices.Equal(ops, []VIPOp{OpAddVIP}) {
		t.Fatalf("a primary with its lease should assign the VIP once at start; ops = %v", ops)
	}
	// Someone removed it by hand: two probes later it is back.
	h.probe.VIPHeld = false
	acts := h.advance(2500 * time.Millisecond)
	if ops := vipOps(acts); !slices.Equal(ops, []VIPOp{OpAddVIP}) {
		t.Fatalf("VIP ops after the VIP disappeared = %v, want [add-vip]", ops)
	}
	if ns := notes(acts); !slices.Contains(ns, "WARNING Virtual IP address not assigned to primary node") {
		t.Errorf("notifications = %v", ns)
	}
	// A probe that did not look at the interface changes nothing.
	h.probe.VIPChecked = false
	if ops := vipOps(h.advance(3 * time.Second)); len(ops) != 0 {
		t.Errorf("acted without an observation: %v", ops)
	}
}
