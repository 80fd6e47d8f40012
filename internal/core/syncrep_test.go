package core

import (
	"strings"
	"testing"
	"time"

	"github.com/openefm/efm/internal/notify/subject"
)

func TestDecideSync(t *testing.T) {
	type opts struct {
		numSync, syncPrimary bool
		max                  int
	}
	for _, tc := range []struct {
		name string
		o    opts
		s    SyncStandbys
		want SyncChange
		num  int
	}{
		{"asynchronous: nothing", opts{true, true, 3}, SyncStandbys{Num: 0, Listed: 0, Available: 2}, SyncKeep, 0},
		{"enough standbys", opts{true, true, 0}, SyncStandbys{Num: 2, Listed: 2, Available: 2}, SyncKeep, 0},
		{"one of two lost, lowering allowed", opts{true, false, 0}, SyncStandbys{Num: 2, Listed: 2, Available: 1}, SyncLower, 1},
		{"two of three lost, lowering allowed", opts{true, false, 0}, SyncStandbys{Num: 3, Listed: 3, Available: 1}, SyncLower, 1},
		{"one of three lost: lowered to what is left", opts{true, false, 0}, SyncStandbys{Num: 3, Listed: 3, Available: 2}, SyncLower, 2},
		{"all lost, lowering only: never below 1", opts{true, false, 0}, SyncStandbys{Num: 2, Listed: 2, Available: 0}, SyncLower, 1},
		{"all lost at num_sync 1, lowering only: blocked", opts{true, false, 0}, SyncStandbys{Num: 1, Listed: 2, Available: 0}, SyncBlocked, 0},
		{"all lost, sync.primary: cleared", opts{true, true, 0}, SyncStandbys{Num: 2, Listed: 2, Available: 0}, SyncClear, 0},
		{"all lost, sync.primary alone: cleared", opts{false, true, 0}, SyncStandbys{Num: 1, Listed: 2, Available: 0}, SyncClear, 0},
		{"one lost, sync.primary alone: blocked", opts{false, true, 0}, SyncStandbys{Num: 2, Listed: 2, Available: 1}, SyncBlocked, 0},
		{"neither allowed: blocked", opts{false, false, 5}, SyncStandbys{Num: 2, Listed: 2, Available: 1}, SyncBlocked, 0},
		{"standby back: raised to max", opts{true, false, 2}, SyncStandbys{Num: 1, Listed: 2, Available: 2}, SyncRaise, 2},
		{"raised no further than available", opts{true, false, 3}, SyncStandbys{Num: 1, Listed: 3, Available: 2}, SyncRaise, 2},
		{"raised no further than listed", opts{true, false, 3}, SyncStandbys{Num: 1, Listed: 2, Available: 3}, SyncRaise, 2},
		{"wildcard: raised to max", opts{true, false, 3}, SyncStandbys{Num: 1, Listed: 0, Available: 4}, SyncRaise, 3},
		{"no max: not raised", opts{true, false, 0}, SyncStandbys{Num: 1, Listed: 2, Available: 2}, SyncKeep, 0},
		{"at max: kept", opts{true, false, 2}, SyncStandbys{Num: 2, Listed: 3, Available: 3}, SyncKeep, 0},
		{"cleared stays cleared (EFM)", opts{true, true, 2}, SyncStandbys{Num: 0, Listed: 0, Available: 2}, SyncKeep, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := testParams()
			p.ReconfigureNumSync, p.ReconfigureSyncPrimary, p.ReconfigureNumSyncMax = tc.o.numSync, tc.o.syncPrimary, tc.o.max
			d := DecideSync(p, tc.s)
			if d.Change != tc.want || d.Num != tc.num {
				t.Errorf("DecideSync(%+v) = %v %d (%s), want %v %d", tc.s, d.Change, d.Num, d.Why, tc.want, tc.num)
			}
			if d.Change != SyncKeep && d.Why == "" {
				t.Errorf("%v without a reason", d.Change)
			}
			// A reason never names a setting as false that is true.
			for key, on := range map[string]bool{"reconfigure.num.sync=false": tc.o.numSync, "reconfigure.sync.primary=false": tc.o.syncPrimary} {
				if on && strings.Contains(d.Why, key) {
					t.Errorf("reason %q says %s", d.Why, key)
				}
			}
		})
	}
}

// syncPrimary is a primary holding its lease (every renewal acknowledged by
// 10.0.0.2) with check.num.sync.period = period.
func syncPrimary(t *testing.T, period time.Duration, numSync, syncPrimaryOK bool, max int) *harness {
	t.Helper()
	h := newHarness(t, "10.0.0.1", KindDatabase, Persisted{}, LocalDBProbe{Reachable: true, CurrentLSN: 5, Timeline: 1}, members(MemberAlive, MemberAlive, MemberAlive)...)
	h.n.p.CheckNumSyncPeriod = period
	h.n.p.ReconfigureNumSync, h.n.p.ReconfigureSyncPrimary, h.n.p.ReconfigureNumSyncMax = numSync, syncPrimaryOK, max
	return h
}

// advanceAcking ticks for d, acknowledging every lease round at once, and
// returns the actions emitted.
func (h *harness) advanceAcking(d time.Duration) []Action { return h.advanceAckingFrom(d, "10.0.0.2") }

// advanceAckingFrom is advanceAcking with voter as the acknowledging node.
func (h *harness) advanceAckingFrom(d time.Duration, voter NodeID) []Action {
	start := len(h.acts)
	end := h.now + d
	acked := 0
	for h.now < end {
		h.now += 50 * time.Millisecond
		h.step(Tick{})
		for ; acked < len(h.acts); acked++ {
			if s, ok := h.acts[acked].(Send); ok && s.Msg.Type == MsgHeartbeat && s.Msg.Round > 0 && s.To == voter {
				h.step(MessageReceived{From: voter, Msg: Message{Cluster: "c", Type: MsgLeaseAck, Epoch: s.Msg.Epoch, Round: s.Msg.Round, OK: true}})
			}
		}
	}
	return h.acts[start:]
}

func actionsOf[T Action](acts []Action) []T {
	var out []T
	for _, a := range acts {
		if x, ok := a.(T); ok {
			out = append(out, x)
		}
	}
	return out
}

func TestPrimaryLowersAndRaisesNumSync(t *testing.T) {
	const period = 5 * time.Second
	h := syncPrimary(t, period, true, false, 2)
	h.advanceAcking(time.Second)
	if h.n.Role() != RolePrimary {
		t.Fatalf("role %v, want primary", h.n.Role())
	}
	checks := actionsOf[CheckSyncStandbys](h.acts)
	if len(checks) != 1 {
		t.Fatalf("%d sync checks in the first second, want 1 (at once on a primary)", len(checks))
	}
	// A standby of two lost: num_sync 2 is lowered to 1.
	acts := h.step(SyncStandbys{Seq: checks[0].Seq, Num: 2, Listed: 2, Available: 1})
	sets := actionsOf[SetNumSync](acts)
	if len(sets) != 1 || sets[0].Num != 1 {
		t.Fatalf("after one of two sync standbys lost: %+v, want SetNumSync 1", sets)
	}
	// No second check while the change runs.
	if n := len(actionsOf[CheckSyncStandbys](h.advanceAcking(2 * period))); n != 0 {
		t.Errorf("%d checks while a change was pending", n)
	}
	acts = h.step(DBOpResult{Seq: sets[0].Seq, OK: true})
	if got := actionsOf[Notify](acts); len(got) != 1 || got[0].Subject != subject.SyncReplicationReconfigured || !strings.Contains(got[0].Text, "lowered to 1") {
		t.Errorf("notifications after lowering: %+v", got)
	}
	// The standby is back: raised to reconfigure.num.sync.max.
	checks = actionsOf[CheckSyncStandbys](h.advanceAcking(period + time.Second))
	if len(checks) != 1 {
		t.Fatalf("%d checks in a period, want 1", len(checks))
	}
	sets = actionsOf[SetNumSync](h.step(SyncStandbys{Seq: checks[0].Seq, Num: 1, Listed: 2, Available: 2}))
	if len(sets) != 1 || sets[0].Num != 2 {
		t.Fatalf("after the standby came back: %+v, want SetNumSync 2", sets)
	}
	acts = h.step(DBOpResult{Seq: sets[0].Seq, OK: true})
	if got := actionsOf[Notify](acts); len(got) != 1 || !strings.Contains(got[0].Text, "raised to 2") {
		t.Errorf("notifications after raising: %+v", got)
	}
}

func TestPrimaryClearsSyncWhenNoStandbyLeft(t *testing.T) {
	h := syncPrimary(t, 5*time.Second, true, true, 2)
	h.advanceAcking(time.Second)
	checks := actionsOf[CheckSyncStandbys](h.acts)
	sets := actionsOf[SetNumSync](h.step(SyncStandbys{Seq: checks[0].Seq, Num: 1, Listed: 2, Available: 0}))
	if len(sets) != 1 || sets[0].Num != 0 {
		t.Fatalf("no sync standby left with reconfigure.sync.primary: %+v, want SetNumSync 0 (clear)", sets)
	}
	got := actionsOf[Notify](h.step(DBOpResult{Seq: sets[0].Seq, OK: true}))
	if len(got) != 1 || got[0].Subject != subject.SyncReplicationDisabled {
		t.Errorf("notifications after clearing: %+v", got)
	}
	// Cleared stays cleared, as EFM: no change when the standbys return.
	checks = actionsOf[CheckSyncStandbys](h.advanceAcking(6 * time.Second))
	if sets := actionsOf[SetNumSync](h.step(SyncStandbys{Seq: checks[0].Seq, Num: 0, Available: 2})); len(sets) != 0 {
		t.Errorf("a cleared setting was changed: %+v", sets)
	}
}

func TestSyncCheckBlockedOrInDoubtChangesNothing(t *testing.T) {
	h := syncPrimary(t, 5*time.Second, false, false, 0)
	h.advanceAcking(time.Second)
	checks := actionsOf[CheckSyncStandbys](h.acts)
	acts := h.step(SyncStandbys{Seq: checks[0].Seq, Num: 2, Listed: 2, Available: 1})
	if sets := actionsOf[SetNumSync](acts); len(sets) != 0 {
		t.Errorf("changed num_sync with reconfigure.num.sync=false: %+v", sets)
	}
	if got := actionsOf[Notify](acts); len(got) != 1 || got[0].Subject != subject.NotEnoughSyncStandbys {
		t.Errorf("notifications when blocked: %+v", got)
	}
	// An answer in doubt: nothing changes.
	h.n.p.ReconfigureNumSync = true
	checks = actionsOf[CheckSyncStandbys](h.advanceAcking(6 * time.Second))
	if acts := h.step(SyncStandbys{Seq: checks[0].Seq, Err: "connection refused"}); len(actionsOf[SetNumSync](acts)) != 0 {
		t.Errorf("changed num_sync on a check in doubt")
	}
}

func TestStandbyDoesNotCheckSync(t *testing.T) {
	h := newHarness(t, "10.0.0.2", KindDatabase, Persisted{Primary: "10.0.0.1"}, standbyProbe, members(MemberAlive, MemberAlive, MemberAlive)...)
	h.n.p.CheckNumSyncPeriod = time.Second
	if n := len(actionsOf[CheckSyncStandbys](h.advance(5 * time.Second))); n != 0 {
		t.Errorf("a standby checked synchronous standbys %d times", n)
	}
}

func TestSyncNamesForNewPrimary(t *testing.T) {
	for _, tc := range []struct {
		name      string
		num       int
		names     []string
		self, old string
		wantNum   int
		want      []string
		changed   bool
	}{
		{"self replaced by the old primary in place", 1, []string{"n2", "n3"}, "n2", "n1", 1, []string{"n1", "n3"}, true},
		{"FIRST order kept", 2, []string{"n3", "n2", "n4"}, "n2", "n1", 2, []string{"n3", "n1", "n4"}, true},
		{"case-insensitive as PostgreSQL", 1, []string{"N2", "n3"}, "n2", "n1", 1, []string{"n1", "n3"}, true},
		{"old unknown: self removed, num capped", 2, []string{"n2", "n3"}, "n2", "", 1, []string{"n3"}, true},
		{"old listed already: self removed", 1, []string{"n1", "n2", "n3"}, "n2", "n1", 1, []string{"n1", "n3"}, true},
		{"self not listed: unchanged", 1, []string{"n1", "n3"}, "n2", "n1", 1, []string{"n1", "n3"}, false},
		{"only self listed, old unknown: unchanged", 1, []string{"n2"}, "n2", "", 1, []string{"n2"}, false},
		{"no application.name: unchanged", 1, []string{"n2", "n3"}, "", "n1", 1, []string{"n2", "n3"}, false},
	} {
		num, names, changed := SyncNamesForNewPrimary(tc.num, tc.names, tc.self, tc.old)
		if num != tc.wantNum || changed != tc.changed || strings.Join(names, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%s: %d %v %v, want %d %v %v", tc.name, num, names, changed, tc.wantNum, tc.want, tc.changed)
		}
	}
}

func TestNewPrimaryRewritesSyncNamesBeforeCounting(t *testing.T) {
	st := &NodeStatus{Role: RolePrimary, Kind: KindDatabase, DBReachable: true, App: "n1"}
	for _, manage := range []bool{false, true} {
		h := newHarness(t, "10.0.0.2", KindDatabase, Persisted{Epoch: 1, Primary: "10.0.0.1"}, standbyProbe, members(MemberAlive, MemberAlive, MemberAlive, MemberAlive)...)
		h.n.p.AppName = "n2"
		h.n.p.CheckNumSyncPeriod = time.Second
		h.n.p.ReconfigureNumSync = manage
		h.step(MessageReceived{From: "10.0.0.1", Msg: Message{Cluster: "c", Type: MsgHeartbeat, Epoch: 1, Primary: "10.0.0.1", Status: st}})
		// Elected in epoch 2 in place of 10.0.0.1: lease, checks, promotion.
		h.step(MessageReceived{From: "10.0.0.3", Msg: Message{Cluster: "c", Type: MsgPromote, Epoch: 2, Target: "10.0.0.2", FailedPrimary: "10.0.0.1"}})
		var promote DoDB
		for i := 0; i < 200 && promote.Seq == 0; i++ {
			for _, a := range h.advanceAckingFrom(50*time.Millisecond, "10.0.0.3") {
				switch a := a.(type) {
				case DoDB:
					if a.Op == OpPromoteDB {
						promote = a
					}
				case CheckVIP:
					h.step(VIPResult{Seq: a.Seq})
				}
			}
		}
		if promote.Seq == 0 {
			t.Fatalf("never promoted: %v", notes(h.acts))
		}
		h.probe = LocalDBProbe{Reachable: true, CurrentLSN: 200, Timeline: 2}
		acts := h.step(DBOpResult{Seq: promote.Seq, OK: true})
		renames := actionsOf[RenameSyncStandby](acts)
		if !manage {
			if len(renames) != 0 {
				t.Errorf("rewrote synchronous_standby_names without reconfigure.*: %+v", renames)
			}
			continue
		}
		if len(renames) != 1 || renames[0].Self != "n2" || renames[0].Old != "n1" {
			t.Fatalf("after the promotion: %+v, want RenameSyncStandby n2 -> n1", renames)
		}
		promoted := h.now
		if c := actionsOf[CheckSyncStandbys](append(acts, h.advanceAckingFrom(2*time.Second, "10.0.0.3")...)); len(c) != 0 {
			t.Errorf("counted synchronous standbys before the names were rewritten: %+v", c)
		}
		h.step(DBOpResult{Seq: renames[0].Seq, OK: true})
		// The first count waits until the standbys could follow (6 x
		// remote.timeout here), not one period.
		var first time.Duration
		for h.now < promoted+time.Minute && first == 0 {
			if len(actionsOf[CheckSyncStandbys](h.advanceAckingFrom(50*time.Millisecond, "10.0.0.3"))) > 0 {
				first = h.now - promoted
			}
		}
		if bound := 6 * h.n.p.RemoteTimeout; first < bound || first > bound+time.Second {
			t.Errorf("first count %v after the promotion, want just after the follow bound %v", first, bound)
		}
	}
}
