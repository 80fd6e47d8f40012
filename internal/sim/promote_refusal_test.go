package sim

import (
	"strings"
	"testing"
	"time"

	"github.com/openefm/efm/internal/core"
)

// efm promote and efm promote -switchover, on the witness or on the
// primary's own agent, while both standbys have promotable=false: the
// command is refused and the primary keeps running, with no promotion and
// no fencing (before the pre-check it stopped and fenced itself and the
// cluster was left without a primary).
func TestScenarioPromoteWithoutPromotableStandbyRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		at   int // node the command reaches
		ev   core.AdminPromote
	}{
		{"promote on the witness", 3, core.AdminPromote{Seq: 1}},
		{"switchover on the witness", 3, core.AdminPromote{Seq: 1, Switchover: true}},
		{"promote on the primary", 0, core.AdminPromote{Seq: 1}},
		{"switchover on the primary", 0, core.AdminPromote{Seq: 1, Switchover: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := scenario(t, func(c *Config) { c.Promotable = []bool{true, false, false} }, func(w *World) {
				w.at(5*time.Second, func() { w.deliver(w.nodes[tc.at], -1, tc.ev) })
			}, 20*time.Second)
			r := w.nodes[tc.at].replies
			if len(r) != 1 || !strings.Contains(r[0].Err, "Promotion has not occurred") {
				t.Errorf("admin replies %+v, want one refusal", r)
			}
			old := w.nodes[0]
			if w.promotions != 0 || w.primaryDB != "10.0.0.1" || !old.db.writable() || old.db.fenced || old.role != core.RolePrimary {
				t.Fatalf("after a refused promote: %d promotions, primary %s, n1 writable %v fenced %v role %s; want n1 untouched\n%s",
					w.promotions, w.primaryDB, old.db.writable(), old.db.fenced, old.role, w.Trace())
			}
		})
	}
}
