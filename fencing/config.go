package fencing

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"time"
)

// DefaultPingCommand is EFM's ping.server.command default; the target is
// appended at run time and exit status 0 means "reachable".
const DefaultPingCommand = "/bin/ping -q -c3 -w5"

// Defaults for the knobs EFM has no property for.
const (
	// ping -w5 ends by itself after 5 s; the extra margin only catches a
	// command that hangs (DNS, a wedged custom script).
	DefaultPingTimeout = 10 * time.Second
	// keepalived sends 5 gratuitous ARPs on becoming master; spacing them
	// out covers a frame lost on a busy switch and an entry updated just
	// before (Linux ignores non-gratuitous updates within locktime, 1 s).
	DefaultAnnounceCount    = 5
	DefaultAnnounceInterval = 300 * time.Millisecond
	DefaultResolveTimeout   = 5 * time.Second
	// Pause between two VIP probes in CheckVIPFree; a ping that gets
	// answers already takes ~2 s, so this only bounds a fast-failing command.
	DefaultProbeInterval = 500 * time.Millisecond
	// How long ProbeARP waits for an answer by default; arping -D uses
	// -w 2 with 2 probes, a LAN answers in well under a millisecond.
	DefaultARPProbeWait = time.Second
)

// Config holds the fencing-related properties. Zero values mean the EFM
// default (or our own, documented above) unless said otherwise.
type Config struct {
	// VirtualIP is virtual.ip: an IPv4 or IPv6 address, or a host name
	// resolved each time the VIP is acquired or released. Blank disables
	// VIP handling; the reachability probes still work.
	VirtualIP string
	// Interface is virtual.ip.interface, without any ":label" suffix.
	Interface string
	// Prefix is virtual.ip.prefix; 0 means 32 for IPv4 and 128 for IPv6.
	Prefix int
	// ReleasePreWait and ReleasePostWait are release.vip.pre.wait and
	// release.vip.post.wait.
	ReleasePreWait  time.Duration
	ReleasePostWait time.Duration

	// PingCommand is ping.server.command; "" means DefaultPingCommand.
	PingCommand string
	// PingTimeout bounds one run of PingCommand.
	PingTimeout time.Duration
	// ProbeInterval is the pause between probes in CheckVIPFree.
	ProbeInterval time.Duration
	// VIPCheck chooses how CheckVIPFree decides an IPv4 VIP is free; an
	// IPv6 VIP is always checked with PingCommand.
	VIPCheck VIPCheck
	// ARPProbeWait is how long the ARP probe waits for an answer.
	ARPProbeWait time.Duration

	// AnnounceCount and AnnounceInterval shape the gratuitous ARP /
	// unsolicited neighbour advertisement burst after acquiring the VIP.
	AnnounceCount    int
	AnnounceInterval time.Duration
	// ResolveTimeout bounds the lookup of a host-name VIP.
	ResolveTimeout time.Duration

	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.PingCommand == "" {
		c.PingCommand = DefaultPingCommand
	}
	if c.PingTimeout <= 0 {
		c.PingTimeout = DefaultPingTimeout
	}
	if c.ProbeInterval <= 0 {
		c.ProbeInterval = DefaultProbeInterval
	}
	if c.ARPProbeWait <= 0 {
		c.ARPProbeWait = DefaultARPProbeWait
	}
	if c.AnnounceCount <= 0 {
		c.AnnounceCount = DefaultAnnounceCount
	}
	if c.AnnounceInterval <= 0 {
		c.AnnounceInterval = DefaultAnnounceInterval
	}
	if c.ResolveTimeout <= 0 {
		c.ResolveTimeout = DefaultResolveTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// validate checks what can be checked without touching the network.
func (c Config) validate() error {
	var errs []error
	if c.VirtualIP != "" {
		if c.Interface == "" {
			errs = append(errs, fmt.Errorf("virtual.ip.interface is required when virtual.ip=%s is set", c.VirtualIP))
		} else if strings.Contains(c.Interface, ":") {
			errs = append(errs, fmt.Errorf("virtual.ip.interface=%s: give the interface name without a ':' alias suffix", c.Interface))
		}
		if ip := net.ParseIP(c.VirtualIP); ip != nil {
			if _, err := prefixFor(ip, c.Prefix); err != nil {
				errs = append(errs, err)
			}
		} else if c.Prefix < 0 || c.Prefix > 128 {
			errs = append(errs, fmt.Errorf("virtual.ip.prefix=%d: must be 1..32 for IPv4 or 1..128 for IPv6", c.Prefix))
		}
	}
	if _, ok := vipCheckNames[c.VIPCheck]; !ok {
		errs = append(errs, fmt.Errorf("VIP check method %s: want ping, arp+ping or arp", c.VIPCheck))
	}
	if c.VIPCheck != VIPCheckPing && c.VirtualIP == "" && c.Interface == "" {
		errs = append(errs, fmt.Errorf("VIP check method %s needs virtual.ip.interface to send ARP probes on", c.VIPCheck))
	}
	if c.ReleasePreWait < 0 || c.ReleasePostWait < 0 {
		errs = append(errs, fmt.Errorf("release.vip.pre.wait=%s release.vip.post.wait=%s: must not be negative", c.ReleasePreWait, c.ReleasePostWait))
	}
	if _, err := checkCommand(c.PingCommand); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// prefixFor returns the prefix length to use for ip, applying the default
// for its family and refusing lengths the family cannot have.
func prefixFor(ip net.IP, prefix int) (int, error) {
	bits := 128
	if ip.To4() != nil {
		bits = 32
	}
	if prefix == 0 {
		return bits, nil
	}
	if prefix < 1 || prefix > bits {
		return 0, fmt.Errorf("virtual.ip.prefix=%d: must be 1..%d for virtual.ip=%s", prefix, bits, ip)
	}
	return prefix, nil
}

// checkCommand splits a ping.server.command and makes sure its program
// exists and is executable. Without ping every probe fails, which the VIP
// check would read as "released, safe to promote": refuse that at start.
func checkCommand(cmdline string) ([]string, error) {
	argv := strings.Fields(cmdline)
	if len(argv) == 0 {
		return nil, fmt.Errorf("ping.server.command is empty")
	}
	prog := argv[0]
	if !strings.Contains(prog, "/") {
		p, err := exec.LookPath(prog)
		if err != nil {
			return nil, fmt.Errorf("ping.server.command=%q: program %s not found in PATH (install iputils-ping or give an absolute path): %w", cmdline, prog, err)
		}
		prog, argv[0] = p, p
	}
	fi, err := os.Stat(prog)
	if err != nil {
		return nil, fmt.Errorf("ping.server.command=%q: program %s not found (install iputils-ping or set ping.server.command): %w", cmdline, prog, err)
	}
	if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return nil, fmt.Errorf("ping.server.command=%q: program %s is not an executable file", cmdline, prog)
	}
	return argv, nil
}

// VIPCheck is how CheckVIPFree probes an IPv4 VIP.
type VIPCheck int

const (
	// VIPCheckPing runs ping.server.command only (EFM's behaviour).
	VIPCheckPing VIPCheck = iota
	// VIPCheckARPAndPing also requires that nobody answers an ARP probe
	// (arping -D semantics) on virtual.ip.interface. ICMP can be filtered
	// by a host firewall; ARP cannot, so this catches a holder that ping
	// misses.
	VIPCheckARPAndPing
	// VIPCheckARP uses the ARP probe alone: ~ARPProbeWait to call a free
	// VIP free, where the default ping command needs its full -w5.
	VIPCheckARP
)

var vipCheckNames = map[VIPCheck]string{VIPCheckPing: "ping", VIPCheckARPAndPing: "arp+ping", VIPCheckARP: "arp"}

func (v VIPCheck) String() string {
	if n, ok := vipCheckNames[v]; ok {
		return n
	}
	return fmt.Sprintf("VIPCheck(%d)", int(v))
}

// ParseVIPCheck parses "ping", "arp+ping" or "arp" ("" means ping).
func ParseVIPCheck(s string) (VIPCheck, error) {
	if s == "" {
		return VIPCheckPing, nil
	}
	for v, n := range vipCheckNames {
		if n == s {
			return v, nil
		}
	}
	return 0, fmt.Errorf("%q: want ping, arp+ping or arp", s)
}
