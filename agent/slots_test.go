package agent

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"

	"github.com/openefm/efm/internal/core"
	"github.com/openefm/efm/internal/pg"
)

// fakeSlotDB is a local database with slots.
type fakeSlotDB struct {
	fakeFollowDB
	slots    []pg.Slot
	dropped  []string
	through  string // RepointThroughSlot: host/slot
	synced   []map[string]pg.LSN
	creates  []bool
	dropFail error
}

func (f *fakeSlotDB) CurrentLSN(context.Context) (core.LSN, error) { return 100, nil }
func (f *fakeSlotDB) PhysicalSlots(context.Context) ([]pg.Slot, error) {
	return f.slots, nil
}
func (f *fakeSlotDB) ReplayPositions(context.Context) (map[string]pg.LSN, error) {
	return map[string]pg.LSN{"10.0.0.3": 90}, nil
}
func (f *fakeSlotDB) SyncPhysicalSlots(_ context.Context, want map[string]pg.LSN, create bool) (pg.SlotSyncReport, error) {
	f.synced, f.creates = append(f.synced, want), append(f.creates, create)
	return pg.SlotSyncReport{}, nil
}
func (f *fakeSlotDB) DropPhysicalSlot(_ context.Context, name string) error {
	if f.dropFail != nil {
		return f.dropFail
	}
	f.dropped = append(f.dropped, name)
	return nil
}
func (f *fakeSlotDB) RepointThroughSlot(_ context.Context, host, slot string) error {
	f.through = host + "/" + slot
	return nil
}

// fakeSlotRemote creates slots on other nodes, or fails to.
type fakeSlotRemote struct {
	remoteDBs
	created []string
	err     error
}

func (f *fakeSlotRemote) EnsureSlot(_ context.Context, host, name string) error {
	if f.err != nil {
		return f.err
	}
	f.created = append(f.created, host+"/"+name)
	return nil
}

func TestFollowThroughSlotCreatesItOnTheNewPrimaryFirst(t *testing.T) {
	db, rem := &fakeSlotDB{}, &fakeSlotRemote{}
	s := &shell{log: slog.New(slog.DiscardHandler), db: db, remote: rem, self: "10.0.0.3"}
	if err := s.follow(context.Background(), core.FollowPrimary{Primary: "10.0.0.2", Slot: true}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"10.0.0.2/efm_10_0_0_3"}; !slices.Equal(rem.created, want) {
		t.Errorf("slots created on the new primary %v, want %v", rem.created, want)
	}
	if db.through != "10.0.0.2/efm_10_0_0_3" || db.followed != "" {
		t.Errorf("re-pointed through %q (plain follow %q), want through 10.0.0.2/efm_10_0_0_3", db.through, db.followed)
	}
	// The slot cannot be created: follow without one rather than not at all.
	db, rem = &fakeSlotDB{}, &fakeSlotRemote{err: errors.New("permission denied to create replication slot")}
	s = &shell{log: slog.New(slog.DiscardHandler), db: db, remote: rem, self: "10.0.0.3"}
	if err := s.follow(context.Background(), core.FollowPrimary{Primary: "10.0.0.2", Slot: true}); err != nil {
		t.Fatal(err)
	}
	if db.through != "" || db.followed != "10.0.0.2" {
		t.Errorf("slot refused: through %q, plain follow %q; want a plain follow of 10.0.0.2", db.through, db.followed)
	}
}

func TestDropSlotsOnlyEFMSlotsOfMembersGone(t *testing.T) {
	db := &fakeSlotDB{slots: []pg.Slot{
		{Name: "efm_10_0_0_2"},               // member: kept
		{Name: "efm_10_0_0_9"},               // gone: dropped
		{Name: "efm_10_0_0_8", Active: true}, // gone but streaming: kept
		{Name: "operators_slot"},             // not ours: kept
	}}
	s := &shell{log: slog.New(slog.DiscardHandler), db: db, self: "10.0.0.1"}
	if err := s.dropSlots(context.Background(), core.DropSlots{Keep: []core.NodeID{"10.0.0.1", "10.0.0.2"}}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"efm_10_0_0_9"}; !slices.Equal(db.dropped, want) {
		t.Errorf("dropped %v, want %v", db.dropped, want)
	}
}

func TestSyncSlotsPrimaryOwnSlotOnlyAdvanced(t *testing.T) {
	db := &fakeSlotDB{}
	s := &shell{log: slog.New(slog.DiscardHandler), db: db, self: "10.0.0.2"}
	r := s.syncSlots(context.Background(), core.SyncSlots{Primary: "10.0.0.1", Create: true,
		Positions: map[core.NodeID]core.LSN{"10.0.0.1": 100, "10.0.0.2": 95, "10.0.0.3": 90}})
	if e := r.(core.SlotsSynced); e.Err != "" {
		t.Fatal(e.Err)
	}
	if len(db.synced) != 2 || !db.creates[0] || db.creates[1] {
		t.Fatalf("syncs %v creates %v: want peers with create, then the primary's own without", db.synced, db.creates)
	}
	if db.synced[0]["efm_10_0_0_3"] != 90 || len(db.synced[0]) != 1 {
		t.Errorf("peers %v, want only efm_10_0_0_3 at 90 (never a slot for itself)", db.synced[0])
	}
	if db.synced[1]["efm_10_0_0_1"] != 100 || len(db.synced[1]) != 1 {
		t.Errorf("primary's own %v, want efm_10_0_0_1 at 100", db.synced[1])
	}
}

func TestSlotPositionsByNode(t *testing.T) {
	db := &fakeSlotDB{slots: []pg.Slot{{Name: "efm_10_0_0_2", RestartLSN: 80}, {Name: "other", RestartLSN: 1}}}
	s := &shell{log: slog.New(slog.DiscardHandler), db: db, self: "10.0.0.1"}
	r := s.slotPositions(context.Background(), core.ReadSlotPositions{Nodes: []core.NodeID{"10.0.0.2", "10.0.0.3"}}).(core.SlotPositions)
	if r.Err != "" || r.CurrentLSN != 100 || r.SlotLSN["10.0.0.2"] != 80 || r.ReplayLSN["10.0.0.3"] != 90 || len(r.SlotLSN) != 1 {
		t.Errorf("positions %+v", r)
	}
}
