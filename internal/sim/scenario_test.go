package sim

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openefm/efm/internal/core"
	"github.com/openefm/efm/internal/notify/subject"
)

// scenario runs a scripted world: no random faults, the given ones at fixed
// times, until `until`.
func scenario(t *testing.T, mutate func(*Config), faults func(w *World), until time.Duration) *World {
	t.Helper()
	cfg := RandomConfig(1)
	cfg.DBs, cfg.Witnesses = 3, 1
	cfg.SyncK = 0
	cfg.Stonith, cfg.Watchdog, cfg.FenceFailPct = true, false, 0
	cfg.Promotable = []bool{true, true, true}
	cfg.NumFaults = 0
	cfg.FaultPhase = time.Hour // no quiet phase: the scenario decides
	cfg.Record = true
	cfg.Params = BaseParams()
	cfg.Params.Scripts = map[core.Script]bool{core.ScriptFence: true}
	cfg.Liveness = false
	if mutate != nil {
		mutate(&cfg)
	}
	w := New(cfg)
	faults(w)
	w.run(until)
	if w.err != nil {
		t.Fatalf("invariant violated: %v\n%s", w.err, w.Trace())
	}
	return w
}

func subjects(n *simNode) string {
	var s []string
	for _, no := range n.notes {
		s = append(s, "["+no.Level().String()+"] "+no.Title())
	}
	return strings.Join(s, "\n")
}

// wantNote: node id sent the notification subj (compared as a subject, not
// by its text).
func wantNote(t *testing.T, w *World, id string, subj subject.Subject) {
	t.Helper()
	n := w.byID[core.NodeID(id)]
	for _, no := range n.notes {
		if no.Subject == subj {
			return
		}
	}
	t.Errorf("%s: no notification %s; got:\n%s\ntrace:\n%s", id, subj, subjects(n), w.Trace())
}

func TestScenarioPrimaryDatabaseDown(t *testing.T) {
	w := scenario(t, nil, func(w *World) {
		w.at(5*time.Second, func() { w.crashDB(w.nodes[0], 0) })
	}, 30*time.Second)
	if w.primaryDB == "10.0.0.1" || !w.settled() {
		t.Fatalf("no failover after the primary database died; primary %s\n%s", w.primaryDB, w.Trace())
	}
	wantNote(t, w, "10.0.0.1", subject.PrimaryDatabaseFailure)
	wantNote(t, w, string(w.primaryDB), subject.FailoverCompleted)
}

func TestScenarioPrimaryAgentCrashedDatabaseAlive(t *testing.T) {
	w := scenario(t, nil, func(w *World) {
		w.at(5*time.Second, func() { w.crashAgent(w.nodes[0]) })
	}, 30*time.Second)
	if w.promotions != 0 {
		t.Fatalf("failover although the primary database was reachable\n%s", w.Trace())
	}
	wantNote(t, w, "10.0.0.2", subject.PrimaryDBStillRunning)
}

func TestScenarioPrimaryIsolated(t *testing.T) {
	w := scenario(t, nil, func(w *World) {
		w.at(5*time.Second, func() {
			w.cut(func(a, b int) bool { return (a == 0) != (b == 0) })
		})
	}, 20*time.Second)
	if w.primaryDB == "10.0.0.1" {
		t.Fatalf("majority did not promote\n%s", w.Trace())
	}
	wantNote(t, w, "10.0.0.1", subject.PrimaryFencedOff)
}

func TestScenarioStandbyDatabaseDown(t *testing.T) {
	w := scenario(t, nil, func(w *World) {
		w.at(5*time.Second, func() { w.crashDB(w.nodes[2], 0) })
	}, 20*time.Second)
	if w.promotions != 0 {
		t.Fatalf("failover after a standby database died\n%s", w.Trace())
	}
	wantNote(t, w, "10.0.0.3", subject.StandbyDatabaseFailure)
	if r := w.nodes[2].role; r != core.RoleIdle {
		t.Errorf("standby with a dead database is %s, want Idle", r)
	}
}

func TestScenarioAutoFailoverOff(t *testing.T) {
	w := scenario(t, func(c *Config) { c.Params.AutoFailover = false }, func(w *World) {
		w.at(5*time.Second, func() { w.resetNode(w.nodes[0], time.Hour) })
	}, 20*time.Second)
	if w.promotions != 0 {
		t.Fatalf("auto.failover=false but a standby was promoted\n%s", w.Trace())
	}
	wantNote(t, w, "10.0.0.2", subject.ManualFailoverRequired)
}

func TestScenarioSwitchover(t *testing.T) {
	w := scenario(t, nil, func(w *World) {
		w.at(5*time.Second, func() { w.deliver(w.nodes[3], -1, core.AdminPromote{Seq: 1, Switchover: true}) })
	}, 20*time.Second)
	if w.primaryDB == "10.0.0.1" || !w.settled() {
		t.Fatalf("switchover did not move the primary\n%s", w.Trace())
	}
	old := w.nodes[0]
	if old.role != core.RoleStandby || !old.db.inRecovery || old.db.following != w.primaryDB {
		t.Errorf("old primary after switchover: role %s in recovery %v following %q, want a standby of %s",
			old.role, old.db.inRecovery, old.db.following, w.primaryDB)
	}
	wantNote(t, w, string(w.primaryDB), subject.SwitchoverCompleted)
	// The old primary copies its replication settings from the new
	// primary first (its leftover primary_conninfo), then the other
	// standby; the standby re-pointed keeps its own settings.
	if f := old.follows; len(f) == 0 || !slices.Equal(f[len(f)-1].Sources, wantSources(w, w.primaryDB)) {
		t.Errorf("old primary's FollowPrimary %+v, want Sources %v", f, wantSources(w, w.primaryDB))
	}
	for _, n := range w.nodes[1:3] {
		for _, f := range n.follows {
			if len(f.Sources) != 0 {
				t.Errorf("standby %s re-pointed with Sources %v, want its own settings", n.id, f.Sources)
			}
		}
	}
}

// wantSources: the new primary, then the other database nodes but the
// old primary, in id order.
func wantSources(w *World, pr core.NodeID) []core.NodeID {
	out := []core.NodeID{pr}
	for _, id := range []core.NodeID{"10.0.0.2", "10.0.0.3"} {
		if id != pr {
			out = append(out, id)
		}
	}
	return out
}

// efm promote -switchover -sourcenode: the old primary copies the named
// standby's settings and no other's.
func TestScenarioSwitchoverSourceNode(t *testing.T) {
	w := scenario(t, nil, func(w *World) {
		w.at(5*time.Second, func() {
			w.deliver(w.nodes[3], -1, core.AdminPromote{Seq: 1, Switchover: true, SourceNode: "10.0.0.3"})
		})
	}, 20*time.Second)
	if w.primaryDB == "10.0.0.1" || !w.settled() {
		t.Fatalf("switchover did not move the primary\n%s", w.Trace())
	}
	f := w.nodes[0].follows
	if len(f) == 0 || !slices.Equal(f[len(f)-1].Sources, []core.NodeID{"10.0.0.3"}) {
		t.Errorf("old primary's FollowPrimary %+v, want Sources [10.0.0.3] (-sourcenode)", f)
	}
}

func TestScenarioSwitchoverFromThePrimaryNode(t *testing.T) {
	w := scenario(t, nil, func(w *World) {
		w.at(5*time.Second, func() { w.deliver(w.nodes[0], -1, core.AdminPromote{Seq: 1, Switchover: true}) })
	}, 20*time.Second)
	if w.primaryDB == "10.0.0.1" || !w.settled() {
		t.Fatalf("switchover run on the primary's agent did not move the primary\n%s", w.Trace())
	}
	if r := w.nodes[0].replies; len(r) != 1 || r[0].Err != "" {
		t.Errorf("admin replies %+v, want one success", r)
	}
}

// The primary's agent is frozen (SIGSTOP) for several leases while its
// database stays up and reachable: the others do not fail over, and the
// thawed agent renews its lease instead of fencing (core/thaw.go), so there
// is no failover at all, in the EDB EFM manner.
func TestScenarioPrimaryAgentFrozenThawsAsPrimary(t *testing.T) {
	lease := BaseParams().Timing().Lease
	w := scenario(t, nil, func(w *World) {
		w.at(5*time.Second, func() { w.pauseAgent(w.nodes[0], 5*lease) })
	}, 5*time.Second+5*lease+10*time.Second)
	old := w.nodes[0]
	if w.promotions != 0 || w.primaryDB != "10.0.0.1" {
		t.Fatalf("a frozen primary agent (database up) caused %d promotions; primary %s\n%s", w.promotions, w.primaryDB, w.Trace())
	}
	if w.thaws != 1 || w.thawsKept != 1 {
		t.Errorf("thaw rounds %d kept %d, want 1 and 1\n%s", w.thaws, w.thawsKept, w.Trace())
	}
	if old.role != core.RolePrimary || !old.agent.Status().HasLease || !old.db.up || old.db.inRecovery {
		t.Errorf("thawed primary: role %s lease %v db up %v in recovery %v, want a primary with its lease",
			old.role, old.agent.Status().HasLease, old.db.up, old.db.inRecovery)
	}
	wantNote(t, w, "10.0.0.1", subject.PrimaryStalledPastLease)
}

// Frozen and cut off: the others cannot reach the primary database, fence
// it with STONITH and promote a standby. The thawed agent's renewal round is
// refused at the newer epoch, and it fences itself instead of keeping a
// lease.
func TestScenarioPrimaryAgentFrozenAndIsolatedThawsFenced(t *testing.T) {
	w := scenario(t, nil, func(w *World) {
		w.at(5*time.Second, func() {
			w.pauseAgent(w.nodes[0], 20*time.Second)
			// cut restores the links after at most 12.5 s, before the thaw.
			w.cut(func(a, b int) bool { return (a == 0) != (b == 0) })
		})
	}, 35*time.Second)
	if w.primaryDB == "10.0.0.1" {
		t.Fatalf("no failover while the frozen primary was cut off\n%s", w.Trace())
	}
	old := w.nodes[0]
	if w.thaws != 1 || w.thawsKept != 0 {
		t.Errorf("thaw rounds %d kept %d, want 1 and 0\n%s", w.thaws, w.thawsKept, w.Trace())
	}
	if old.role == core.RolePrimary || (old.db.up && !old.db.inRecovery) {
		t.Errorf("old primary after the thaw: role %s db up %v in recovery %v, want fenced", old.role, old.db.up, old.db.inRecovery)
	}
}

// TestScenarioStandbyRestartedAlone: a standby agent restarts while its host
// is cut off from every other agent (the ping server still answers). Its
// first views hold only itself; the voters it persisted still count, so it
// finds no majority and promotes nothing beside the live primary.
func TestScenarioStandbyRestartedAlone(t *testing.T) {
	w := scenario(t, nil, func(w *World) {
		sb := w.nodes[1]
		w.at(5*time.Second, func() { w.crashAgent(sb) })
		w.at(5500*time.Millisecond, func() {
			for i := range w.nodes {
				if i != sb.idx {
					w.conn[i][sb.idx], w.conn[sb.idx][i] = false, false
				}
			}
		})
		w.at(6*time.Second, func() { w.startAgent(sb, "restart while cut off") })
		w.at(36*time.Second, func() {
			for i := range w.nodes {
				w.conn[i][sb.idx], w.conn[sb.idx][i] = true, true
			}
		})
	}, 45*time.Second)
	if w.promotions != 0 {
		t.Fatalf("%d promotions beside a live primary\n%s", w.promotions, w.Trace())
	}
	wantNote(t, w, "10.0.0.2", subject.SubsetDisconnectedFromPrimary)
	if v := len(w.nodes[1].agent.Persisted().Voters); v != 3 {
		t.Errorf("restarted standby persisted %d other voters, want 3", v)
	}
}
