// Package health decides what the HTTP health endpoints on
// primary.health.check.port answer: EFM 5.4's "/" (200 on the primary, 404
// elsewhere) and the paths Patroni users route with (/primary, /replica,
// /read-only, /health, /liveness, /readiness).
//
// The decision is one pure function, Answer, of a Snapshot the agent
// publishes after every step of its core; the HTTP server (in the agent)
// never touches the database on the request path, so a load balancer may
// check every second at no cost.
//
// The rule that matters: the primary's 200 is bounded by a deadline,
// Snapshot.WritableUntil, evaluated at request time. The agent sets it to
// the end of the lease minus the fencing allowance, the moment the core
// starts fencing; so a primary that loses its lease stops answering 200
// before its database stops accepting writes, even when the agent's loop
// is stalled and the snapshot is old, and a new primary answers 200 only
// once it holds a lease.
package health
