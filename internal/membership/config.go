package membership

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"
)

// Kind is what sort of agent a member is. All kinds vote.
type Kind string

const (
	// KindDatabase is an agent beside a PostgreSQL database (promotable).
	KindDatabase Kind = "database"
	// KindWitness has no database: it votes and holds shared state but is
	// never promotable.
	KindWitness Kind = "witness"
)

// Config is everything New needs. The agent maps the properties file onto
// it; this package never reads the properties file itself.
type Config struct {
	// Cluster is the cluster name; nodes of another cluster never merge
	// (it is memberlist's Label, and it is checked in node meta too).
	Cluster string
	// BindAddr is ip:port ("[v6]:port" for IPv6). Its IP is the node's
	// identity (memberlist Name) in every list.
	BindAddr string
	// AdvertiseAddr, ip:port, is what peers dial when set (NAT).
	AdvertiseAddr string
	// Join is the address:port list from the .nodes file.
	Join []string
	Kind Kind
	// NodesFile is rewritten on membership change unless StableNodesFile.
	// Empty: never written.
	NodesFile       string
	StableNodesFile bool
	// AutoAllowHosts seeds the allowed host list from Join when this node
	// is the first of the cluster.
	AutoAllowHosts bool
	// NodeTimeout bounds failure and isolation detection (see Timing).
	NodeTimeout time.Duration
	// Encrypt turns on memberlist's AES-GCM with Key (16, 24 or 32 bytes).
	Encrypt bool
	Key     []byte
	Logger  *slog.Logger

	// Transport replaces memberlist's UDP/TCP transport (tests cut links
	// with it). It must already be bound to BindAddr.
	Transport memberlist.NodeAwareTransport
	// Started overrides the join timestamp that ranks the coordinator
	// (tests); zero means time.Now().
	Started time.Time
}

// hostPort splits and validates an ip:port address.
func hostPort(key, addr string) (netip.Addr, int, error) {
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("%s %q: want ip:port ([addr]:port for IPv6): %w", key, addr, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("%s %q: %q is not an IP address: %w", key, addr, host, err)
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 1 || port > 65535 {
		return netip.Addr{}, 0, fmt.Errorf("%s %q: port %q: want 1-65535", key, addr, ps)
	}
	return ip.Unmap(), port, nil
}

// lookupTimeout bounds each DNS lookup of a host name in the configuration.
const lookupTimeout = 3 * time.Second

// hostPortOrName is hostPort that also takes a host name (resolved later).
func hostPortOrName(key, addr string) (string, int, error) {
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("%s %q: want address:port ([addr]:port for IPv6): %w", key, addr, err)
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 1 || port > 65535 || host == "" {
		return "", 0, fmt.Errorf("%s %q: want address:port with a port in 1-65535", key, addr)
	}
	return host, port, nil
}

// lookupIP resolves host (an IP or a name) to one IP, within lookupTimeout.
func lookupIP(host string) (netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.Unmap(), nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("resolving %q: %w", host, err)
	}
	if len(ips) == 0 {
		return netip.Addr{}, fmt.Errorf("resolving %q: no address", host)
	}
	return ips[0].Unmap(), nil
}

// resolved is a validated Config plus what was derived from it.
type resolved struct {
	Config
	name        string
	bindIP      netip.Addr
	bindPort    int
	advIP       netip.Addr
	advPort     int
	timing      Timing
	logger      *slog.Logger
	joinTargets []string
	// joinIPs are the IPs of Join, for auto.allow.hosts (names resolved
	// once at start; an unresolvable one is logged and skipped).
	joinIPs []string
}

func (c Config) resolve() (*resolved, error) {
	r := &resolved{Config: c}
	if c.Cluster == "" {
		return nil, errors.New("cluster name is empty")
	}
	if len(c.Cluster) > 200 {
		return nil, fmt.Errorf("cluster name %q: longer than 200 bytes", c.Cluster)
	}
	var err error
	if r.bindIP, r.bindPort, err = hostPort("bind address", c.BindAddr); err != nil {
		return nil, err
	}
	r.advIP, r.advPort = r.bindIP, r.bindPort
	if c.AdvertiseAddr != "" {
		host, port, err := hostPortOrName("advertise address", c.AdvertiseAddr)
		if err != nil {
			return nil, err
		}
		if r.advIP, err = lookupIP(host); err != nil {
			return nil, fmt.Errorf("advertise address %q: %w", c.AdvertiseAddr, err)
		}
		r.advPort = port
	}
	r.name = r.bindIP.String()
	if r.bindIP.IsUnspecified() {
		if r.advIP.IsUnspecified() {
			return nil, fmt.Errorf("bind address %q: an unspecified IP needs an advertise address to name the node", c.BindAddr)
		}
		r.name = r.advIP.String()
	}
	switch c.Kind {
	case KindDatabase, KindWitness:
	case "":
		r.Kind = KindDatabase
	default:
		return nil, fmt.Errorf("kind %q: want %q or %q", c.Kind, KindDatabase, KindWitness)
	}
	if r.timing, err = TimingFor(c.NodeTimeout); err != nil {
		return nil, err
	}
	if c.Encrypt {
		if err := checkKey(c.Key); err != nil {
			return nil, err
		}
	}
	self := net.JoinHostPort(r.advIP.String(), strconv.Itoa(r.advPort))
	for _, j := range c.Join {
		if _, _, err := hostPortOrName("join address", j); err != nil {
			return nil, err
		}
	}
	r.logger = c.Logger
	if r.logger == nil {
		r.logger = slog.New(slog.DiscardHandler)
	}
	r.logger = r.logger.With("cluster", c.Cluster, "node", r.name)
	for _, j := range c.Join {
		if j == self || j == c.BindAddr {
			continue // a .nodes file may list this node too
		}
		r.joinTargets = append(r.joinTargets, j)
		host, _, _ := hostPortOrName("join address", j)
		ip, err := lookupIP(host)
		if err != nil {
			r.logger.Warn("nodes file entry does not resolve", "address", j, "err", err)
			continue
		}
		r.joinIPs = append(r.joinIPs, ip.String())
	}
	if r.Started.IsZero() {
		r.Started = time.Now()
	}
	return r, nil
}

func (r *resolved) selfAddr() string {
	return net.JoinHostPort(r.advIP.String(), strconv.Itoa(r.advPort))
}

// memberlistConfig maps Timing onto memberlist (arithmetic in timing.go).
func (r *resolved) memberlistConfig() *memberlist.Config {
	mc := memberlist.DefaultLANConfig()
	t := r.timing
	mc.Name = r.name
	mc.BindAddr = r.bindIP.String()
	mc.BindPort = r.bindPort
	mc.AdvertiseAddr = r.advIP.String()
	mc.AdvertisePort = r.advPort
	mc.Label = r.Cluster
	mc.ProbeInterval = t.ProbeInterval
	mc.ProbeTimeout = t.ProbeTimeout
	mc.SuspicionMult = t.SuspicionMult
	mc.SuspicionMaxTimeoutMult = 1
	mc.GossipInterval = t.GossipInterval
	mc.PushPullInterval = t.PushPull
	mc.GossipToTheDeadTime = t.NodeTimeout
	mc.TCPTimeout = t.TCPTimeout
	mc.DeadNodeReclaimTime = t.NodeTimeout
	if r.Encrypt {
		mc.SecretKey = append([]byte(nil), r.Key...)
	}
	if r.Transport != nil {
		mc.Transport = r.Transport
	}
	return mc
}
