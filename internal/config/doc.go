// Package config reads and checks an OpenEFM cluster's two files, in the
// dialect of EDB Failover Manager 5.x:
//
//   - <cluster>.properties: Java-properties key=value lines (read with
//     knadh/koanf through a magiconair/properties parser, keys kept flat so
//     virtual.ip and virtual.ip.interface never collide), one typed Config
//     field per key, EFM's defaults;
//   - <cluster>.nodes: the whitespace-separated address:port list of the
//     agents to join (ReadNodes, WriteNodes).
//
// The cluster name is the base name of the properties file, as in EFM.
//
// A file written for EFM 5.x loads unchanged. Every problem that would make
// the agent misbehave refuses the start, all of them at once, one line each
// naming the file and key (see Errors): unknown keys (with the nearest known
// one suggested), renamed EFM 4.x and older keys (naming the new key), bad
// values (naming what is accepted), required keys missing for this kind of
// node, and contradictions such as ping.server.ip equal to virtual.ip.
// Things that are merely odd come back as warnings, one line each: keys that
// only mattered to EFM's Java implementation, keys of features not built
// yet (the notBuilt list in lists.go), a key set twice (Java keeps the last
// silently), remote.timeout above local.timeout.
//
// ping.server.ip deliberately has no default here (EFM's is 8.8.8.8, which
// sends traffic off the machine and fails in isolated networks): unset means
// no orphan check. The run-time directories default to /run/lock/efm,
// /run/efm and /var/log/efm.
//
// Keys() describes every known key; efm.properties.example at the repository
// root is generated from it (go test ./internal/config -run TestExample -update).
package config
