package harness

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Agent traffic counters: iptables rules without a target in h's namespace
// count every packet to and from the agents' port (AgentPort): memberlist's
// gossip, probes and push/pull, the membership heartbeats, and the agents'
// own messages, all of which travel on it. One agent runs per host, so a
// host's counters are its agent's. The rules change nothing (no target),
// and ClearDrops' flush removes them.

const (
	trafficIn  = "efm-agent-traffic-in"
	trafficOut = "efm-agent-traffic-out"
)

// CountAgentTraffic installs h's counters (UDP to the port, TCP either
// way: connections to it and replies from it).
func (n *Network) CountAgentTraffic(ctx context.Context, h *Host) error {
	port := strconv.Itoa(AgentPort)
	rules := [][]string{
		{"INPUT", trafficIn, "-p", "udp", "--dport", port},
		{"INPUT", trafficIn, "-p", "tcp", "--dport", port},
		{"INPUT", trafficIn, "-p", "tcp", "--sport", port},
		{"OUTPUT", trafficOut, "-p", "udp", "--dport", port},
		{"OUTPUT", trafficOut, "-p", "tcp", "--dport", port},
		{"OUTPUT", trafficOut, "-p", "tcp", "--sport", port},
	}
	for _, r := range rules {
		args := append([]string{"netns", "exec", h.NS, "iptables", "-w", "-I", r[0]}, r[2:]...)
		args = append(args, "-m", "comment", "--comment", r[1])
		if _, err := run(ctx, "ip", args...); err != nil {
			return fmt.Errorf("counting agent traffic on %s: %w", h.Name, err)
		}
	}
	return nil
}

var counterLine = regexp.MustCompile(`^\[(\d+):(\d+)\] .*--comment "?(efm-agent-traffic-(?:in|out))"?`)

// AgentTraffic is the bytes counted so far on h (IP headers included).
func (n *Network) AgentTraffic(ctx context.Context, h *Host) (in, out int64, err error) {
	s, err := run(ctx, "ip", "netns", "exec", h.NS, "iptables-save", "-c", "-t", "filter")
	if err != nil {
		return 0, 0, fmt.Errorf("reading agent traffic counters on %s: %w", h.Name, err)
	}
	found := false
	for _, l := range strings.Split(s, "\n") {
		m := counterLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		found = true
		b, _ := strconv.ParseInt(m[2], 10, 64)
		if m[3] == trafficIn {
			in += b
		} else {
			out += b
		}
	}
	if !found {
		return 0, 0, fmt.Errorf("no agent traffic counters on %s (CountAgentTraffic first)", h.Name)
	}
	return in, out, nil
}
