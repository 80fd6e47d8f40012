package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/openefm/efm/internal/admin"
	"github.com/openefm/efm/internal/config"
)

// loadConfig reads the cluster's properties, printing every error (one line
// each) and every warning. ok is false when the configuration is unusable.
func (inv *invocation) loadConfig(showWarnings bool) (*config.Config, []string, bool) {
	cfg, warnings, err := config.Load(inv.configDir, inv.cluster)
	if showWarnings {
		for _, w := range warnings {
			fmt.Fprintf(inv.stderr, "warning: %s\n", w)
		}
	}
	if err != nil {
		fmt.Fprintln(inv.stderr, err)
		return nil, warnings, false
	}
	return cfg, warnings, true
}

// callAgent sends one request to the local agent of the cluster. It prints
// the failure itself and returns nil when there is no usable answer.
func (inv *invocation) callAgent(req admin.Request, timeout time.Duration) *admin.Response {
	cfg, _, ok := inv.loadConfig(false)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	resp, err := admin.Call(ctx, inv.cluster, cfg.SocketPath(), req)
	if err != nil {
		var nae *admin.NoAgentError
		if errors.As(err, &nae) {
			fmt.Fprintf(inv.stderr, "efm %s: %v. Is the local agent running?\n", inv.cmd.name, err)
		} else {
			fmt.Fprintf(inv.stderr, "efm %s: %v\n", inv.cmd.name, err)
		}
		return nil
	}
	if !resp.OK {
		fmt.Fprintf(inv.stderr, "Received error from local agent: %s\n", resp.Error)
		return nil
	}
	return resp
}

// forward is the body of the commands that only ask the agent to act and
// print its one-line answer: it sends the request command.request read.
func forward(inv *invocation) int {
	resp := inv.callAgent(inv.req, 60*time.Second)
	if resp == nil {
		return 1
	}
	var msg string
	if err := resp.Decode(&msg); err == nil && msg != "" {
		fmt.Fprintln(inv.stdout, msg)
	}
	return 0
}
