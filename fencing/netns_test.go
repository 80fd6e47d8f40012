package fencing

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// The lab: every test gets its own namespaces named efmf-<pid>-<n>, a
// bridge in a namespace of its own (nothing is created in the root
// namespace) and a /24 out of 10.231.40.0-10.231.49.255, which is this
// package's share of the test range. No default route anywhere.

var labSeq atomic.Int32

type lab struct {
	t      *testing.T
	sw     string
	nodes  []string // namespace names; node i has 10.231.<x>.(11+i)
	subnet int      // x
}

// needRoot skips loudly unless the test can create namespaces.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED: needs root (CAP_NET_ADMIN, CAP_NET_RAW) to create network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("SKIPPED: needs the ip command (Debian package iproute2)")
	}
}

func needPing(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/bin/ping"); err != nil {
		t.Skip("SKIPPED: needs /bin/ping (Debian package iputils-ping)")
	}
}

func run(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// newLab builds n nodes, each with eth0 on a shared bridge, IPv4
// 10.231.<x>.(11+i)/24 and IPv6 fd00:231:<x>::(11+i)/64.
func newLab(t *testing.T, n int) *lab {
	t.Helper()
	needRoot(t)
	seq := labSeq.Add(1)
	l := &lab{t: t, subnet: 40 + int(seq)%10}
	prefix := fmt.Sprintf("efmf-%d-%d", os.Getpid(), seq)
	l.sw = prefix + "-sw"
	run(t, "netns", "add", l.sw)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", l.sw).Run() })
	run(t, "-n", l.sw, "link", "add", "br0", "type", "bridge")
	run(t, "-n", l.sw, "link", "set", "br0", "up")
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("%s-n%d", prefix, i)
		run(t, "netns", "add", name)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
		l.nodes = append(l.nodes, name)
		port := fmt.Sprintf("v%d", i)
		// Created inside the switch namespace, so no name is ever taken
		// in the root namespace.
		run(t, "-n", l.sw, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", name)
		run(t, "-n", l.sw, "link", "set", port, "master", "br0")
		run(t, "-n", l.sw, "link", "set", port, "up")
		run(t, "-n", name, "addr", "add", l.ip4(11+i)+"/24", "dev", "eth0")
		run(t, "-n", name, "addr", "add", l.ip6(11+i)+"/64", "dev", "eth0", "nodad")
		run(t, "-n", name, "link", "set", "eth0", "up")
		run(t, "-n", name, "link", "set", "lo", "up")
	}
	return l
}

func (l *lab) ip4(host int) string { return fmt.Sprintf("10.231.%d.%d", l.subnet, host) }
func (l *lab) ip6(host int) string { return fmt.Sprintf("fd00:231:%d::%d", l.subnet, host) }

// in runs fn in namespace ns on a fresh OS thread that is thrown away
// afterwards (the goroutine exits still locked), so no other goroutine can
// ever inherit the switched namespace.
func in[T any](l *lab, ns string, fn func() T) T {
	l.t.Helper()
	res := make(chan T, 1)
	var setupErr error
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		h, err := netns.GetFromName(ns)
		if err != nil {
			setupErr = fmt.Errorf("opening namespace %s: %w", ns, err)
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			setupErr = fmt.Errorf("entering namespace %s: %w", ns, err)
			return
		}
		res <- fn()
	}()
	<-finished
	select {
	case r := <-res:
		return r
	default:
	}
	if setupErr != nil {
		l.t.Fatal(setupErr)
	}
	// fn gave up through must (runtime.Goexit) after reporting why.
	l.t.FailNow()
	var zero T
	return zero
}

// mac returns eth0's MAC in namespace ns.
func (l *lab) mac(ns string) net.HardwareAddr {
	l.t.Helper()
	return in(l, ns, func() net.HardwareAddr {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			l.t.Errorf("eth0 in %s: %v", ns, err)
			return nil
		}
		return ifi.HardwareAddr
	})
}

// neighbour returns the MAC and state namespace ns has cached for ip.
func (l *lab) neighbour(ns string, ip net.IP) (net.HardwareAddr, int) {
	l.t.Helper()
	type r struct {
		mac   net.HardwareAddr
		state int
	}
	got := in(l, ns, func() r {
		link, err := netlink.LinkByName("eth0")
		if err != nil {
			l.t.Errorf("eth0 in %s: %v", ns, err)
			return r{}
		}
		neighs, err := netlink.NeighList(link.Attrs().Index, netlink.FAMILY_ALL)
		if err != nil {
			l.t.Errorf("neighbours in %s: %v", ns, err)
			return r{}
		}
		for _, n := range neighs {
			if n.IP.Equal(ip) {
				return r{n.HardwareAddr, n.State}
			}
		}
		return r{}
	})
	return got.mac, got.state
}

// pingFrom sends one echo from namespace ns; it warms ns's neighbour cache.
func (l *lab) pingFrom(ns, target string) error {
	out, err := exec.Command("ip", "netns", "exec", ns, "/bin/ping", "-c1", "-W1", target).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ping %s from %s: %w\n%s", target, ns, err, out)
	}
	return nil
}

// waitFor polls cond every 5 ms until it holds or timeout passes, and
// returns how long that took.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		if cond() {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// runtimeGoexit ends the calling goroutine; inside `in` the caller then
// never receives a result, so `in` must also watch for that.
var runtimeGoexit = runtime.Goexit

// testLogger sends the package's logs, debug included, to t.Log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}
