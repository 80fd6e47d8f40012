package core

import (
	"fmt"
	"log/slog"
	"maps"
	"sort"
	"time"

	"github.com/openefm/efm/internal/notify/subject"
)

// peer is what this node knows about another member (or itself).
type peer struct {
	member   Member
	leftAt   time.Duration // when this node saw it leave cleanly
	status   NodeStatus
	epoch    uint64
	primary  NodeID // the primary of epoch as it last said (Message.Primary)
	lastSeen time.Duration
	heard    bool
	// heardLeft: a message came from it while the view showed it left.
	// Its agent runs (restarted, the view lags): it counts as a voter
	// until a view reports a new state for it.
	heardLeft bool
}

func (n *Node) addMember(m Member) {
	if p, ok := n.members[m.ID]; ok {
		p.member = m
		return
	}
	n.members[m.ID] = &peer{member: m}
	n.order = append(n.order, m.ID)
	sort.Slice(n.order, func(i, j int) bool { return n.order[i] < n.order[j] })
}

// numVoters counts the voting members: every database agent and witness
// of the view that did not leave cleanly. DOWN members stay counted, so a
// gradual isolation cannot shrink the quorum.
//
// A member that left cleanly stops counting only VoteHold after we saw it
// leave: it may have acknowledged the primary's renewal just before, and its
// hold is what keeps a majority from promoting too early (Timing, point 4).
// Dropping it at once would let the other side's majority shrink under a
// lease that still stands.
func (n *Node) numVoters() int {
	c := 0
	for _, p := range n.members {
		if n.counts(p) {
			c++
		}
	}
	return c
}

func (n *Node) counts(p *peer) bool {
	return p.member.State != MemberLeft || p.heardLeft || n.now-p.leftAt < n.tm.VoteHold
}

func (n *Node) isVoter(id NodeID) bool {
	p, ok := n.members[id]
	return ok && n.counts(p)
}

// aliveOthers lists the members the membership layer reports alive, self
// excluded, in id order.
func (n *Node) aliveOthers() []NodeID {
	var ids []NodeID
	for _, id := range n.order {
		if id != n.p.Self && n.members[id].member.State == MemberAlive {
			ids = append(ids, id)
		}
	}
	return ids
}

func (n *Node) voterIDs() []NodeID {
	var ids []NodeID
	for _, id := range n.order {
		if n.counts(n.members[id]) {
			ids = append(ids, id)
		}
	}
	return ids
}

func (n *Node) onMembership(ev MembershipChanged) {
	seen := map[NodeID]bool{n.p.Self: true}
	changed := false
	reset := ev.ResetGen > n.st.ResetGen
	if reset {
		n.st.ResetGen = ev.ResetGen
		changed = true
		defer n.dropStaleSlots() // once the view below has removed them
	}
	n.applyPriorities(ev.Priorities)
	for _, m := range ev.Members {
		seen[m.ID] = true
		if m.ID == n.p.Self {
			continue
		}
		changed = n.rememberVoter(m) || changed
		n.viewMember(m, true)
	}
	for _, id := range append([]NodeID(nil), n.order...) {
		if seen[id] {
			continue
		}
		p := n.members[id]
		known, left := n.knownVoter(id)
		switch {
		case known && reset:
			changed = n.forgetVoter(id) || changed
			delete(n.members, id)
		case left:
			// Left cleanly: known as left (the primary agent left: no
			// failover), counting until its vote hold ends.
			if p.member.State != MemberLeft {
				n.viewMember(Member{ID: id, Kind: p.member.Kind, State: MemberLeft}, false)
			}
		case known:
			// Not in the view but never seen leaving: a restarted agent
			// that has not joined yet, or a member the view dropped. It
			// counts as DOWN; no reaction beyond that (the real membership
			// layer drops a member that stopped cleanly, and an agent stop
			// is not a failure; a dead primary is still caught by its
			// silence, watchPrimary).
			n.viewMember(Member{ID: id, Kind: p.member.Kind, State: MemberDown}, false)
		case p.member.State == MemberLeft && n.counts(p):
			// Left cleanly: its vote hold still runs (counts).
		default:
			delete(n.members, id)
		}
	}
	n.order = n.order[:0]
	for id := range n.members {
		n.order = append(n.order, id)
	}
	sort.Slice(n.order, func(i, j int) bool { return n.order[i] < n.order[j] })
	n.endHoldsOfGone()
	if changed {
		n.persist()
	}
}

// applyPriorities takes the set-priority values of the view. The
// membership's shared state is their only source, so every agent, a
// restarted one and a new coordinator included, fails over by the same
// values. A value also overrides the node's promotable (myStatus,
// situation).
func (n *Node) applyPriorities(prios map[NodeID]int) {
	if prios == nil || maps.Equal(prios, n.setPriority) {
		return
	}
	n.setPriority = maps.Clone(prios)
	n.priority = withPriorities(n.priority, prios)
	n.log(slog.LevelInfo, "failover priorities set", "priorities", prios, "list", n.priority)
}

// withPriorities places the nodes with a set priority p > 0 in list at
// place p (1 = first) or, when an earlier one took it, just after it,
// ordered by (priority, id) so that every agent orders them alike whatever
// order the commands came in. Priority 0 takes a node out; the others keep
// their order.
func withPriorities(list []NodeID, prios map[NodeID]int) []NodeID {
	var set []NodeID
	for id, p := range prios {
		if p > 0 {
			set = append(set, id)
		}
	}
	sort.Slice(set, func(i, j int) bool {
		a, b := set[i], set[j]
		return prios[a] < prios[b] || prios[a] == prios[b] && a < b
	})
	var rest []NodeID
	for _, id := range list {
		if _, ok := prios[id]; !ok {
			rest = append(rest, id)
		}
	}
	out := make([]NodeID, 0, len(rest)+len(set))
	for _, id := range set {
		for len(out) < prios[id]-1 && len(rest) > 0 {
			out, rest = append(out, rest[0]), rest[1:]
		}
		out = append(out, id)
	}
	return append(out, rest...)
}

// viewMember applies one member's state from a view; react says whether a
// member going DOWN or leaving is acted upon (memberLost).
func (n *Node) viewMember(m Member, react bool) {
	old, known := n.members[m.ID]
	prev := MemberState(0)
	if known {
		prev = old.member.State
		if m.Kind == 0 {
			m.Kind = old.member.Kind
		}
	}
	n.addMember(m)
	if m.State != prev {
		n.members[m.ID].heardLeft = false
	}
	if m.State == MemberLeft && prev != MemberLeft {
		n.members[m.ID].leftAt = n.now
	}
	if react && prev != m.State && (m.State == MemberDown || m.State == MemberLeft) && prev != 0 {
		n.memberLost(m.ID, m.State)
	}
	if m.State == MemberAlive && prev == MemberDown {
		n.log(slog.LevelDebug, "member is back", "member", m.ID)
	}
}

// memberLost reacts to a member going DOWN or leaving (efm-reference §5).
func (n *Node) memberLost(id NodeID, st MemberState) {
	p := n.members[id]
	if id == n.st.Primary && id != n.p.Self {
		if st == MemberLeft && !n.p.PrimaryShutdownAsFailure {
			n.notifyOnce(subject.PrimaryAgentLeft,
				fmt.Sprintf("The primary agent on %s stopped. There is no failover protection until it is started again; its database is untouched.", id))
			return
		}
		trig := TriggerPrimaryLost
		if st == MemberLeft {
			trig = TriggerPrimaryLeft
		}
		n.suspect(trig, "membership reports the primary agent "+st.String())
		return
	}
	if st != MemberDown || !n.isReporter() {
		return
	}
	switch {
	case p.member.Kind == KindWitness:
		n.notifyOnce(subject.WitnessFailure, fmt.Sprintf("The witness agent on %s failed.", id))
	case p.status.Role == RoleIdle:
		n.notifyOnce(subject.IdleAgentFailure, fmt.Sprintf("The idle agent on %s failed.", id))
	default:
		// Standby lost: check its database to tell "agent failed" from
		// "node failed" (efm-reference §5).
		seq := n.await(pendingOp{awaits: awaitLostStandby, node: id})
		n.emit(CheckRemoteDB{Seq: seq, Node: id, Timeout: n.p.RemoteTimeout})
		n.dropFromPriority(id)
	}
	alive := 1 + len(n.aliveOthers())
	if alive < 3 {
		n.notifyOnce(subject.ClusterBelowThreeNodes,
			fmt.Sprintf("Only %d agents are running: a primary node loss can no longer be told from an isolation.", alive))
	}
}

// isReporter: cluster-level notifications about other members come from one
// agent only, the alive member with the smallest id, so the operator gets one
// mail, not one per agent.
func (n *Node) isReporter() bool {
	a := n.aliveOthers()
	return len(a) == 0 || n.p.Self < a[0]
}

func (n *Node) dropFromPriority(id NodeID) {
	out := n.priority[:0]
	for _, p := range n.priority {
		if p != id {
			out = append(out, p)
		}
	}
	n.priority = out
}

// myStatus is what this node tells others about itself.
func (n *Node) myStatus() NodeStatus {
	s := NodeStatus{Role: n.role, Kind: n.p.Kind}
	if n.p.Kind == KindDatabase {
		pr := n.local.last
		s.DBReachable = pr.Reachable
		s.InRecovery = pr.InRecovery
		s.ReceivedLSN = pr.ReceivedLSN
		s.ReplayLSN = pr.ReplayLSN
		s.CurrentLSN = pr.CurrentLSN
		s.ReplayPaused = n.standby.replayPaused
		s.Timeline = pr.Timeline
		s.Following = n.standby.following
		s.WALReceiver = pr.WALReceiver
		s.Promotable = n.p.Promotable
		s.App = n.p.AppName
		if pr, ok := n.setPriority[n.p.Self]; ok {
			s.Promotable = pr > 0
		}
	}
	return s
}

// sendHeartbeat broadcasts this node's status; from the primary it is also
// a lease renewal request (round > 0).
func (n *Node) sendHeartbeat(round uint64) {
	st := n.myStatus()
	n.broadcast(Message{Type: MsgHeartbeat, Round: round, Status: &st})
}

func (n *Node) onHeartbeat(from NodeID, m Message) {
	if m.Round == 0 {
		return
	}
	// A renewal request: from an acting primary (or a candidate taking its
	// lease) of m.Epoch.
	n.onRenewal(from, m)
}

// Status returns this node's view of the cluster (for cluster-status).
func (n *Node) Status() ClusterView {
	v := ClusterView{
		Self:      n.p.Self,
		Role:      n.role,
		Epoch:     n.st.Epoch,
		Primary:   n.st.Primary,
		Priority:  append([]NodeID(nil), n.priority...),
		HasLease:  n.leaseValid(),
		Promoting: n.candidacy != nil,
	}
	if v.HasLease {
		v.LeaseUntil = n.lease.validFrom + n.tm.Lease
	}
	for _, id := range n.order {
		p := n.members[id]
		ms := MemberStatus{Member: p.member, Status: p.status}
		if p.heard {
			ms.LastSeen = p.lastSeen
		}
		if id == n.p.Self {
			ms.Status = n.myStatus()
			ms.LastSeen = n.now
		}
		v.Members = append(v.Members, ms)
	}
	return v
}
