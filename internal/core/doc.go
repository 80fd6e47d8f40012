// Package core is the failover decision logic of an OpenEFM agent, written as a
// deterministic state machine in the style of etcd's raft package.
//
// A Node never does I/O, never reads a clock, starts no goroutine and draws no
// random number. The shell around it (package agent, or the simulator in
// internal/sim) feeds it events with Step and performs the actions Step
// returns, in order:
//
//	acts := node.Step(now, core.Tick{})
//	for _, a := range acts { shell.do(a) }
//
// now is a monotonic time.Duration since an arbitrary origin that is private
// to the node; the core never compares its own times with another node's.
//
// Rules the shell must follow:
//   - Persist actions must be durable (fsync) before any later action of the
//     same batch is executed, in particular before a Send: a vote or an epoch
//     must never be visible to another node before it survives a crash.
//   - Actions with a Seq produce exactly one result event carrying the same
//     Seq (LocalDBProbe, RemoteDBResult, VIPResult, PingResult, DBOpResult,
//     ScriptResult). Each such action carries a Timeout; the shell reports a
//     failure when it expires rather than blocking.
//   - Step is not safe for concurrent use; the shell serialises events.
//   - Tick at Params.TickInterval or faster; timers fire on the first Step
//     whose now passed their deadline.
//
// The safety argument (leases, epochs, votes) is written next to the code
// that enforces it, in timing.go, lease.go and vote.go.
package core
