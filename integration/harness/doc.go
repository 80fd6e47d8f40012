// Package harness builds the world OpenEFM's integration tests run in: a
// private L2 network of Linux network namespaces on a bridge that lives in a
// namespace of its own (nothing touches the root namespace and nothing is
// routed off the machine), real PostgreSQL 15 primaries and streaming standbys
// running as the postgres OS user inside those namespaces, processes (agents,
// the efm CLI) started inside a host's namespace, and the two instruments the
// failover tests judge by: a writer client that commits a row every 20 ms
// through the virtual IP, and a probe that asks every database whether it
// accepts a write.
//
// The API takes a TB (Logf + Cleanup), so a *testing.T works as is and a demo
// program can use a Standalone (call Close on exit and on SIGINT).
// Everything created is registered for teardown; Sweep, run once per process
// by NewNetwork, removes what a crashed earlier run left behind.
//
// A failover test reads:
//
//	c, err := harness.NewCluster(ctx, t, harness.ClusterOptions{})  // n1 primary, n2, n3, witness, client
//	err = c.StartAgents(ctx)                                      // builds ./cmd/efm once
//	w, p := c.StartWriter(harness.WriterOptions{}), c.StartProbe()
//	fault := time.Now()
//	_, err = c.DB[0].KillPostmaster()                             // or c.Net.CutLink, c.Net.KillHost, c.Agent("n1").Stop()
//	err = w.WaitAcks(ctx, 30*time.Second, fault, 10)              // writes resumed through the VIP
//	wr, pr := w.Stop(), p.Stop()
//	gap := wr.MaxGapAfter(fault)                                  // write unavailability, t.Logf it
//	lost, err := wr.Lost(ctx, c.PG("n2"))                         // acknowledged commits missing on the new primary
//	first, _ := pr.FirstWritable("n2", fault)
//	overlaps := pr.OverlapsAfter(first)                           // must be empty: never two writable primaries
//	last, _ := pr.LastWritable("n1")                              // the old primary's last accepted write
//
// With ClusterOptions.HAProxy the cluster has an "lb" host and every agent a
// health port; c.StartHAProxy runs Debian's haproxy there with
// examples/haproxy/haproxy.cfg, c.StartWriterVia(lb.Write, ...) commits
// through its write port, and c.WatchHealth polls one agent's endpoint.
// With ClusterOptions.Pgpool the cluster has a "pgpool" host;
// c.StartPgpool runs Debian's pgpool2 there with examples/pgpool/pgpool.conf
// and the cluster's databases as backends, and pp.Client(h) is OpenEFM's
// PCP client (internal/pgpool) running its commands in h's namespace.
//
// Everything here needs root (network namespaces, setns, running PostgreSQL
// as another user). SkipReason says why a machine cannot run the tests;
// integration/setup-host.sh installs the Debian packages they use.
package harness
