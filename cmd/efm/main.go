// Command efm is OpenEFM's single binary: the agent daemon (efm agent) and
// the administration commands in EDB Failover Manager's dialect.
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is main without the process: tests call it directly.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	name := args[0]
	switch name {
	case "-h", "--help", "-help", "help":
		if len(args) > 1 {
			if c := lookup(args[1]); c != nil {
				c.usage(stdout)
				return 0
			}
		}
		usage(stdout)
		return 0
	case "-v", "--version", "-version":
		name = "version"
	}
	c := lookup(name)
	if c == nil {
		fmt.Fprintf(stderr, "efm: unknown command %q; run 'efm --help' for the list of commands\n", name)
		return 2
	}
	inv, code, ok := c.parse(args[1:], stdin, stdout, stderr)
	if !ok {
		return code
	}
	return c.run(inv)
}
