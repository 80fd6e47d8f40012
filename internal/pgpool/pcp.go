package pgpool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// DefaultTimeout bounds one PCP command when Config.Timeout is zero. A PCP
// request is one round trip to Pgpool's PCP process; detach and promote
// only queue a failover request and return. Ten seconds is far above that
// and still short beside a failover, so a Pgpool that hangs delays the
// failover by little and is reported.
const DefaultTimeout = 10 * time.Second

// Programs are the PCP client programs the agent runs, all from Config.Bin.
var Programs = []string{"pcp_node_count", "pcp_node_info", "pcp_attach_node", "pcp_detach_node", "pcp_promote_node"}

// Config says how to reach Pgpool's PCP port (EFM's pcp.* and pgpool.bin).
type Config struct {
	Bin      string // directory of the pcp_* programs (pgpool.bin); "" = look them up in PATH
	Host     string // pcp.host: Pgpool's host, its watchdog VIP, or a load balancer in front of it
	Port     int    // pcp.port
	User     string // pcp.user
	PassFile string // pcp.pass.file, given to the programs as PCPPASSFILE; must be mode 0600 or stricter
	Timeout  time.Duration
	// Command makes the *exec.Cmd for a program; exec.CommandContext when
	// nil. The integration harness uses it to run the programs inside a
	// network namespace.
	Command func(ctx context.Context, name string, args ...string) *exec.Cmd
}

// Client runs PCP commands against one Pgpool-II.
type Client struct {
	cfg Config
}

// New checks cfg and returns a client. It does not contact Pgpool.
func New(cfg Config) (*Client, error) {
	var missing []string
	if cfg.Host == "" {
		missing = append(missing, "pcp.host")
	}
	if cfg.Port == 0 {
		missing = append(missing, "pcp.port")
	}
	if cfg.User == "" {
		missing = append(missing, "pcp.user")
	}
	if cfg.PassFile == "" {
		missing = append(missing, "pcp.pass.file")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("pgpool: %s not set; the PCP commands need all of pcp.host, pcp.port, pcp.user and pcp.pass.file", strings.Join(missing, ", "))
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		return nil, fmt.Errorf("pgpool: pcp.port %d: accepted: 1-65535", cfg.Port)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Command == nil {
		cfg.Command = exec.CommandContext
	}
	return &Client{cfg: cfg}, nil
}

// Endpoint is host:port of Pgpool's PCP port, for messages.
func (c *Client) Endpoint() string {
	return net.JoinHostPort(c.cfg.Host, strconv.Itoa(c.cfg.Port))
}

// program is the path of a PCP program: in Bin, or as found in PATH.
func (c *Client) program(name string) string {
	if c.cfg.Bin == "" {
		return name
	}
	return filepath.Join(c.cfg.Bin, name)
}

// run runs one PCP program with the common options and returns its
// standard output. A non-zero exit, or no exit before the deadline, is an
// error carrying what the program wrote to standard error (Pgpool's
// "ERROR: ..." / "FATAL: ..." lines).
func (c *Client) run(ctx context.Context, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	argv := append([]string{"-h", c.cfg.Host, "-p", strconv.Itoa(c.cfg.Port), "-U", c.cfg.User, "-w"}, args...)
	cmd := c.cfg.Command(ctx, c.program(name), argv...)
	cmd.Env = append(os.Environ(), "PCPPASSFILE="+c.cfg.PassFile)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// The programs do not fork; a short WaitDelay stops a stuck pipe from
	// outliving the deadline.
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return "", fmt.Errorf("%s against Pgpool at %s: no answer within %v", name, c.Endpoint(), c.cfg.Timeout)
	}
	if err != nil {
		msg := strings.Join(strings.Fields(stderr.String()), " ")
		if msg == "" {
			msg = strings.Join(strings.Fields(stdout.String()), " ")
		}
		return "", fmt.Errorf("%s against Pgpool at %s: %w: %s", name, c.Endpoint(), err, msg)
	}
	return stdout.String(), nil
}

// Nodes returns every backend Pgpool knows: pcp_node_count, then
// pcp_node_info --verbose for each index (pcp_node_info --all exists only
// from Pgpool-II 4.3).
func (c *Client) Nodes(ctx context.Context) ([]Node, error) {
	out, err := c.run(ctx, "pcp_node_count")
	if err != nil {
		return nil, fmt.Errorf("listing Pgpool's backends: %w", err)
	}
	count, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil || count < 0 {
		return nil, fmt.Errorf("listing Pgpool's backends: pcp_node_count against %s answered %q, not a count", c.Endpoint(), strings.TrimSpace(out))
	}
	var nodes []Node
	for id := range count {
		out, err := c.run(ctx, "pcp_node_info", "--verbose", "-n", strconv.Itoa(id))
		if err != nil {
			return nil, fmt.Errorf("listing Pgpool's backends: %w", err)
		}
		ns, err := parseNodeInfo(out)
		if err == nil && len(ns) != 1 {
			err = fmt.Errorf("%d backends in the answer for one", len(ns))
		}
		if err != nil {
			return nil, fmt.Errorf("listing Pgpool's backends: pcp_node_info -n %d against %s: %w", id, c.Endpoint(), err)
		}
		ns[0].ID = id
		nodes = append(nodes, ns[0])
	}
	if len(nodes) == 0 {
		return nil, fmt.Errorf("listing Pgpool's backends: Pgpool at %s has none", c.Endpoint())
	}
	return nodes, nil
}

// Backend returns Pgpool's backend for the database at host:port, as
// pcp_node_info reports it. It is an error when no backend, or more than
// one, has that address.
func (c *Client) Backend(ctx context.Context, host string, port int) (Node, error) {
	nodes, err := c.Nodes(ctx)
	if err != nil {
		return Node{}, fmt.Errorf("finding node %s in Pgpool: %w", net.JoinHostPort(host, strconv.Itoa(port)), err)
	}
	return findBackend(nodes, host, port)
}

// Attach attaches the backend of the node at host:port (pcp_attach_node):
// Pgpool sends it sessions again.
func (c *Client) Attach(ctx context.Context, host string, port int) (Node, error) {
	return c.act(ctx, "pcp_attach_node", "attaching", host, port)
}

// Detach detaches the backend of the node at host:port (pcp_detach_node):
// Pgpool stops using it and drops the sessions that did. Like Promote and
// Attach it returns once Pgpool has queued the request; Pgpool carries it
// out just after (watch Nodes to see it done).
func (c *Client) Detach(ctx context.Context, host string, port int) (Node, error) {
	return c.act(ctx, "pcp_detach_node", "detaching", host, port)
}

// Promote makes the backend of the node at host:port Pgpool's primary
// (pcp_promote_node, without "switchover": Pgpool only records the new
// role; the database must already have been promoted). Pgpool's
// documentation says it marks every other backend down as it does so:
// attach the standbys again once they follow the new primary.
func (c *Client) Promote(ctx context.Context, host string, port int) (Node, error) {
	return c.act(ctx, "pcp_promote_node", "promoting", host, port)
}

func (c *Client) act(ctx context.Context, prog, verb, host string, port int) (Node, error) {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	n, err := c.Backend(ctx, host, port)
	if err != nil {
		return Node{}, fmt.Errorf("%s node %s in Pgpool: %w", verb, addr, err)
	}
	if _, err := c.run(ctx, prog, "-n", strconv.Itoa(n.ID)); err != nil {
		return n, fmt.Errorf("%s node %s (Pgpool backend %d) in Pgpool: %w", verb, addr, n.ID, err)
	}
	return n, nil
}
