package pgpool

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Status is Pgpool's status of a backend (pcp_node_info's "Status").
type Status int

// Pgpool's backend statuses; 0 appears only during Pgpool's start.
const (
	StatusInit   Status = 0
	StatusUp     Status = 1 // up, no connections yet ("waiting")
	StatusPooled Status = 2 // up, connections pooled ("up")
	StatusDown   Status = 3 // detached or failed ("down")
)

// Up reports whether Pgpool sends sessions to the backend.
func (s Status) Up() bool { return s == StatusUp || s == StatusPooled }

func (s Status) String() string {
	switch s {
	case StatusInit:
		return "init"
	case StatusUp:
		return "waiting"
	case StatusPooled:
		return "up"
	case StatusDown:
		return "down"
	}
	return "status " + strconv.Itoa(int(s))
}

// Node is one Pgpool backend as pcp_node_info reports it.
type Node struct {
	ID       int    // Pgpool's backend index (backend_hostnameN)
	Hostname string // backend_hostnameN
	Port     int    // backend_portN
	Status   Status
	Weight   string // load-balance weight, normalised ("0.333333")
	// Role is the role Pgpool assigns ("primary", "standby"); BackendRole
	// is what the database itself said when asked (Pgpool 4.3+; "" before,
	// "unknown" when the database did not answer).
	Role, BackendRole string
	// BackendStatus is "up", "down" or "unknown" from a live ping by
	// Pgpool (4.3+; "" before).
	BackendStatus string
	LastChange    string // "2006-01-02 15:04:05", Pgpool's local time
}

// Addr is hostname:port.
func (n Node) Addr() string { return net.JoinHostPort(n.Hostname, strconv.Itoa(n.Port)) }

func (n Node) String() string {
	return fmt.Sprintf("backend %d %s %s %s", n.ID, n.Addr(), n.Status, n.Role)
}

// parseNodeInfo reads the output of pcp_node_info --verbose: one block of
// "Name : value" lines per backend (several with --all, in backend order,
// separated by blank lines). The labelled form is parsed rather than the terse one
// because the terse columns changed between Pgpool versions (4.3 added
// two) and some columns may be empty.
func parseNodeInfo(out string) ([]Node, error) {
	var nodes []Node
	var cur map[string]string
	flush := func() error {
		if cur == nil {
			return nil
		}
		n, err := nodeFromFields(len(nodes), cur)
		if err != nil {
			return err
		}
		nodes = append(nodes, n)
		cur = nil
		return nil
	}
	for i, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			if err := flush(); err != nil {
				return nil, err
			}
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("line %d %q: want \"Name : value\"", i+1, line)
		}
		if cur == nil {
			cur = map[string]string{}
		}
		cur[strings.TrimSpace(name)] = strings.TrimSpace(value)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	if len(nodes) == 0 {
		return nil, fmt.Errorf("no backends in the output %q", out)
	}
	return nodes, nil
}

func nodeFromFields(id int, f map[string]string) (Node, error) {
	n := Node{ID: id, Hostname: f["Hostname"], Weight: f["Weight"], Role: f["Role"], BackendRole: f["Backend Role"],
		BackendStatus: f["Backend Status Name"], LastChange: f["Last Status Change"]}
	if n.Hostname == "" {
		return Node{}, fmt.Errorf("backend %d: no Hostname in %v", id, f)
	}
	port, err := strconv.Atoi(f["Port"])
	if err != nil || port < 1 || port > 65535 {
		return Node{}, fmt.Errorf("backend %d (%s): Port %q is not a port", id, n.Hostname, f["Port"])
	}
	n.Port = port
	st, err := strconv.Atoi(f["Status"])
	if err != nil || st < 0 || st > 3 {
		return Node{}, fmt.Errorf("backend %d (%s): Status %q: want 0-3", id, n.Addr(), f["Status"])
	}
	n.Status = Status(st)
	return n, nil
}

// findBackend picks the one backend whose hostname and port are host and
// port. Addresses are compared as addresses (so 10.0.0.1 matches
// 10.0.0.1 written any way); names as written, case aside. Nothing is
// resolved: a node Pgpool knows by a name and OpenEFM by an address is
// reported, not guessed.
func findBackend(nodes []Node, host string, port int) (Node, error) {
	var found []Node
	for _, n := range nodes {
		if n.Port == port && sameHost(n.Hostname, host) {
			found = append(found, n)
		}
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		have := make([]string, len(nodes))
		for i, n := range nodes {
			have[i] = fmt.Sprintf("%d=%s", n.ID, n.Addr())
		}
		return Node{}, fmt.Errorf("no Pgpool backend is node %s (Pgpool has %s); backend_hostnameN and backend_portN in pgpool.conf must be the node's address and db.port as in the .nodes file", addr, strings.Join(have, ", "))
	default:
		return Node{}, fmt.Errorf("%d Pgpool backends are node %s (%v); each backend must be listed once", len(found), addr, found)
	}
}

func sameHost(a, b string) bool {
	pa, errA := netip.ParseAddr(a)
	pb, errB := netip.ParseAddr(b)
	if errA == nil && errB == nil {
		return pa.Unmap() == pb.Unmap()
	}
	return strings.EqualFold(a, b)
}
