package sim

import (
	"maps"
	"slices"
	"time"

	"github.com/openefm/efm/internal/core"
)

// checkSync answers CheckSyncStandbys as PostgreSQL's primary would:
// num_sync of its synchronous_standby_names (ANY k over the promotable
// standbys) and how many of those stream from it now.
func (w *World) checkSync(n *simNode, a core.CheckSyncStandbys) {
	w.result(n, w.lat(time.Millisecond, 20*time.Millisecond), func() core.Event {
		d := n.db
		if d == nil || !d.writable() || d.hung {
			return core.SyncStandbys{Seq: a.Seq, Err: "database not reachable as a primary"}
		}
		r := core.SyncStandbys{Seq: a.Seq, Num: d.syncK}
		for _, s := range w.nodes {
			if s == n || s.db == nil || !s.params.Promotable {
				continue
			}
			r.Listed++
			if s.db.following == n.id && w.streams(s) {
				r.Available++
			}
		}
		if d.syncK == 0 {
			r.Listed = 0
		}
		return r
	})
}

// setNumSync carries out SetNumSync on n's own server (ALTER SYSTEM: it
// stays with that server, across restarts and promotions).
func (w *World) setNumSync(n *simNode, a core.SetNumSync) {
	w.result(n, w.lat(time.Millisecond, 30*time.Millisecond), func() core.Event {
		d := n.db
		if d == nil || !d.up || d.hung {
			return core.DBOpResult{Seq: a.Seq, Err: "database not reachable"}
		}
		if d.syncK != a.Num {
			w.syncChanges++
			w.logf("%s num_sync %d -> %d", n.id, d.syncK, a.Num)
		}
		d.syncK = a.Num
		return core.DBOpResult{Seq: a.Seq, OK: true}
	})
}

// readSlots answers ReadSlotPositions on n, the primary.
func (w *World) readSlots(n *simNode, a core.ReadSlotPositions) {
	w.result(n, w.lat(time.Millisecond, 20*time.Millisecond), func() core.Event {
		d := n.db
		if d == nil || !d.writable() || d.hung {
			return core.SlotPositions{Seq: a.Seq, Err: "database not reachable as a primary"}
		}
		r := core.SlotPositions{Seq: a.Seq, CurrentLSN: d.lsn, SlotLSN: map[core.NodeID]core.LSN{}, ReplayLSN: map[core.NodeID]core.LSN{}}
		for _, id := range a.Nodes {
			if l, ok := d.slots[id]; ok {
				r.SlotLSN[id] = l
			}
			if s := w.byID[id]; s != nil && s.db != nil && s.db.following == n.id && w.streams(s) {
				r.ReplayLSN[id] = s.db.replay
			}
		}
		return r
	})
}

// syncSlots keeps n's copies of the primary's slots: created (a.Create)
// or existing ones advanced, never backwards, never past what n replayed
// (PostgreSQL caps pg_replication_slot_advance on a standby so).
func (w *World) syncSlots(n *simNode, a core.SyncSlots) {
	w.result(n, w.lat(time.Millisecond, 30*time.Millisecond), func() core.Event {
		d := n.db
		if d == nil || !d.up || d.hung {
			return core.SlotsSynced{Seq: a.Seq, Err: "database not reachable"}
		}
		if d.slots == nil {
			d.slots = map[core.NodeID]core.LSN{}
		}
		var r core.SlotsSynced
		r.Seq = a.Seq
		for _, id := range slices.Sorted(maps.Keys(a.Positions)) {
			l := a.Positions[id]
			if id == n.id {
				continue
			}
			cur, ok := d.slots[id]
			if !ok && (!a.Create || id == a.Primary) {
				continue
			}
			if !ok {
				cur = d.replay
				r.Created = append(r.Created, id)
			}
			d.slots[id] = max(cur, min(l, d.replay))
		}
		return r
	})
}

// dropSlots drops n's slots of nodes not in a.Keep.
func (w *World) dropSlots(n *simNode, a core.DropSlots) {
	w.result(n, w.lat(time.Millisecond, 20*time.Millisecond), func() core.Event {
		d := n.db
		if d == nil || !d.up {
			return core.DBOpResult{Seq: a.Seq, Err: "database not reachable"}
		}
		keep := map[core.NodeID]bool{}
		for _, id := range a.Keep {
			keep[id] = true
		}
		for id := range d.slots {
			if !keep[id] {
				delete(d.slots, id)
			}
		}
		return core.DBOpResult{Seq: a.Seq, OK: true}
	})
}

// followSlot: n streams from primary through its slot there, created by
// the follower's shell when the new primary lacks it.
func (w *World) followSlot(n *simNode, primary core.NodeID) {
	p := w.byID[primary]
	if p == nil || p.db == nil || !p.db.up {
		return
	}
	w.slotFollows++
	if p.db.slots == nil {
		p.db.slots = map[core.NodeID]core.LSN{}
	}
	if _, ok := p.db.slots[n.id]; ok {
		w.slotsFound++
		return
	}
	p.db.slots[n.id] = p.db.lsn
}
