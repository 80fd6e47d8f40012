package core

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/openefm/efm/internal/notify/subject"
)

// Physical replication slots (EFM's update.physical.slots.period). Every
// period the primary reads its positions (ReadSlotPositions) and, when they
// changed, sends them to the database standbys (MsgSlots); a standby that
// has none from the current primary asks for them (MsgSlotsReq), as EFM's
// (re)joining standbys do. A standby keeps a slot for each peer on its own
// server, advanced to the primary's position for that peer (SyncSlots), so
// that when it is promoted every other standby finds its slot there and no
// WAL it needs was recycled. Followers stream through their slot
// (FollowPrimary.Slot). Slot names derive from node ids (efm_<address>,
// the shell's pg.SlotName), so the core deals in nodes only.

// ReadSlotPositions asks the shell of the primary for, per node of Nodes,
// the restart_lsn of that node's slot and the replay position of its
// walsender, and for pg_current_wal_lsn; it answers with SlotPositions.
type ReadSlotPositions struct {
	Seq     uint64
	Nodes   []NodeID
	Timeout time.Duration
}

// SlotPositions answers ReadSlotPositions. A node missing from both maps
// has no known position (no slot, not streaming).
type SlotPositions struct {
	Seq        uint64
	CurrentLSN LSN
	// SlotLSN: restart_lsn of the node's slot on the primary (efm_<node>),
	// when it exists and reserves WAL.
	SlotLSN map[NodeID]LSN
	// ReplayLSN: replay_lsn the primary's walsender reports for the node.
	ReplayLSN map[NodeID]LSN
	Err       string
}

// SyncSlots asks the shell of a standby to keep its copies of the
// primary's slots: for each node of Positions but Primary, the node's slot
// advanced to its position (created first when Create, EFM's promotable
// standby; dropped and recreated when it holds an xmin); Primary's own
// slot, left from an earlier epoch, is only advanced (to the primary's
// current position), so that it holds no WAL back. Answered by SlotsSynced.
type SyncSlots struct {
	Seq       uint64
	Primary   NodeID
	Positions map[NodeID]LSN
	Create    bool
	Timeout   time.Duration
}

// SlotsSynced answers SyncSlots.
type SlotsSynced struct {
	Seq      uint64
	Created  []NodeID
	Problems []string // one line per slot that could not be kept
	Err      string   // the whole sync failed (no connection)
}

// DropSlots asks the shell to drop every efm_ slot on the local server
// whose node is not in Keep (members gone after efm reset-members). An
// active slot is never dropped; answered by DBOpResult.
type DropSlots struct {
	Seq     uint64
	Keep    []NodeID
	Timeout time.Duration
}

func (ReadSlotPositions) isAction() {}
func (SyncSlots) isAction()         {}
func (DropSlots) isAction()         {}
func (SlotPositions) isEvent()      {}
func (SlotsSynced) isEvent()        {}

func (e SlotPositions) resultSeq() uint64 { return e.Seq }
func (e SlotsSynced) resultSeq() uint64   { return e.Seq }

// SlotTargets is the position the primary sends for each node: its slot's
// restart_lsn when it has one (what the node still needs), else the replay
// position its walsender reports, and for the primary itself its current
// position. A node with neither is left out: its copies are kept where
// they are.
func SlotTargets(self NodeID, nodes []NodeID, r SlotPositions) map[NodeID]LSN {
	out := map[NodeID]LSN{}
	for _, id := range nodes {
		if id == self {
			continue
		}
		if l, ok := r.SlotLSN[id]; ok && l != 0 {
			out[id] = l
		} else if l, ok := r.ReplayLSN[id]; ok && l != 0 {
			out[id] = l
		}
	}
	if r.CurrentLSN != 0 {
		out[self] = r.CurrentLSN
	}
	return out
}

// slotState is this node's part of slot synchronisation.
type slotState struct {
	next     time.Duration // primary: next read; standby: next ask
	reading  bool          // primary: ReadSlotPositions pending
	sent     map[NodeID]LSN
	sentEp   uint64 // epoch sent was computed in
	syncing  bool   // standby: SyncSlots pending
	queued   *Message
	gotEpoch uint64 // standby: epoch of the last MsgSlots applied
	gotFrom  NodeID
}

func (n *Node) slotsOn() bool {
	return n.p.UpdatePhysicalSlotsPeriod > 0 && n.p.Kind == KindDatabase
}

// databasePeers is every known database member but this node, sorted.
func (n *Node) databasePeers() []NodeID {
	var out []NodeID
	for _, id := range n.order {
		if p := n.members[id]; id != n.p.Self && p != nil && p.member.Kind == KindDatabase {
			out = append(out, id)
		}
	}
	return out
}

// slotTimers: the primary reads its positions every period; a standby
// without positions from its current primary asks for them.
func (n *Node) slotTimers() {
	if !n.slotsOn() || n.now < n.slots.next {
		return
	}
	n.slots.next = n.now + n.p.UpdatePhysicalSlotsPeriod
	switch {
	case n.role == RolePrimary && n.lease.holder:
		if n.slots.reading {
			return
		}
		n.slots.reading = true
		n.emit(ReadSlotPositions{Seq: n.await(pendingOp{awaits: awaitSlotRead}), Nodes: n.databasePeers(), Timeout: n.p.RemoteTimeout})
	case n.role == RoleStandby && n.st.Primary != "" && n.st.Primary != n.p.Self:
		if n.slots.gotEpoch != n.st.Epoch || n.slots.gotFrom != n.st.Primary {
			n.send(n.st.Primary, Message{Type: MsgSlotsReq, Epoch: n.st.Epoch})
		}
	}
}

// slotPositionsRead: the primary's own positions; sent when they changed.
func (n *Node) slotPositionsRead(r SlotPositions) {
	n.slots.reading = false
	if r.Err != "" {
		n.log(slog.LevelWarn, "reading replication slot positions failed", "err", r.Err)
		return
	}
	if n.role != RolePrimary || !n.lease.holder {
		return
	}
	pos := SlotTargets(n.p.Self, n.databasePeers(), r)
	if n.slots.sentEp == n.st.Epoch && maps.Equal(pos, n.slots.sent) {
		return
	}
	n.slots.sent, n.slots.sentEp = pos, n.st.Epoch
	for _, id := range n.databasePeers() {
		n.send(id, Message{Type: MsgSlots, Epoch: n.st.Epoch, Primary: n.p.Self, Slots: pos})
	}
}

// onSlotsReq: a standby (re)joined and asks for the positions.
func (n *Node) onSlotsReq(from NodeID) {
	if !n.slotsOn() || n.role != RolePrimary || !n.lease.holder || n.slots.sentEp != n.st.Epoch || n.slots.sent == nil {
		return
	}
	n.send(from, Message{Type: MsgSlots, Epoch: n.st.Epoch, Primary: n.p.Self, Slots: n.slots.sent})
}

// onSlots: positions from the primary this standby follows.
func (n *Node) onSlots(from NodeID, m Message) {
	if !n.slotsOn() || n.role != RoleStandby || from != n.st.Primary || m.Epoch != n.st.Epoch {
		return
	}
	if n.slots.syncing {
		n.slots.queued = &m // the newest wins
		return
	}
	n.syncSlots(from, m)
}

func (n *Node) syncSlots(from NodeID, m Message) {
	n.slots.syncing = true
	n.slots.gotEpoch, n.slots.gotFrom = m.Epoch, from
	create := n.p.Promotable
	if pr, ok := n.setPriority[n.p.Self]; ok && pr == 0 {
		create = false // efm set-priority 0: not promotable now
	}
	n.emit(SyncSlots{Seq: n.await(pendingOp{awaits: awaitSlotSync}), Primary: from, Positions: maps.Clone(m.Slots),
		Create: create, Timeout: n.p.RemoteTimeout})
}

// slotsSynced: the standby's copies were kept; problems are a WARNING
// (EFM 5.3).
func (n *Node) slotsSynced(r SlotsSynced) {
	n.slots.syncing = false
	if len(r.Created) > 0 {
		n.log(slog.LevelInfo, "replication slots created for peers", "nodes", r.Created)
	}
	problems := r.Problems
	if r.Err != "" {
		problems = append(problems, r.Err)
	}
	if len(problems) > 0 {
		n.log(slog.LevelWarn, "replication slots not kept", "problems", problems)
		n.notifyOnce(subject.ReplicationSlotAdvanceProblem,
			fmt.Sprintf("Keeping the replication slots on %s failed: %s", n.p.Self, strings.Join(problems, "; ")))
	}
	if q := n.slots.queued; q != nil {
		n.slots.queued = nil
		n.onSlots(q.Primary, *q)
	}
}

// dropStaleSlots: after efm reset-members, slots of members no longer in
// the cluster go (only efm_ slots, never an active one).
func (n *Node) dropStaleSlots() {
	if !n.slotsOn() {
		return
	}
	keep := slices.Clone(n.order)
	n.emit(DropSlots{Seq: n.await(pendingOp{awaits: awaitSlotDrop}), Keep: keep, Timeout: n.p.RemoteTimeout})
}
