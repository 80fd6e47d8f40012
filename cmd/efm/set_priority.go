package main

import "github.com/openefm/efm/internal/admin"

func init() {
	register(&command{
		name: "set-priority", args: "<address> <priority>", nargs: 2,
		summary: "set a standby's place in the promotion list (1 = first, 0 = never promote)",
		request: setPriorityRequest,
		run:     forward,
	})
}

// setPriorityRequest reads an IP address and a whole number; the request's
// Validate holds the range (0 or more) and the coordinator the cluster's
// rule (a database member).
func setPriorityRequest(inv *invocation) (admin.Request, error) {
	node, err := admin.ParseNode(inv.args[0])
	if err != nil {
		return nil, err
	}
	prio, err := admin.ParsePriority(inv.args[1])
	if err != nil {
		return nil, err
	}
	return admin.SetPriorityRequest{Node: node, Priority: prio}, nil
}
