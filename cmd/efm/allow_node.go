package main

import "github.com/openefm/efm/internal/admin"

func init() {
	register(&command{
		name: "allow-node", args: "<address>", nargs: 1,
		summary: "add an address to the cluster's allowed node host list",
		request: allowNodeRequest,
		run:     forward,
	})
}

// allowNodeRequest: the node is an IP address, the identity of a node (the
// host of its bind.address). The coordinator applies it to the shared state.
func allowNodeRequest(inv *invocation) (admin.Request, error) {
	node, err := admin.ParseNode(inv.args[0])
	return admin.AllowNodeRequest{Node: node}, err
}
