package main

import (
	"flag"
	"fmt"

	"github.com/openefm/efm/internal/admin"
)

func init() {
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
		request: promoteRequest,
		run:     forward,
	})
}

// promoteRequest reads the options; PromoteRequest.Validate says which
// need -switchover, and the core which node may be promoted.
func promoteRequest(inv *invocation) (admin.Request, error) {
	req := admin.PromoteRequest{Switchover: inv.flag("switchover"), Quiet: inv.flag("quiet"), NoScripts: inv.flag("noscripts")}
	if s := inv.option("sourcenode"); s != "" {
		node, err := admin.ParseNode(s)
		if err != nil {
			return nil, fmt.Errorf("-sourcenode: %w", err)
		}
		req.SourceNode = node
	}
	return req, nil
}
