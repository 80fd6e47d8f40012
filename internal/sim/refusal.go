package sim

import (
	"log/slog"

	"github.com/openefm/efm/internal/core"
)

// A candidate that refuses its promote order must say so, and its
// coordinator must act on it: chaos seed 9238 found a refusal told to
// nobody, and a coordinator that waited out its whole promotion budget
// (77 s without a primary). The liveness bound allows three failover
// bounds, so that wait alone failed no schedule; this check names it.
//
// A coordinator that elected itself needs no answer: waiting out its own
// candidacy always fails (chaos seed 9318).
//
// A refusal counts when its answer could not have been lost: no random
// loss, the two linked and both agents running, at the refusal and one
// maximum message delay after it.

// refusal is one promote order refused by cand, for coord, in epoch.
type refusal struct {
	coord, cand core.NodeID
	epoch       uint64
}

func logAttr(a core.Log, key string) slog.Value {
	for _, at := range a.Attrs {
		if at.Key == key {
			return at.Value
		}
	}
	return slog.Value{}
}

// deliverable: a message from a to b now arrives.
func (w *World) deliverable(a, b *simNode) bool {
	return w.drop == 0 && w.linked(a.idx, b.idx) && a.agent != nil && !a.paused && b.agent != nil && !b.paused
}

// promoteRefused records cand's refusal once its answer is known to reach
// the coordinator.
func (w *World) promoteRefused(cand *simNode, a core.Log) {
	r := refusal{coord: core.NodeID(logAttr(a, "coordinator").String()), cand: cand.id, epoch: logAttr(a, "vote_epoch").Uint64()}
	coord := w.byID[r.coord]
	if coord == nil || coord == cand || !w.deliverable(cand, coord) {
		return
	}
	gen := coord.gen
	w.after(w.delayMax, func() {
		if coord.gen == gen && w.deliverable(cand, coord) {
			if w.refusals == nil {
				w.refusals = map[refusal]bool{}
			}
			w.refusals[r] = true
		}
	})
}

// promotionWaitedOut fails the run when the candidate coord waited for had
// refused the order where the coordinator could hear it.
func (w *World) promotionWaitedOut(coord *simNode, a core.Log) {
	r := refusal{coord: coord.id, cand: core.NodeID(logAttr(a, "candidate").String()), epoch: logAttr(a, "vote_epoch").Uint64()}
	if r.cand == coord.id {
		// A node knows its own candidacy: chaos seed 9318.
		w.fail("%s waited out its promotion budget for itself in epoch %d", coord.id, r.epoch)
		return
	}
	if w.refusals[r] {
		w.fail("%s waited out its promotion budget for %s in epoch %d, which had refused the promote order where %s could hear it",
			coord.id, r.cand, r.epoch, coord.id)
	}
}
