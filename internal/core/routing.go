package core

import (
	"fmt"
	"time"

	"github.com/openefm/efm/internal/notify/subject"
)

// Routing: the load balancers in front of the databases are told which node
// takes writes and which no longer takes anything, through
// script.load.balancer.attach/detach (%h, %t) and, with pgpool.enable,
// Pgpool-II's PCP commands (the Pgpool action). The core decides when and
// which agent tells them, so that exactly one agent issues each command:
//
//	new primary after a promotion            the promoted agent: attach p, Pgpool promote
//	old primary whose agent did not answer   the promoted agent, just before: detach p
//	  the failover check (node dead, isolated)
//	old primary whose database failed        its own agent, at the failure: detach p
//	old primary of a switchover / promote    its own agent, as it hands over: detach p
//	primary agent failed, database running   the coordinator, with detach.on.agent.failure,
//	                                           once a majority's answers say so: detach p
//	standby whose database failed            its own agent: detach s
//	standby whose node failed                the reporting agent, if on the majority's side
//	                                           and not Idle (mayDetachLost): detach s
//	standby re-pointed at a new primary      itself: Pgpool attach (pcp_promote_node marked it down)
//	standby resumed (efm resume, the old     itself: attach s, Pgpool attach
//	  primary of a switchover, a rejoin)
//
// An isolated primary does not detach itself: it cannot tell whether it
// reaches the load balancer, and the majority's new primary does it.

// PgpoolOp is a PCP command on one node's backend.
type PgpoolOp uint8

const (
	// PgpoolPromote makes the node Pgpool's primary (pcp_promote_node).
	// Pgpool marks every other backend down as it does so.
	PgpoolPromote PgpoolOp = iota + 1
	// PgpoolDetach takes the node out of Pgpool (pcp_detach_node).
	PgpoolDetach
	// PgpoolAttach puts a standby back into Pgpool (pcp_attach_node).
	PgpoolAttach
)

var pgpoolOpNames = [...]string{"", "promote", "detach", "attach"}

func (o PgpoolOp) String() string {
	if int(o) < len(pgpoolOpNames) {
		return pgpoolOpNames[o]
	}
	return "pgpoolop?"
}

// Pgpool asks the shell to run Op on Node's backend in Pgpool-II and to
// wait, within Timeout, until Pgpool shows it done (the PCP commands return
// once Pgpool queued the request). The shell reports PgpoolResult. Pgpool
// actions run one at a time, in the order asked.
type Pgpool struct {
	Seq  uint64
	Op   PgpoolOp
	Node NodeID
	// Primary, for PgpoolAttach, is the primary the standby follows: the
	// shell waits (within Timeout) until Pgpool names it primary before
	// attaching, since a pcp_promote_node still to come would mark the
	// standby down again.
	Primary NodeID
	Timeout time.Duration
}

func (Pgpool) isAction() {}

// PgpoolResult answers a Pgpool action with the same Seq.
type PgpoolResult struct {
	Seq uint64
	OK  bool
	Err string
}

func (PgpoolResult) isEvent()            {}
func (e PgpoolResult) resultSeq() uint64 { return e.Seq }

// routingState is what the routing decisions remember.
type routingState struct {
	// attachOnStandby: this agent resumed; once its database is detected
	// as a standby it is attached to the load balancers.
	attachOnStandby bool
	// agentFailureDetached is one above the epoch whose primary was
	// detached for its agent's failure (detach.on.agent.failure), once per
	// epoch; 0 = none (epoch 0 is a cluster's first).
	agentFailureDetached uint64
}

// pgpoolTimeout bounds a Pgpool action: a few PCP round trips and the
// wait for Pgpool to carry it out, or for the new primary's promotion in
// Pgpool (an attach).
func (n *Node) pgpoolTimeout() time.Duration { return 6 * n.p.RemoteTimeout }

func (n *Node) pgpool(op PgpoolOp, id, primary NodeID) {
	if !n.p.Pgpool {
		return
	}
	seq := n.await(pendingOp{awaits: awaitPgpool, node: id, pgpool: op})
	n.emit(Pgpool{Seq: seq, Op: op, Node: id, Primary: primary, Timeout: n.pgpoolTimeout()})
}

// detachNode takes id out of the load balancers (%t typ: "p" or "s").
func (n *Node) detachNode(id NodeID, typ string) {
	n.runScript(ScriptLoadBalancerDetach, Placeholders{Host: id, Type: typ})
	n.pgpool(PgpoolDetach, id, "")
}

// attachPrimary sends writes to this node, just promoted: the detach of
// the old primary (if this agent is the one to do it) comes first, so that
// Pgpool never has two primaries.
func (n *Node) attachPrimary(detach NodeID) {
	if detach != "" && detach != n.p.Self {
		n.detachNode(detach, "p")
	}
	n.runScript(ScriptLoadBalancerAttach, Placeholders{Host: n.p.Self, Type: "p"})
	n.pgpool(PgpoolPromote, n.p.Self, "")
}

// attachStandby puts this node, a standby of the current primary, back
// into the load balancers.
func (n *Node) attachStandby() {
	n.runScript(ScriptLoadBalancerAttach, Placeholders{Host: n.p.Self, Type: "s"})
	n.pgpool(PgpoolAttach, n.p.Self, n.st.Primary)
}

// followedPrimary: this standby streams from a new primary, whose
// promotion in Pgpool marked it down: attach it again. The load balancer
// scripts are not called: they never detached a standby for a failover.
func (n *Node) followedPrimary(primary NodeID) {
	n.pgpool(PgpoolAttach, n.p.Self, primary)
}

// pgpoolDone: a Pgpool action finished; a failure is notified and changes
// nothing else (the failover never waits for Pgpool).
func (n *Node) pgpoolDone(op pendingOp, e PgpoolResult) {
	if e.OK {
		return
	}
	subj := subject.PgpoolAttachNodeError
	if op.pgpool == PgpoolDetach {
		subj = subject.PgpoolDetachNodeError
	}
	n.notify(subj, fmt.Sprintf("Pgpool %s of node %s failed: %s", op.pgpool, op.node, e.Err))
}

// primaryAgentFailed: the failover check found the primary's database
// running although its agent is gone (efm-reference §5). With
// detach.on.agent.failure the coordinator detaches it, once per epoch.
func (n *Node) primaryAgentFailed(primary NodeID) {
	if !n.p.DetachOnAgentFailure || primary == "" || primary == n.p.Self || n.routing.agentFailureDetached == n.st.Epoch+1 {
		return
	}
	if m, ok := n.members[primary]; ok && m.member.State == MemberAlive {
		return
	}
	// Only when a strict majority of the voters answered the check and
	// none of them heard the primary's agent renew: a primary that still
	// renews with some of them decides where writes go (an agent that was
	// isolated a moment ago has a stale view). The check repeats every
	// node.timeout meanwhile.
	f := n.failover
	if f == nil || !strictMajority(len(f.reports), n.numVoters()) || n.now-n.watch.heardAt <= n.tm.VoteHold {
		return
	}
	for _, r := range f.reports {
		if r.heardAgent {
			return
		}
	}
	n.routing.agentFailureDetached = n.st.Epoch + 1
	n.detachNode(primary, "p")
	n.notify(subject.PrimaryLeftAndDetached,
		fmt.Sprintf("The primary agent on %s failed while its database still runs; detach.on.agent.failure=true: the node is detached from the load balancer.", primary))
}

// mayDetachLost: a standby this reporter lost (agent and database
// unreachable) is detached only from the majority's side, by an agent that
// is not Idle, while its membership still reports the standby gone, and if
// nothing says it is the primary now: an isolated node sees every other
// node lost, the new primary among them, and an Idle old primary may not
// have heard of the promotion yet; neither must take the new primary out
// of the load balancers.
func (n *Node) mayDetachLost(id NodeID) bool {
	if id == n.st.Primary || n.role == RoleIdle {
		return false
	}
	// And only while this agent hears its primary (or is it): without a
	// primary a failover may be under way, and the "lost standby" may be
	// the candidate it elected, cut off from this agent alone (simulator
	// seeds 7171, 43772, 84300: a one-way cut, and the new primary was
	// detached as it took its lease).
	// A primary that resigned, or is otherwise suspected, counts as not
	// heard although its last renewal is recent (seed 42768: it fenced
	// itself on one side of a partition while the other side promoted
	// the "lost standby").
	if !n.lease.holder && (n.watch.suspect != 0 || !n.hearsPrimaryAgent(n.st.Primary)) {
		return false
	}
	p, ok := n.members[id]
	if !ok || p.member.State == MemberAlive || p.status.Role == RolePrimary || p.status.Role == RolePromoting {
		return false
	}
	return n.inMajority()
}

// inMajority: this agent and the voting members it sees alive are a strict
// majority of the voting members. An isolated agent sees every other node
// lost and must not act on it.
func (n *Node) inMajority() bool {
	alive := 1 // self
	for _, o := range n.aliveOthers() {
		if n.isVoter(o) {
			alive++
		}
	}
	return strictMajority(alive, n.numVoters())
}

// hearsPrimaryAgent: id is the primary of our epoch and its agent renewed
// within the lease hold (VoteHold).
func (n *Node) hearsPrimaryAgent(id NodeID) bool {
	if id != n.st.Primary || id == n.p.Self {
		return id == n.p.Self && n.lease.holder
	}
	return n.now-n.watch.heardAt <= n.tm.VoteHold
}
