package main

import "github.com/openefm/efm/internal/admin"

func init() {
	register(&command{
		name: "disallow-node", args: "<address>", nargs: 1,
		summary: "remove an address from the allowed node host list (it can no longer join)",
		request: disallowNodeRequest,
		run:     forward,
	})
}

// disallowNodeRequest: the node is an IP address; the coordinator refuses
// to disallow itself or the asking agent.
func disallowNodeRequest(inv *invocation) (admin.Request, error) {
	node, err := admin.ParseNode(inv.args[0])
	return admin.DisallowNodeRequest{Node: node}, err
}
