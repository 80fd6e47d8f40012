package main

import (
	"context"
	"errors"
	"fmt"
	"os/signal"
	"syscall"

	"github.com/openefm/efm/agent"
)

func init() {
	register(&command{
		name:    "agent",
		summary: "run the agent of <cluster> in the foreground (what the systemd unit starts)",
		detail: `Validates the configuration (every error is reported, one line each, and the
agent refuses to start), takes <lock.dir>/<cluster>.lock, writes
<pid.dir>/<cluster>.pid, logs to stderr and <log.dir>/<cluster>.log, serves
the efm command on <pid.dir>/<cluster>.sock, and stops cleanly on SIGTERM or
SIGINT. Stopping the agent never releases the VIP or touches the database.
Before it takes anything it runs the checks of efm check-conf.`,
		run: runAgent,
	})
}

func runAgent(inv *invocation) int {
	// The agent logs the warnings itself, to its log file too.
	cfg, warnings, ok := inv.loadConfig(false)
	if !ok {
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	err := agent.Run(ctx, cfg, agent.Options{Stderr: inv.stderr, Warnings: warnings})
	if err != nil {
		var pre agent.PreflightError
		if errors.As(err, &pre) {
			// One line per problem, each naming the file and the key,
			// exactly as efm check-conf prints them.
			for _, e := range pre {
				fmt.Fprintln(inv.stderr, e)
			}
			return 1
		}
		var held *agent.HeldError
		if errors.As(err, &held) {
			fmt.Fprintf(inv.stderr, "efm agent: %v\n", err)
			return 1
		}
		fmt.Fprintf(inv.stderr, "efm agent %s: %v\n", inv.cluster, err)
		return 1
	}
	return 0
}
