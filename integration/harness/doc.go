// Package harness builds the world OpenEFM's integration tests run in: a
// private L2 network of Linux network namespaces on a bridge that lives in a
// namespace of its own (nothing touches the root namespace and nothing is
// routed off the machine), real PostgreSQL 15 primaries and streaming standbys
// running as the postgres OS user inside those namespaces, processes (agents,
// the efm CLI) started inside a host's namespace, and the two instruments the
// failover tests judge by: a writer client that commits a row every 20 ms
// through the virtual IP, and a probe that asks every database, from inside
// its host, whether it accepts a write.
//
// The API takes a TB (Logf + Cleanup), so a *testing.T works as is and a demo
// program can use a Standalone. Everything created is registered for
// teardown; Sweep removes what a crashed earlier run left behind.
//
// Everything here needs root (network namespaces, setns, running PostgreSQL
// as another user). SkipReason says why a machine cannot run the tests.
package harness
