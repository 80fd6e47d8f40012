package core

import (
	"log/slog"
	"time"
)

// # Handing over (efm promote, -switchover)
//
// The old primary stops taking writes when it releases the VIP and stops
// its database (fenceSelf). A fast shutdown writes a shutdown checkpoint
// first, as long as the dirty buffers take to flush, all of it with writes
// refused. So the primary runs CHECKPOINT before, while it still takes
// writes and holds its lease: the shutdown checkpoint then has little
// left to write. A checkpoint that fails or outlasts remote.timeout only
// costs that time; the handover goes on (the coordinator waits
// 2*remote.timeout + the fencing allowance for the resignation).

// checkpointBeforeHandover starts the CHECKPOINT; handoverCheckpointed
// hands over once it is done.
func (n *Node) checkpointBeforeHandover() {
	if n.handover.checkpointing {
		return // asked again while it runs
	}
	n.handover.checkpointing = true
	n.handover.askedAt = n.now
	n.doDBAwaiting(pendingOp{awaits: awaitCheckpoint}, OpCheckpointDB, n.p.RemoteTimeout)
}

func (n *Node) handoverCheckpointed(e DBOpResult) {
	n.handover.checkpointing = false
	took := n.now - n.handover.askedAt
	if !e.OK {
		n.log(slog.LevelWarn, "checkpoint before handing over failed; handing over anyway", "took", took, "err", e.Err)
	} else {
		n.log(slog.LevelInfo, "switchover step", "step", "checkpoint before handing over", "took", took.Round(time.Millisecond))
	}
	if !n.lease.holder || n.candidacy != nil {
		// The lease ran out (and fencing ran) meanwhile: nothing to hand over.
		return
	}
	n.fenceSelf(fenceHandover, "handing over to a standby")
	n.detachNode(n.p.Self, "p")
	n.becomeIdle(idleFenced)
}
