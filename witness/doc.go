// Package witness is OpenEFM's witness mode: an agent with no database
// that votes, holds the cluster's shared state, answers lease renewals and
// checks the primary database directly when asked, so that a cluster of two
// database nodes can still tell a dead primary from a cut link.
//
// A witness is the ordinary agent started with is.witness=true: the same
// failover core runs with core.KindWitness, which is never promotable and
// never probes a local database. Keeping one code path for both kinds is
// deliberate: the simulator proves properties of exactly the code the
// witness runs.
package witness
