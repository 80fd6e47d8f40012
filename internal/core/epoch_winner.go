package core

import "log/slog"

// The winner of this node's own epoch.
//
// A node persists the epoch it asks votes in, naming itself primary (a
// candidate, or an isolated primary trying EFM 4.5's resume), before it
// knows the outcome. If another node won that same epoch meanwhile and this
// node missed its promotion announcement (cut off at the time), nothing
// else tells it: the winner's renewals are in the same epoch, not a newer
// one. It would then go on naming itself the primary of that epoch, suspect
// "itself" for ever, and never follow (nor, when its WAL diverged, rebuild
// itself from) the real primary (simulator seed 23427: a cut-off old
// primary's resume attempt and a failover both took epoch 2).
//
// One epoch above 0 has one primary: a strict majority voted for it, and
// every voter votes once per epoch. So a node that is not the primary of its epoch, and
// hears another node report itself Primary with a writable database in that
// same epoch, takes that node as the epoch's primary.
func (n *Node) adoptWinnerOfMyEpoch(from NodeID, m Message) {
	// Epoch 0 is the exception: at a cluster's first start every writable
	// database claims it, and nobody was elected.
	if m.Epoch == 0 || m.Epoch != n.st.Epoch || n.st.Primary != n.p.Self || from == n.p.Self || m.Status == nil || m.Primary != from {
		return
	}
	if st := m.Status; st.Role != RolePrimary || !st.DBReachable || st.InRecovery {
		return
	}
	if n.primaryOrPromoting() || n.role == RolePrimary {
		return // both primary in one epoch cannot happen; the lease rules decide, not this
	}
	n.log(slog.LevelWarn, "another node won this node's epoch", "epoch", m.Epoch, "primary", from)
	n.st.Primary = from
	n.persist()
	n.watch.heardAt = n.now
	n.watch.suspect = 0
}
