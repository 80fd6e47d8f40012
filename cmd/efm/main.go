// Command efm is OpenEFM's single binary: the agent daemon (efm agent) and
// the administration commands in EDB Failover Manager's dialect.
package main

import (
	"fmt"
	"io"
	"os"
	"strings"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is main without the process: tests call it directly.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "-h", "--help", "-help", "help":
		if len(args) == 1 {
			usage(stdout)
			return exitOK
		}
		c := lookup(args[1])
		if c == nil || len(args) > 2 {
			fmt.Fprintf(stderr, "efm %s: want one command name, got %q; run 'efm --help' for the list of commands\n", name, strings.Join(args[1:], " "))
			return exitUsage
		}
		c.usage(stdout)
		return exitOK
	case "-v", "--version", "-version":
		name = "version"
	}
	c := lookup(name)
	if c == nil {
		fmt.Fprintf(stderr, "efm: unknown command %q; run 'efm --help' for the list of commands\n", name)
		return exitUsage
	}
	inv, code, ok := c.parse(args[1:], stdin, stdout, stderr)
	if !ok {
		return code
	}
	return c.run(inv)
}
