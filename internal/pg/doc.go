// Package pg is the agent's hands on its local PostgreSQL: it connects
// (pgx, libpq-style sslmode, EFM password sources), probes the role and WAL
// positions, and performs the operations failover needs — pause/resume
// replay, promote (then CHECKPOINT), stop (fast, immediate, kill) / start /
// restart as the service owner, fence an old primary with standby.signal,
// point a standby at a new primary, turn an old primary into a standby,
// rebuild a diverged one (Rejoin: a timeline guard, pg_rewind, a
// pg_basebackup fallback that keeps the old directory), build a new
// standby (CreateStandby), keep physical slots for peers, and change
// synchronous_standby_names. When to heal is the failover core's decision;
// see docs/healing.md.
//
// Everything that blocks takes a context and additionally bounds itself with
// the timeouts in Config, so a hung server or a hung pg_ctl can never hang
// the agent. Errors name the node (Config.Node) and, for file and process
// operations, the data directory.
//
// The package keeps its own LSN type on purpose: it is self-contained and
// converting to another uint64-based LSN is a cast.
//
// Settings this package writes (primary_conninfo, restore_command) go to
// postgresql.auto.conf, through ALTER SYSTEM when the server runs and by a
// careful line edit when it is stopped; per-node settings such as port,
// listen_addresses and unix_socket_directories are never touched. pg_rewind
// and pg_basebackup copy postgresql.conf, pg_hba.conf and
// postgresql.auto.conf from their source; Rewind puts the node's own files
// back afterwards.
//
// Files in the data directory are written as the service owner: directly
// when the agent is root (then chowned) or the owner, else through
// sudo.user.command. Server commands run the same way (process credentials
// for a root agent, so no sudo is needed).
package pg
