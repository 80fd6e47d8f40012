package agent

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/openefm/efm/internal/config"
	"github.com/openefm/efm/internal/core"
	"github.com/openefm/efm/internal/pgpool"
)

// pcp is what the shell uses of internal/pgpool's client.
type pcp interface {
	Backend(ctx context.Context, host string, port int) (pgpool.Node, error)
	Attach(ctx context.Context, host string, port int) (pgpool.Node, error)
	Detach(ctx context.Context, host string, port int) (pgpool.Node, error)
	Promote(ctx context.Context, host string, port int) (pgpool.Node, error)
}

// pgpoolPoll is how often a Pgpool action asks Pgpool whether it is done.
// One look is pcp_node_count and one pcp_node_info per backend.
const pgpoolPoll = 200 * time.Millisecond

// pgpoolShell carries out the core's Pgpool actions against one Pgpool.
// Nodes are Pgpool backends at the node's address and db.port (every node
// of a cluster uses the same db.port, as in EFM).
type pgpoolShell struct {
	c    pcp
	port int
	log  *slog.Logger
	poll time.Duration
}

func newPgpoolShell(cfg *config.Config, log *slog.Logger) (*pgpoolShell, error) {
	c, err := pgpool.New(pgpool.Config{Bin: cfg.PgpoolBin, Host: cfg.PCPHost, Port: cfg.PCPPort,
		User: cfg.PCPUser, PassFile: cfg.PCPPassFile})
	if err != nil {
		return nil, err
	}
	return &pgpoolShell{c: c, port: cfg.DBPort, log: log, poll: pgpoolPoll}, nil
}

// do runs a within ctx: the PCP command, unless Pgpool already shows the
// state it asks for, then looks until Pgpool shows it (the PCP commands
// return once Pgpool queued the request). An attach first waits for
// Pgpool to name a.Primary its primary: Pgpool marks every other backend
// down when it promotes one, which would undo an attach made before.
func (p *pgpoolShell) do(ctx context.Context, a core.Pgpool) error {
	host := string(a.Node)
	var done func(pgpool.Node) bool
	var act func(context.Context, string, int) (pgpool.Node, error)
	switch a.Op {
	case core.PgpoolPromote:
		done = func(n pgpool.Node) bool { return n.Status.Up() && n.Role == "primary" }
		act = p.c.Promote
	case core.PgpoolDetach:
		done = func(n pgpool.Node) bool { return n.Status == pgpool.StatusDown }
		act = p.c.Detach
	case core.PgpoolAttach:
		done = func(n pgpool.Node) bool { return n.Status.Up() }
		act = p.c.Attach
		if a.Primary != "" && a.Primary != a.Node {
			// Half the time at most: the attach itself needs the rest.
			wctx, cancel := context.WithCancel(ctx)
			if dl, ok := ctx.Deadline(); ok {
				wctx, cancel = context.WithTimeout(ctx, time.Until(dl)/2)
			}
			err := p.waitPrimary(wctx, string(a.Primary))
			cancel()
			if err != nil {
				// Attach anyway: a standby left down serves nobody, and
				// the error says why it may be marked down again.
				p.log.Warn("attaching to Pgpool before it names the primary", "node", a.Node, "primary", a.Primary, "err", err)
			}
		}
	default:
		return fmt.Errorf("unknown Pgpool operation %v", a.Op)
	}
	// A PCP command can fail for a moment: Pgpool restarts its PCP worker
	// while it carries out a promote or a failover, and a command sent then
	// gets "unable to read data from socket". Look and act again until the
	// deadline; every look first asks whether the work is done already, so
	// a command that went through although its answer was lost is not sent
	// twice.
	what := fmt.Sprintf("Pgpool %s of node %s", a.Op, host)
	for first := true; ; first = false {
		n, err := p.c.Backend(ctx, host, p.port)
		if err == nil && done(n) {
			if first {
				p.log.Info("Pgpool already shows the node as wanted", "op", a.Op, "node", host, "backend", n.ID, "status", n.Status, "role", n.Role)
			}
			return nil
		}
		if err == nil {
			if _, err = act(ctx, host, p.port); err == nil {
				return p.until(ctx, what, host, done)
			}
		}
		p.log.Warn("Pgpool command failed; trying again until its deadline", "op", a.Op, "node", host, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", what, err)
		case <-time.After(p.poll):
		}
	}
}

// waitPrimary waits until Pgpool names the backend of primary its primary.
func (p *pgpoolShell) waitPrimary(ctx context.Context, primary string) error {
	return p.until(ctx, "waiting for Pgpool to name "+primary+" primary", primary,
		func(n pgpool.Node) bool { return n.Status.Up() && n.Role == "primary" })
}

// until looks at host's backend every poll until done says so; the last
// state seen is in the error when ctx ends first.
func (p *pgpoolShell) until(ctx context.Context, what, host string, done func(pgpool.Node) bool) error {
	var last string
	for {
		n, err := p.c.Backend(ctx, host, p.port)
		switch {
		case err == nil && done(n):
			return nil
		case err == nil:
			last = fmt.Sprintf("backend %d is %s, role %q", n.ID, n.Status, n.Role)
		default:
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: not done in time (%w); last seen: %s", what, ctx.Err(), last)
		case <-time.After(p.poll):
		}
	}
}
