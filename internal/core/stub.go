package core

type peer struct{ m Member }
type localMon struct{}
type leaseState struct{}
type voterState struct{}
type failover struct{}
type candidacy struct{}
type checkJob struct{}
type pendingOp struct{}

func (n *Node) handle(ev Event) {}
func (n *Node) timers()         {}
func (n *Node) addMember(m Member) {
	n.members[m.ID] = &peer{m: m}
}

// Status returns this node's view of the cluster.
func (n *Node) Status() ClusterView {
	return ClusterView{Self: n.p.Self, Role: n.role, Epoch: n.st.Epoch, Primary: n.st.Primary}
}
