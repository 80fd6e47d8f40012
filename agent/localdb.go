package agent

import (
	"log/slog"

	"github.com/openefm/efm/internal/config"
	"github.com/openefm/efm/internal/hooks"
	"github.com/openefm/efm/internal/pg"
)

// LocalDB is this node's database with exactly the agent's connection and
// server-control settings (password sources included), for efm commands
// that act on it themselves, such as create-standby.
func LocalDB(cfg *config.Config, log *slog.Logger) (*pg.DB, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	runner := &hooks.Runner{Logger: log.With("component", "hooks"), Cluster: cfg.Cluster,
		Node: cfg.BindAddress.Host, VIP: cfg.VirtualIP, DBServiceOwner: cfg.DBServiceOwner}
	return pg.New(pgConfig(cfg, runner), log.With("component", "pg"))
}
