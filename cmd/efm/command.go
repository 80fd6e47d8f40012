package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// defaultConfigDir is where <cluster>.properties and <cluster>.nodes live
// unless -config-dir or EFM_CONFIG_DIR says otherwise.
const defaultConfigDir = "/etc/efm"

// command is one verb of the efm command line. Each lives in a file of its
// own, named after the verb.
type command struct {
	name    string
	args    string // positional arguments after the verb, for usage
	summary string
	detail  string
	// nargs is the number of positional arguments after the cluster name;
	// -1 means the command takes no cluster name at all.
	nargs int
	// flags declares the command's own single-dash options.
	flags func(fs *flag.FlagSet, inv *invocation)
	run   func(inv *invocation) int
}

// invocation is one parsed run of a command.
type invocation struct {
	cmd       *command
	cluster   string
	args      []string
	configDir string
	stdin     io.Reader
	stdout    io.Writer
	stderr    io.Writer
	// Options set by commands' flag declarations.
	bools   map[string]*bool
	strings map[string]*string
}

func newInvocation(c *command) *invocation {
	return &invocation{cmd: c, bools: map[string]*bool{}, strings: map[string]*string{}}
}

var commands = map[string]*command{}

func register(c *command) { commands[c.name] = c }

func lookup(name string) *command { return commands[name] }

func usage(w io.Writer) {
	fmt.Fprint(w, `efm: OpenEFM, a failover manager for PostgreSQL streaming replication.

Usage:
  efm <command> <cluster> [arguments] [-config-dir DIR]

The configuration directory defaults to /etc/efm; -config-dir or the
EFM_CONFIG_DIR environment variable overrides it. <cluster> names
<cluster>.properties and <cluster>.nodes in that directory.

Commands:
`)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c := commands[n]
		fmt.Fprintf(w, "  %-22s %s\n", n, c.summary)
	}
	fmt.Fprint(w, "\nRun 'efm <command> --help' for a command's arguments.\n")
}

func (c *command) synopsis() string {
	s := "efm " + c.name
	if c.nargs >= 0 {
		s += " <cluster>"
	}
	if c.args != "" {
		s += " " + c.args
	}
	return s
}

func (c *command) usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: %s\n\n%s\n", c.synopsis(), c.summary)
	if c.detail != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(c.detail))
	}
	fs := c.flagSet(newInvocation(c))
	fmt.Fprintln(w, "\nOptions:")
	fs.SetOutput(w)
	fs.PrintDefaults()
}

func (c *command) flagSet(inv *invocation) *flag.FlagSet {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&inv.configDir, "config-dir", "", "directory of <cluster>.properties and <cluster>.nodes (default $EFM_CONFIG_DIR or /etc/efm)")
	if c.flags != nil {
		c.flags(fs, inv)
	}
	return fs
}

// parse reads the command's arguments. EFM puts options after the cluster
// name (efm promote efm -switchover), so options and positional arguments
// may be interleaved. ok is false when the command should not run, with
// code as the exit status.
func (c *command) parse(args []string, stdin io.Reader, stdout, stderr io.Writer) (inv *invocation, code int, ok bool) {
	inv = newInvocation(c)
	inv.stdin, inv.stdout, inv.stderr = stdin, stdout, stderr
	fs := c.flagSet(inv)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if err == flag.ErrHelp {
				c.usage(stdout)
				return nil, 0, false
			}
			fmt.Fprintf(stderr, "efm %s: %v\nUsage: %s\n", c.name, err, c.synopsis())
			return nil, 2, false
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if inv.configDir == "" {
		inv.configDir = os.Getenv("EFM_CONFIG_DIR")
	}
	if inv.configDir == "" {
		inv.configDir = defaultConfigDir
	}
	want := c.nargs
	if want >= 0 {
		if len(pos) == 0 {
			fmt.Fprintf(stderr, "efm %s: missing the cluster name\nUsage: %s\n", c.name, c.synopsis())
			return nil, 2, false
		}
		inv.cluster, pos = pos[0], pos[1:]
		if strings.ContainsAny(inv.cluster, "/\\") || strings.HasPrefix(inv.cluster, ".") {
			fmt.Fprintf(stderr, "efm %s: %q is not a cluster name (want the base name of <cluster>.properties)\n", c.name, inv.cluster)
			return nil, 2, false
		}
	} else {
		want = 0
	}
	if len(pos) != want {
		fmt.Fprintf(stderr, "efm %s: expected %d argument(s) after the cluster name, got %d: %s\nUsage: %s\n",
			c.name, want, len(pos), strings.Join(pos, " "), c.synopsis())
		return nil, 2, false
	}
	inv.args = pos
	return inv, 0, true
}

// boolFlag declares an EFM-style switch such as -switchover.
func boolFlag(fs *flag.FlagSet, inv *invocation, name, help string) {
	inv.bools[name] = fs.Bool(name, false, help)
}

// stringFlag declares an EFM-style option with a value such as -sourcenode.
func stringFlag(fs *flag.FlagSet, inv *invocation, name, help string) {
	inv.strings[name] = fs.String(name, "", help)
}

func (inv *invocation) flag(name string) bool {
	if p := inv.bools[name]; p != nil {
		return *p
	}
	return false
}

func (inv *invocation) option(name string) string {
	if p := inv.strings[name]; p != nil {
		return *p
	}
	return ""
}

func (inv *invocation) errorf(format string, a ...any) int {
	fmt.Fprintf(inv.stderr, format+"\n", a...)
	return 1
}
