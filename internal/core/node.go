package core

import (
	"fmt"
	"slices"
	"time"
)

// Persisted is the state that must survive an agent restart. The core emits
// Persist whenever it changes; the shell gives the last stored value to New.
type Persisted struct {
	// Epoch is the highest epoch this node has seen and follows.
	Epoch uint64 `json:"epoch"`
	// Primary is the primary of Epoch as far as this node knows.
	Primary NodeID `json:"primary,omitempty"`
	// VotedEpoch and VotedFor: the vote granted in VotedEpoch (once per
	// epoch, persisted before it is sent).
	VotedEpoch uint64 `json:"voted_epoch"`
	VotedFor   NodeID `json:"voted_for,omitempty"`
	// Fenced: this node's database was fenced as a failed or isolated
	// primary and must not be made writable without a promotion.
	Fenced bool `json:"fenced,omitempty"`
	// Voters is every other voting member this node has seen in a
	// membership view and that has neither left cleanly nor been reset
	// away (voters.go): after a restart, those absent from the view count
	// as DOWN voters.
	Voters []Voter `json:"voters,omitempty"`
	// ResetGen is the last reset-members generation applied to Voters
	// (MembershipChanged.ResetGen).
	ResetGen uint64 `json:"reset_gen,omitempty"`
	// Timeline is the newest timeline this node knows to exist, or to be
	// reserved by a promotion (timeline.go): a candidate promotes to a
	// timeline above every one it knows, so that two promotions never
	// give one number to two histories.
	Timeline uint32 `json:"timeline,omitempty"`
}

// MemberStatus is one line of cluster-status as this node sees it.
type MemberStatus struct {
	Member
	Status   NodeStatus
	LastSeen time.Duration // this node's monotonic time of the last message; 0 if never
}

// ClusterView is this node's picture of the cluster, for cluster-status.
type ClusterView struct {
	Self      NodeID
	Role      Role
	Epoch     uint64
	Primary   NodeID
	Priority  []NodeID // failover priority list (standbys)
	Members   []MemberStatus
	HasLease  bool
	Promoting bool
	// LeaseUntil is when the lease ends, in this node's core time (the now
	// given to Step): the send time of the latest acknowledged round plus
	// Timing.Lease; zero while HasLease is false. The database must refuse
	// writes by then, so a reader that vouches for this primary on its own
	// clock (the health endpoints) stops FencingAllowance before it.
	LeaseUntil time.Duration
}

// Node is one agent's failover state machine. Create it with New and drive
// it with Step.
type Node struct {
	p  Params
	tm Timing
	st Persisted

	now  time.Duration
	seq  uint64
	role Role
	out  []Action

	local   localMon
	members map[NodeID]*peer
	order   []NodeID // member ids, sorted, self included

	lease     leaseState
	voter     voterState
	watch     primaryWatch
	coord     coordination
	failover  *failover  // the failover this node coordinates, if any
	candidacy *candidacy // this node's own promotion, if any
	standby   standbyState
	handover  handover
	routing   routingState
	vip       vipMonitor
	syncrep   syncRep
	slots     slotState
	notes     notifications
	checks    map[uint64]*checkJob
	heal      healState
	early     earlyProbes // early.go
	pending   map[uint64]pendingOp

	priority    []NodeID
	setPriority map[NodeID]int

	nextHeartbeat time.Duration
	started       bool
	stopped       bool
	// brokenNoLeaseWait mirrors Params.brokenNoLeaseWait.
	brokenNoLeaseWait bool
}

// New returns a node for p, restarted from st (the zero Persisted on a first
// start). It refuses Params that fail Validate.
func New(p Params, st Persisted) (*Node, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("core params for node %s: %w", p.Self, err)
	}
	n := &Node{
		p:           p,
		tm:          p.Timing(),
		st:          st,
		role:        RoleUnknown,
		members:     map[NodeID]*peer{},
		pending:     map[uint64]pendingOp{},
		checks:      map[uint64]*checkJob{},
		setPriority: map[NodeID]int{},
		notes:       notifications{last: map[string]time.Duration{}},

		brokenNoLeaseWait: p.brokenNoLeaseWait,
	}
	if p.Kind == KindWitness {
		n.role = RoleWitness
	}
	n.addMember(Member{ID: p.Self, Kind: p.Kind, State: MemberAlive})
	n.st.Voters = slices.Clone(st.Voters)
	n.restoreVoters()
	return n, nil
}

// Params returns the parameters the node runs with.
func (n *Node) Params() Params { return n.p }

// Timing returns the derived protocol durations.
func (n *Node) Timing() Timing { return n.tm }

// Role is the role this agent currently reports.
func (n *Node) Role() Role { return n.role }

// Persisted returns the state last handed to Persist.
func (n *Node) Persisted() Persisted {
	st := n.st
	st.Voters = slices.Clone(st.Voters)
	return st
}

// Step feeds one event at monotonic time now and returns the actions to
// perform, in order. now must not go backwards.
func (n *Node) Step(now time.Duration, ev Event) []Action {
	if now > n.now {
		n.now = now
	}
	n.out = nil
	// Deadlines first: after a pause (SIGSTOP, VM freeze) the lease must be
	// judged at the new time before any event is acted upon.
	n.timers()
	n.handle(ev)
	n.timers()
	out := n.out
	n.out = nil
	return out
}
