// Package pgpool is the agent's hands on Pgpool-II: it runs Pgpool's PCP
// client programs (pcp_node_count, pcp_node_info, pcp_attach_node,
// pcp_detach_node, pcp_promote_node) from pgpool.bin against pcp.host:pcp.port as pcp.user,
// with the password taken from pcp.pass.file (PCPPASSFILE; -w, so a
// missing or unusable password fails instead of prompting), exactly as EDB
// EFM's efm_pgpool_functions does.
//
// OpenEFM names nodes by address; Pgpool names backends by index. Backend
// maps one to the other by asking Pgpool (pcp_node_info) for each
// backend's hostname and port, never by position in a list: a wrong index
// would detach or promote the wrong database.
//
// Every command has a deadline (Config.Timeout) and errors name the
// command, the node and the PCP endpoint. When to call Pgpool is the
// failover core's decision; this package only does what it is told.
package pgpool
