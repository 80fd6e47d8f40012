package membership

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// Every node of every test gets its own loopback IP (Linux routes all of
// 127.0.0.0/8 to lo), like serf's testutil.TakeIP. The second octet comes
// from the PID so parallel runs of this package do not collide either.
var ipCounter atomic.Uint32

const testPort = 17946

func takeIP(t *testing.T) netip.Addr {
	t.Helper()
	n := ipCounter.Add(1)
	b := byte(100 + os.Getpid()%100)
	return netip.AddrFrom4([4]byte{127, b, byte(n / 250), byte(n%250 + 1)})
}

func addrOf(ip netip.Addr) string { return netip.AddrPortFrom(ip, testPort).String() }

// testNodeTimeout keeps tests fast: h = 100ms, W = 900ms.
const testNodeTimeout = time.Second

// logSink keeps every log record of one node so tests can assert that a
// node "logs why", and forwards the interesting ones to t.Log.
type logSink struct {
	t    *testing.T
	name string
	mu   sync.Mutex
	recs []string
	over bool // the test ended: memberlist goroutines may still log
}

func newLogSink(t *testing.T, name string) *logSink {
	s := &logSink{t: t, name: name}
	t.Cleanup(func() { s.mu.Lock(); s.over = true; s.mu.Unlock() })
	return s
}

func (s *logSink) Enabled(context.Context, slog.Level) bool { return true }
func (s *logSink) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
	r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
	line := b.String()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs = append(s.recs, line)
	if !s.over && (r.Level >= slog.LevelWarn || os.Getenv("MEMBERSHIP_DEBUG") != "") {
		s.t.Logf("%s %s: %s", time.Now().Format("15:04:05.000"), s.name, line)
	}
	return nil
}
func (s *logSink) WithAttrs([]slog.Attr) slog.Handler { return s }
func (s *logSink) WithGroup(string) slog.Handler      { return s }

func (s *logSink) contains(sub string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.ContainsFunc(s.recs, func(l string) bool { return strings.Contains(l, sub) })
}

type testNode struct {
	*Membership
	ip   netip.Addr
	logs *logSink
	tr   *cutTransport
}

type nodeOpt func(*Config)

func withJoin(ips ...netip.Addr) nodeOpt {
	return func(c *Config) {
		for _, ip := range ips {
			c.Join = append(c.Join, addrOf(ip))
		}
	}
}

// startNode starts a node on ip, with auto.allow.hosts on unless an option
// turns it off, and a cuttable transport.
func startNode(t *testing.T, cluster string, ip netip.Addr, opts ...nodeOpt) *testNode {
	t.Helper()
	sink := newLogSink(t, ip.String())
	tr := newCutTransport(t, ip)
	cfg := Config{
		Cluster: cluster, BindAddr: addrOf(ip), Kind: KindDatabase,
		AutoAllowHosts: true, NodeTimeout: testNodeTimeout,
		Logger: slog.New(sink), Transport: tr,
	}
	for _, o := range opts {
		o(&cfg)
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatalf("starting node %s: %v", ip, err)
	}
	n := &testNode{Membership: m, ip: ip, logs: sink, tr: tr}
	t.Cleanup(func() { _ = m.Shutdown() })
	go drain(m)
	return n
}

// drain keeps the channels flowing for tests that do not read them.
func drain(m *Membership) {
	for {
		select {
		case <-m.done:
			return
		case <-m.Events():
		}
	}
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	var last string
	for {
		ok, detail := cond()
		if ok {
			return time.Since(start)
		}
		last = detail
		if time.Since(start) > timeout {
			t.Fatalf("after %v: %s: still %s", timeout, what, last)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// view is a compact "name=State" list for comparing memberships.
func view(m *Membership) string {
	var parts []string
	for _, mem := range m.Members() {
		parts = append(parts, mem.Name+"="+mem.State)
	}
	return strings.Join(parts, " ")
}

func names(ns ...*testNode) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.ip.String())
	}
	slices.Sort(out)
	return out
}

func memberNames(m *Membership) []string {
	var out []string
	for _, mem := range m.Members() {
		out = append(out, mem.Name)
	}
	return out
}

// waitMembers waits until every node lists exactly want, none DOWN.
func waitMembers(t *testing.T, timeout time.Duration, nodes []*testNode, want ...*testNode) {
	t.Helper()
	w := names(want...)
	for _, n := range nodes {
		waitFor(t, timeout, n.ip.String()+" sees "+strings.Join(w, ","), func() (bool, string) {
			got := memberNames(n.Membership)
			if !slices.Equal(got, w) {
				return false, view(n.Membership)
			}
			for _, mem := range n.Members() {
				if mem.State == StateDown || !mem.Reachable {
					return false, view(n.Membership)
				}
			}
			return true, ""
		})
	}
}

func stateOf(m *Membership, name string) string {
	for _, mem := range m.Members() {
		if mem.Name == name {
			return mem.State
		}
	}
	return "absent"
}

// cutTransport is a real memberlist NetTransport whose traffic to and
// from chosen peer IPs can be cut: packets are dropped in both directions
// and stream dials hang until their timeout, like a pulled cable (not a
// refused connection).
type cutTransport struct {
	*memberlist.NetTransport
	ip      netip.Addr
	mu      sync.Mutex
	blocked map[netip.Addr]bool
	loss    float64       // share of packets dropped, each direction
	jitter  time.Duration // incoming packets delayed by up to this
	packets chan *memberlist.Packet
	streams chan net.Conn
	done    chan struct{}
}

func newCutTransport(t *testing.T, ip netip.Addr) *cutTransport {
	t.Helper()
	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
		BindAddrs: []string{ip.String()}, BindPort: testPort,
		Logger: newMemberlistLogger(slog.New(slog.DiscardHandler)),
	})
	if err != nil {
		t.Fatalf("binding %s:%d: %v", ip, testPort, err)
	}
	c := &cutTransport{
		NetTransport: nt, ip: ip, blocked: map[netip.Addr]bool{},
		packets: make(chan *memberlist.Packet), streams: make(chan net.Conn), done: make(chan struct{}),
	}
	go c.pump()
	return c
}

func (c *cutTransport) cut(ips ...netip.Addr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ip := range ips {
		c.blocked[ip] = true
	}
}

// degrade drops a share of all packets and delays incoming ones.
func (c *cutTransport) degrade(loss float64, jitter time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.loss, c.jitter = loss, jitter
}

func (c *cutTransport) lossy() (bool, time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var d time.Duration
	if c.jitter > 0 {
		d = rand.N(c.jitter)
	}
	return c.loss > 0 && rand.Float64() < c.loss, d
}

func (c *cutTransport) heal() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.blocked)
}

func (c *cutTransport) isCut(a net.Addr) bool {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return false
	}
	return c.isCutIP(ap.Addr().Unmap())
}

func (c *cutTransport) isCutIP(ip netip.Addr) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.blocked[ip]
}

func (c *cutTransport) isCutHostPort(addr string) bool {
	ap, err := netip.ParseAddrPort(addr)
	return err == nil && c.isCutIP(ap.Addr().Unmap())
}

func (c *cutTransport) pump() {
	in, sin := c.NetTransport.PacketCh(), c.NetTransport.StreamCh()
	for {
		select {
		case <-c.done:
			return
		case p := <-in:
			if c.isCut(p.From) {
				continue
			}
			drop, delay := c.lossy()
			if drop {
				continue
			}
			if delay > 0 {
				time.AfterFunc(delay, func() {
					select {
					case c.packets <- p:
					case <-c.done:
					}
				})
				continue
			}
			select {
			case c.packets <- p:
			case <-c.done:
				return
			}
		case s := <-sin:
			if c.isCut(s.RemoteAddr()) {
				s.Close()
				continue
			}
			select {
			case c.streams <- s:
			case <-c.done:
				s.Close()
				return
			}
		}
	}
}

func (c *cutTransport) PacketCh() <-chan *memberlist.Packet { return c.packets }
func (c *cutTransport) StreamCh() <-chan net.Conn           { return c.streams }

func (c *cutTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	if drop, _ := c.lossy(); drop || c.isCutHostPort(addr) {
		return time.Now(), nil
	}
	return c.NetTransport.WriteTo(b, addr)
}

func (c *cutTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	if drop, _ := c.lossy(); drop || c.isCutHostPort(a.Addr) {
		return time.Now(), nil
	}
	return c.NetTransport.WriteToAddress(b, a)
}

func (c *cutTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	if c.isCutHostPort(addr) {
		select {
		case <-time.After(timeout): // a silent network: the dial times out
		case <-c.done:
		}
		return nil, fmt.Errorf("dial %s: i/o timeout (link cut by test)", addr)
	}
	// Dial from our own loopback IP (NetTransport would use 127.0.0.1), so
	// the receiving side can tell who connects and cut incoming streams.
	d := net.Dialer{Timeout: timeout, LocalAddr: &net.TCPAddr{IP: c.ip.AsSlice()}}
	return d.Dial("tcp", addr)
}

func (c *cutTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return c.DialTimeout(a.Addr, timeout)
}

func (c *cutTransport) Shutdown() error {
	select {
	case <-c.done:
		return nil
	default:
		close(c.done)
	}
	// NetTransport's listeners block handing over a packet or stream
	// until someone reads it; keep reading until they have stopped, or
	// its Shutdown waits for them forever.
	stopped := make(chan struct{})
	go func() {
		for {
			select {
			case <-stopped:
				return
			case <-c.NetTransport.PacketCh():
			case s := <-c.NetTransport.StreamCh():
				s.Close()
			}
		}
	}()
	err := c.NetTransport.Shutdown()
	close(stopped)
	return err
}
