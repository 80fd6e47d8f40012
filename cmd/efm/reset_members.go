package main

import "github.com/openefm/efm/internal/admin"

func init() {
	register(&command{
		name: "reset-members", summary: "forget DOWN members, trim the allowed list to current members, rewrite .nodes files",
		request: func(*invocation) (admin.Request, error) { return admin.ResetMembersRequest{}, nil },
		run:     forward,
	})
}
