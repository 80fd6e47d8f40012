package sim

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/openefm/efm/internal/core"
	"github.com/openefm/efm/internal/notify/subject"
)

// The load balancers are told of each change by exactly one agent
// (core/routing.go): these scenarios list every load-balancer script and
// Pgpool action of the whole cluster, in order, "<by> <what> <node> [%t]".
// The new primary and the standby that follows it are found at run time.

func withRouting(detachOnAgentFailure bool) func(*Config) {
	return func(c *Config) {
		c.Params.Scripts[core.ScriptLoadBalancerAttach] = true
		c.Params.Scripts[core.ScriptLoadBalancerDetach] = true
		c.Params.DetachOnAgentFailure = detachOnAgentFailure
	}
}

// others is the database node of 10.0.0.2 and 10.0.0.3 that is not np.
func otherStandby(np core.NodeID) string {
	if np == "10.0.0.2" {
		return "10.0.0.3"
	}
	return "10.0.0.2"
}

func wantRouting(t *testing.T, w *World, want []string) {
	t.Helper()
	for i := range want {
		want[i] = strings.NewReplacer("NP", string(w.primaryDB), "SB", otherStandby(w.primaryDB)).Replace(want[i])
	}
	if diff := cmp.Diff(want, w.routing); diff != "" {
		t.Errorf("load-balancer scripts and Pgpool actions (-want +got):\n%s\ntrace:\n%s", diff, w.Trace())
	}
}

func TestRoutingPrimaryDatabaseDown(t *testing.T) {
	w := scenario(t, withRouting(false), func(w *World) {
		w.at(5*time.Second, func() { w.crashDB(w.nodes[0], 0) })
	}, 30*time.Second)
	if w.primaryDB == "10.0.0.1" || !w.settled() {
		t.Fatalf("no failover\n%s", w.Trace())
	}
	// The old primary's own agent detaches it; the new primary only
	// attaches itself; the other standby is attached again once it follows.
	wantRouting(t, w, []string{
		"10.0.0.1 script.load.balancer.detach 10.0.0.1 p",
		"10.0.0.1 pgpool-detach 10.0.0.1",
		"NP script.load.balancer.attach NP p",
		"NP pgpool-promote NP",
		"SB pgpool-attach SB",
	})
}

func TestRoutingPrimaryHostLost(t *testing.T) {
	w := scenario(t, withRouting(true), func(w *World) {
		w.at(5*time.Second, func() { w.resetNode(w.nodes[0], time.Hour) })
	}, 30*time.Second)
	if w.primaryDB == "10.0.0.1" || !w.settled() {
		t.Fatalf("no failover\n%s", w.Trace())
	}
	// Nobody else can: the new primary detaches the dead one first.
	wantRouting(t, w, []string{
		"NP script.load.balancer.detach 10.0.0.1 p",
		"NP pgpool-detach 10.0.0.1",
		"NP script.load.balancer.attach NP p",
		"NP pgpool-promote NP",
		"SB pgpool-attach SB",
	})
}

func TestRoutingPrimaryIsolated(t *testing.T) {
	w := scenario(t, withRouting(true), func(w *World) {
		w.at(5*time.Second, func() { w.cut(func(a, b int) bool { return (a == 0) != (b == 0) }) })
	}, 20*time.Second)
	if w.primaryDB == "10.0.0.1" {
		t.Fatalf("no failover\n%s", w.Trace())
	}
	// The isolated primary sees every other node lost and detaches
	// nobody (the new primary least of all); the majority's new primary
	// detaches it.
	wantRouting(t, w, []string{
		"NP script.load.balancer.detach 10.0.0.1 p",
		"NP pgpool-detach 10.0.0.1",
		"NP script.load.balancer.attach NP p",
		"NP pgpool-promote NP",
		"SB pgpool-attach SB",
	})
}

func TestRoutingSwitchover(t *testing.T) {
	w := scenario(t, withRouting(false), func(w *World) {
		w.at(5*time.Second, func() { w.deliver(w.nodes[3], -1, core.AdminPromote{Seq: 1, Switchover: true}) })
	}, 20*time.Second)
	if w.primaryDB == "10.0.0.1" || !w.settled() {
		t.Fatalf("switchover did not move the primary\n%s", w.Trace())
	}
	// The old primary detaches itself as it hands over and attaches itself
	// as a standby once it follows the new primary.
	// The old primary and the other standby re-point concurrently: their
	// attaches come in either order (each agent's own in order).
	got := w.routing
	if i := slices.Index(got, "10.0.0.1 script.load.balancer.attach 10.0.0.1 s"); i >= 4 {
		sb := "SB pgpool-attach SB"
		sb = strings.NewReplacer("SB", otherStandby(w.primaryDB)).Replace(sb)
		if j := slices.Index(got, sb); j >= 4 && j < i {
			// Move the other standby's attach last, where the list wants it.
			got = append(append(slices.Clone(got[:j]), got[j+1:]...), sb)
			w.routing = got
		}
	}
	wantRouting(t, w, []string{
		"10.0.0.1 script.load.balancer.detach 10.0.0.1 p",
		"10.0.0.1 pgpool-detach 10.0.0.1",
		"NP script.load.balancer.attach NP p",
		"NP pgpool-promote NP",
		"10.0.0.1 script.load.balancer.attach 10.0.0.1 s",
		"10.0.0.1 pgpool-attach 10.0.0.1",
		"SB pgpool-attach SB",
	})
}

func TestRoutingStandbyHostLost(t *testing.T) {
	w := scenario(t, withRouting(false), func(w *World) {
		w.at(5*time.Second, func() { w.resetNode(w.nodes[2], time.Hour) })
	}, 20*time.Second)
	// The reporting agent (smallest alive id) detaches it, once.
	wantRouting(t, w, []string{
		"10.0.0.1 script.load.balancer.detach 10.0.0.3 s",
		"10.0.0.1 pgpool-detach 10.0.0.3",
	})
}

func TestRoutingStandbyDatabaseDownThenResumed(t *testing.T) {
	w := scenario(t, withRouting(false), func(w *World) {
		w.at(5*time.Second, func() { w.crashDB(w.nodes[2], 5*time.Second) })
		w.at(15*time.Second, func() { w.deliver(w.nodes[2], -1, core.AdminResume{Seq: 1}) })
	}, 25*time.Second)
	if w.promotions != 0 {
		t.Fatalf("failover after a standby database died\n%s", w.Trace())
	}
	wantRouting(t, w, []string{
		"10.0.0.3 script.load.balancer.detach 10.0.0.3 s",
		"10.0.0.3 pgpool-detach 10.0.0.3",
		"10.0.0.3 script.load.balancer.attach 10.0.0.3 s",
		"10.0.0.3 pgpool-attach 10.0.0.3",
	})
	if p := w.nodes[2].pgpool; len(p) == 0 || p[len(p)-1].Primary != "10.0.0.1" {
		t.Errorf("the resumed standby's Pgpool attach %+v does not wait for its primary 10.0.0.1", p)
	}
}

// detach.on.agent.failure: the primary's agent dies, its database runs.
// With the property the coordinator detaches the primary once (the check
// repeats every node.timeout); without it nobody does.
func TestRoutingDetachOnAgentFailure(t *testing.T) {
	for _, on := range []bool{false, true} {
		w := scenario(t, withRouting(on), func(w *World) {
			w.at(5*time.Second, func() { w.crashAgent(w.nodes[0]) })
		}, 40*time.Second)
		if w.promotions != 0 {
			t.Fatalf("failover although the primary database was reachable\n%s", w.Trace())
		}
		if !on {
			wantRouting(t, w, nil)
			continue
		}
		wantRouting(t, w, []string{
			"10.0.0.2 script.load.balancer.detach 10.0.0.1 p",
			"10.0.0.2 pgpool-detach 10.0.0.1",
		})
		wantNote(t, w, "10.0.0.2", subject.PrimaryLeftAndDetached)
	}
}
