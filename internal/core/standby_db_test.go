package core

import (
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The standby database-down scenarios of efm-reference §5: the standby's
// agent stops reaching its database, makes one last attempt, then asks the
// other agents to connect to it directly.
func TestScenarioStandbyDatabaseDown(t *testing.T) {
	for _, tc := range []struct {
		name      string
		reachedBy NodeID // an agent that still reaches the database, or ""
		want      []string
		wantIdle  bool
	}{
		{"standby DB down, another agent can still reach it: no failure, agent Idle", "10.0.0.1",
			[]string{"WARNING Standby cannot ping local database for cluster c"}, true},
		{"standby DB down, nobody reaches it: Standby database failure, agent Idle", "",
			[]string{"SEVERE Standby database failure for cluster c"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "10.0.0.2", KindDatabase, Persisted{Epoch: 1, Primary: "10.0.0.1"}, standbyProbe,
				members(MemberAlive, MemberAlive, MemberAlive)...)
			h.probe = LocalDBProbe{Err: "connection refused"}
			var acts []Action
			for i := 0; i < 200 && len(sent(acts, MsgCheckReq)) == 0; i++ {
				acts = append(acts, h.advance(50*time.Millisecond)...)
			}
			asks := sent(acts, MsgCheckReq)
			if len(asks) == 0 {
				t.Fatalf("after local.timeout and the final attempt the standby must ask the others to reach its database")
			}
			if tc.reachedBy != "" {
				ask := asks[0].Msg
				h.step(MessageReceived{From: tc.reachedBy, Msg: Message{Cluster: "c", Type: MsgCheckResp, Epoch: 1,
					Round: ask.Round, Target: "10.0.0.2", OK: true}})
			}
			acts = h.advance(2100 * time.Millisecond)
			if tc.reachedBy != "" {
				acts = h.acts // the answer was handled in step, before advance
			}
			var got []string
			for _, n := range notes(acts) {
				if n != "INFO Standby agent running on 10.0.0.2 for cluster c" {
					got = append(got, n)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("notifications (-want +got):\n%s", diff)
			}
			if (h.n.Role() == RoleIdle) != tc.wantIdle {
				t.Errorf("role %s, want Idle %v", h.n.Role(), tc.wantIdle)
			}
			for _, a := range acts {
				if d, ok := a.(DoDB); ok && slices.Contains([]DBOp{OpPromoteDB, OpStopDB}, d.Op) {
					t.Errorf("a standby whose database is down must not %s", d.Op)
				}
			}
		})
	}
}
