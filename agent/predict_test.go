package agent

import (
	"strings"
	"testing"
	"time"

	"github.com/openefm/efm/internal/core"
	"github.com/openefm/efm/internal/membership"
)

// The core cannot import the membership package, so core.Predict restates
// its heartbeat formula for the standby-pause tolerance. The agent sees
// both: the two must agree for every node.timeout, or check-conf's
// prediction drifts from what the membership does.
func TestPredictedHeartbeatIsTheMembershipsOwn(t *testing.T) {
	for _, nt := range []time.Duration{100 * time.Millisecond, 300 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second, 50 * time.Second, 5 * time.Minute} {
		mt, err := membership.TimingFor(nt)
		if err != nil {
			t.Fatalf("node.timeout %v: %v", nt, err)
		}
		p := core.Params{Self: "10.0.0.1", Kind: core.KindDatabase, NodeTimeout: nt, LocalPeriod: time.Second,
			LocalTimeout: 3 * time.Second, LocalTimeoutFinal: time.Second, RemoteTimeout: time.Second, RecoveryCheckPeriod: time.Second}
		found := false
		for _, pr := range core.Predict(p) {
			for _, term := range pr.Terms {
				if strings.Contains(term.Name, "membership heartbeats") {
					found = true
					if term.Wait != -2*mt.Heartbeat {
						t.Errorf("node.timeout %v: Predict counts %v for two heartbeats, the membership's heartbeat is %v", nt, -term.Wait, mt.Heartbeat)
					}
				}
			}
		}
		if !found {
			t.Fatalf("node.timeout %v: no prediction names the membership heartbeats", nt)
		}
	}
}
