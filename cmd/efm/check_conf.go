package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/openefm/efm/agent"
	"github.com/openefm/efm/internal/config"
	"github.com/openefm/efm/internal/core"
)

func init() {
	register(&command{
		name:    "check-conf",
		summary: "validate <cluster>.properties and <cluster>.nodes without starting anything (OpenEFM only)",
		detail: `Reports what the agent would report at start: exit 0 with the warnings, or
exit 1 with every error, one line each. Besides the two files it runs the
agent's own start checks: the agent key file, the VIP's interface, the ping
command (only where it will be used) and its self-test, every script.*
program, db.password.encrypted and the jdbc.properties TLS files. A valid
configuration is followed by the times its timers predict: how long until a
new primary takes writes after each kind of failure, and the longest
network stall or agent pause tolerated without a failover.`,
		run: runCheckConf,
	})
}

func runCheckConf(inv *invocation) int {
	cfg, _, ok := inv.loadConfig(true)
	if !ok {
		return 1
	}
	failed := false
	if _, err := readNodes(cfg); errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(inv.stderr, "warning: %s does not exist: the agent will start as the first node of the cluster\n", cfg.NodesPath())
	} else if err != nil {
		fmt.Fprintln(inv.stderr, err)
		failed = true
	}
	// The agent's own start checks, through the same function.
	for _, err := range agent.Preflight(context.Background(), cfg) {
		fmt.Fprintln(inv.stderr, err)
		failed = true
	}
	if failed {
		return 1
	}
	fmt.Fprintf(inv.stdout, "%s: configuration of cluster %q is valid.\n", cfg.Path, cfg.Cluster)
	// What these timers give, before a failure teaches it
	// (docs/configuration.md, "Timers", has the formulas).
	fmt.Fprintln(inv.stdout, "Predicted times with these timers (the same on every node):")
	for _, pr := range core.Predict(agent.CoreParams(cfg)) {
		fmt.Fprintf(inv.stdout, "  %s\n", pr)
	}
	return 0
}

func readNodes(cfg *config.Config) ([]string, error) {
	nodes, err := config.ReadNodes(cfg.NodesPath())
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, fmt.Sprint(n))
	}
	return out, nil
}
