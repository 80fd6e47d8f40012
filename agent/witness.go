package agent

import (
	"github.com/openefm/efm/internal/config"
	"github.com/openefm/efm/internal/core"
	"github.com/openefm/efm/internal/membership"
)

// A witness (is.witness=true) is this agent with less to do, not another
// program: it joins the membership as a witness, votes, holds the cluster's
// shared state, answers lease renewals and probes the primary's database
// directly when asked, through the same core (as core.KindWitness) and the
// same shell as a database node. The simulator proves properties of
// exactly the code a witness runs; a witness package of its own would split
// one process across two packages for the few lines below.
//
// What a witness does not do is decided in this file and nowhere else:
//   - it has no local database: no connection, no probes of its own, no
//     custom monitor, and every database operation is refused (noDB);
//   - it never promotes and never holds the VIP, so it runs no fencing: no
//     ping.server.command, no VIP interface to check.

// coreKind is the node's kind as the core sees it.
func coreKind(cfg *config.Config) core.Kind {
	if cfg.IsWitness {
		return core.KindWitness
	}
	return core.KindDatabase
}

// membershipKind is the node's kind as the other agents see it.
func membershipKind(cfg *config.Config) membership.Kind {
	if cfg.IsWitness {
		return membership.KindWitness
	}
	return membership.KindDatabase
}

// hasLocalDB reports whether a PostgreSQL runs beside this agent.
func hasLocalDB(cfg *config.Config) bool { return !cfg.IsWitness }

// holdsVIP reports whether this node may add virtual.ip to its interface.
func holdsVIP(cfg *config.Config) bool { return hasLocalDB(cfg) && cfg.VirtualIP != "" }

// usesPing reports whether the agent will run ping.server.command: only a
// database node with a VIP to check or a ping.server.ip to probe does. A
// witness never promotes, so it never probes.
func usesPing(cfg *config.Config) bool {
	return hasLocalDB(cfg) && (cfg.VirtualIP != "" || cfg.PingServerIP != "")
}
