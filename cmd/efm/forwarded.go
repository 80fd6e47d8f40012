package main

import (
	"flag"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/openefm/efm/internal/admin"
)

// The commands in this file only carry a request to the local agent and
// print its answer; the agent does the work and enforces the rules.
func init() {
	register(&command{
		name: "allow-node", args: "<address>", nargs: 1, check: checkAddress,
		summary: "add an address to the cluster's allowed node host list",
		run: func(inv *invocation) int {
			return forward(inv, admin.Request{Command: "allow-node", Args: inv.args})
		},
	})
	register(&command{
		name: "disallow-node", args: "<address>", nargs: 1, check: checkAddress,
		summary: "remove an address from the allowed node host list (it can no longer join)",
		run: func(inv *invocation) int {
			return forward(inv, admin.Request{Command: "disallow-node", Args: inv.args})
		},
	})
	register(&command{
		name: "resume", summary: "make an Idle agent check its database again and resume monitoring",
		run: func(inv *invocation) int {
			return forward(inv, admin.Request{Command: "resume"})
		},
	})
	register(&command{
		name: "set-priority", args: "<address> <priority>", nargs: 2, check: checkSetPriority,
		summary: "set a standby's place in the promotion list (1 = first, 0 = never promote)",
		run: func(inv *invocation) int {
			return forward(inv, admin.Request{Command: "set-priority", Args: inv.args})
		},
	})
	register(&command{
		name: "stop-cluster", summary: "stop every agent of the cluster (databases and VIP untouched)",
		detail: "Clears the allowed node host list. Refused when enable.stop.cluster=false.",
		run: func(inv *invocation) int {
			return forward(inv, admin.Request{Command: "stop-cluster"})
		},
	})
	register(&command{
		name: "reset-members", summary: "forget DOWN members, trim the allowed list to current members, rewrite .nodes files",
		run: func(inv *invocation) int {
			return forward(inv, admin.Request{Command: "reset-members"})
		},
	})
	register(&command{
		name:    "promote",
		args:    "[-switchover [-sourcenode <address>] [-quiet] [-noscripts]]",
		summary: "promote a standby now (ignores auto.failover); -switchover turns the old primary into a standby",
		flags: func(fs *flag.FlagSet, inv *invocation) {
			boolFlag(fs, inv, "switchover", "turn the old primary into a standby of the new one")
			stringFlag(fs, inv, "sourcenode", "standby whose replication settings the old primary copies (switchover only)")
			boolFlag(fs, inv, "quiet", "send no notifications (switchover only)")
			boolFlag(fs, inv, "noscripts", "skip the fencing and post-promotion scripts")
		},
		check: checkPromote,
		run:   runPromote,
	})
}

func runPromote(inv *invocation) int {
	flags := map[string]string{}
	for _, b := range []string{"switchover", "quiet", "noscripts"} {
		if inv.flag(b) {
			flags[b] = "true"
		}
	}
	if s := inv.option("sourcenode"); s != "" {
		flags["sourcenode"] = s
	}
	return forward(inv, admin.Request{Command: "promote", Flags: flags})
}

// checkPromote: -sourcenode and -quiet only make sense for a switchover.
func checkPromote(inv *invocation) error {
	for _, o := range []string{"sourcenode", "quiet"} {
		if (inv.option(o) != "" || inv.flag(o)) && !inv.flag("switchover") {
			return fmt.Errorf("-%s is only valid with -switchover", o)
		}
	}
	if s := inv.option("sourcenode"); s != "" {
		if _, err := parseAddress(s); err != nil {
			return fmt.Errorf("-sourcenode: %w", err)
		}
	}
	return nil
}

// checkAddress: the node argument is an IP address, the identity of a node
// (the host of its bind.address).
func checkAddress(inv *invocation) error {
	_, err := parseAddress(inv.args[0])
	return err
}

func checkSetPriority(inv *invocation) error {
	if _, err := parseAddress(inv.args[0]); err != nil {
		return err
	}
	if p, err := strconv.Atoi(inv.args[1]); err != nil || p < 0 {
		return fmt.Errorf("priority %q is not a whole number of 0 or more (1 = first to promote, 0 = never)", inv.args[1])
	}
	return nil
}

func parseAddress(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil {
		return a, fmt.Errorf("%q is not an IP address (want the IP of the node's bind.address)", s)
	}
	return a, nil
}
