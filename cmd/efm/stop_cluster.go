package main

import "github.com/openefm/efm/internal/admin"

func init() {
	register(&command{
		name: "stop-cluster", summary: "stop every agent of the cluster (databases and VIP untouched)",
		detail:  "Clears the allowed node host list. Refused when enable.stop.cluster=false.",
		request: func(*invocation) (admin.Request, error) { return admin.StopClusterRequest{}, nil },
		run:     forward,
	})
}
