// Package fencing moves the cluster's virtual IP and answers the
// reachability questions a failover depends on.
//
// A Manager adds the VIP to the primary's interface with netlink
// (AddrReplace, so acquiring twice is harmless), announces the move with
// gratuitous ARP (IPv4) or unsolicited neighbour advertisements (IPv6),
// releases it, and probes addresses with EFM's ping.server.command.
//
// The announcement matters more than it looks: field-notes measured clients
// holding the old MAC for 54 s after a VIP move without one, and 0.6 s for a
// whole failover with one. The probe matters for safety: a standby promotes
// only once the VIP stops answering, so a probe that cannot run must never
// read as "free" (see NewManager's check of the ping binary).
//
// Everything here acts on the network namespace of the calling thread,
// as the agent runs in one namespace; tests that use several namespaces
// pin the goroutine to a thread and switch it (see netns_test.go).
package fencing
