package pg

import (
	"context"
	"fmt"
)

// DivergedFrom tells whether this standby (running or stopped) holds WAL
// past primary's fork point from its timeline, so that it cannot stream
// from primary without a rewind. It answers true only on proof: a position
// this node has replayed (or, stopped, the end pg_control records) beyond
// the point where primary's history left this node's timeline, or a
// timeline that is not in primary's history at all. Replayed, not
// received: the startup process switches to the new timeline at the fork
// point if it has not replayed past it, whatever it received (the received
// position may also end inside a record the dead primary never finished,
// which is no divergence; counting it fenced a healthy standby in the
// ten-failures test). WAL received and replayed later is caught by the
// check after a failed follow.
// Anything it cannot read (primary's history, a running primary here)
// answers false with the reason, and the caller follows as usual.
func (d *DB) DivergedFrom(ctx context.Context, primary *DB) (bool, string, error) {
	p, err := primary.primaryTimeline(ctx)
	if err != nil {
		return false, "", fmt.Errorf("the primary %s: %w", primary.cfg.Node, err)
	}
	if p.History == nil {
		return false, "the primary's timeline history could not be read", nil
	}
	running, err := d.Running(ctx)
	if err != nil {
		return false, "", err
	}
	var tli uint32
	var end LSN
	if running {
		st, err := d.Probe(ctx)
		if err != nil {
			return false, "", err
		}
		if !st.InRecovery {
			return false, "this node is a running primary", nil
		}
		tli, end = st.Timeline, st.ReplayLSN
	} else {
		cd, err := d.ControlData(ctx)
		if err != nil {
			return false, "", err
		}
		tli, end = cd.Timeline(), cd.End()
	}
	if tli == 0 || tli >= p.TLI {
		return false, fmt.Sprintf("timeline %d, the primary's is %d: no fork to be past", tli, p.TLI), nil
	}
	// The rejoin's judgement, with the position taken as exact: it is a
	// lower bound of this node's WAL, so past the fork point is proof, and
	// at or before it is no divergence yet.
	v, why := judgeRejoin(timelinePoint{TLI: tli, End: end, Exact: true}, p, primary.cfg.Node)
	return v == verdictDiverged, why, nil
}
