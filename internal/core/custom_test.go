package core

import (
	"slices"
	"testing"
	"time"
)

func dbOpsOf(acts []Action) []DBOp {
	var out []DBOp
	for _, a := range acts {
		if d, ok := a.(DoDB); ok {
			out = append(out, d.Op)
		}
	}
	return out
}

func scriptsOf(acts []Action) []Script {
	var out []Script
	for _, a := range acts {
		if r, ok := a.(RunScript); ok {
			out = append(out, r.Script)
		}
	}
	return out
}

// script.custom.monitor (efm-reference §5 "Custom monitor failure"): a
// failure on the primary is a database failure; on a standby the agent goes
// Idle; safe mode and timeouts only notify.
func TestScenarioCustomMonitor(t *testing.T) {
	primaryProbe := LocalDBProbe{Reachable: true, CurrentLSN: 5}
	for _, tc := range []struct {
		name     string
		self     NodeID
		probe    LocalDBProbe
		ev       CustomMonitorResult
		note     string
		wantStop bool
		wantIdle bool
	}{
		{"primary custom monitor failure: database failure, the primary fences itself", "10.0.0.1", primaryProbe,
			CustomMonitorResult{Failed: true}, "SEVERE Primary custom monitor failure for cluster c", true, true},
		{"standby custom monitor failure: agent Idle", "10.0.0.2", standbyProbe,
			CustomMonitorResult{Failed: true}, "SEVERE Standby custom monitor failure for cluster c", false, true},
		{"safe mode: a notification only", "10.0.0.1", primaryProbe,
			CustomMonitorResult{Failed: true, SafeMode: true}, "WARNING Custom monitor 'safe mode' failure for cluster c", false, false},
		{"timeout: a warning only", "10.0.0.2", standbyProbe,
			CustomMonitorResult{TimedOut: true}, "WARNING Custom monitor timeout for cluster c", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := Persisted{Epoch: 1, Primary: "10.0.0.1"}
			h := newHarness(t, tc.self, KindDatabase, st, tc.probe, members(MemberAlive, MemberAlive, MemberAlive)...)
			h.advance(time.Second)
			before := len(h.acts)
			h.step(tc.ev)
			acts := h.acts[before:]
			if !slices.Contains(notes(acts), tc.note) {
				t.Errorf("notifications %v lack %q", notes(acts), tc.note)
			}
			if got := slices.Contains(dbOpsOf(acts), OpStopDB); got != tc.wantStop {
				t.Errorf("stopped the database: %v, want %v (ops %v)", got, tc.wantStop, dbOpsOf(acts))
			}
			if got := h.n.Role() == RoleIdle; got != tc.wantIdle {
				t.Errorf("role %s, want Idle %v", h.n.Role(), tc.wantIdle)
			}
		})
	}
}

// The load balancer hooks: a failed database detaches its own node.
func TestLoadBalancerDetachOnDatabaseFailure(t *testing.T) {
	p := testParams()
	p.Self = "10.0.0.2"
	p.NodeTimeout, p.LocalPeriod, p.LocalTimeout, p.LocalTimeoutFinal, p.RemoteTimeout = 10*time.Second, time.Second, 3*time.Second, time.Second, 2*time.Second
	p.PingServerConfigured = false
	p.Scripts = map[Script]bool{ScriptLoadBalancerDetach: true, ScriptLoadBalancerAttach: true}
	n, err := New(p, Persisted{Epoch: 1, Primary: "10.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, n: n, now: time.Hour, probe: standbyProbe}
	h.step(MembershipChanged{Members: members(MemberAlive, MemberAlive, MemberAlive)})
	h.step(Start{})
	h.advance(time.Second)
	h.step(CustomMonitorResult{Failed: true})
	var detach []RunScript
	for _, a := range h.acts {
		if r, ok := a.(RunScript); ok && r.Script == ScriptLoadBalancerDetach {
			detach = append(detach, r)
		}
	}
	if len(detach) != 1 || detach[0].Placeholders.Host != "10.0.0.2" || detach[0].Placeholders.Type != "s" {
		t.Fatalf("want one script.load.balancer.detach with %%h=10.0.0.2 %%t=s, got %+v (scripts %v)", detach, scriptsOf(h.acts))
	}
}
