package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/openefm/efm/internal/core"
	"github.com/openefm/efm/internal/pg"
)

// Physical slots (core/slots.go decides when; this reads, creates,
// advances and drops). Slot names derive from node ids: pg.SlotName.

// slotDB is what slot synchronisation needs of the local database.
type slotDB interface {
	CurrentLSN(ctx context.Context) (core.LSN, error)
	PhysicalSlots(ctx context.Context) ([]pg.Slot, error)
	ReplayPositions(ctx context.Context) (map[string]pg.LSN, error)
	SyncPhysicalSlots(ctx context.Context, want map[string]pg.LSN, create bool) (pg.SlotSyncReport, error)
	DropPhysicalSlot(ctx context.Context, name string) error
	RepointThroughSlot(ctx context.Context, host, slot string) error
}

// slotRemote creates a slot on another node's database (the new primary,
// before this standby streams through it).
type slotRemote interface {
	EnsureSlot(ctx context.Context, host, name string) error
}

func (l *pgLocal) CurrentLSN(ctx context.Context) (core.LSN, error) {
	st, err := l.db.Probe(ctx)
	if err != nil {
		return 0, err
	}
	if st.InRecovery {
		return 0, errors.New("the local database is in recovery: no current WAL position of a primary")
	}
	return st.CurrentLSN, nil
}
func (l *pgLocal) PhysicalSlots(ctx context.Context) ([]pg.Slot, error) {
	return l.db.PhysicalSlots(ctx)
}
func (l *pgLocal) ReplayPositions(ctx context.Context) (map[string]pg.LSN, error) {
	return l.db.ReplayPositions(ctx)
}
func (l *pgLocal) SyncPhysicalSlots(ctx context.Context, want map[string]pg.LSN, create bool) (pg.SlotSyncReport, error) {
	return l.db.SyncPhysicalSlots(ctx, want, create)
}
func (l *pgLocal) DropPhysicalSlot(ctx context.Context, name string) error {
	return l.db.DropPhysicalSlot(ctx, name)
}
func (l *pgLocal) RepointThroughSlot(ctx context.Context, host, slot string) error {
	if err := l.db.RepointThroughSlot(ctx, host, l.port, slot); err != nil {
		return err
	}
	return l.db.WaitStreaming(ctx, host, l.port, l.restartTimeout)
}

func (r *pgRemote) EnsureSlot(ctx context.Context, host, name string) error {
	db, err := r.db(host)
	if err != nil {
		return err
	}
	return db.EnsurePhysicalSlot(ctx, name)
}

func (s *shell) slotDB() (slotDB, error) {
	if d, ok := s.db.(slotDB); ok && s.db != nil {
		return d, nil
	}
	return nil, errors.New("no local database to keep replication slots on")
}

// slotPositions answers core.ReadSlotPositions on the primary.
func (s *shell) slotPositions(ctx context.Context, a core.ReadSlotPositions) core.Event {
	out := core.SlotPositions{Seq: a.Seq, SlotLSN: map[core.NodeID]core.LSN{}, ReplayLSN: map[core.NodeID]core.LSN{}}
	d, err := s.slotDB()
	if err != nil {
		out.Err = err.Error()
		return out
	}
	if out.CurrentLSN, err = d.CurrentLSN(ctx); err != nil {
		out.Err = err.Error()
		return out
	}
	slots, err := d.PhysicalSlots(ctx)
	if err != nil {
		out.Err = err.Error()
		return out
	}
	replay, err := d.ReplayPositions(ctx)
	if err != nil {
		out.Err = err.Error()
		return out
	}
	for _, id := range a.Nodes {
		name := pg.SlotName(string(id))
		if i := slices.IndexFunc(slots, func(sl pg.Slot) bool { return sl.Name == name }); i >= 0 {
			out.SlotLSN[id] = slots[i].RestartLSN
		}
		if l, ok := replay[string(id)]; ok {
			out.ReplayLSN[id] = l
		}
	}
	return out
}

// syncSlots answers core.SyncSlots on a standby: its copies of the slots
// of every peer (created when a.Create), and the primary's own slot, left
// from an earlier epoch, only advanced.
func (s *shell) syncSlots(ctx context.Context, a core.SyncSlots) core.Event {
	out := core.SlotsSynced{Seq: a.Seq}
	d, err := s.slotDB()
	if err != nil {
		out.Err = err.Error()
		return out
	}
	peers, primary := map[string]pg.LSN{}, map[string]pg.LSN{}
	byName := map[string]core.NodeID{}
	for id, l := range a.Positions {
		if id == s.self {
			continue // no slot for itself on its own server
		}
		name := pg.SlotName(string(id))
		byName[name] = id
		if id == a.Primary {
			primary[name] = l
		} else {
			peers[name] = l
		}
	}
	for _, part := range []struct {
		want   map[string]pg.LSN
		create bool
	}{{peers, a.Create}, {primary, false}} {
		if len(part.want) == 0 {
			continue
		}
		rep, err := d.SyncPhysicalSlots(ctx, part.want, part.create)
		if err != nil {
			out.Err = err.Error()
			return out
		}
		for _, name := range rep.Created {
			out.Created = append(out.Created, byName[name])
		}
		for _, p := range rep.Problems {
			out.Problems = append(out.Problems, p.Error())
		}
		if len(rep.Created)+len(rep.Recreated) > 0 {
			s.log.Info("replication slots kept for peers", "created", rep.Created, "recreated", rep.Recreated, "advanced", rep.Advanced)
		}
	}
	return out
}

// dropSlots carries out core.DropSlots: every efm_ slot of a node not in
// a.Keep goes; operators' slots and active ones stay.
func (s *shell) dropSlots(ctx context.Context, a core.DropSlots) error {
	d, err := s.slotDB()
	if err != nil {
		return err
	}
	slots, err := d.PhysicalSlots(ctx)
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, id := range a.Keep {
		keep[pg.SlotName(string(id))] = true
	}
	var errs []error
	for _, sl := range slots {
		if !pg.IsManagedSlot(sl.Name) || keep[sl.Name] || sl.Active {
			continue
		}
		if err := d.DropPhysicalSlot(ctx, sl.Name); err != nil {
			errs = append(errs, err)
			continue
		}
		s.log.Warn("replication slot of a member gone after reset-members dropped", "slot", sl.Name)
	}
	return errors.Join(errs...)
}

// followThroughSlot re-points this standby at a.Primary through its own
// slot there, created first if missing (it reserves WAL before the
// standby asks for it). If the slot cannot be created the standby follows
// without one, as it would with slots off: streaming matters more.
func (s *shell) followThroughSlot(ctx context.Context, a core.FollowPrimary) error {
	name := pg.SlotName(string(s.self))
	r, ok := s.remote.(slotRemote)
	d, derr := s.slotDB()
	if !ok || derr != nil {
		return s.requireDB().Follow(ctx, string(a.Primary))
	}
	if err := r.EnsureSlot(ctx, string(a.Primary), name); err != nil {
		s.log.Warn("cannot create this standby's slot on the new primary; following without a slot", "primary", a.Primary, "slot", name, "err", err)
		return s.requireDB().Follow(ctx, string(a.Primary))
	}
	if err := d.RepointThroughSlot(ctx, string(a.Primary), name); err != nil {
		return fmt.Errorf("follow %s through slot %s: %w", a.Primary, name, err)
	}
	return nil
}

// ensureOwnSlot makes sure this node's slot exists on primary and returns
// its name, or "" (stream without a slot, logged) when it cannot: the old
// primary of a switchover streams through its slot like any follower.
func (s *shell) ensureOwnSlot(ctx context.Context, primary core.NodeID) string {
	name := pg.SlotName(string(s.self))
	r, ok := s.remote.(slotRemote)
	if !ok {
		return ""
	}
	if err := r.EnsureSlot(ctx, string(primary), name); err != nil {
		s.log.Warn("cannot create this node's slot on the new primary; following without a slot", "primary", primary, "slot", name, "err", err)
		return ""
	}
	return name
}
