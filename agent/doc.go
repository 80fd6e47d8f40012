// Package agent is the node agent: the imperative shell around the pure
// failover core (internal/core). It owns the process lifecycle (cluster
// lock, pid file, logs, signals), feeds the core with events from
// membership, database probes, timers and admin commands, and carries out
// the actions the core returns: database operations, the virtual IP, hook
// scripts and notifications. A witness (is.witness=true) is this same
// agent; witness.go says what it leaves out.
package agent
