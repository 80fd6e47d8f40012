package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// namePrefix starts the name of every namespace and directory the harness
// creates; the pid after it lets Sweep tell a live run's from a dead one's.
const namePrefix = "efmi-"

// Subnet octets the harness hands out (10.231.X.0/24). Unit tests of other
// packages use 10.231.40-49.x.
const (
	firstOctet = 1
	lastOctet  = 39
)

// HostIface is the name of every host's interface on the bridge.
const HostIface = "eth0"

var netSeq atomic.Int64

// hostName keeps names safe in SQL literals, application_name and paths.
var hostName = regexp.MustCompile(`^[a-z0-9_]{1,12}$`)

// Network is one private L2 segment: a bridge in its own namespace and one
// namespace per host, each with a veth on the bridge and an address in the
// network's /24. Hosts have no default route: nothing leaves the segment.
type Network struct {
	tb      TB
	Name    string       // efmi-<pid>-<seq>
	Subnet  netip.Prefix // 10.231.X.0/24
	Dir     string       // scratch directory for every host's files
	swNS    string
	hosts   []*Host
	lease   *os.File
	closeMu sync.Mutex
	closed  bool
}

// Host is one network namespace on the Network.
type Host struct {
	Name string     // as given to NewNetwork
	NS   string     // namespace name
	Addr netip.Addr // address on HostIface
	Dir  string     // per-host scratch directory, owned by postgres
	net  *Network
	port string // the bridge side of the veth, in the switch namespace
}

// NewNetwork creates the bridge namespace and one host namespace per name;
// host i (from 0) gets the address .11+i. Teardown is registered on tb. It
// first sweeps leftovers of dead earlier runs.
func NewNetwork(ctx context.Context, tb TB, hostNames ...string) (*Network, error) {
	start := time.Now()
	sweepOnce.Do(func() { Sweep(ctx, tb) })
	startReaper(tb)
	octet, lease, err := leaseSubnet()
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("%s%d-%d", namePrefix, os.Getpid(), netSeq.Add(1))
	n := &Network{
		tb:     tb,
		Name:   name,
		Subnet: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 231, byte(octet), 0}), 24),
		Dir:    filepath.Join(os.TempDir(), name),
		swNS:   name + "-sw",
		lease:  lease,
	}
	tb.Cleanup(func() {
		if err := n.Close(); err != nil {
			tb.Logf("harness: tearing down %s: %v", n.Name, err)
		}
	})
	if err := os.MkdirAll(n.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", n.Dir, err)
	}
	if err := n.createSwitch(ctx); err != nil {
		return nil, err
	}
	for i, hn := range hostNames {
		if _, err := n.addHost(ctx, hn, i); err != nil {
			return nil, err
		}
	}
	tb.Logf("harness: network %s %s with %d hosts in %v", n.Name, n.Subnet, len(hostNames), time.Since(start).Round(time.Millisecond))
	return n, nil
}

func (n *Network) createSwitch(ctx context.Context) error {
	steps := [][]string{
		{"ip", "netns", "add", n.swNS},
		{"ip", "-n", n.swNS, "link", "set", "lo", "up"},
		{"ip", "-n", n.swNS, "link", "add", "br0", "type", "bridge"},
		{"ip", "-n", n.swNS, "link", "set", "br0", "up"},
		// The switch answers on .1: a stand-in for the router EFM's
		// ping.server.ip would name, reachable exactly when a host's link is.
		{"ip", "-n", n.swNS, "addr", "add", fmt.Sprintf("%s/%d", n.Gateway(), n.Subnet.Bits()), "dev", "br0"},
	}
	for _, s := range steps {
		if _, err := run(ctx, s[0], s[1:]...); err != nil {
			return fmt.Errorf("creating switch of %s: %w", n.Name, err)
		}
	}
	return nil
}

func (n *Network) addHost(ctx context.Context, name string, i int) (*Host, error) {
	if !hostName.MatchString(name) || name == "sw" || n.Host(name) != nil {
		return nil, fmt.Errorf("host name %q: want a new, unique name of 1-12 characters a-z, 0-9, '_' (not \"sw\")", name)
	}
	if i > 80 {
		return nil, fmt.Errorf("host %s: at most 81 hosts per network (.11-.91; .100 up are spare)", name)
	}
	h := &Host{
		Name: name,
		NS:   n.Name + "-" + name,
		Addr: n.addr(11 + i),
		Dir:  filepath.Join(n.Dir, name),
		net:  n,
		port: fmt.Sprintf("v%d", i),
	}
	pfx := fmt.Sprintf("%s/%d", h.Addr, n.Subnet.Bits())
	steps := [][]string{
		{"ip", "netns", "add", h.NS},
		{"ip", "-n", h.NS, "link", "set", "lo", "up"},
		{"ip", "-n", n.swNS, "link", "add", h.port, "type", "veth", "peer", "name", HostIface, "netns", h.NS},
		{"ip", "-n", n.swNS, "link", "set", h.port, "master", "br0"},
		{"ip", "-n", n.swNS, "link", "set", h.port, "up"},
		{"ip", "-n", h.NS, "addr", "add", pfx, "dev", HostIface},
		{"ip", "-n", h.NS, "link", "set", HostIface, "up"},
	}
	for _, s := range steps {
		if _, err := run(ctx, s[0], s[1:]...); err != nil {
			return nil, fmt.Errorf("creating host %s of %s: %w", name, n.Name, err)
		}
	}
	if err := createIPC(ctx, h.NS); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(h.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", h.Dir, err)
	}
	if err := chownPostgres(h.Dir); err != nil {
		return nil, err
	}
	n.hosts = append(n.hosts, h)
	return h, nil
}

// Host returns the host called name, or nil.
func (n *Network) Host(name string) *Host {
	for _, h := range n.hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// Hosts returns the hosts in creation order.
func (n *Network) Hosts() []*Host { return append([]*Host(nil), n.hosts...) }

// Gateway is the switch's own address (.1), which every host with a working
// link reaches: the ping.server.ip of the tests. No host routes through it.
func (n *Network) Gateway() netip.Addr { return n.addr(1) }

// Spare returns the k-th address of the subnet reserved for virtual IPs
// (.100+k); no host ever gets it.
func (n *Network) Spare(k int) netip.Addr { return n.addr(100 + k) }

// addr returns the address with last octet last in the subnet.
func (n *Network) addr(last int) netip.Addr {
	b := n.Subnet.Addr().As4()
	b[3] = byte(last)
	return netip.AddrFrom4(b)
}

// CutLink takes the bridge side of h's veth down: h keeps its address and
// processes but no frame reaches or leaves it (its interface sees no carrier).
func (n *Network) CutLink(ctx context.Context, h *Host) error {
	if _, err := run(ctx, "ip", "-n", n.swNS, "link", "set", h.port, "down"); err != nil {
		return fmt.Errorf("cutting the link of %s: %w", h.Name, err)
	}
	n.tb.Logf("harness: link of %s (%s) cut", h.Name, h.Addr)
	return nil
}

// RestoreLink undoes CutLink.
func (n *Network) RestoreLink(ctx context.Context, h *Host) error {
	if _, err := run(ctx, "ip", "-n", n.swNS, "link", "set", h.port, "up"); err != nil {
		return fmt.Errorf("restoring the link of %s: %w", h.Name, err)
	}
	n.tb.Logf("harness: link of %s (%s) restored", h.Name, h.Addr)
	return nil
}

// KillHost is the "host lost" fault: h's link is cut and every process in
// its namespace (agent, postmaster, backends) gets SIGKILL, as at a power
// cut. The namespace stays, so the host can be revived by RestoreLink and
// starting its processes again.
func (n *Network) KillHost(ctx context.Context, h *Host) error {
	if err := n.CutLink(ctx, h); err != nil {
		return err
	}
	pids, err := h.Pids(ctx)
	if err != nil {
		return err
	}
	for _, pid := range pids {
		killInNamespace(pid)
	}
	n.tb.Logf("harness: host %s killed (link cut, SIGKILL to %d processes)", h.Name, len(pids))
	return nil
}

// Pids lists the processes running in h's namespace.
func (h *Host) Pids(ctx context.Context) ([]int, error) {
	out, err := run(ctx, "ip", "netns", "pids", h.NS)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(out) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// ErrNetemUnavailable means the kernel has no sch_netem: delay and loss
// faults cannot be injected on this machine.
var ErrNetemUnavailable = errors.New("tc netem is unavailable (kernel module sch_netem missing)")

// Netem applies a tc netem discipline to h's interface, e.g.
// Netem(ctx, h, "delay", "200ms", "50ms", "loss", "5%"). It replaces any
// earlier one. ErrNetemUnavailable when the kernel lacks netem.
func (n *Network) Netem(ctx context.Context, h *Host, args ...string) error {
	a := append([]string{"-n", h.NS, "qdisc", "replace", "dev", HostIface, "root", "netem"}, args...)
	out, err := run(ctx, "tc", a...)
	if err != nil {
		if strings.Contains(out, "unknown") || strings.Contains(out, "No such file") {
			return fmt.Errorf("netem on %s: %w", h.Name, ErrNetemUnavailable)
		}
		return fmt.Errorf("netem on %s: %w", h.Name, err)
	}
	n.tb.Logf("harness: netem %s on %s", strings.Join(args, " "), h.Name)
	return nil
}

// DropPackets makes h's namespace drop the given fraction (0-1) of incoming
// and outgoing packets with iptables' statistic match: packet loss where
// the kernel has no netem. ClearDrops undoes it.
func (n *Network) DropPackets(ctx context.Context, h *Host, fraction float64) error {
	p := fmt.Sprintf("%.4f", fraction)
	for _, dir := range [][2]string{{"INPUT", "-i"}, {"OUTPUT", "-o"}} {
		if _, err := run(ctx, "ip", "netns", "exec", h.NS, "iptables", "-w", "-A", dir[0], dir[1], HostIface,
			"-m", "statistic", "--mode", "random", "--probability", p, "-j", "DROP"); err != nil {
			return fmt.Errorf("dropping %s of %s's packets: %w", p, h.Name, err)
		}
	}
	n.tb.Logf("harness: dropping %.1f%% of %s's packets", fraction*100, h.Name)
	return nil
}

// ClearDrops removes every iptables rule of h's namespace.
func (n *Network) ClearDrops(ctx context.Context, h *Host) error {
	if _, err := run(ctx, "ip", "netns", "exec", h.NS, "iptables", "-w", "-F"); err != nil {
		return fmt.Errorf("clearing packet drops on %s: %w", h.Name, err)
	}
	return nil
}

// ClearNetem removes a discipline set by Netem.
func (n *Network) ClearNetem(ctx context.Context, h *Host) error {
	if _, err := run(ctx, "tc", "-n", h.NS, "qdisc", "del", "dev", HostIface, "root"); err != nil {
		return fmt.Errorf("clearing netem on %s: %w", h.Name, err)
	}
	return nil
}

// Close kills every process left in the network's namespaces, deletes them
// and removes the scratch directory. It is registered on the TB by
// NewNetwork and safe to call again.
func (n *Network) Close() error {
	n.closeMu.Lock()
	defer n.closeMu.Unlock()
	if n.closed {
		return nil
	}
	n.closed = true
	ctx := context.Background()
	var errs []error
	names := []string{n.swNS}
	for _, h := range n.hosts {
		names = append(names, h.NS)
	}
	for _, ns := range names {
		if err := deleteNamespace(ctx, ns); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(n.Dir); err != nil {
		errs = append(errs, fmt.Errorf("removing %s: %w", n.Dir, err))
	}
	if n.lease != nil {
		n.lease.Close() // releases the flock
	}
	return errors.Join(errs...)
}

// killInNamespace SIGKILLs a process `ip netns pids` listed, unless it is
// this test process: a goroutine of ours that entered the namespace on the
// main thread (inNetns) makes the whole process show up there, and a CI run
// was killed by its own cleanup that way ("signal: killed").
func killInNamespace(pid int) {
	if pid == os.Getpid() {
		return
	}
	_ = unix.Kill(pid, unix.SIGKILL)
}

// deleteNamespace SIGKILLs every process inside ns, waits for them to go and
// deletes ns and its IPC namespace. A missing namespace is not an error.
func deleteNamespace(ctx context.Context, ns string) error {
	if _, err := os.Stat(nsPath(ns)); errors.Is(err, os.ErrNotExist) {
		return deleteIPC(ns)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, _ := run(ctx, "ip", "netns", "pids", ns)
		pids := slices.DeleteFunc(strings.Fields(out), func(p string) bool { return p == strconv.Itoa(os.Getpid()) })
		if len(pids) == 0 {
			break
		}
		for _, p := range pids {
			var pid int
			if _, err := fmt.Sscan(p, &pid); err == nil && pid > 1 {
				killInNamespace(pid)
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("namespace %s: processes %v survive SIGKILL", ns, pids)
		}
		time.Sleep(20 * time.Millisecond) // waiting for the kernel to reap; nothing to poll but the list itself
	}
	if _, err := run(ctx, "ip", "netns", "del", ns); err != nil {
		return err
	}
	return deleteIPC(ns)
}

// leaseSubnet picks a free third octet, held by an flock on a file under
// /tmp/efmi-locks for the life of the Network; a crashed process releases it
// with its file descriptors. It starts from the pid so parallel test binaries
// rarely probe the same octets.
func leaseSubnet() (int, *os.File, error) {
	dir := filepath.Join(os.TempDir(), "efmi-locks")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	span := lastOctet - firstOctet + 1
	start := os.Getpid() % span
	for i := 0; i < span; i++ {
		octet := firstOctet + (start+i)%span
		p := filepath.Join(dir, fmt.Sprintf("subnet-%d.lock", octet))
		f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			return 0, nil, fmt.Errorf("opening %s: %w", p, err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			f.Close()
			continue
		}
		return octet, f, nil
	}
	return 0, nil, fmt.Errorf("all %d subnets 10.231.%d-%d.0/24 are in use", span, firstOctet, lastOctet)
}

// DialContext opens a connection from inside h's namespace, e.g. to the VIP;
// addr must be an IP literal with a port. Usable as pgx's DialFunc.
func (h *Host) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := inNetns(nsPath(h.NS), func() error {
		var d net.Dialer
		var err error
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// Reachable reports whether to answers at the IP level from h: a TCP connect
// to port 9 that succeeds or is refused proves a round trip; a timeout or
// "no route" does not. It needs no ping binary.
func (h *Host) Reachable(ctx context.Context, to netip.Addr) bool {
	ctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	c, err := h.DialContext(ctx, "tcp", netip.AddrPortFrom(to, 9).String())
	if err == nil {
		c.Close()
		return true
	}
	return errors.Is(err, unix.ECONNREFUSED)
}

// AddAddr adds addr/prefix to h's interface, as an agent adds a VIP; for
// tests that move an address by hand.
func (h *Host) AddAddr(ctx context.Context, a netip.Addr, bits int) error {
	_, err := run(ctx, "ip", "-n", h.NS, "addr", "add", fmt.Sprintf("%s/%d", a, bits), "dev", HostIface)
	return err
}

// DelAddr removes an address added by AddAddr.
func (h *Host) DelAddr(ctx context.Context, a netip.Addr, bits int) error {
	_, err := run(ctx, "ip", "-n", h.NS, "addr", "del", fmt.Sprintf("%s/%d", a, bits), "dev", HostIface)
	return err
}

// HasAddr reports whether a is configured on h's interface.
func (h *Host) HasAddr(ctx context.Context, a netip.Addr) (bool, error) {
	out, err := run(ctx, "ip", "-n", h.NS, "-o", "addr", "show", "dev", HostIface)
	if err != nil {
		return false, err
	}
	return strings.Contains(out, " "+a.String()+"/"), nil
}

// Network returns the network h is on.
func (h *Host) Network() *Network { return h.net }
