package core

import "log/slog"

// Role transitions, in one place (etcd raft's becomeFollower,
// becomeCandidate and becomeLeader). The role is what the agent reports
// (cluster-status, metrics, other agents' view of it):
//
//	Unknown   -> Primary, Standby or Idle   the first probe (detectRole)
//	Standby   -> Promoting                  a promote order (becomeCandidate)
//	Promoting -> Primary                    the database promoted (promotionDone)
//	Promoting -> Standby                    gave up before promoting (abandonCandidacy)
//	any       -> Idle                       fenced, failed, wrong state, database gone
//	Idle      -> Unknown, or Primary        efm resume, the database back (resume)
//
// A witness is a Witness from New to its end.
//
// Three facts say how primary this node is, and they differ on purpose:
// the role; the lease (lease.holder: it renews a lease, which a candidate
// takes before it promotes, and which an Idle primary waiting for its
// database keeps); and a candidacy (candidacy != nil). isPrimary and
// primaryOrPromoting are the two questions the rest of the core asks.

// setRole is for the transitions below only.
func (n *Node) setRole(r Role) {
	if n.role == r {
		return
	}
	n.role = r
	n.emit(SetRole{Role: r})
}

// becomePrimary: this node's database is the cluster's primary and this
// node holds (or claims next) the lease of its epoch.
func (n *Node) becomePrimary() {
	n.local.idle = idleNone
	n.setRole(RolePrimary)
}

// becomeCandidate: a coordinator won the votes of c.epoch for this node.
// The epoch names it primary (persisted before any message reveals it),
// and it takes its own lease before its database can accept a write: the
// voters that elected it acknowledge the round.
func (n *Node) becomeCandidate(c *candidacy) {
	if n.st.Primary != n.p.Self {
		c.prev = n.st.Primary
	}
	n.st.Epoch = c.epoch
	n.st.Primary = n.p.Self
	// A resume promotes too: its database waits in recovery behind its
	// fence, and the promotion creates a timeline like any other
	// (simulator seed 16401: a resumed primary and the next failover's
	// candidate both took timeline ID 2).
	n.reserveTimeline(c)
	n.persist()
	n.candidacy = c
	c.clock = n.startClock()
	if c.quiet {
		n.notes.quietUntil = n.now + n.promoteBudget()
	}
	n.setRole(RolePromoting)
	n.claimLease()
}

// becomeStandby: this node's database is a standby in recovery.
func (n *Node) becomeStandby() {
	n.local.idle = idleNone
	n.setRole(RoleStandby)
}

// becomeIdle: this node neither acts as primary nor follows one until r
// ends (idleReason says how).
func (n *Node) becomeIdle(r idleReason) {
	n.local.idle = r
	n.setRole(RoleIdle)
}

// becomeUnknown: the role is detected again from the next local probe.
func (n *Node) becomeUnknown() {
	n.setRole(RoleUnknown)
}

// isPrimary: this node acts as the cluster's primary, its database
// writable as the primary's: the Primary role, or the lease held (an
// Idle primary still waiting for its database, a candidate taking over).
func (n *Node) isPrimary() bool {
	return n.role == RolePrimary || n.lease.holder
}

// primaryOrPromoting: this node holds the lease or runs a candidacy. Such a
// node watches no primary, coordinates no failover and follows nobody.
func (n *Node) primaryOrPromoting() bool {
	return n.lease.holder || n.candidacy != nil
}

// dropLease stops holding the lease: no more renewals, and no more reason
// to stay writable. The voters still wait for it to run out unless told
// (resignLease).
func (n *Node) dropLease() {
	n.lease.holder = false
	n.lease.valid = false
	n.lease.thaw = false
}

// resignLease gives up this node's lease of epoch and tells every other
// member, so that the voters stop waiting for it to run out. Only once the
// database can no longer accept writes: stopped and fenced, never
// promoted, or in recovery. switchover: the handover of efm promote
// -switchover (receivers suspect a switchover, not a failure).
func (n *Node) resignLease(epoch uint64, why string, switchover bool) {
	n.dropLease()
	n.log(slog.LevelWarn, "lease resigned", "lease_epoch", epoch, "why", why)
	n.broadcast(Message{Type: MsgResign, Epoch: epoch, Primary: n.p.Self, Reason: why, Switchover: switchover})
}

// disarmWatchdog: the node no longer needs resetting when its agent stops
// (see Watchdog): its database cannot be written as the primary's.
func (n *Node) disarmWatchdog() {
	if n.p.Watchdog {
		n.emit(Watchdog{})
	}
}
