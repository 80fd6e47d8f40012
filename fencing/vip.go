package fencing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Manager owns the VIP of one agent and the reachability probes.
// Netlink calls act on the calling thread's network namespace and take
// microseconds (field-notes: 40-130 µs), so they take no context; every
// other external action is bounded by one.
type Manager struct {
	cfg  Config
	argv []string
	log  *slog.Logger

	mu       sync.Mutex
	acquired net.IP // last address added, so a host-name VIP can be released after its DNS entry changed
	// stopBurst ends the announcement burst of the last Acquire. Release
	// calls it first: announcing an address we no longer hold would pull
	// clients back from its next holder.
	stopBurst context.CancelFunc
}

// NewManager validates cfg and checks that the ping command's program
// exists and, when a VIP is configured, that its interface exists.
func NewManager(cfg Config) (*Manager, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("fencing configuration: %w", err)
	}
	argv, err := checkCommand(cfg.PingCommand)
	if err != nil {
		return nil, err
	}
	if cfg.VirtualIP != "" {
		if _, err := netlink.LinkByName(cfg.Interface); err != nil {
			return nil, fmt.Errorf("virtual.ip.interface=%s: no such interface: %w", cfg.Interface, err)
		}
	}
	return &Manager{cfg: cfg, argv: argv, log: cfg.Logger.With("vip", cfg.VirtualIP, "interface", cfg.Interface)}, nil
}

// HasVIP reports whether a virtual IP is configured at all.
func (m *Manager) HasVIP() bool { return m.cfg.VirtualIP != "" }

// ResolveVIP returns the configured VIP with its prefix, resolving a host
// name now (EFM resolves it at use, so a DNS change moves the VIP).
func (m *Manager) ResolveVIP(ctx context.Context) (*net.IPNet, error) {
	if !m.HasVIP() {
		return nil, errors.New("no virtual.ip configured")
	}
	ip, err := resolveIP(ctx, m.cfg.VirtualIP, m.cfg.ResolveTimeout)
	if err != nil {
		return nil, fmt.Errorf("virtual.ip=%s: %w", m.cfg.VirtualIP, err)
	}
	ones, err := prefixFor(ip, m.cfg.Prefix)
	if err != nil {
		return nil, err
	}
	return &net.IPNet{IP: ip, Mask: net.CIDRMask(ones, 8*len(ip))}, nil
}

// resolveIP parses s as an address or looks it up, preferring IPv4 so the
// choice is deterministic when a name has both.
func resolveIP(ctx context.Context, s string, timeout time.Duration) (net.IP, error) {
	if ip := net.ParseIP(s); ip != nil {
		return normalize(ip), nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, s)
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", s, err)
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("resolving %s: no addresses", s)
	}
	sort.SliceStable(addrs, func(i, j int) bool { return addrs[i].IP.To4() != nil && addrs[j].IP.To4() == nil })
	return normalize(addrs[0].IP), nil
}

func normalize(ip net.IP) net.IP {
	if v4 := ip.To4(); v4 != nil {
		return v4
	}
	return ip.To16()
}

// vipLabel is the IFA_LABEL shown by `ip addr` and ifconfig ("eth0:vip").
// The kernel keeps labels in IFNAMSIZ (16 bytes with the NUL) and netlink
// insists they start with the interface name; IPv6 has no labels.
func vipLabel(ifname string, ip net.IP) string {
	l := ifname + ":vip"
	if ip.To4() == nil || len(l) > unix.IFNAMSIZ-1 {
		return ""
	}
	return l
}

// Acquire adds the VIP to the interface (idempotent: AddrReplace) and
// announces it. The first announcement is sent before Acquire returns; the
// rest of the burst goes on in the background until done or ctx ends, so
// pass a context that lives as long as the primary role, not a short
// per-call timeout. The channel receives the burst's first error (or nil)
// and is closed when the burst ends. An announcement failure does not undo
// the acquisition: Acquire's error is only about the address itself.
//
// Without a configured VIP, Acquire does nothing and returns a closed channel.
func (m *Manager) Acquire(ctx context.Context) (<-chan error, error) {
	if !m.HasVIP() {
		ch := make(chan error)
		close(ch)
		return ch, nil
	}
	vip, err := m.ResolveVIP(ctx)
	if err != nil {
		return nil, err
	}
	link, err := netlink.LinkByName(m.cfg.Interface)
	if err != nil {
		return nil, fmt.Errorf("acquiring VIP %s: virtual.ip.interface=%s: %w", vip, m.cfg.Interface, err)
	}
	addr := &netlink.Addr{IPNet: vip, Label: vipLabel(m.cfg.Interface, vip.IP)}
	if vip.IP.To4() == nil {
		// Without NODAD the address stays "tentative" for ~1 s of duplicate
		// address detection, unusable as a source and unannounceable; the
		// VIP check before promotion is our duplicate detection.
		addr.Flags = unix.IFA_F_NODAD
	}
	start := time.Now()
	if err := netlink.AddrReplace(link, addr); err != nil {
		return nil, fmt.Errorf("acquiring VIP %s on %s: %w", vip, m.cfg.Interface, err)
	}
	m.mu.Lock()
	m.acquired = vip.IP
	m.mu.Unlock()
	if vip.IP.To4() == nil {
		if took, err := waitNDReady(ctx, m.cfg.Interface, vip.IP); err != nil {
			m.log.Warn("IPv6 VIP may not answer neighbour solicitations yet", "took", took, "err", err)
		}
	}
	m.log.Info("acquired virtual IP", "address", vip.String(), "took", time.Since(start))

	bctx, stop := context.WithCancel(ctx)
	m.mu.Lock()
	if m.stopBurst != nil {
		m.stopBurst()
	}
	m.stopBurst = stop
	m.mu.Unlock()
	done, err := m.Announce(bctx, vip.IP)
	if err != nil {
		m.log.Warn("announcing virtual IP failed; clients may keep the old MAC until their neighbour entry expires", "address", vip.IP.String(), "err", err)
		ch := make(chan error, 1)
		ch <- err
		close(ch)
		return ch, nil
	}
	return done, nil
}

// Announce sends the gratuitous ARP / unsolicited neighbour advertisement
// burst for ip on the VIP interface (see Acquire for the contract).
func (m *Manager) Announce(ctx context.Context, ip net.IP) (<-chan error, error) {
	ifi, err := net.InterfaceByName(m.cfg.Interface)
	if err != nil {
		return nil, fmt.Errorf("announcing %s: virtual.ip.interface=%s: %w", ip, m.cfg.Interface, err)
	}
	return Announce(ctx, ifi, ip, m.cfg.AnnounceCount, m.cfg.AnnounceInterval)
}

// Release waits release.vip.pre.wait, removes every address equal to the
// VIP from the interface (whatever prefix or label it was added with; an
// absent VIP is fine) and waits release.vip.post.wait.
func (m *Manager) Release(ctx context.Context) error {
	if !m.HasVIP() {
		return nil
	}
	m.mu.Lock()
	if m.stopBurst != nil {
		m.stopBurst()
		m.stopBurst = nil
	}
	m.mu.Unlock()
	if err := sleepCtx(ctx, m.cfg.ReleasePreWait); err != nil {
		return fmt.Errorf("releasing VIP %s: release.vip.pre.wait: %w", m.cfg.VirtualIP, err)
	}
	targets := m.releaseTargets(ctx)
	if len(targets) == 0 {
		return fmt.Errorf("releasing VIP %s: cannot resolve it and it was never acquired by this agent", m.cfg.VirtualIP)
	}
	link, err := netlink.LinkByName(m.cfg.Interface)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			// The addresses went with the interface.
			m.log.Warn("VIP interface is gone; nothing to release", "err", err)
			return nil
		}
		return fmt.Errorf("releasing VIP %s: virtual.ip.interface=%s: %w", m.cfg.VirtualIP, m.cfg.Interface, err)
	}
	removed, err := deleteAddrs(link, targets)
	if err != nil {
		return fmt.Errorf("releasing VIP %s on %s: %w", m.cfg.VirtualIP, m.cfg.Interface, err)
	}
	if removed > 0 {
		m.log.Info("released virtual IP", "removed", removed)
	}
	if err := sleepCtx(ctx, m.cfg.ReleasePostWait); err != nil {
		return fmt.Errorf("releasing VIP %s: release.vip.post.wait: %w", m.cfg.VirtualIP, err)
	}
	return nil
}

// ReleaseAsync runs Release in a goroutine, for release.vip.background=true.
// The channel receives its result and is then closed. The goroutine runs
// on an OS thread of Go's choosing: a program that switches network
// namespaces per thread must call Release from its own pinned goroutine.
func (m *Manager) ReleaseAsync(ctx context.Context) <-chan error {
	ch := make(chan error, 1)
	go func() {
		defer close(ch)
		ch <- m.Release(ctx)
	}()
	return ch
}

// releaseTargets is the resolved VIP plus the one we last added, so a
// host-name VIP whose DNS entry changed (or stopped resolving) still goes.
func (m *Manager) releaseTargets(ctx context.Context) []net.IP {
	var ips []net.IP
	m.mu.Lock()
	if m.acquired != nil {
		ips = append(ips, m.acquired)
	}
	m.mu.Unlock()
	vip, err := m.ResolveVIP(ctx)
	if err != nil {
		m.log.Warn("cannot resolve VIP for release; releasing the last acquired address only", "err", err)
		return ips
	}
	if len(ips) == 0 || !ips[0].Equal(vip.IP) {
		ips = append(ips, vip.IP)
	}
	return ips
}

func deleteAddrs(link netlink.Link, ips []net.IP) (int, error) {
	addrs, err := netlink.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return 0, fmt.Errorf("listing addresses: %w", err)
	}
	removed := 0
	for _, a := range addrs {
		for _, ip := range ips {
			if !a.IP.Equal(ip) {
				continue
			}
			if err := netlink.AddrDel(link, &a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
				return removed, fmt.Errorf("deleting %s: %w", a.IPNet, err)
			}
			removed++
		}
	}
	return removed, nil
}

// Held reports whether the VIP is on the configured interface of this node
// (false without a configured VIP).
func (m *Manager) Held(ctx context.Context) (bool, error) {
	if !m.HasVIP() {
		return false, nil
	}
	vip, err := m.ResolveVIP(ctx)
	if err != nil {
		return false, err
	}
	link, err := netlink.LinkByName(m.cfg.Interface)
	if err != nil {
		return false, fmt.Errorf("checking VIP %s: virtual.ip.interface=%s: %w", vip.IP, m.cfg.Interface, err)
	}
	fam := netlink.FAMILY_V6
	if vip.IP.To4() != nil {
		fam = netlink.FAMILY_V4
	}
	addrs, err := netlink.AddrList(link, fam)
	if err != nil {
		return false, fmt.Errorf("checking VIP %s on %s: %w", vip.IP, m.cfg.Interface, err)
	}
	for _, a := range addrs {
		if a.IP.Equal(vip.IP) {
			return true, nil
		}
	}
	return false, nil
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
