package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/openefm/efm/internal/admin"
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
	// check rejects arguments or option combinations the command cannot
	// take, before anything is read or asked: a usage error (exit 2).
	check func(inv *invocation) error
	// request, for the verbs that only carry a request to the local agent,
	// reads the command line into the typed request (admin.Request) and
	// validates it, after check; a mistake is a usage error too.
	request func(inv *invocation) (admin.Request, error)
	run     func(inv *invocation) int
}

// Exit statuses, the same for every command.
const (
	exitOK      = 0
	exitFailure = 1 // the command ran and failed or was refused
	exitUsage   = 2 // the command line itself is wrong
)

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
	// req is the command's typed request to the agent (command.request).
	req admin.Request
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
// code as the exit status: 0 after --help, exitUsage for every mistake in
// the command line.
func (c *command) parse(args []string, stdin io.Reader, stdout, stderr io.Writer) (inv *invocation, code int, ok bool) {
	inv = newInvocation(c)
	inv.stdin, inv.stdout, inv.stderr = stdin, stdout, stderr
	fs := c.flagSet(inv)
	var pos []string
	for {
		// A negative number is an argument (set-priority ... -1), not an
		// option: let check say what is wrong with it.
		if len(args) > 0 && isNegativeNumber(args[0]) {
			pos, args = append(pos, args[0]), args[1:]
			continue
		}
		if err := fs.Parse(args); err != nil {
			if err == flag.ErrHelp {
				c.usage(stdout)
				return nil, exitOK, false
			}
			return nil, c.usageError(stderr, err.Error()), false
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
	if want < 0 {
		if len(pos) > 0 {
			return nil, c.usageError(stderr, "takes no arguments, got: "+strings.Join(pos, " ")), false
		}
		want = 0
	} else {
		if len(pos) == 0 {
			return nil, c.usageError(stderr, "missing the cluster name"), false
		}
		inv.cluster, pos = pos[0], pos[1:]
		if inv.cluster == "" || strings.ContainsAny(inv.cluster, "/\\") || strings.HasPrefix(inv.cluster, ".") {
			return nil, c.usageError(stderr, fmt.Sprintf("%q is not a cluster name (want the base name of <cluster>.properties)", inv.cluster)), false
		}
	}
	if len(pos) != want {
		msg := fmt.Sprintf("expected %d argument(s) after the cluster name, got %d", want, len(pos))
		if len(pos) > 0 {
			msg += ": " + strings.Join(pos, " ")
		}
		return nil, c.usageError(stderr, msg), false
	}
	inv.args = pos
	if c.check != nil {
		if err := c.check(inv); err != nil {
			return nil, c.usageError(stderr, err.Error()), false
		}
	}
	if c.request != nil {
		req, err := c.request(inv)
		if err == nil {
			err = req.Validate()
		}
		if err != nil {
			return nil, c.usageError(stderr, err.Error()), false
		}
		inv.req = req
	}
	return inv, exitOK, true
}

// usageError prints a command-line mistake, prefixed once with the
// command, and the command's synopsis.
func (c *command) usageError(w io.Writer, msg string) int {
	fmt.Fprintf(w, "efm %s: %s\nUsage: %s\n", c.name, msg, c.synopsis())
	return exitUsage
}

func isNegativeNumber(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil && strings.HasPrefix(s, "-")
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

// errorf reports a failure or refusal of the command (exitFailure).
func (inv *invocation) errorf(format string, a ...any) int {
	fmt.Fprintf(inv.stderr, format+"\n", a...)
	return exitFailure
}
