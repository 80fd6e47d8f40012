package main

import "github.com/openefm/efm/internal/admin"

func init() {
	register(&command{
		name: "resume", summary: "make an Idle agent check its database again and resume monitoring",
		request: func(*invocation) (admin.Request, error) { return admin.ResumeRequest{}, nil },
		run:     forward,
	})
}
