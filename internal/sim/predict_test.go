package sim

import (
	"testing"
	"time"

	"github.com/openefm/efm/internal/core"
)

// TestScenarioHostLostWithinPrediction: the real core, under the
// simulator's clocks (rates within ±0.9 % of real time), message delays and
// membership, promotes a new primary after the primary host is lost within
// the bound core.Predict gives for the same timers.
func TestScenarioHostLostWithinPrediction(t *testing.T) {
	for _, c := range []struct {
		name   string
		mutate func(*core.Params)
	}{
		{"simulator timers", func(*core.Params) {}},
		{"fast profile", func(p *core.Params) {
			p.LocalPeriod, p.LocalTimeout, p.LocalTimeoutFinal = time.Second, 3*time.Second, time.Second
			p.RemoteTimeout, p.NodeTimeout = 2*time.Second, 5*time.Second
		}},
		{"fast profile with VIP and ping server", func(p *core.Params) {
			p.LocalPeriod, p.LocalTimeout, p.LocalTimeoutFinal = time.Second, 3*time.Second, time.Second
			p.RemoteTimeout, p.NodeTimeout = 2*time.Second, 5*time.Second
			p.VIPConfigured, p.PingServerConfigured = true, true
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var pred core.Prediction
			const lostAt = 5 * time.Second
			var w *World
			w = scenario(t, func(cfg *Config) {
				c.mutate(&cfg.Params)
				for _, pr := range core.Predict(cfg.Params) {
					if pr.Event == "primary host lost" {
						pred = pr
					}
				}
			}, func(w *World) {
				w.at(lostAt, func() { w.resetNode(w.nodes[0], time.Hour) })
			}, lostAt)
			if pred.Event == "" {
				t.Fatal("core.Predict has no prediction for a lost primary host")
			}
			// The bound is in each node's local time; a node's clock may run
			// up to 0.9 % slow.
			bound := time.Duration(float64(pred.AtMost()) / (1 - 0.009))
			for w.promotions == 0 && w.now < lostAt+2*bound {
				w.run(w.now + 10*time.Millisecond)
				if w.err != nil {
					t.Fatalf("invariant violated: %v\n%s", w.err, w.Trace())
				}
			}
			if w.promotions == 0 {
				t.Fatalf("no promotion %v after the primary host was lost\n%s", 2*bound, w.Trace())
			}
			took := w.now - lostAt
			t.Logf("promoted after %v; predicted within %v, at most %v: %s", took, pred.Within(), pred.AtMost(), pred)
			if took > bound {
				t.Errorf("promotion took %v, more than the predicted bound %v\n%s", took, bound, w.Trace())
			}
			// The prediction ends with the other standbys re-pointed (a
			// synchronous commit waits for one): within the bound too.
			primary := w.primaryDB
			following := func() bool {
				for _, n := range w.nodes[1:] {
					if n.db != nil && n.id != primary && n.db.following != primary {
						return false
					}
				}
				return true
			}
			for !following() && w.now < lostAt+2*bound && w.err == nil {
				w.run(w.now + 10*time.Millisecond)
			}
			if w.err != nil {
				t.Fatalf("invariant violated: %v\n%s", w.err, w.Trace())
			}
			if took := w.now - lostAt; !following() || took > bound {
				t.Errorf("the other standbys followed %s %v after the loss (following: %v), more than the predicted bound %v\n%s", primary, took, following(), bound, w.Trace())
			}
		})
	}
}
