// Package membership is the agents' cluster membership layer over
// hashicorp/memberlist.
//
// It answers four questions for the failover core, all from one node's
// point of view: who the members are and what each reports itself to be
// (Primary, Standby, Witness, Idle, or DOWN when it failed without
// leaving); whether this node sees a strict majority of the voting
// members, exactly half, or fewer, and since when; who the membership
// coordinator is and what cluster-wide shared state it holds (the allowed
// host list, the standby priority list); and how to reach a member with a
// message.
//
// Why not just memberlist's view: memberlist's failure detector is tuned
// for large clusters and measured slow on the isolated side (the
// SuspicionMult / Lifeguard k-confirmation trap, field-notes.md §2). So
// reachability and isolation come from an explicit heartbeat of our own,
// a request/ack round trip to every voter every Timing.Heartbeat, whose
// bound is computed from NodeTimeout alone (see timing.go). memberlist
// stays responsible for joining, leaving, encryption, gossip and
// push/pull of the shared state.
//
// Failed members keep counting in the cluster size until ResetMembers;
// members that leave cleanly (Leave) do not. A background loop keeps
// re-joining every known address, because memberlist alone never heals a
// partition longer than GossipToTheDeadTime.
package membership
