package sim

import (
	"maps"
	"time"

	"github.com/openefm/efm/internal/core"
)

// linked: a and b can talk both ways (TCP connections, database checks).
func (w *World) linked(a, b int) bool {
	if a == b {
		return true
	}
	if a < len(w.nodes) && w.nodes[a].nodeDown || b < len(w.nodes) && w.nodes[b].nodeDown {
		return false
	}
	return w.conn[a][b] && w.conn[b][a]
}

// send puts one message on the fake network: cut links and random loss drop
// it, it may be duplicated, and delays vary enough to reorder. The core
// names the recipient of every message, those of a broadcast included.
func (w *World) send(from *simNode, to core.NodeID, m core.Message) {
	dst := w.byID[to]
	if dst == nil || !w.conn[from.idx][dst.idx] || from.nodeDown || dst.nodeDown {
		return
	}
	if w.drop > 0 && w.rng.Float64() < w.drop {
		return
	}
	copies := 1
	if w.dup > 0 && w.rng.Float64() < w.dup {
		copies = 2
	}
	// Exercise the codec on a sample: encoding every message would double
	// the cost of a run without testing anything more.
	if w.rng.Intn(50) == 0 {
		b := core.Encode(m)
		dm, err := core.Decode(b, from.params.ClusterName)
		if err != nil {
			w.fail("message from %s did not survive the codec: %v", from.id, err)
			return
		}
		m = dm
	}
	for i := 0; i < copies; i++ {
		d := w.delayMin + time.Duration(w.rng.Int63n(int64(w.delayMax-w.delayMin)+1))
		if w.reorderPct > 0 && w.rng.Float64() < w.reorderPct {
			d *= 5
		}
		w.after(d, func() {
			if !w.conn[from.idx][dst.idx] || dst.nodeDown {
				return
			}
			dst.lastHeard[from.idx] = w.now
			w.deliver(dst, -1, core.MessageReceived{From: from.id, Msg: m})
		})
	}
}

// membershipTick recomputes every agent's view the way memberlist would: a
// member not heard from for the detection time is DOWN (and stays counted);
// one that stopped cleanly has left. The detection time is drawn per run
// between a quarter of node.timeout and node.timeout: memberlist is tuned
// apart from node.timeout and may well notice a failure long before the
// primary's lease has run out, which is what the lease hold is for.
func (w *World) membershipTick() {
	for _, o := range w.nodes {
		if o.agent == nil || o.paused {
			continue
		}
		changed := false
		if !o.joined {
			// A join succeeds once some running (not paused) agent is reachable; the
			// roster then brings every member, DOWN ones included.
			for _, m := range w.nodes {
				if m != o && m.agent != nil && !m.paused && w.linked(o.idx, m.idx) {
					o.joined, changed = true, true
					break
				}
			}
		}
		for _, m := range w.nodes {
			st := core.MemberAlive
			switch {
			case m == o:
			case m.stopped:
				st = core.MemberLeft
			case w.now-o.lastHeard[m.idx] > w.detect:
				st = core.MemberDown
			}
			if o.view[m.id] != st {
				o.view[m.id] = st
				changed = true
			}
		}
		if changed {
			w.deliver(o, -1, w.membershipOf(o))
		}
	}
}

// membershipOf is o's membership view with the shared state it carries
// once o has joined.
func (w *World) membershipOf(o *simNode) core.MembershipChanged {
	mc := core.MembershipChanged{Members: w.viewOf(o)}
	if o.joined {
		mc.Priorities = maps.Clone(w.priorities)
	}
	return mc
}

// setPriority is efm set-priority run on n: the coordinator changes the
// shared state and pushes it to the members it reaches; the others get it
// with their next view.
func (w *World) setPriority(n, target *simNode, prio int) {
	if !n.joined {
		w.logf("ADMIN set-priority %s %d on %s refused: not joined", target.id, prio, n.id)
		return
	}
	w.logf("ADMIN set-priority %s %d on %s", target.id, prio, n.id)
	w.priorities[target.id] = prio
	for _, o := range w.nodes {
		if o.agent != nil && !o.paused && o.joined && (o == n || w.linked(n.idx, o.idx)) {
			w.deliver(o, o.gen, w.membershipOf(o))
		}
	}
}

func (w *World) viewOf(o *simNode) []core.Member {
	ms := make([]core.Member, 0, len(w.nodes))
	if !o.joined {
		return append(ms, core.Member{ID: o.id, Kind: o.kind, State: core.MemberAlive})
	}
	for _, m := range w.nodes {
		ms = append(ms, core.Member{ID: m.id, Kind: m.kind, State: o.view[m.id]})
	}
	return ms
}
