package pg

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestSlotName(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.12":             "efm_10_0_0_12",
		"fd00::7":               "efm_fd00__7",
		"Node-B.local":          "efm_node_b_local",
		strings.Repeat("a", 80): "efm_" + strings.Repeat("a", 59),
	} {
		got := SlotName(in)
		if got != want || checkSlotName(got) != nil || !IsManagedSlot(got) {
			t.Errorf("SlotName(%q) = %q, want %q (a valid, managed name)", in, got, want)
		}
	}
	if IsManagedSlot("operator_slot") {
		t.Error("an operator's slot counted as managed")
	}
}

// What "each promotable standby keeps physical slots for its peers" needs
// from PostgreSQL 15, on real servers: standby B creates and advances a
// slot for its peer C (capped at what B replayed) while A is the primary;
// B is promoted, keeps the slot, and C, repointed at B with that slot,
// streams through it. An active slot is not dropped; a stale one is.
func TestStandbyKeepsSlotsForPeers(t *testing.T) {
	requirePG(t)
	t.Parallel()
	base := baseDir(t)
	a := startPrimary(t, base, "a")
	b := startStandby(t, base, "b", a)
	c := startStandby(t, base, "c", a)
	ctx := context.Background()
	a.mustSQL("CREATE TABLE t (v int)")
	waitReplayed(t, a, b)
	waitReplayed(t, a, c)
	slotC, slotGone := SlotName("c"), SlotName("10.9.9.9")

	rep, err := b.db.SyncPhysicalSlots(ctx, map[string]LSN{slotC: InvalidLSN, slotGone: InvalidLSN}, false)
	if err != nil || len(rep.Created) != 0 {
		t.Fatalf("non-promotable sync created slots: %+v, %v", rep, err)
	}
	rep, err = b.db.SyncPhysicalSlots(ctx, map[string]LSN{slotC: InvalidLSN, slotGone: InvalidLSN}, true)
	if err != nil || len(rep.Created) != 2 || len(rep.Problems) != 0 {
		t.Fatalf("creating slots on standby b: %+v, %v", rep, err)
	}
	slots, err := b.db.PhysicalSlots(ctx)
	if err != nil || len(slots) != 2 || slots[0].RestartLSN == InvalidLSN {
		t.Fatalf("slots on b: %+v, %v; want two reserving WAL", slots, err)
	}
	t.Logf("slot created on standby b reserves WAL from %s", slots[0].RestartLSN)

	a.mustSQL("INSERT INTO t SELECT generate_series(1, 1000)")
	target := mustLSN(t, a.mustSQL("SELECT pg_current_wal_lsn()::text"))
	waitReplayed(t, a, b)
	rep, err = b.db.SyncPhysicalSlots(ctx, map[string]LSN{slotC: target}, false)
	if err != nil || len(rep.Advanced) != 1 || len(rep.Problems) != 0 {
		t.Fatalf("advancing on b: %+v, %v", rep, err)
	}
	replayed := mustLSN(t, b.mustSQL("SELECT pg_last_wal_replay_lsn()::text"))
	if end, err := b.db.AdvancePhysicalSlot(ctx, slotC, target+0x100000); err != nil || end > replayed || end < target {
		t.Errorf("advance past b's replay: slot at %s, %v; want between %s and b's replay %s", end, err, target, replayed)
	}

	src, err := c.db.ReplicationSettings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.db.Stop(ctx, StopFast); err != nil {
		t.Fatal(err)
	}
	if err := b.db.Promote(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if err := c.db.Stop(ctx, StopFast); err != nil {
		t.Fatal(err)
	}
	if err := c.db.FollowAsStandbyThroughSlot(ctx, src, "127.0.0.1", b.port, slotC); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "c streaming from b through "+slotC, func() (bool, error) {
		s, err := b.sql("SELECT active FROM pg_replication_slots WHERE slot_name = $1", slotC)
		return s == "true", err
	})
	b.mustSQL("INSERT INTO t VALUES (-1)")
	waitFor(t, 10*time.Second, "b's row on c", func() (bool, error) {
		n, err := c.sql("SELECT count(*) FROM t WHERE v = -1")
		return n == "1", err
	})

	if err := b.db.DropPhysicalSlot(ctx, slotC); err == nil || !strings.Contains(err.Error(), "active") {
		t.Errorf("dropping the active slot: %v, want a refusal saying it is active", err)
	}
	if err := b.db.DropPhysicalSlot(ctx, slotGone); err != nil {
		t.Errorf("dropping the slot of a member that left: %v", err)
	}
	if err := b.db.DropPhysicalSlot(ctx, slotGone); err != nil {
		t.Errorf("dropping it twice: %v", err)
	}
	if slots, _ := b.db.PhysicalSlots(ctx); len(slots) != 1 || slots[0].Name != slotC || !slots[0].Active {
		t.Errorf("slots on b at the end: %+v, want only %s, active", slots, slotC)
	}
}
