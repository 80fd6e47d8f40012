package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/openefm/efm/internal/admin"
)

func init() {
	register(&command{
		name:    "node-status-json",
		summary: "print the local node's status as JSON (type, address, db, vip, vip_active)",
		detail: `Exit status 0, or 1 when the local database has failed or the agent is Idle,
as EDB EFM does.`,
		run: runNodeStatusJSON,
	})
}

func runNodeStatusJSON(inv *invocation) int {
	resp := inv.callAgent(admin.NodeStatusRequest{}, 10*time.Second)
	if resp == nil {
		return 1
	}
	var ns admin.NodeStatus
	if err := resp.Decode(&ns); err != nil {
		return inv.errorf("efm node-status-json: %v", err)
	}
	out, _ := json.Marshal(ns)
	fmt.Fprintln(inv.stdout, string(out))
	if ns.Type == "Idle" || (ns.Type != "Witness" && ns.DB != "UP") {
		return 1
	}
	return 0
}
