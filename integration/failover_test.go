package integration

import "testing"

// The real-failover tests. They need the efm agent (./cmd/efm, built once per
// test process by harness.BuildEFM) and are written once the agent works.
// Each follows the same shape: a network of n1, n2, n3 and a witness; a
// primary on n1 with streaming standbys on n2 and n3; an agent per host
// (harness.NewEFMConfig + harness.StartAgent); the writer from the witness
// through the VIP and the probe on every server; the fault; then the
// assertions: writes resume through the VIP, no acknowledged commit is lost
// beyond what the replication mode allows, no two servers writable once the
// new primary took its first write, the old primary never writable after
// it fenced.

// n1's postmaster gets SIGKILL while its agent stays up: the agents must
// confirm the failure and promote the most advanced standby.
func TestFailoverPrimaryPostmasterKilled(t *testing.T) {
	requireHarness(t)
	t.Skip("agent not wired yet")
}

// n1's link is cut with every process alive: n1 must fence itself (lease
// lost) before the majority promotes, and must never be writable after.
func TestFailoverPrimaryHostIsolated(t *testing.T) {
	requireHarness(t)
	t.Skip("agent not wired yet")
}

// n1's agent gets SIGKILL while its database is healthy: the others can
// still reach the database, so there must be no failover (no doubt, no
// promotion), only a notification.
func TestPrimaryAgentKilledNoFailover(t *testing.T) {
	requireHarness(t)
	t.Skip("agent not wired yet")
}
