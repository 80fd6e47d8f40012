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
	resp, err := askAgent(cfg, inv.cluster, req, timeout)
	var refused *agentRefusal
	var nae *admin.NoAgentError
	switch {
	case err == nil:
		return resp
	case errors.As(err, &refused):
		fmt.Fprintf(inv.stderr, "Received error from local agent: %s\n", refused.msg)
	case errors.As(err, &nae):
		fmt.Fprintf(inv.stderr, "efm %s: %v. Is the local agent running?\n", inv.cmd.name, err)
	default:
		fmt.Fprintf(inv.stderr, "efm %s: %v\n", inv.cmd.name, err)
	}
	return nil
}

// agentRefusal is an answer in which the agent refused the request.
type agentRefusal struct{ msg string }

func (e *agentRefusal) Error() string { return e.msg }

// askAgent sends one request to the local agent of cluster and returns its
// answer, or why there is none (an *agentRefusal when the agent said no),
// printing nothing.
func askAgent(cfg *config.Config, cluster string, req admin.Request, timeout time.Duration) (*admin.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	resp, err := admin.Call(ctx, cluster, cfg.SocketPath(), req)
	if err != nil {
		return nil, err
	}
	if !resp.OK {
		return nil, &agentRefusal{msg: resp.Error}
	}
	return resp, nil
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
