package core

// promotedMsg announces this node's finished promotion. It carries the new
// primary's status (Role Primary): a standby re-points only at a member
// whose last status says Primary (standbyTimers), and without it here the
// other standbys waited for the next status heartbeat, up to one renewal
// interval (10 s with EFM's node.timeout of 50 s) after the promotion,
// while a synchronous client's commits waited for one of them to stream
// again (measured: 11.3 s of a 44 s write gap).
func (n *Node) promotedMsg(c *candidacy, failed NodeID) Message {
	st := n.myStatus()
	return Message{Type: MsgPromoted, Epoch: c.epoch, Primary: n.p.Self, FailedPrimary: failed, Priority: n.priority, Status: &st}
}
