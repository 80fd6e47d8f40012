package fencing

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"time"

	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"
)

// ErrProbeTimeout means the ping command did not finish within
// PingTimeout. It is doubt, not an answer: never read it as "unreachable".
var ErrProbeTimeout = errors.New("ping.server.command did not finish in time")

// ErrProbeFailed means the ping command ended with an exit status other
// than 0 or 1: it could not probe (ping(8) exits 2 for "Network is
// unreachable", a name that does not resolve, a bad option). It is doubt,
// not an answer: never read it as "unreachable".
var ErrProbeFailed = errors.New("ping.server.command failed")

// Reachable runs ping.server.command with target appended. Exit status 0
// means reachable and 1 unreachable (no reply), as ping(8) reports them.
// Any other exit status, a command that cannot start, or one killed at
// PingTimeout or by ctx gives false and an error: the probe is in doubt,
// and callers must never read that as "unreachable". EFM only says "0 =
// reachable"; distinguishing 1 matters because an isolated node's ping
// exits 2 ("Network is unreachable"), which must not make a VIP look free.
func (m *Manager) Reachable(ctx context.Context, target string) (bool, error) {
	pctx, cancel := context.WithTimeout(ctx, m.cfg.PingTimeout)
	defer cancel()
	args := append(append([]string(nil), m.argv[1:]...), target)
	cmd := exec.CommandContext(pctx, m.argv[0], args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// A killed command whose output pipe is held by a grandchild would
	// block Wait for ever; bound it.
	cmd.WaitDelay = time.Second
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	if err == nil {
		return true, nil
	}
	if ctx.Err() != nil {
		return false, fmt.Errorf("probing %s with ping.server.command: %w", target, ctx.Err())
	}
	if pctx.Err() != nil {
		return false, fmt.Errorf("probing %s with ping.server.command=%q: %w (%s)", target, m.cfg.PingCommand, ErrProbeTimeout, m.cfg.PingTimeout)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.Exited() {
		if ee.ExitCode() == 1 {
			m.log.Debug("probe: unreachable", "target", target, "exit", 1, "took", took, "output", lastLine(out.String()))
			return false, nil
		}
		detail := ""
		if l := lastLine(out.String()); l != "" {
			detail = ": " + l
		}
		return false, fmt.Errorf("probing %s with ping.server.command=%q: %w with exit status %d (0 = reachable, 1 = no reply)%s",
			target, m.cfg.PingCommand, ErrProbeFailed, ee.ExitCode(), detail)
	}
	return false, fmt.Errorf("probing %s with ping.server.command=%q: %w", target, m.cfg.PingCommand, err)
}

// SelfTest runs the ping command against the loopback address and fails
// unless it answers. A command that exists but cannot work (wrong options,
// missing capability, a broken wrapper script) would otherwise make every
// probe read "unreachable": the VIP check would call the VIP free and the
// ping server check would call this node isolated. Call it at start.
func (m *Manager) SelfTest(ctx context.Context) error {
	const target = "127.0.0.1"
	ok, err := m.Reachable(ctx, target)
	if err != nil {
		return fmt.Errorf("self-test of ping.server.command=%q against %s: %w", m.cfg.PingCommand, target, err)
	}
	if !ok {
		return fmt.Errorf("self-test of ping.server.command=%q: %s does not answer it, so every probe would read as unreachable; fix the command (exit status 0 must mean reachable)", m.cfg.PingCommand, target)
	}
	return nil
}

// PingServer probes ping.server.ip (the "am I orphaned?" check).
func (m *Manager) PingServer(ctx context.Context, ip string) (bool, error) {
	return m.Reachable(ctx, ip)
}

// VIPFree is one round of CheckVIPFree's probes: true only when vip
// positively does not answer. An error means the probe could not tell (the
// VIP is in doubt, and false is returned with it).
func (m *Manager) VIPFree(ctx context.Context, vip string) (bool, error) {
	return m.vipFreeOnce(ctx, vip)
}

// CheckVIPFree probes vip until it stops answering or timeout
// (check.vip.timeout) passes, and reports whether it became free. A probe
// that errs (timeout, cannot run) never counts as free. Config.VIPCheck
// chooses the probes for an IPv4 VIP; with both, the ARP probe runs first
// because it is faster. A timeout of 0 means one round of probes.
//
// A VIP held by this node itself reads as taken (ping answers): release
// a stale local copy first.
func (m *Manager) CheckVIPFree(ctx context.Context, vip string, timeout time.Duration) (bool, error) {
	deadline := time.Now().Add(timeout)
	var lastErr error
	for round := 1; ; round++ {
		free, err := m.vipFreeOnce(ctx, vip)
		if err != nil {
			if ctx.Err() != nil {
				return false, err
			}
			lastErr = err
			m.log.Warn("VIP probe failed; not counting it as free", "target", vip, "round", round, "err", err)
		}
		if free {
			m.log.Info("VIP no longer answers", "target", vip, "rounds", round)
			return true, nil
		}
		if !time.Now().Before(deadline) {
			if lastErr != nil {
				return false, fmt.Errorf("VIP %s still not known to be free after check.vip.timeout=%s: %w", vip, timeout, lastErr)
			}
			return false, nil
		}
		if err := sleepCtx(ctx, min(m.cfg.ProbeInterval, time.Until(deadline))); err != nil {
			return false, fmt.Errorf("checking VIP %s: %w", vip, err)
		}
	}
}

func (m *Manager) vipFreeOnce(ctx context.Context, vip string) (bool, error) {
	if m.cfg.VIPCheck != VIPCheckPing {
		ip, err := resolveIP(ctx, vip, m.cfg.ResolveTimeout)
		if err != nil {
			return false, err
		}
		if ip.To4() != nil {
			ifi, err := net.InterfaceByName(m.cfg.Interface)
			if err != nil {
				return false, fmt.Errorf("ARP probe for %s: virtual.ip.interface=%s: %w", ip, m.cfg.Interface, err)
			}
			holder, err := ProbeARP(ctx, ifi, ip, m.cfg.ARPProbeWait)
			if err != nil {
				return false, err
			}
			if holder != nil {
				m.log.Debug("VIP answers ARP", "target", vip, "holder", holder.String())
				return false, nil
			}
			if m.cfg.VIPCheck == VIPCheckARP {
				return true, nil
			}
		}
	}
	reachable, err := m.Reachable(ctx, vip)
	if err != nil {
		return false, err
	}
	return !reachable, nil
}

// ProbeARP asks the link who has ip, as `arping -D` does (sender address
// 0.0.0.0, so the probe itself claims nothing and poisons no cache), and
// returns the MAC of the first host that answers for it, or nil when
// nobody did within wait. Probes are resent three times within wait in
// case one is lost.
func ProbeARP(ctx context.Context, ifi *net.Interface, ip net.IP, wait time.Duration) (net.HardwareAddr, error) {
	v4 := ip.To4()
	if v4 == nil {
		return nil, fmt.Errorf("ARP probe: %s is not an IPv4 address", ip)
	}
	c, err := packet.Listen(ifi, packet.Datagram, unix.ETH_P_ARP, nil)
	if err != nil {
		return nil, fmt.Errorf("ARP probe for %s on %s: opening ARP socket: %w", ip, ifi.Name, err)
	}
	defer c.Close()
	probe := arpPacket(arpRequest, ifi.HardwareAddr, net.IPv4zero, nil, v4)
	dst := &packet.Addr{HardwareAddr: ethBroadcast}

	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { c.SetReadDeadline(time.Now()) })
	defer stop()

	go func() {
		for i := 0; i < 3; i++ {
			if _, err := c.WriteTo(probe, dst); err != nil {
				return
			}
			if sleepCtx(ctx, wait/3) != nil {
				return
			}
		}
	}()
	buf := make([]byte, 1500)
	for {
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			if parent.Err() != nil {
				// The caller gave up: that is not "nobody answered".
				return nil, fmt.Errorf("ARP probe for %s on %s: %w", ip, ifi.Name, parent.Err())
			}
			if ctx.Err() != nil {
				return nil, nil // nobody answered within wait
			}
			return nil, fmt.Errorf("ARP probe for %s on %s: %w", ip, ifi.Name, err)
		}
		a, err := parseARP(buf[:n])
		if err != nil || !a.spa.Equal(v4) || bytes.Equal(a.sha, ifi.HardwareAddr) {
			continue
		}
		// A reply, or another host announcing the address (RFC 5227 2.1.1):
		// either way someone holds it.
		return a.sha, nil
	}
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
