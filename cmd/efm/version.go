package main

import "fmt"

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func init() {
	register(&command{
		name: "version", nargs: -1,
		summary: "print the OpenEFM version",
		run: func(inv *invocation) int {
			fmt.Fprintf(inv.stdout, "OpenEFM %s\n", version)
			return 0
		},
	})
}
